//! DICOM series assembly on series written here with known geometry: sorting, spacing,
//! oblique orientation, rescale, and the refusals (missing slice, uneven spacing, gantry
//! tilt, mixed sizes, no series).

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use nalgebra::{Matrix3, Vector3};
use srrd::io::{read_dicom, read_image};

const ROWS: usize = 8;
const COLS: usize = 6;

/// The stored value of pixel (col, row) of slice `n` (before rescale).
fn stored(n: usize, row: usize, col: usize) -> i16 {
    (n * 100 + row * 10 + col) as i16
}

fn ds(values: &[f64]) -> PrimitiveValue {
    PrimitiveValue::from(
        values
            .iter()
            .map(|v| format!("{v}"))
            .collect::<Vec<_>>()
            .join("\\"),
    )
}

struct SliceSpec {
    n: usize,
    ipp: Vector3<f64>,
    rows: usize,
    series: &'static str,
}

fn write_slice(dir: &Path, iop: [f64; 6], s: &SliceSpec) {
    let mut obj = InMemDicomObject::new_empty();
    let put = |obj: &mut InMemDicomObject, tag, vr, v: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, v));
    };
    let sop_uid = format!("1.2.826.0.1.3680043.2.1125.9.{}.{}", s.series.len(), s.n);
    put(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
    );
    put(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(sop_uid.as_str()),
    );
    put(&mut obj, tags::MODALITY, VR::CS, PrimitiveValue::from("CT"));
    put(
        &mut obj,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(s.series),
    );
    put(
        &mut obj,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        PrimitiveValue::from("test knee"),
    );
    put(
        &mut obj,
        tags::INSTANCE_NUMBER,
        VR::IS,
        PrimitiveValue::from(format!("{}", s.n + 1)),
    );
    put(
        &mut obj,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        ds(&[s.ipp.x, s.ipp.y, s.ipp.z]),
    );
    put(&mut obj, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&iop));
    put(&mut obj, tags::PIXEL_SPACING, VR::DS, ds(&[0.8, 0.6]));
    put(&mut obj, tags::SLICE_THICKNESS, VR::DS, ds(&[5.0]));
    put(
        &mut obj,
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    );
    put(
        &mut obj,
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(s.rows as u16),
    );
    put(
        &mut obj,
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(COLS as u16),
    );
    put(
        &mut obj,
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16u16),
    );
    put(
        &mut obj,
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(12u16),
    );
    put(
        &mut obj,
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(11u16),
    );
    put(
        &mut obj,
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(&mut obj, tags::RESCALE_SLOPE, VR::DS, ds(&[1.0]));
    put(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, ds(&[-1024.0]));
    let mut bytes = Vec::with_capacity(s.rows * COLS * 2);
    for row in 0..s.rows {
        for col in 0..COLS {
            bytes.extend_from_slice(&stored(s.n, row, col).to_le_bytes());
        }
    }
    put(
        &mut obj,
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U8(bytes.into()),
    );
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .expect("meta");
    file.write_to_file(dir.join(format!("{}-{:03}.dcm", s.series, s.n)))
        .expect("write dicom");
}

/// Writes a series of `n` slices, `step` mm apart along the normal, shuffled on disk.
fn write_series(dir: &Path, iop: [f64; 6], positions: &[Vector3<f64>], series: &'static str) {
    let order: Vec<usize> = (0..positions.len()).rev().collect();
    for n in order {
        write_slice(
            dir,
            iop,
            &SliceSpec {
                n,
                ipp: positions[n],
                rows: ROWS,
                series,
            },
        );
    }
}

fn oblique_iop() -> ([f64; 6], Matrix3<f64>) {
    let r = Vector3::new(0.8, 0.6, 0.0);
    let c = Vector3::new(-0.36, 0.48, 0.8);
    let n = r.cross(&c);
    (
        [r.x, r.y, r.z, c.x, c.y, c.z],
        Matrix3::from_columns(&[r, c, n]),
    )
}

fn positions(dir: &Matrix3<f64>, origin: Vector3<f64>, steps: &[f64]) -> Vec<Vector3<f64>> {
    let n = dir.column(2).into_owned();
    steps.iter().map(|s| origin + n * *s).collect()
}

