//! A knee's study as PACS exports it: one folder holding the CT (a bone and a soft-tissue
//! kernel, and a scout) and the MR, with scanner-style file names. `srrd analyze --ct`
//! reads the bone-kernel CT and says so; a study list names the folder once (`study`)
//! with KL grades in a `kl` column, its columns in another order; a label in free text
//! is refused with the file and the row.

use std::path::Path;
use std::process::Command;

use srrd::phantom::{Config, Grade, Preset, generate};
use srrd::progress::Progress;

mod common;
use common::{SeriesTags, write_volume_series};

const UID: &str = "1.2.826.0.1.3680043.2.1125.8";

fn srrd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(args)
        .output()
        .expect("run srrd")
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// A small phantom knee written into `dir` as one study: [1] the MR (48 files, the
/// largest), [2] the CT in a bone kernel, [3] in a soft-tissue kernel (45 files each),
/// [4] a one-image scout.
fn write_export(dir: &Path) {
    let config = Config {
        seed: 3,
        grade: Grade::Advanced,
        preset: Preset::Small,
    };
    let p = generate(config, &Progress::new()).expect("phantom");
    let scout = srrd::volume::Volume::from_fn(
        srrd::volume::Geometry::new([64, 32, 1], [2.0, 2.0, 1.0], [-64.0, 0.0, -30.0]),
        |i, _, _| i as f32,
    );
    let study = format!("{UID}.9");
    let uids: Vec<String> = (1..=4).map(|n| format!("{UID}.{n}")).collect();
    for (n, v, modality, description, kernel, image_type) in [
        (
            1,
            &p.mr,
            "MR",
            "PD SPACE sag",
            "",
            "ORIGINAL\\PRIMARY\\M\\ND",
        ),
        (
            2,
            &p.ct,
            "CT",
            "Knee 2.0 Bone",
            "BONE",
            "ORIGINAL\\PRIMARY\\AXIAL",
        ),
        (
            3,
            &p.ct,
            "CT",
            "Knee 2.0 Soft",
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
        write_volume_series(dir, v, &tags, |k| {
            format!("DICOM/ST00001/SE{n:05}/IM{:05}", k + 1)
        });
    }
}

#[test]
fn analyze_reads_the_bone_ct_of_a_mixed_folder_and_a_study_names_it_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let export = tmp.path().join("export");
    write_export(&export);

    // A folder of subjects whose subject folder is the export: one knee, CT and MR there.
    let out = srrd(&["manifest", utf8(tmp.path()), "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("manifest json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["subject"], "export");
    assert_eq!(rows[0]["ct"].as_str(), Some(utf8(&export)));
    assert_eq!(rows[0]["mr"], rows[0]["ct"]);

    // srrd series numbers them as --series takes them.
    let out = srrd(&["series", utf8(&export)]);
    let listed = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 4, "{listed}");
    assert!(lines[0].starts_with(&format!("[1] {UID}.1")) && lines[0].contains(" MR "));
    assert!(lines[1].starts_with(&format!("[2] {UID}.2")) && lines[1].contains("kernel BONE"));
    assert!(lines[3].contains("(localizer)"), "{listed}");

    // One knee: the CT, not the larger MR, and the warning says which and why.
    let a = tmp.path().join("a");
    let out = srrd(&["analyze", "--ct", utf8(&export), "--out", utf8(&a)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let want = format!(
        "warning: {}: folder holds 4 series; reading [2] {UID}.2 (45 files, 75x75 axial, \"Knee 2.0 Bone\", kernel BONE) as the CT: Modality CT, bone kernel BONE; others: [1] MR, 48 images | [3] CT, soft-tissue kernel STANDARD, 45 images | [4] CT, localizer, 1 image; pick another with --series N or its UID (in a study list, the ct_series column)",
        export.display()
    );
    assert!(err.lines().any(|l| l == want), "{err}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["status"], "done");
    assert_eq!(report["subregions_ct"].as_array().map(Vec::len), Some(12));

    // A study list in another column order: one folder for CT and MR, KL grades, a knee
    // whose CT series is named and that has no label.
    let list = tmp.path().join("study.csv");
    std::fs::write(
        &list,
        "kl,study,subject,ct,ct_series\nKL3,export,k1,,\n,,k2,export,3\n",
    )
    .expect("csv");
    let out = srrd(&["manifest", utf8(&list)]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("mr: the same folder") && shown.contains("KL 3 (advanced)"),
        "{shown}"
    );
    let results = tmp.path().join("results");
    let out = srrd(&[
        "analyze",
        "--manifest",
        utf8(&list),
        "--out",
        utf8(&results),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {}: 1 of 2 knees have no label and are left out of the classifier (used for the regression): k2",
            list.display()
        )),
        "{err}"
    );
    assert!(err.contains("as the MR: the only MR series"), "{err}");
    let read = |s: &str| -> serde_json::Value {
        let bytes = std::fs::read(results.join(s).join("report.json")).expect("report");
        serde_json::from_slice(&bytes).expect("json")
    };
    let (k1, k2) = (read("k1"), read("k2"));
    assert_eq!(
        (&k1["status"], &k2["status"]),
        (&"done".into(), &"done".into())
    );
    assert_eq!(k1["label"], "KL 3");
    assert!(k2["label"].is_null(), "{}", k2["label"]);
    assert_eq!(k1["mr"].as_str(), Some(utf8(&export)), "the study's MR");
    assert!(!k1["registration"].is_null(), "k1 was registered to its MR");
    assert!(k2["mr"].is_null(), "k2 named a CT only");
    let log = std::fs::read_to_string(results.join("k1/analyze.log")).expect("log");
    assert!(
        log.contains("as the CT: Modality CT, bone kernel BONE"),
        "{log}"
    );
}

/// `--ct` and `--mr` naming one folder that holds no MR series: the CT alone, said.
#[test]
fn one_folder_without_an_mr_series_is_a_ct_only_knee() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = generate(
        Config {
            seed: 5,
            grade: Grade::Normal,
            preset: Preset::Small,
        },
        &Progress::new(),
    )
    .expect("phantom");
    let export = tmp.path().join("ct-only");
    let tags = SeriesTags {
        modality: "CT",
        series_uid: "1.2.826.0.1.3680043.2.1125.8.21",
        study_uid: "1.2.826.0.1.3680043.2.1125.8.20",
        description: "Knee",
        kernel: "B60f",
        image_type: "ORIGINAL\\PRIMARY\\AXIAL",
        intercept: -1024.0,
        slope: 1.0,
    };
    write_volume_series(&export, &p.ct, &tags, |k| format!("{k:08}"));
    let a = tmp.path().join("a");
    let e = utf8(&export);
    let out = srrd(&["analyze", "--ct", e, "--mr", e, "--out", utf8(&a), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {e}: no MR series in the folder; analysing the CT alone"
        )),
        "{err}"
    );
    assert!(
        !err.contains("folder holds"),
        "one series, no choice: {err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json");
    assert!(
        report["mr"].is_null() && report["registration"].is_null(),
        "{report}"
    );
}

