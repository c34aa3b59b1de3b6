//! A clinic's own knees through the training commands: a study list (columns in another
//! order, KL grades, a knee without a label, a knee without an MR, no phantom truth
//! anywhere) read by `srrd patches --manifest` and `srrd synth-data --manifest` as a
//! phantom cohort is read, and refused where a measure needs a phantom's truth.

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
    let last_json = |text: &str| -> serde_json::Value {
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("json line");
        serde_json::from_str(line).expect("json")
    };
    let (read, truth) = (last_json(&read), last_json(&truth));
    for stage in 0..3 {
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
}
