//! DICOM series assembly on series written here with known geometry: sorting, spacing,
//! oblique orientation, rescale, and the refusals (missing slice, uneven spacing, gantry
//! tilt, mixed sizes, no series).

use std::path::Path;

use nalgebra::{Matrix3, Vector3};
use srrd::io::{ReadOptions, read_dicom, read_dicom_with, read_image};

mod common;
use common::{COLS, ROWS, SliceSpec, stored, write_slice};

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

/// Writes a series at the given steps along the oblique normal and reads it.
fn read_steps(steps: &[f64], accept_uneven: bool) -> (srrd::io::LoadedImage, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    write_series(
        tmp.path(),
        iop,
        &positions(&dir, Vector3::zeros(), steps),
        "1.2.9",
    );
    let opts = ReadOptions {
        series: None,
        accept_uneven,
        modality: None,
    };
    let img = read_dicom_with(tmp.path(), &opts).expect("reads");
    (img, tmp)
}

#[test]
fn missing_slice_loads_the_largest_block_and_names_the_gap() {
    // Slices 0..=4 at 2 mm, then a missing one, then 2: the block of 5 is loaded.
    let (img, _tmp) = read_steps(&[0.0, 2.0, 4.0, 6.0, 8.0, 12.0, 14.0], false);
    let g = &img.volume.geometry;
    assert_eq!(g.size[2], 5);
    assert!((g.spacing_mm[2] - 2.0).abs() < 1e-9);
    assert_eq!(img.volume.data[[4, 1, 1]], stored(4, 1, 1) as f32 - 1024.0);
    let w = img.warnings.join(" | ");
    assert!(w.contains("gap of 4.000 mm (1 missing slice)"), "{w}");
    assert!(w.contains("slices 1-5 of 7"), "{w}");
    // The source instances of the block only, one per slice.
    let source = img.dicom.expect("source");
    assert_eq!(source.instances.len(), 5);
    assert!(source.slices.iter().all(|s| s.is_some()));
}

#[test]
fn accept_uneven_resamples_the_whole_series_linearly() {
    // Steps 2, 2, 4 (a missing slice), 2: 6 slices at 2 mm from 0 to 10 mm.
    let (img, _tmp) = read_steps(&[0.0, 2.0, 4.0, 8.0, 10.0], true);
    let g = &img.volume.geometry;
    assert_eq!(g.size[2], 6);
    assert!((g.spacing_mm[2] - 2.0).abs() < 1e-9);
    // Slice k=3 (6 mm) is halfway between the files at 4 mm (n=2) and 8 mm (n=3).
    let want = 0.5 * (stored(2, 3, 2) as f32 + stored(3, 3, 2) as f32) - 1024.0;
    assert!((img.volume.data[[3, 3, 2]] - want).abs() < 1e-3);
    assert_eq!(img.volume.data[[4, 3, 2]], stored(3, 3, 2) as f32 - 1024.0);
    assert!(
        img.warnings.iter().any(|w| w.contains("resampled")),
        "{:?}",
        img.warnings
    );
    let source = img.dicom.expect("source");
    assert_eq!(source.slices.iter().filter(|s| s.is_none()).count(), 1);
}

#[test]
fn uneven_spacing_without_a_regular_pair_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    write_series(
        tmp.path(),
        iop,
        &positions(&dir, Vector3::zeros(), &[0.0, 1.0, 2.7, 5.0]),
        "1.2.9",
    );
    let err = read_dicom(tmp.path(), None)
        .expect_err("must refuse")
        .to_string();
    assert!(err.contains("--accept-uneven"), "{err}");
    assert!(err.contains(&tmp.path().display().to_string()), "{err}");
}

#[test]
fn gantry_tilt_is_refused() {
    let (_, dir) = oblique_iop();
    expect_refusal(&[0.0, 2.0, 4.0, 6.0], Some(dir.column(1) * 0.4), "sheared");
}