#[test]
fn a_label_in_free_text_is_refused_with_the_file_and_row() {
    let tmp = tempfile::tempdir().expect("tmp");
    let list = tmp.path().join("study.csv");
    std::fs::write(
        &list,
        "subject,ct,label\nk1,ct1.nii.gz,normal\nk2,ct2.nii.gz,moderate OA\n",
    )
    .expect("csv");
    let want = format!(
        "{}: row 3: label \"moderate OA\": expected a KL grade 0-4 (or KL0-KL4), normal, mild, advanced or KOA",
        list.display()
    );
    for args in [
        vec!["manifest", utf8(&list)],
        vec!["analyze", "--manifest", utf8(&list), "--out"],
    ] {
        let mut args = args;
        let out_dir = tmp.path().join("out");
        if args[0] == "analyze" {
            args.push(utf8(&out_dir));
        }
        let out = srrd(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&want), "{args:?}: {err}");
        assert!(!out_dir.exists(), "nothing written: {args:?}");
    }
}

/// The workstation opened on one export folder as CT and MR shows the CT series as the CT
/// layer and the MR series as the MR layer (not the largest series twice).
#[test]
fn the_viewer_reads_each_layer_s_modality_from_one_folder() {
    use egui_kittest::Harness;
    use srrd::app::ViewerApp;
    let tmp = tempfile::tempdir().expect("tmp");
    let export = tmp.path().join("export");
    write_export(&export);
    let app = ViewerApp::start(Some(export.clone()), Some(export.clone()));
    let mut h = Harness::builder()
        .with_size([1000.0, 700.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    let start = std::time::Instant::now();
    while h.state().is_loading() {
        assert!(start.elapsed().as_secs() < 60, "loading did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(2);
    let s = h.state();
    assert!(s.error().is_none(), "{:?}", s.error());
    let (ct, mr) = (
        s.layer_volume("CT").expect("CT layer"),
        s.layer_volume("MR").expect("MR layer"),
    );
    let min = |v: &srrd::volume::Volume| v.min_max().expect("values").0;
    assert!(min(&ct) < -500.0, "the CT layer holds HU: min {}", min(&ct));
    assert!(
        min(&mr) >= 0.0,
        "the MR layer holds MR signal: min {}",
        min(&mr)
    );
    assert_ne!(ct.geometry.size, mr.geometry.size);
}
