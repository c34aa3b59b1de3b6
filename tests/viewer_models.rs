//! The workstation with a research group's own models: File > Models > Models folder…
//! takes a folder `srrd study` trained (checked first: a folder without models is refused
//! with its path and changes nothing), the analysis then runs with it, and the results
//! view names the folder, its study and its provenance beside the score.

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use srrd::app::{Layer, ViewerApp};

#[path = "common/gui.rs"]
mod gui;
use gui::wait_for_job;

const PROVENANCE: &str =
    "trained on the study clinic.csv (12 knees); for research use, not clinically validated";

/// A models folder as `srrd study` leaves it: the demo networks' files, their card naming
/// a study (as `study` writes it), the classifier saying the same.
fn study_models(root: &Path) -> PathBuf {
    let assets = srrd::pipeline::models::models_dir(None);
    let dir = root.join("mystudy").join("models");
    for part in ["regression", "diagnosis", "synthesis"] {
        std::fs::create_dir_all(dir.join(part)).expect("dir");
        for f in std::fs::read_dir(assets.join(part)).expect("assets") {
            let f = f.expect("entry").path();
            std::fs::copy(&f, dir.join(part).join(f.file_name().expect("name"))).expect("copy");
        }
    }
    let card_path = dir.join("regression/model.json");
    let mut card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_path).expect("card")).expect("json");
    card["provenance"] = PROVENANCE.into();
    card["study"] = serde_json::json!({
        "name": "clinic.csv",
        "list_hash": "0123456789abcdef",
        "knees_listed": 13,
        "knees_used": 12,
        "excluded": [["k13", "no MR in the study"]],
        "label_counts": {"KL 0": 6, "KL 3": 6},
    });
    std::fs::write(&card_path, card.to_string()).expect("write card");
    let clf_path = dir.join("diagnosis/koa_classifier.json");
    let mut clf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&clf_path).expect("clf")).expect("json");
    clf["provenance"] = PROVENANCE.into();
    std::fs::write(&clf_path, clf.to_string()).expect("write classifier");
    dir
}

/// Opens File > Models > Models folder… and answers its prompt with `path`.
fn choose_models(h: &mut Harness<'static, ViewerApp>, path: &Path) {
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Models").click();
    h.run_steps(2);
    h.get_by_label("Models folder…").click();
    h.run_steps(2);
    h.state_mut().prompt_mut().expect("the models prompt").path = path.display().to_string();
    h.run_steps(1);
    h.get_by_label("OK").click();
    h.run_steps(2);
}

#[test]
fn a_study_models_folder_is_chosen_and_named_beside_the_score() {
    use srrd::phantom::{Config, Grade, Preset, generate_with, scan_specs, truth_sampling};
    use srrd::progress::Progress;
    let tmp = tempfile::tempdir().expect("tmp");
    let models = study_models(tmp.path());
    let (ct_spec, _) = scan_specs(Preset::Paper);
    let (_, mr_spec) = scan_specs(Preset::Small);
    let p = generate_with(
        Config {
            seed: 12,
            grade: Grade::Advanced,
            preset: Preset::Small,
        },
        ct_spec,
        mr_spec,
        truth_sampling(Preset::Small),
        &Progress::new(),
    )
    .expect("phantom");
    let mut ct = Layer::new("CT", p.ct.clone());
    ct.window = (400.0, 1800.0);
    let app = ViewerApp::with_layers(vec![ct]);
    let mut h = Harness::builder()
        .with_size([1400.0, 1500.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    let demo = h.state().models_dir();

    // A folder without models: refused, naming it; the demo models stay.
    choose_models(&mut h, tmp.path());
    let err = h.state().error().expect("refused").to_string();
    assert!(
        err.contains(&tmp.path().display().to_string()) && err.contains("model.json"),
        "{err}"
    );
    assert_eq!(h.state().models_dir(), demo);

    // The study's folder: taken, and the status line says what it was trained on.
    choose_models(&mut h, &models);
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    assert_eq!(h.state().models_dir(), models);
    let status = h.state().status().to_string();
    assert!(
        status.contains(&models.display().to_string())
            && status.contains("study clinic.csv (list 0123456789abcdef): 12 of 13 knees trained"),
        "{status}"
    );

    // Opening images keeps the choice (a fresh viewer is built for them).
    let ct_path = tmp.path().join("ct.nii.gz");
    srrd::io::write_nifti(&ct_path, &p.ct, srrd::io::WriteDtype::I16).expect("write ct");
    h.state_mut()
        .file_action(srrd::app::files::FileAction::OpenImage, &ct_path);
    h.run_steps(2);
    wait_for_job(&mut h);
    assert!(h.state().layers().iter().any(|l| l.name == "CT"));
    assert_eq!(
        h.state().models_dir(),
        models,
        "the choice outlives new images"
    );

    // The analysis runs with it: the folder, the study and its provenance beside the score.
    h.get_by_label("Analyze (SRRD)").click();
    h.run_steps(2);
    wait_for_job(&mut h);
    let s = h.state();
    assert!(s.error().is_none(), "{:?}", s.error());
    let r = s.results().expect("results view");
    assert!(
        r.provenance[0].starts_with(&format!("models: {}", models.display()))
            && r.provenance[0].contains("study clinic.csv"),
        "{:?}",
        r.provenance
    );
    assert_eq!(r.koa.as_ref().expect("a KOA score").provenance, PROVENANCE);
    assert_eq!(
        r.report.results().expect("done").models,
        models.display().to_string()
    );
    // On screen: the study's caveat, not the demo's phantom one.
    let _ = h.get_by_label(
        "Trained on the study clinic.csv (12 knees); for research use, not clinically validated.",
    );
    assert!(
        h.query_by_label(
            "Trained on synthetic knee phantoms only; for research use, not clinically validated."
        )
        .is_none()
    );
}