#[test]
fn mixed_sizes_are_split_into_parts() {
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
    let list = srrd::io::list_series(tmp.path()).expect("list");
    let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["1.2.7#1", "1.2.7#2"]);
    assert_eq!(list[0].files, 2);
    assert_eq!(list[1].size, [COLS, ROWS + 2]);
    assert!(list[0].split.contains("image sizes"), "{}", list[0].split);
    // The largest part by default (the two 8-row slices, 2 mm apart), with a warning.
    let img = read_dicom(tmp.path(), None).expect("largest part");
    assert_eq!(img.volume.geometry.size, [COLS, ROWS, 2]);
    assert!((img.volume.geometry.spacing_mm[2] - 2.0).abs() < 1e-9);
    assert!(
        img.warnings
            .iter()
            .any(|w| w.contains("split into 2 parts"))
    );
    let other = read_dicom(tmp.path(), Some("1.2.7#2")).expect("part 2");
    assert_eq!(other.volume.geometry.size, [COLS, ROWS + 2, 1]);
}

#[test]
fn a_localizer_inside_a_series_is_its_own_part() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    write_series(
        tmp.path(),
        iop,
        &positions(&dir, Vector3::zeros(), &[0.0, 1.5, 3.0, 4.5]),
        "1.2.8",
    );
    // A coronal scout in the same series.
    write_slice(
        tmp.path(),
        [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
        &SliceSpec {
            n: 9,
            ipp: Vector3::new(-50.0, 0.0, 60.0),
            rows: ROWS,
            series: "1.2.8",
        },
    );
    let list = srrd::io::list_series(tmp.path()).expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!((list[0].files, list[1].files), (4, 1));
    assert_eq!(list[1].plane, "coronal");
    let img = read_dicom(tmp.path(), None).expect("the axial part");
    assert_eq!(img.volume.geometry.size[2], 4);
    assert!((img.volume.geometry.spacing_mm[2] - 1.5).abs() < 1e-9);
    // The plain SeriesInstanceUID still works: it names the largest part.
    let by_uid = read_dicom(tmp.path(), Some("1.2.8")).expect("by uid");
    assert_eq!(by_uid.volume.geometry, img.volume.geometry);
    let scout = read_dicom(tmp.path(), Some("1.2.8#2")).expect("scout");
    assert_eq!(scout.volume.geometry.size, [COLS, ROWS, 1]);
    assert_eq!(
        scout.volume.data[[0, 0, 0]],
        stored(9, 0, 0) as f32 - 1024.0
    );
}

#[test]
fn repeated_positions_are_split_into_volumes() {
    // Two volumes of the same three positions (two phases of one scan) in one series:
    // instances 1-3 are the first, 4-6 the second.
    let tmp = tempfile::tempdir().expect("tmp");
    let (iop, dir) = oblique_iop();
    let pos = positions(&dir, Vector3::zeros(), &[0.0, 2.0, 4.0]);
    for n in 0..6 {
        write_slice(
            tmp.path(),
            iop,
            &SliceSpec {
                n,
                ipp: pos[n % 3],
                rows: ROWS,
                series: "1.2.6",
            },
        );
    }
    let list = srrd::io::list_series(tmp.path()).expect("list");
    assert_eq!(list.len(), 2);
    assert!(
        list[0].split.contains("repeated positions"),
        "{}",
        list[0].split
    );
    let second = read_dicom(tmp.path(), Some("1.2.6#2")).expect("volume 2");
    assert_eq!(second.volume.geometry.size[2], 3);
    assert_eq!(
        second.volume.data[[0, 0, 0]],
        stored(3, 0, 0) as f32 - 1024.0
    );
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
        "no SpacingBetweenSlices: z spacing 1, as SimpleITK reports"
    );
    assert_eq!(img.volume.data[[0, 2, 1]], stored(3, 2, 1) as f32 - 1024.0);
    // A truncated copy is refused with the file's name.
    let bytes = std::fs::read(&path).expect("read");
    let cut = tmp.path().join("cut.dcm");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).expect("write");
    let err = read_image(&cut, None).expect_err("truncated").to_string();
    assert!(err.contains("cut.dcm"), "{err}");
}
