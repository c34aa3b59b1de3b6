//! DICOM series assembly on series written here with known geometry: sorting, spacing,
//! oblique orientation, rescale, the refusals (missing slice, uneven spacing, gantry
//! tilt, mixed sizes, no series), and the series of a PACS export chosen by modality.

use std::path::Path;

use nalgebra::{Matrix3, Vector3};
use srrd::io::{ReadOptions, read_dicom, read_dicom_with, read_image};

mod common;
use common::{COLS, ROWS, SeriesTags, SliceSpec, stored, write_slice, write_volume_series};

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

const UID: &str = "1.2.826.0.1.3680043.2.1125.7";

/// One knee's study as PACS exports it, in one folder with scanner-style names: the MR
/// (the most files), the CT in a bone and a soft-tissue kernel, and a one-image scout.
fn write_pacs_export(dir: &Path) -> srrd::volume::Volume {
    use srrd::volume::{Geometry, Volume};
    let g = Geometry::new([6, 5, 4], [0.8, 0.8, 1.0], [-2.0, 3.0, 10.0]);
    let ct = Volume::from_fn(g, |i, j, k| (100 * k + 10 * j + i) as f32 - 1000.0);
    let mr_g = Geometry::new([7, 7, 8], [0.5, 0.5, 1.5], [0.0, 0.0, 0.0]);
    let mr = Volume::from_fn(mr_g, |i, j, k| (i + j + k) as f32);
    let scout_g = Geometry::new([9, 9, 1], [2.0, 2.0, 1.0], [0.0, 0.0, 0.0]);
    let scout = Volume::from_fn(scout_g, |_, _, _| 0.0);
    let soft = Volume {
        geometry: ct.geometry.clone(),
        data: ct.data.mapv(|v| v + 1.0),
    };
    let study = format!("{UID}.9");
    let uids: Vec<String> = (1..=4).map(|n| format!("{UID}.{n}")).collect();
    for (n, v, modality, description, kernel, image_type) in [
        (1, &mr, "MR", "PD SPACE sag", "", "ORIGINAL\\PRIMARY\\M\\ND"),
        (
            2,
            &ct,
            "CT",
            "Knee 1.0 Bone",
            "BONE",
            "ORIGINAL\\PRIMARY\\AXIAL",
        ),
        (
            3,
            &soft,
            "CT",
            "Knee 1.0 Soft",
            "STANDARD",
            "ORIGINAL\\PRIMARY\\AXIAL",
        ),
        (
            4,
            &scout,
            "CT",
            "Topogram",
            "",
            "ORIGINAL\\PRIMARY\\LOCALIZER",
        ),
    ] {
        let tags = SeriesTags {
            modality,
            series_uid: &uids[n - 1],
            study_uid: &study,
            description,
            kernel,
            image_type,
            intercept: if modality == "CT" { -1024.0 } else { 0.0 },
            slope: 1.0,
        };
        write_volume_series(dir, v, &tags, |k| format!("DICOM/S{n:05}/IM{:05}", k + 1));
    }
    ct
}

#[test]
fn a_pacs_export_folder_gives_the_bone_ct_and_the_mr_by_modality() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ct = write_pacs_export(tmp.path());
    let read = |series: Option<&str>, modality: Option<&str>| {
        read_dicom_with(
            tmp.path(),
            &ReadOptions {
                series,
                modality,
                accept_uneven: false,
            },
        )
        .expect("reads")
    };
    let img = read(None, Some("CT"));
    let info = img.series.as_ref().expect("series");
    assert_eq!(
        (info.index, info.uid.as_str()),
        (2, format!("{UID}.2").as_str())
    );
    assert_eq!(img.volume.data, ct.data, "the bone kernel's voxels, in HU");
    assert_eq!(
        img.warnings[0],
        format!(
            "folder holds 4 series; reading [2] {UID}.2 (4 files, 6x5 axial, \"Knee 1.0 Bone\", kernel BONE) as the CT: \
             Modality CT, bone kernel BONE; others: [1] MR, 8 images | [3] CT, soft-tissue kernel STANDARD, 4 images | \
             [4] CT, localizer, 1 image; pick another with --series N or its UID (in a study list, the ct_series column)"
        )
    );
    let mr = read(None, Some("MR"));
    assert_eq!(mr.series.as_ref().map(|s| s.index), Some(1));
    assert_eq!(mr.volume.geometry.size, [7, 7, 8]);
    assert!(
        mr.warnings[0].contains("as the MR: the only MR series"),
        "{:?}",
        mr.warnings
    );
    // The number the warning prints overrides, without a warning; so does the UID.
    let soft = read(Some("3"), Some("CT"));
    assert_eq!(soft.volume.data[[0, 0, 0]], ct.data[[0, 0, 0]] + 1.0);
    assert!(soft.warnings.is_empty(), "{:?}", soft.warnings);
    let by_uid = read(Some(&format!("{UID}.3")), Some("CT"));
    assert_eq!(by_uid.series.map(|s| s.index), Some(3));
    // Without a modality (srrd info, the viewer): the largest, as before.
    let any = read(None, None);
    assert_eq!(any.series.map(|s| s.modality), Some("MR".to_string()));
    // A number that is not in the list names the folder and lists the series.
    let err = read_dicom_with(
        tmp.path(),
        &ReadOptions {
            series: Some("7"),
            modality: Some("CT"),
            accept_uneven: false,
        },
    )
    .expect_err("no series 7")
    .to_string();
    assert!(
        err.starts_with(&format!(
            "{}: no series \"7\"; the folder holds: [1] {UID}.1, [2] {UID}.2",
            tmp.path().display()
        )),
        "{err}"
    );
    // srrd series numbers them the same way.
    let list = srrd::io::list_series(tmp.path()).expect("list");
    let listed: Vec<(usize, &str, &str)> = list
        .iter()
        .map(|s| (s.index, s.modality.as_str(), s.kernel.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (1, "MR", ""),
            (2, "CT", "BONE"),
            (3, "CT", "STANDARD"),
            (4, "CT", "")
        ]
    );
}
