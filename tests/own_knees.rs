//! A clinic's own knees through the training commands: a study list (columns in another
//! order, KL grades, a knee without a label, a knee without an MR, no phantom truth
//! anywhere) read by `srrd patches --manifest` and `srrd synth-data --manifest` as a
//! phantom cohort is read, and refused where a measure needs a phantom's truth; the
//! registration table from readers' folders and from Slicer files the list names, and bad
//! studies and reader folders named.

use std::path::Path;
use std::process::Command;

use srrd::io::{read_landmarks, write_landmarks};

fn srrd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(args)
        .output()
        .expect("run srrd")
}

fn ok(args: &[&str]) -> String {
    let out = srrd(args);
    assert!(
        out.status.success(),
        "srrd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read json");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn a_study_list_trains_as_a_cohort_does() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = |name: &str| dir.path().join(name);
    let s = |path: &Path| path.to_str().expect("utf8").to_string();
    ok(&[
        "cohort",
        "--out",
        &s(&p("c")),
        "--n",
        "2",
        "--seed",
        "11",
        "--preset",
        "small",
    ]);
    // The clinic's folder: the images only, no truth.json, no landmarks, other names.
    let clinic = p("clinic");
    for (subject, from) in [
        ("knee-a", "sub-000"),
        ("knee-b", "sub-001"),
        ("knee-c", "sub-001"),
    ] {
        std::fs::create_dir_all(clinic.join(subject)).expect("dir");
        for f in ["ct.nii.gz", "mr.nii.gz"] {
            std::fs::copy(p("c").join(from).join(f), clinic.join(subject).join(f)).expect("copy");
        }
    }
    let study = clinic.join("study.csv");
    std::fs::write(
        &study,
        "kl,mr,subject,ct\n\
         3,knee-a/mr.nii.gz,knee-a,knee-a/ct.nii.gz\n\
         ,knee-b/mr.nii.gz,knee-b,knee-b/ct.nii.gz\n\
         1,,knee-c,knee-c/ct.nii.gz\n\
         2,knee-b/mr.nii.gz,knee-d,knee-b/mr.nii.gz\n",
    )
    .expect("csv");

    // The patch store from the study list: the knees with an MR, their labels.
    let log = ok(&[
        "patches",
        "--manifest",
        &s(&study),
        "--out",
        &s(&p("store")),
        "--per-subject",
        "8",
    ]);
    assert!(
        log.contains("knee-c: left out (no MR in the study)"),
        "{log}"
    );
    // An MR given as the CT is refused by the analysis: left out with the reason, and the
    // other knees go on.
    assert!(log.contains("knee-d: left out ("), "{log}");
    let m = json(&p("store").join("manifest.json"));
    let subjects = m["subjects"].as_array().expect("subjects");
    let ids: Vec<&str> = subjects.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, ["knee-a", "knee-b"]);
    assert_eq!(subjects[0]["kl_grade"], 3);
    assert_eq!(subjects[0]["grade"], "advanced");
    assert!(subjects[1]["kl_grade"].is_null() && subjects[1]["grade"].is_null());
    assert!(m["source"].as_str().expect("source").ends_with("study.csv"));
    let excluded = m["excluded"].as_array().expect("excluded");
    assert_eq!(excluded.len(), 2, "{excluded:?}");
    assert_eq!(excluded[0]["id"], "knee-c");
    assert_eq!(excluded[0]["reason"], "no MR in the study");
    assert_eq!(excluded[1]["id"], "knee-d");
    assert!(
        excluded[1]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("mr.nii.gz")),
        "{excluded:?}"
    );

    // The same knee from the phantom cohort gives the same patches: the study list is
    // read as the cohort is, nothing taken from the phantom's truth.
    ok(&[
        "patches",
        "--cohort",
        &s(&p("c")),
        "--out",
        &s(&p("store-c")),
        "--per-subject",
        "8",
        "--limit",
        "1",
    ]);
    let a = std::fs::read(p("store").join("knee-a.safetensors")).expect("knee-a");
    let c = std::fs::read(p("store-c").join("sub-000.safetensors")).expect("sub-000");
    assert_eq!(a, c, "knee-a's patches are sub-000's");
    // And the store knows it is the same knee, whatever its name.
    let mc = json(&p("store-c").join("manifest.json"));
    let content = |m: &serde_json::Value, n: usize| m["subjects"][n]["content_id"].clone();
    let m = json(&p("store").join("manifest.json"));
    assert!(content(&m, 0).is_string());
    assert_eq!(content(&m, 0), content(&mc, 0));
    assert_ne!(content(&m, 0), content(&m, 1));

    // The synthesis store likewise (one knee), without the phantom's tissue labels.
    ok(&[
        "synth-data",
        "--manifest",
        &s(&study),
        "--out",
        &s(&p("synth")),
        "--limit",
        "1",
    ]);
    let m = json(&p("synth").join("manifest.json"));
    assert_eq!(m["subjects"][0]["id"], "knee-a");
    assert!(p("synth/knee-a/crmr.nii.gz").exists());
    assert!(
        !p("synth/knee-a/ct_labels.nii.gz").exists(),
        "no phantom truth to copy"
    );

    // Without landmarks a study list has no registration truth: refused, naming it.
    let out = srrd(&["eval-registration", "--manifest", &s(&study)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("study.csv") && err.contains("--landmarks READER_DIR"),
        "{err}"
    );
    // The synthesis evaluation needs the phantom's CT in the MR's pose: refused too.
    let out = srrd(&[
        "eval-synthesis",
        "--data",
        &s(&p("synth")),
        "--manifest",
        &s(&study),
        "--models",
        "x=y",
        "--subjects",
        "all",
        "--out",
        &s(&p("e")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a phantom cohort"));

    // Two readers' landmarks as the reading room saves them: the phantom's true points
    // moved by up to 0.3 mm per axis, each reader differently; knee-b has none.
    for (reader, shift) in [("r1", 0.3), ("r2", -0.3)] {
        for (subject, from) in [("knee-a", "sub-000")] {
            let dir = p(reader).join(subject);
            std::fs::create_dir_all(&dir).expect("reader dir");
            for (n, f) in ["landmarks_ct.json", "landmarks_mr.json"]
                .into_iter()
                .enumerate()
            {
                let mut marks = read_landmarks(&p("c").join(from).join(f)).expect("truth");
                for (k, m) in marks.iter_mut().enumerate() {
                    m.position_mm[(k + n) % 3] += shift;
                }
                write_landmarks(&dir.join(f), &marks).expect("write");
            }
        }
    }
    let read = ok(&[
        "eval-registration",
        "--manifest",
        &s(&study),
        "--landmarks",
        &s(&p("r1")),
        "--landmarks",
        &s(&p("r2")),
        "--json",
    ]);
    let truth = ok(&[
        "eval-registration",
        "--cohort",
        &s(&p("c")),
        "--limit",
        "1",
        "--json",
    ]);
    let (read, truth) = (last_json(&read), last_json(&truth));
    // The stages, in order: none, coarse, coarse + sCT (the demo SPSNet), refined.
    let keys: Vec<&str> = (0..4)
        .map(|n| truth["rows"][n]["stage"].as_str().expect("stage"))
        .collect();
    assert_eq!(keys, ["none", "coarse", "coarse_sct", "refined"]);
    assert!(truth["rows"][2]["pairs"].as_u64().expect("n") > 0);
    for stage in 0..4 {
        let (a, b) = (
            read["rows"][stage]["mean_mm"].as_f64().expect("mean"),
            truth["rows"][stage]["mean_mm"].as_f64().expect("mean"),
        );
        assert!(
            (a - b).abs() < 0.5,
            "stage {stage}: readers {a} mm, truth {b} mm"
        );
    }
    // Each reader's pairs count: twice the truth's.
    assert_eq!(
        read["rows"][0]["pairs"],
        2 * truth["rows"][0]["pairs"].as_u64().expect("n")
    );
    // The readers differ by 0.6 mm along one axis per point, CT and MR.
    let between = read["inter_reader"]["mean_mm"]
        .as_f64()
        .expect("inter-reader");
    assert!((between - 0.6).abs() < 1e-6, "{between}");
    let skipped = read["skipped"].to_string();
    assert!(
        skipped.contains("knee-b") && skipped.contains("knee-c"),
        "{skipped}"
    );

    landmarks_named_in_the_study_list(dir.path(), &truth);
    bad_studies_and_reader_folders_are_named(dir.path(), &study);
}

/// `text`'s last line that is a JSON object.
fn last_json(text: &str) -> serde_json::Value {
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("json line");
    serde_json::from_str(line).expect("json")
}

/// knee-a's true landmarks, hand-written as Slicer saves them in RAS (the CT's as `.fcsv`,
/// the MR's as `.mrk.json`), named in the study list's `ct_landmarks` and `mr_landmarks`:
/// one more reader, whose table is the truth's; a reader folder with a file that does not
/// parse and a case of no subject is used for what it has, its problems named.
fn landmarks_named_in_the_study_list(dir: &Path, truth: &serde_json::Value) {
    let s = |path: &Path| path.to_str().expect("utf8").to_string();
    let clinic = dir.join("clinic");
    let ct = read_landmarks(&dir.join("c/sub-000/landmarks_ct.json")).expect("ct truth");
    let mr = read_landmarks(&dir.join("c/sub-000/landmarks_mr.json")).expect("mr truth");
    let mut fcsv = String::from(
        "# Markups fiducial file version = 4.10\n# CoordinateSystem = 0\n\
         # columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n",
    );
    for (n, m) in ct.iter().enumerate() {
        let [x, y, z] = m.position_mm;
        fcsv.push_str(&format!(
            "vtkMRMLMarkupsFiducialNode_{n},{},{},{z},0,0,0,1,1,1,0,{},,\n",
            -x, -y, m.label
        ));
    }
    // The MR's points in reverse order: pairs match by label, not by place in the file.
    let points: Vec<serde_json::Value> = (mr.iter().rev())
        .map(|m| {
            let [x, y, z] = m.position_mm;
            serde_json::json!({"id": m.label, "label": m.label, "position": [-x, -y, z],
                "positionStatus": "defined"})
        })
        .collect();
    let mrk = serde_json::json!({"@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [{"type": "Fiducial", "coordinateSystem": "RAS", "coordinateUnits": "mm",
        "controlPoints": points}]});
    std::fs::create_dir_all(clinic.join("marks")).expect("marks");
    std::fs::write(clinic.join("marks/knee-a_ct.fcsv"), fcsv).expect("fcsv");
    std::fs::write(clinic.join("marks/knee-a_mr.mrk.json"), mrk.to_string()).expect("mrk");
    let study = clinic.join("study-marks.csv");
    std::fs::write(
        &study,
        "subject,ct,mr,ct_landmarks,mr_landmarks\n\
         knee-a,knee-a/ct.nii.gz,knee-a/mr.nii.gz,marks/knee-a_ct.fcsv,marks/knee-a_mr.mrk.json\n\
         knee-b,knee-b/ct.nii.gz,knee-b/mr.nii.gz,,\n",
    )
    .expect("csv");
    // A reader who read knee-a (its MR file broken) and a knee of another study.
    let reader = dir.join("r3");
    for case in ["knee-a", "other-7"] {
        std::fs::create_dir_all(reader.join(case)).expect("case");
    }
    write_landmarks(&reader.join("knee-a/landmarks_ct.json"), &ct).expect("ct");
    std::fs::write(reader.join("knee-a/landmarks_mr.json"), "{\"truncated").expect("mr");
    let out = ok(&[
        "eval-registration",
        "--manifest",
        &s(&study),
        "--landmarks",
        &s(&reader),
        "--synthesis",
        "none",
        "--json",
    ]);
    let read = last_json(&out);
    assert!(
        out.contains("1 case folder matches no subject of the study and is not used: other-7"),
        "{out}"
    );
    let problems = read["problems"].to_string();
    assert!(
        problems.contains("knee-a: ")
            && problems.contains("landmarks_mr.json: not an srrd landmark file"),
        "{problems}"
    );
    assert!(
        read["landmarks"]
            .as_str()
            .is_some_and(|l| l.ends_with("r3, study list)")),
        "{read}"
    );
    assert_eq!(read["rows"][0]["pairs"], truth["rows"][0]["pairs"]);
    // RAS -> LPS: before registration the pairs are the truth's to the micrometre.
    let none = |v: &serde_json::Value| v["rows"][0]["mean_mm"].as_f64().expect("none");
    assert!((none(&read) - none(truth)).abs() < 1e-3, "{read}");
    for stage in [1, 3] {
        let m = |v: &serde_json::Value| v["rows"][stage]["mean_mm"].as_f64().expect("mean");
        assert!((m(&read) - m(truth)).abs() < 0.5, "stage {stage}: {read}");
    }
    // --synthesis none: the sCT stage is in its place, not measured.
    assert_eq!(read["rows"][2]["stage"], "coarse_sct");
    assert_eq!(read["rows"][2]["pairs"], 0);
    assert!(read["rows"][2]["mean_mm"].is_null());
    assert!(read["skipped"].to_string().contains("knee-b"));
}

/// Refused before any registration: a study list naming a subject twice (the file and
/// both rows), a reader folder whose cases match no subject (the folder and its cases).
fn bad_studies_and_reader_folders_are_named(dir: &Path, study: &Path) {
    let s = |path: &Path| path.to_str().expect("utf8").to_string();
    let twice = dir.join("clinic/twice.csv");
    std::fs::write(
        &twice,
        "subject,ct\nknee-a,knee-a/ct.nii.gz\nknee-b,knee-b/ct.nii.gz\nknee-a,knee-b/ct.nii.gz\n",
    )
    .expect("csv");
    let out = srrd(&["eval-registration", "--manifest", &s(&twice)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("twice.csv: subject \"knee-a\" appears twice, in rows 2 and 4"),
        "{err}"
    );
    // `srrd manifest` names a landmark file that does not read, and lists the knees.
    let marks = dir.join("clinic/marks-bad.csv");
    std::fs::write(
        dir.join("clinic/bad.fcsv"),
        "# CoordinateSystem = IJK\n1,2,3,4\n",
    )
    .expect("fcsv");
    std::fs::write(
        &marks,
        "subject,ct,mr,ct_landmarks,mr_landmarks\nknee-a,knee-a/ct.nii.gz,knee-a/mr.nii.gz,bad.fcsv,bad.fcsv\n",
    )
    .expect("csv");
    let out = ok(&["manifest", &s(&marks)]);
    assert!(
        out.contains("knee-a: landmarks not usable")
            && out.contains("bad.fcsv: line 1: coordinate system IJK"),
        "{out}"
    );
    let other = dir.join("r-other");
    for case in ["sub-000", "sub-001"] {
        std::fs::create_dir_all(other.join(case)).expect("case");
    }
    let out = srrd(&[
        "eval-registration",
        "--manifest",
        &s(study),
        "--landmarks",
        &s(&other),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("r-other: no case folder matches a subject of the study: cases sub-000, sub-001; subjects knee-a, knee-b, knee-c, knee-d"),
        "{err}"
    );
}
