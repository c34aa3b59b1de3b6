//! The `srrd` binary as a user runs it: `info --json` prints one JSON object with the
//! documented keys; bad input gives one line naming the file and exit code 1; `convert`
//! writes a file that reads back the same, and never leaves a half-written one.

use std::process::Command;

use nalgebra::Rotation3;
use srrd::io::{WriteDtype, read_image, write_nifti};
use srrd::volume::{Geometry, Volume};

fn srrd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(args)
        .output()
        .expect("run srrd")
}

fn sample_file(dir: &std::path::Path) -> std::path::PathBuf {
    let rot = Rotation3::from_euler_angles(0.1, 0.2, -0.3).into_inner();
    let g = Geometry::new([6, 5, 4], [0.9, 0.8, 2.5], [-5.0, 10.0, 20.0]).with_direction(rot);
    let v = Volume::from_fn(g, |i, j, k| i as f32 - 2.0 * j as f32 + 10.0 * k as f32);
    let p = dir.join("scan.nii.gz");
    write_nifti(&p, &v, WriteDtype::F32).expect("write");
    p
}

#[test]
fn info_json_has_the_documented_keys_and_values() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = sample_file(dir.path());
    let out = srrd(&["info", p.to_str().expect("utf8"), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object on one line"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    for key in [
        "size",
        "spacing",
        "origin",
        "direction",
        "pixel_type",
        "min",
        "max",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["size"], serde_json::json!([6, 5, 4]));
    assert!((v["spacing"][2].as_f64().expect("num") - 2.5).abs() < 1e-6);
    assert!((v["origin"][1].as_f64().expect("num") - 10.0).abs() < 1e-4);
    assert_eq!(v["direction"].as_array().expect("array").len(), 9);
    assert_eq!(v["pixel_type"], "float32");
    assert_eq!(v["min"].as_f64(), Some(-8.0));
    assert_eq!(v["max"].as_f64(), Some(35.0));
}