#[test]
fn oblique_series_sorted_spaced_and_rescaled() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    let origin = Vector3::new(-20.0, 10.5, 33.0);
    let pos = positions(&dir, origin, &[0.0, 2.5, 5.0, 7.5, 10.0]);
    write_series(tmp.path(), iop, &pos, "1.2.3.4");
    let img = read_dicom(tmp.path(), None).expect("read series");
    let g = &img.volume.geometry;
    assert_eq!(g.size, [COLS, ROWS, 5]);
    assert!((g.spacing_mm - Vector3::new(0.6, 0.8, 2.5)).norm() < 1e-9);
    assert!((g.origin_mm.coords - origin).norm() < 1e-9);
    assert!((g.direction - dir).norm() < 1e-9);
    assert_eq!(img.pixel_type, "int16");
    for n in 0..5 {
        for row in 0..ROWS {
            for col in 0..COLS {
                let expect = stored(n, row, col) as f32 - 1024.0;
                assert_eq!(img.volume.data[[n, row, col]], expect);
            }
        }
    }
    // The same through the content-sniffing entry point.
    let again = read_image(tmp.path(), None).expect("read_image");
    assert_eq!(again.volume.geometry, img.volume.geometry);
}

#[test]
fn largest_series_is_chosen_and_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    write_series(
        tmp.path(),
        iop,
        &positions(&dir, Vector3::zeros(), &[0.0, 1.0, 2.0]),
        "1.2.3.big",
    );
    write_series(
        tmp.path(),
        iop,
        &positions(&dir, Vector3::zeros(), &[0.0, 1.0]),
        "1.2.3.small",
    );
    let img = read_dicom(tmp.path(), None).expect("read");
    assert_eq!(
        img.series.as_ref().map(|s| s.uid.as_str()),
        Some("1.2.3.big")
    );
    assert!(
        img.warnings.iter().any(|w| w.contains("2 series")),
        "{:?}",
        img.warnings
    );
    let small = read_dicom(tmp.path(), Some("1.2.3.small")).expect("read small");
    assert_eq!(small.volume.geometry.size[2], 2);
    let list = srrd::io::list_series(tmp.path()).expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].files, 3);
}

fn expect_refusal(steps: &[f64], drift: Option<Vector3<f64>>, needle: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    let mut pos = positions(&dir, Vector3::zeros(), steps);
    if let Some(d) = drift {
        for (n, p) in pos.iter_mut().enumerate() {
            *p += d * n as f64;
        }
    }
    write_series(tmp.path(), iop, &pos, "1.2.9");
    let err = read_dicom(tmp.path(), None)
        .expect_err("must refuse")
        .to_string();
    assert!(err.contains(needle), "{err}");
    assert!(
        err.contains(&tmp.path().display().to_string()),
        "names the folder: {err}"
    );
}

#[test]
fn missing_slice_is_refused() {
    expect_refusal(&[0.0, 2.0, 4.0, 8.0, 10.0], None, "missing slice");
}

#[test]
fn uneven_spacing_is_refused() {
    expect_refusal(&[0.0, 2.0, 4.7, 6.0, 8.0], None, "uneven");
}

#[test]
fn gantry_tilt_is_refused() {
    let (_, dir) = oblique_iop();
    expect_refusal(&[0.0, 2.0, 4.0, 6.0], Some(dir.column(1) * 0.4), "sheared");
}

#[test]
fn mixed_sizes_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    let pos = positions(&dir, Vector3::zeros(), &[0.0, 1.0, 2.0]);
    for (n, p) in pos.iter().enumerate() {
        let rows = if n == 1 { ROWS + 2 } else { ROWS };
        write_slice(
            tmp.path(),
            iop,
            &SliceSpec {
                n,
                ipp: *p,
                rows,
                series: "1.2.7",
            },
        );
    }
    let err = read_dicom(tmp.path(), None)
        .expect_err("must refuse")
        .to_string();
    assert!(err.contains("mixes image sizes"), "{err}");
}

#[test]
fn folder_without_images_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("notes.txt"), "not dicom").expect("write");
    let err = read_dicom(tmp.path(), None)
        .expect_err("must refuse")
        .to_string();
    assert!(err.contains("no DICOM image series"), "{err}");
}

#[test]
fn single_file_reads_as_one_slice() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, _) = oblique_iop();
    write_slice(
        tmp.path(),
        iop,
        &SliceSpec {
            n: 3,
            ipp: Vector3::new(1.0, 2.0, 3.0),
            rows: ROWS,
            series: "1.5",
        },
    );
    let path = tmp.path().join("1.5-003.dcm");
    let img = read_image(&path, None).expect("single file");
    assert_eq!(img.volume.geometry.size, [COLS, ROWS, 1]);
    assert_eq!(
        img.volume.geometry.spacing_mm[2], 1.0,
        "CT single slice: z spacing 1 as GDCM"
    );
    assert_eq!(img.volume.data[[0, 2, 1]], stored(3, 2, 1) as f32 - 1024.0);
    // A truncated copy is refused with the file's name.
    let bytes = std::fs::read(&path).expect("read");
    let cut = tmp.path().join("cut.dcm");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).expect("write");
    let err = read_image(&cut, None).expect_err("truncated").to_string();
    assert!(err.contains("cut.dcm"), "{err}");
}
