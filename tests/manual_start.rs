//! A registration that goes wrong and is fixed by hand, from the CLI: an MR whose header
//! turns it half a turn about the leg's long axis sends the automatic coarse registration
//! far off; `srrd register --init-landmarks` with four landmark pairs starts it right, and
//! the corrected transform saved as init.tfm restarts it again through `--init`. Annotators'
//! files are compared with `srrd tre --inter-observer`.

use std::path::Path;
use std::process::Command;

use nalgebra::{Matrix3, Point3, Vector3};
use srrd::io::nifti::{WriteDtype, write_nifti};
use srrd::io::{Landmark, read_image, read_landmarks, read_transform, write_landmarks};
use srrd::registration::tre::tre_report;

fn srrd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(args)
        .output()
        .expect("run srrd")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "srrd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn mean_tre(dir: &Path, moving_marks: &Path, tfm: &Path) -> f64 {
    let fixed = read_landmarks(&dir.join("ph/landmarks_ct.json")).expect("ct marks");
    let moving = read_landmarks(moving_marks).expect("mr marks");
    let t = read_transform(tfm).expect("transform");
    tre_report(&fixed, &moving, &t).expect("pairs").mean_mm
}

#[test]
fn a_half_turned_mr_is_registered_from_four_landmark_pairs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let d = |p: &str| dir.join(p).display().to_string();
    ok(&srrd(&["phantom", "--preset", "small", "--out", &d("ph")]));
    // The MR's header turned half a turn about S through the MR's centre; its landmarks
    // turned with it (they stay on the same anatomy).
    let mut mr = read_image(&dir.join("ph/mr.nii.gz"), None)
        .expect("mr")
        .volume;
    let c = mr.geometry.center_mm();
    let turn = Matrix3::from_diagonal(&Vector3::new(-1.0, -1.0, 1.0));
    let turned = |p: Point3<f64>| c + turn * (p - c);
    mr.geometry.direction = turn * mr.geometry.direction;
    mr.geometry.origin_mm = turned(mr.geometry.origin_mm);
    write_nifti(&dir.join("mr_turned.nii.gz"), &mr, WriteDtype::F32).expect("write mr");
    let marks: Vec<Landmark> = read_landmarks(&dir.join("ph/landmarks_mr.json"))
        .expect("marks")
        .into_iter()
        .map(|l| Landmark {
            position_mm: turned(Point3::from(l.position_mm)).coords.into(),
            label: l.label,
        })
        .collect();
    write_landmarks(&dir.join("mr_turned.json"), &marks).expect("write marks");
    let four = [
        "femur_medial_condyle_distal",
        "femur_lateral_condyle_distal",
        "tibia_tuberosity",
        "patella_inferior_pole",
    ];
    let pick = |from: &Path, to: &str| {
        let list: Vec<Landmark> = read_landmarks(from)
            .expect("marks")
            .into_iter()
            .filter(|l| four.contains(&l.label.as_str()))
            .collect();
        assert_eq!(list.len(), 4);
        write_landmarks(&dir.join(to), &list).expect("write");
    };
    pick(&dir.join("ph/landmarks_ct.json"), "four_ct.json");
    pick(&dir.join("mr_turned.json"), "four_mr.json");

    // Automatic: lands far off.
    let (ct, mr_t) = (d("ph/ct.nii.gz"), d("mr_turned.nii.gz"));
    ok(&srrd(&[
        "register",
        "--fixed",
        &ct,
        "--moving",
        &mr_t,
        "--out",
        &d("auto"),
    ]));
    let auto = mean_tre(
        dir,
        &dir.join("mr_turned.json"),
        &dir.join("auto/coarse.tfm"),
    );
    assert!(
        auto > 20.0,
        "the automatic start should fail here: TRE {auto:.1} mm"
    );

    // From the four pairs: the landmark start, each pair's residual printed, then the
    // registration refines it to the phantom's own accuracy.
    let text = ok(&srrd(&[
        "register",
        "--fixed",
        &ct,
        "--moving",
        &mr_t,
        "--out",
        &d("fixed"),
        "--init-landmarks",
        &d("four_ct.json"),
        &d("four_mr.json"),
    ]));
    assert!(text.contains("landmark start: 4 pairs"), "{text}");
    assert!(
        text.contains("tibia_tuberosity"),
        "residual per pair: {text}"
    );
    let fixed = mean_tre(
        dir,
        &dir.join("mr_turned.json"),
        &dir.join("fixed/coarse.tfm"),
    );
    let truth = mean_tre(
        dir,
        &dir.join("ph/landmarks_mr.json"),
        &dir.join("ph/ct_to_mr_global.tfm"),
    );
    assert!(
        fixed < truth + 1.0,
        "TRE {fixed:.2} mm against the true transform's {truth:.2}"
    );
    let start = mean_tre(
        dir,
        &dir.join("mr_turned.json"),
        &dir.join("fixed/init.tfm"),
    );
    assert!(start < 5.0, "the landmark start alone: {start:.2} mm");

    // The saved start restarts it through --init, to the same place.
    ok(&srrd(&[
        "register",
        "--fixed",
        &ct,
        "--moving",
        &mr_t,
        "--out",
        &d("again"),
        "--init",
        &d("fixed/init.tfm"),
    ]));
    let again = mean_tre(
        dir,
        &dir.join("mr_turned.json"),
        &dir.join("again/coarse.tfm"),
    );
    assert!((again - fixed).abs() < 0.5, "{again:.2} vs {fixed:.2}");

    // Collinear picks are refused with the reason, and no transform is written.
    let line: Vec<Landmark> = (0..3)
        .map(|k| Landmark {
            label: format!("l{k}"),
            position_mm: [10.0 * k as f64, 0.0, 0.0],
        })
        .collect();
    write_landmarks(&dir.join("line.json"), &line).expect("write");
    let out = srrd(&[
        "register",
        "--fixed",
        &ct,
        "--moving",
        &mr_t,
        "--out",
        &d("line"),
        "--init-landmarks",
        &d("line.json"),
        &d("line.json"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("one line") && err.contains("line.json"),
        "{err}"
    );
    assert!(!dir.join("line/coarse.tfm").exists());
}

#[test]
fn two_annotators_are_compared_landmark_by_landmark() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = vec![
        Landmark {
            label: "tibia_tuberosity".into(),
            position_mm: [1.0, 2.0, 3.0],
        },
        Landmark {
            label: "patella_anterior".into(),
            position_mm: [10.0, 0.0, 0.0],
        },
        Landmark {
            label: "fibula_head_apex".into(),
            position_mm: [0.0, 0.0, 0.0],
        },
    ];
    let b = vec![
        Landmark {
            label: "tibia_tuberosity".into(),
            position_mm: [1.0, 2.0, 5.0],
        },
        Landmark {
            label: "patella_anterior".into(),
            position_mm: [10.0, 1.0, 0.0],
        },
    ];
    let (pa, pb) = (tmp.path().join("a.json"), tmp.path().join("b.json"));
    write_landmarks(&pa, &a).expect("a");
    write_landmarks(&pb, &b).expect("b");
    let out = srrd(&[
        "tre",
        "--inter-observer",
        "--fixed",
        &pa.display().to_string(),
        "--moving",
        &pb.display().to_string(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(v["n"], 2);
    assert!((v["mean_mm"].as_f64().unwrap_or(0.0) - 1.5).abs() < 1e-9);
    assert!((v["max_mm"].as_f64().unwrap_or(0.0) - 2.0).abs() < 1e-9);
    assert_eq!(v["only_in_first"], serde_json::json!(["fibula_head_apex"]));
}