#[test]
fn bad_input_is_one_line_naming_the_file_and_exit_1() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = std::fs::read(sample_file(dir.path())).expect("read");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.nii.gz", good[..good.len() / 2].to_vec()),
        ("text.nii", b"just some text, not an image".to_vec()),
        ("empty.nii", Vec::new()),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        let out = srrd(&["info", p.to_str().expect("utf8")]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8(out.stderr).expect("utf8");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
    }
    let empty_dir = dir.path().join("no_dicom_here");
    std::fs::create_dir(&empty_dir).expect("mkdir");
    let out = srrd(&["info", empty_dir.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no DICOM image series"));
}

#[test]
fn convert_round_trips_and_refuses_cleanly() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = sample_file(dir.path());
    let out_path = dir.path().join("copy.nii");
    let out = srrd(&[
        "convert",
        p.to_str().expect("utf8"),
        out_path.to_str().expect("utf8"),
        "--dtype",
        "int16",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = read_image(&p, None).expect("a");
    let b = read_image(&out_path, None).expect("b");
    assert_eq!(b.pixel_type, "int16");
    assert!((a.volume.geometry.direction - b.volume.geometry.direction).norm() < 1e-5);
    assert_eq!(
        a.volume.data, b.volume.data,
        "integer-valued data survives int16"
    );
    // A failed conversion leaves nothing behind.
    let bad = dir.path().join("bad.nii");
    std::fs::write(&bad, b"nope").expect("write");
    let target = dir.path().join("never.nii.gz");
    let out = srrd(&[
        "convert",
        bad.to_str().expect("utf8"),
        target.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!target.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left");
}

#[test]
fn tre_of_a_known_translation() {
    use srrd::io::{Landmark, write_landmarks, write_rigid};
    use srrd::volume::RigidTransform;
    let dir = tempfile::tempdir().expect("tmp");
    let fixed: Vec<Landmark> = (0..4)
        .map(|n| Landmark {
            label: format!("p{n}"),
            position_mm: [n as f64 * 10.0, 5.0, -3.0],
        })
        .collect();
    // The moving points are the fixed ones shifted by (1, 2, 2): 3 mm apart.
    let moving: Vec<Landmark> = fixed
        .iter()
        .map(|l| Landmark {
            label: l.label.clone(),
            position_mm: [
                l.position_mm[0] + 1.0,
                l.position_mm[1] + 2.0,
                l.position_mm[2] + 2.0,
            ],
        })
        .collect();
    let (f, m) = (dir.path().join("f.fcsv"), dir.path().join("m.mrk.json"));
    write_landmarks(&f, &fixed).expect("write");
    write_landmarks(&m, &moving).expect("write");
    let out = srrd(&[
        "tre",
        "--fixed",
        f.to_str().expect("utf8"),
        "--moving",
        m.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["n"], 4);
    assert!((v["mean_mm"].as_f64().expect("num") - 3.0).abs() < 1e-9);
    // With the true transform (fixed -> moving) the error vanishes.
    let t = RigidTransform::from_euler_zxy(
        [0.0; 3],
        nalgebra::Vector3::new(1.0, 2.0, 2.0),
        nalgebra::Point3::origin(),
    );
    let tfm = dir.path().join("t.tfm");
    write_rigid(&tfm, &t).expect("write");
    let out = srrd(&[
        "tre",
        "--fixed",
        f.to_str().expect("utf8"),
        "--moving",
        m.to_str().expect("utf8"),
        "--transform",
        tfm.to_str().expect("utf8"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["max_mm"].as_f64().expect("num") < 1e-9);
}

#[test]
fn phantom_writes_a_knee_and_tre_with_the_truth_is_zero() {
    let dir = tempfile::tempdir().expect("tmp");
    let out_dir = dir.path().join("knee");
    let o = out_dir.to_str().expect("utf8");
    let out = srrd(&[
        "phantom", "--out", o, "--preset", "small", "--seed", "3", "--grade", "advanced", "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["grade"], "advanced");
    assert!(v["kl_grade"].as_u64().expect("kl") >= 3);
    assert_eq!(v["trabecular"].as_array().expect("subregions").len(), 12);
    // TRE of the femoral landmarks: the femur's true transform gives 0, the global one
    // misses the extra flexion.
    let tre = |tfm: &str| -> f64 {
        let out = srrd(&[
            "tre",
            "--fixed",
            out_dir.join("landmarks_ct.json").to_str().expect("utf8"),
            "--moving",
            out_dir
                .join("landmarks_mr.mrk.json")
                .to_str()
                .expect("utf8"),
            "--transform",
            out_dir.join(tfm).to_str().expect("utf8"),
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let pairs = v["pairs"].as_array().expect("pairs");
        pairs
            .iter()
            .filter(|p| p["label"].as_str().is_some_and(|l| l.starts_with("femur")))
            .map(|p| p["tre_mm"].as_f64().expect("error"))
            .fold(0.0, f64::max)
    };
    assert!(tre("ct_to_mr_femur.tfm") < 1e-6);
    assert!(tre("ct_to_mr_global.tfm") > 1.0);
    // Bad arguments: one line, exit 1, nothing written.
    let bad = srrd(&[
        "phantom",
        "--out",
        dir.path().join("x").to_str().expect("utf8"),
        "--grade",
        "severe",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("severe"));
    assert!(!dir.path().join("x").exists());
}

#[test]
fn cohort_writes_subjects_and_a_manifest() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = dir.path().join("cohort");
    let out = srrd(&[
        "cohort",
        "--out",
        o.to_str().expect("utf8"),
        "--n",
        "2",
        "--seed",
        "9",
        "--preset",
        "small",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(o.join("manifest.json")).expect("manifest"))
            .expect("json");
    let subjects = m["subjects"].as_array().expect("subjects");
    assert_eq!(subjects.len(), 2);
    for s in subjects {
        let d = o.join(s["dir"].as_str().expect("dir"));
        let t: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).expect("truth"))
                .expect("json");
        assert_eq!(t["grade"], s["grade"]);
        assert_eq!(t["seed"], s["seed"]);
        assert!(d.join("ct.nii.gz").is_file() && d.join("mr.nii.gz").is_file());
    }
    assert_ne!(subjects[0]["seed"], subjects[1]["seed"]);
}

/// The regression and diagnosis commands refuse bad input with one line naming the file.
#[test]
fn regression_and_analysis_commands_name_the_bad_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path().to_str().expect("utf8");
    let ct = sample_file(dir.path());
    let ct = ct.to_str().expect("utf8");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "eval-regression".into(),
                "--data".into(),
                d.into(),
                "--out".into(),
                format!("{d}/cv"),
            ],
            format!("{d}/manifest.json"),
        ),
        (
            vec![
                "predict".into(),
                "--ct".into(),
                ct.into(),
                "--model".into(),
                format!("{d}/none"),
                "--out".into(),
                format!("{d}/p"),
            ],
            format!("{d}/none/model.json"),
        ),
        (
            vec![
                "analyze".into(),
                "--ct".into(),
                format!("{d}/missing.nii.gz"),
                "--out".into(),
                format!("{d}/a"),
            ],
            format!("{d}/missing.nii.gz"),
        ),
        (
            vec![
                "patches".into(),
                "--cohort".into(),
                d.into(),
                "--out".into(),
                format!("{d}/s"),
            ],
            format!("{d}: no knees in it"),
        ),
        (
            vec![
                "synthesize".into(),
                "--crmr".into(),
                ct.into(),
                "--model".into(),
                format!("{d}/none"),
                "--out".into(),
                format!("{d}/sct.nii.gz"),
            ],
            format!("{d}/none/model.json"),
        ),
        (
            vec![
                "synthesize".into(),
                "--crmr".into(),
                format!("{d}/missing.nii.gz"),
                "--out".into(),
                format!("{d}/sct.nii.gz"),
            ],
            format!("{d}/missing.nii.gz"),
        ),
        (
            vec![
                "train-synthesis".into(),
                "--data".into(),
                d.into(),
                "--out".into(),
                format!("{d}/m"),
            ],
            format!("{d}/manifest.json"),
        ),
    ];
    for (args, named) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = srrd(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(&named), "{args:?}: '{err}' names {named}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `srrd analyze` refuses an image that is not a CT in HU (an MR here), saying why.
#[test]
fn analyze_refuses_a_non_ct_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = Geometry::new([40, 40, 30], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]);
    let mr = Volume::from_fn(g, |i, j, k| 100.0 + (i + j + k) as f32);
    let p = dir.path().join("mr.nii.gz");
    write_nifti(&p, &mr, WriteDtype::F32).expect("write");
    let out = srrd(&[
        "analyze",
        "--ct",
        p.to_str().expect("utf8"),
        "--out",
        dir.path().join("a").to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not look like a CT"), "{err}");
    assert!(
        !dir.path().join("a/report.json").exists(),
        "no report for a refused input"
    );
}

/// `srrd analyze` on the demo knee's CT (advanced OA) writes a complete report: 12
/// subregions with the 4 parameters, a KOA call with its provenance, maps on the CT grid,
/// and a figure whose colour bar runs from the map's low end to its high end.
#[test]
fn analyze_writes_a_complete_report_for_the_demo_ct() {
    let demo = srrd::phantom::ensure_demo(&srrd::progress::Progress::new()).expect("demo knee");
    let ct = demo.join("ct.nii.gz");
    let dir = tempfile::tempdir().expect("tmp");
    let out_dir = dir.path().join("a");
    let out = srrd(&[
        "analyze",
        "--ct",
        ct.to_str().expect("utf8"),
        "--out",
        out_dir.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints");
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(printed, file, "--json prints the report it writes");
    let subregions = file["subregions_ct"].as_array().expect("subregions");
    assert_eq!(subregions.len(), 12);
    for s in subregions {
        assert!(s["patches"].as_u64().expect("patches") > 0, "{s}");
        for (name, lo, hi) in [
            ("bv_tv", 0.0, 1.0),
            ("tb_th_mm", 0.1, 3.0),
            ("tb_sp_mm", 0.1, 3.0),
            ("tb_n_per_mm", 0.1, 3.0),
        ] {
            let m = s["parameters"][name]["mean"].as_f64().expect("mean");
            assert!(m > lo && m < hi, "{name} {m} in {s}");
        }
    }
    let koa = &file["koa"];
    let p = koa["probability"].as_f64().expect("probability");
    assert!(p > 0.5, "the demo knee has advanced OA: {koa}");
    assert_eq!(koa["class"], "KOA");
    assert!(file["provenance"].to_string().contains("phantoms"));
    let ct_geometry = read_image(&ct, None).expect("ct").volume.geometry;
    for map in ["bv_tv", "tb_th_mm", "tb_sp_mm", "tb_n_per_mm", "subregions"] {
        let v = read_image(&out_dir.join(format!("{map}.nii.gz")), None).expect(map);
        assert_eq!(v.volume.geometry.size, ct_geometry.size, "{map}");
    }
    let html = std::fs::read_to_string(out_dir.join("report.html")).expect("html");
    assert!(html.contains("KOA prediction") && html.contains("tb_th_coronal.png"));
    let (w, h, buf) =
        srrd::io::raster::read_rgb(&out_dir.join("tb_th_coronal.png")).expect("figure");
    let (w, h) = (w as usize, h as usize);
    let [ni, _, nk] = ct_geometry.size;
    assert_eq!((w, h), (3 * ni, 3 * nk + 16));
    let px = 3;
    let at = |x: usize, y: usize| -> [u8; 3] {
        let o = (y * w + x) * px;
        [buf[o], buf[o + 1], buf[o + 2]]
    };
    assert_eq!(at(0, h - 1), srrd::stats::viridis_rgb(0.0));
    assert_eq!(at(w - 1, h - 1), srrd::stats::viridis_rgb(1.0));
}

/// `srrd roc`: the AUC of a perfectly separating score is 1 with a zero-width interval;
/// bad CSVs are refused naming the file and the row.
#[test]
fn roc_auc_and_bad_csv() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("scores.csv");
    std::fs::write(
        &good,
        "label,perfect,random\n1,0.9,0.2\n1,0.8,0.7\n1,0.7,0.4\n0,0.3,0.6\n0,0.2,0.1\n0,0.1,0.5\n",
    )
    .expect("write");
    let out = srrd(&["roc", good.to_str().expect("utf8"), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["n_positive"], 3);
    assert_eq!(r["scores"][0]["auc"], 1.0);
    assert_eq!(r["scores"][0]["se"], 0.0);
    // random: positives 0.2, 0.7, 0.4 vs negatives 0.6, 0.1, 0.5: 5 of 9 pairs ordered.
    let auc = r["scores"][1]["auc"].as_f64().expect("auc");
    assert!((auc - 5.0 / 9.0).abs() < 1e-12, "{auc}");
    assert_eq!(r["paired"][0]["b"], "random");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "label,a\n1,0.5\nmaybe,0.3\n").expect("write");
    let out = srrd(&["roc", bad.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv") && err.contains("row 3"), "{err}");
}

/// Table 2's synthesis half as a user runs it: a cohort, its crMR store, then
/// `eval-synthesis` with the demo model. The reference row (the CT rendered in the MR's
/// pose) is the ideal sCT, so it must score perfectly, and refining on crMR must beat the
/// coarse registration alone.
#[test]
fn eval_synthesis_scores_the_ideal_sct_perfectly_and_records_the_card() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf8").to_string();
    let (cohort, store, eval, model) = (path("cohort"), path("synth"), path("eval"), path("model"));
    let run = |args: &[&str]| {
        let out = srrd(args);
        assert!(
            out.status.success(),
            "srrd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "cohort", "--out", &cohort, "--n", "2", "--seed", "4", "--preset", "small",
    ]);
    run(&["synth-data", "--cohort", &cohort, "--out", &store]);
    // A copy of the demo model, so --record writes into the copy.
    std::fs::create_dir_all(&model).expect("model dir");
    let demo = srrd::synthesis::model::demo_model_dir();
    for f in ["model.json", "generators.safetensors", "hed.safetensors"] {
        std::fs::copy(demo.join(f), dir.path().join("model").join(f)).expect("copy");
    }
    let models = format!("spsnet={model}");
    run(&[
        "eval-synthesis",
        "--data",
        &store,
        "--cohort",
        &cohort,
        "--models",
        &models,
        "--subjects",
        "all",
        "--out",
        &eval,
        "--record",
    ]);
    let text = std::fs::read_to_string(dir.path().join("eval/synthesis.json")).expect("json");
    let j: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    let reference = &j["preservation"]["reference"];
    assert_eq!(reference["mae_hu"][0].as_f64(), Some(0.0), "{reference}");
    assert!(
        reference["ssim"][0].as_f64().expect("ssim") > 0.999,
        "{reference}"
    );
    assert!(
        reference["bone_dice"][0].as_f64().expect("dice") > 0.95,
        "{reference}"
    );
    let sct = &j["preservation"]["spsnet"];
    let ssim = sct["ssim"][0].as_f64().expect("sct ssim");
    assert!(
        ssim.is_finite() && ssim < 0.999,
        "a learned sCT is not the ideal one: {sct}"
    );
    let mean = |row: &str| j["tre"][row]["mean_mm"].as_f64().unwrap_or(f64::NAN);
    assert!(
        mean("crMR (Mattes MI)") < mean("coarse only"),
        "refined on crMR {} mm vs coarse {} mm",
        mean("crMR (Mattes MI)"),
        mean("coarse only")
    );
    assert!(mean("spsnet sCT (NCC)").is_finite() && mean("spsnet sCT (Mattes MI)").is_finite());
    assert!(
        std::fs::read_to_string(dir.path().join("eval/table.md"))
            .expect("table")
            .contains("| spsnet |")
    );
    let card = std::fs::read_to_string(dir.path().join("model/model.json")).expect("card");
    let card: serde_json::Value = serde_json::from_str(&card).expect("card json");
    assert!(
        card["metrics"]["tre_refined_on_sct_mi"]["mean_mm"].is_number(),
        "{}",
        card["metrics"]
    );
}

/// `srrd study` checks its synthesis model before the long stages: a folder that is not a
/// model is refused at once, naming it, and nothing is written.
#[test]
fn study_refuses_a_bad_synthesis_model_before_running() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("not-a-model");
    std::fs::create_dir_all(&bad).expect("dir");
    let out = dir.path().join("study");
    let o = srrd(&[
        "study",
        "--cohort",
        dir.path().join("no-cohort").to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
        "--synthesis",
        bad.to_str().expect("utf8"),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not-a-model") && err.contains("model.json"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written before the check");
}

/// `srrd phantom` with acquisition options: a small bilateral scan of a left knee writes
/// the combined CT, the other (right) knee's own subject in other_knee/, and both truths
/// say which side they are and how they were scanned; bad values are refused.
#[test]
fn phantom_acquisition_options_write_a_left_knee_beside_a_right_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let out_dir = dir.path().join("k");
    let out = srrd(&[
        "phantom",
        "--out",
        out_dir.to_str().expect("utf8"),
        "--preset",
        "small",
        "--left",
        "--bilateral",
        "--ct-slice-mm",
        "3",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("truth.json")).expect("truth"))
            .expect("json");
    assert_eq!(truth["side"], "left");
    assert_eq!(truth["acquisition"]["bilateral"], true);
    assert_eq!(truth["acquisition"]["ct_slice_mm"], 3.0);
    assert_eq!(truth["other_knee"]["side"], "right");
    let other: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("other_knee/truth.json")).expect("other truth"),
    )
    .expect("json");
    assert_eq!(other["side"], "right");
    let ct = read_image(&out_dir.join("ct.nii.gz"), None)
        .expect("ct")
        .volume;
    let alone = read_image(&out_dir.join("other_knee/ct.nii.gz"), None)
        .expect("other ct")
        .volume;
    assert_eq!(ct.geometry.spacing_mm.z, 3.0);
    assert!(ct.geometry.size[0] > 2 * alone.geometry.size[0]);
    let bad = srrd(&[
        "phantom",
        "--out",
        dir.path().join("bad").to_str().expect("utf8"),
        "--ct-slice-mm",
        "9",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--ct-slice-mm 9"));
}

/// `srrd patches` cuts each knee as `analyze` does: in a cohort of left knees scanned
/// with both knees in the field of view, every patch comes from the subject's own (left,
/// patient's +x) knee, none from the other one.
#[test]
fn patches_of_a_bilateral_cohort_come_from_the_subjects_knee() {
    let dir = tempfile::tempdir().expect("tmp");
    let cohort = dir.path().join("c");
    let store = dir.path().join("s");
    let out = srrd(&[
        "cohort",
        "--out",
        cohort.to_str().expect("utf8"),
        "--n",
        "1",
        "--preset",
        "small",
        "--left",
        "--bilateral",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = srrd(&[
        "patches",
        "--cohort",
        cohort.to_str().expect("utf8"),
        "--out",
        store.to_str().expect("utf8"),
        "--ct-spacing-mm",
        "1,1,1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let subject = &manifest["subjects"][0];
    let n = subject["patches"].as_u64().expect("patches");
    assert!(n >= 20, "{manifest}");
    let patches = srrd::regression::dataset::load_patches(
        &store.join(subject["file"].as_str().expect("file")),
    )
    .expect("store");
    let centres = Vec::<f64>::try_from(patches.centre_mm.flatten(0, -1)).expect("centres");
    // The combined CT's middle along x (LPS: +x is the patient's left).
    let ct = read_image(&cohort.join("sub-000/ct.nii.gz"), None)
        .expect("ct")
        .volume
        .geometry;
    let ends = [0.0, (ct.size[0] - 1) as f64]
        .map(|i| ct.index_to_world(nalgebra::Vector3::new(i, 0.0, 0.0)).x);
    let middle = 0.5 * (ends[0] + ends[1]);
    let right_side = centres.chunks(3).filter(|c| c[0] < middle).count();
    assert_eq!(
        right_side, 0,
        "{} of {n} patches from the other knee",
        right_side
    );
}
