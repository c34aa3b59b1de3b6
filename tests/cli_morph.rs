//! `srrd morph` as a user runs it: the VOI convention with `--mask`, binary images that
//! are not 0/1 (read as binary, with a warning), and bad masks refused with one line
//! naming the file, before any output is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use srrd::io::{WriteDtype, write_nifti};
use srrd::volume::{Geometry, Volume};

fn srrd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(args)
        .output()
        .expect("run srrd")
}

const T: usize = 3;
const G: usize = 6;
const SIZE: [usize; 3] = [60, 8, 6];

/// Four plates T thick, G apart, normal to i, from i = G; open marrow beyond.
fn plates(i: usize) -> bool {
    (G..4 * (T + G)).contains(&i) && (i - G) % (T + G) < T
}

/// From the first plate to G voxels past the last one.
fn in_voi(i: usize) -> bool {
    (G..4 * (T + G) + G).contains(&i)
}

fn write(dir: &Path, name: &str, f: impl Fn(usize, usize, usize) -> f32 + Sync) -> PathBuf {
    write_on(dir, name, Geometry::new(SIZE, [0.5, 0.5, 0.5], [0.0; 3]), f)
}

fn write_on(
    dir: &Path,
    name: &str,
    g: Geometry,
    f: impl Fn(usize, usize, usize) -> f32 + Sync,
) -> PathBuf {
    let v = Volume::from_fn(g, f);
    let p = dir.join(name);
    write_nifti(&p, &v, WriteDtype::U8).expect("write");
    p
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

#[test]
fn mask_is_a_voi_for_separation() {
    let dir = tempfile::tempdir().expect("tmp");
    let image = write(dir.path(), "bone.nii.gz", |i, _, _| plates(i) as u8 as f32);
    let mask = write(dir.path(), "voi.nii.gz", |i, _, _| in_voi(i) as u8 as f32);
    let voi = json(&srrd(&["morph", s(&image), "--mask", s(&mask), "--json"]));
    assert_eq!(voi["mask_as"], "voi");
    let sp = voi["tb_sp_mm"].as_f64().expect("Tb.Sp");
    let th = voi["tb_th_mm"].as_f64().expect("Tb.Th");
    assert!((sp - G as f64 * 0.5).abs() < 1e-6, "{voi}");
    assert!((th - T as f64 * 0.5).abs() < 1e-6, "{voi}");
    let count = json(&srrd(&[
        "morph",
        s(&image),
        "--mask",
        s(&mask),
        "--mask-as",
        "count",
        "--json",
    ]));
    assert_eq!(count["mask_as"], "count");
    assert!(
        count["tb_sp_mm"].as_f64().expect("Tb.Sp") > 1.2 * sp,
        "{count}"
    );
    assert_eq!(count["bv_tv"], voi["bv_tv"]);
    // Without a mask, no convention is reported and none applies.
    let whole = json(&srrd(&["morph", s(&image), "--json"]));
    assert!(whole.get("mask_as").is_none(), "{whole}");
}

/// `--convention centre` reads the 3-voxel plates as ORMIR_XCT and porespy do (4 voxels:
/// the ball's radius is the distance to the nearest marrow voxel centre), the even gaps
/// as the default does; the paper's 2D method has no balls and refuses it.
#[test]
fn the_centre_convention_reads_odd_plates_one_voxel_thicker() {
    let dir = tempfile::tempdir().expect("tmp");
    let image = write(dir.path(), "bone.nii.gz", |i, _, _| plates(i) as u8 as f32);
    let mask = write(dir.path(), "voi.nii.gz", |i, _, _| in_voi(i) as u8 as f32);
    let centre = json(&srrd(&[
        "morph",
        s(&image),
        "--mask",
        s(&mask),
        "--convention",
        "centre",
        "--json",
    ]));
    assert_eq!(centre["method"], "bonej-centre");
    let th = centre["tb_th_mm"].as_f64().expect("Tb.Th");
    let sp = centre["tb_sp_mm"].as_f64().expect("Tb.Sp");
    assert!((th - (T + 1) as f64 * 0.5).abs() < 1e-6, "{centre}");
    assert!((sp - G as f64 * 0.5).abs() < 1e-6, "{centre}");
    let paper = srrd(&[
        "morph",
        s(&image),
        "--method",
        "paper",
        "--convention",
        "centre",
    ]);
    assert!(!paper.status.success());
    let stderr = String::from_utf8_lossy(&paper.stderr);
    assert!(
        stderr.contains("--convention centre needs --method bonej"),
        "{stderr}"
    );
}

#[test]
fn binary_images_that_are_not_0_1_read_as_binary_with_a_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    let one = write(dir.path(), "one.nii.gz", |i, _, _| plates(i) as u8 as f32);
    let reference = json(&srrd(&["morph", s(&one), "--json"]));
    for level in [127.0, 255.0] {
        let p = write(dir.path(), &format!("b{level}.nii.gz"), |i, _, _| {
            if plates(i) { level } else { 0.0 }
        });
        let out = srrd(&["morph", s(&p), "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            stderr.contains("read as a binary image") && stderr.contains(s(&p)),
            "{stderr}"
        );
        assert_eq!(json(&out), reference, "0/{level} reads as 0/1");
    }
}

#[test]
fn bad_masks_are_refused_naming_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let image = write(dir.path(), "bone.nii.gz", |i, _, _| plates(i) as u8 as f32);
    let other_grid = write_on(
        dir.path(),
        "other.nii.gz",
        Geometry::new(SIZE, [0.5, 0.5, 0.6], [0.0; 3]),
        |i, _, _| in_voi(i) as u8 as f32,
    );
    let other_size = write_on(
        dir.path(),
        "small.nii.gz",
        Geometry::new([30, 8, 6], [0.5; 3], [0.0; 3]),
        |_, _, _| 1.0,
    );
    let empty = write(dir.path(), "empty.nii.gz", |_, _, _| 0.0);
    let all_bone = write(dir.path(), "allbone.nii.gz", |i, _, _| {
        ((G..G + T).contains(&i)) as u8 as f32
    });
    let map = dir.path().join("map.nii.gz");
    let patches = dir.path().join("patches");
    for (mask, words) in [
        (&other_grid, "spacing"),
        (&other_size, "voxels"),
        (&empty, "empty"),
        (&all_bone, "no marrow"),
    ] {
        let out = srrd(&[
            "morph",
            s(&image),
            "--mask",
            s(mask),
            "--map",
            s(&map),
            "--patch-maps",
            s(&patches),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(s(mask)) && stderr.contains(words),
            "{words}: {stderr}"
        );
        assert!(!map.exists() && !patches.exists(), "nothing written");
    }
}
