//! The viewer's landmarks and files as a user drives them (egui_kittest, no GPU needed):
//! placing a pair and reading its TRE, renaming, exporting and importing, the landmark
//! protocol, and files dropped on the window.

use eframe::egui::{self, Event};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use srrd::app::{Layer, ViewerApp, demo_ct};

#[path = "common/gui.rs"]
mod gui;
use gui::{click, harness};

/// An annotator places a landmark on the CT, pairs it on the MR, reads the TRE from the
/// table (identity: the distance between the clicks), undoes and redoes.
#[test]
fn place_pair_and_read_tre_then_undo() {
    let ct = demo_ct();
    let app = ViewerApp::with_layers(vec![Layer::new("CT", ct.clone()), Layer::new("MR", ct)]);
    let mut h = Harness::builder()
        .with_size([1200.0, 900.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h.get_by_label("Place with a click (Ctrl+click always)")
        .click();
    h.run_steps(2);
    assert!(h.state().placing());
    let rect = h.state().view_rects()[0];
    click(&mut h, rect.center());
    assert_eq!(h.state().landmarks().sets[0].len(), 1, "placed on the CT");
    assert_eq!(h.state().landmarks().sets[0][0].label, "L1");
    h.get_by_label("MR (moving)").click();
    h.run_steps(2);
    click(&mut h, rect.center() + egui::vec2(40.0, 0.0));
    let s = h.state();
    assert_eq!(s.landmarks().sets[1].len(), 1);
    assert_eq!(
        s.landmarks().sets[1][0].label,
        "L1",
        "paired by the selected label"
    );
    let d = nalgebra::Point3::from(s.landmarks().sets[0][0].position_mm)
        - nalgebra::Point3::from(s.landmarks().sets[1][0].position_mm);
    let report = s.tre().expect("one pair");
    assert_eq!(report.n, 1);
    assert!((report.pairs[0].tre_mm - d.norm()).abs() < 1e-9 && d.norm() > 5.0);
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert!(h.state().landmarks().sets[1].is_empty());
    assert!(h.state().tre().is_none());
    h.get_by_label("Redo").click();
    h.run_steps(2);
    assert_eq!(h.state().tre().expect("pair back").n, 1);
}

/// Landmarks: rename the selected pair, export to Slicer's .fcsv, import it back into the
/// other image (undoable), and the File menu's prompt does the same by path.
#[test]
fn landmarks_rename_export_import() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut h = harness();
    h.state_mut()
        .landmarks_mut()
        .place(nalgebra::Point3::new(1.0, 2.0, 3.0));
    h.run_steps(1);
    h.get_by_label("Rename selected"); // present
    // Type the new label in the rename field.
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.run_steps(1);
    h.event(Event::Text("medial condyle".into()));
    h.run_steps(1);
    h.get_by_label("Rename selected").click();
    h.run_steps(2);
    assert_eq!(h.state().landmarks().sets[0][0].label, "medial condyle");
    let fcsv = dir.path().join("marks.fcsv");
    h.state_mut().export_landmarks(&fcsv);
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    h.state_mut().landmarks_mut().active = 1;
    h.state_mut().import_landmarks(&fcsv);
    let s = h.state();
    assert_eq!(s.landmarks().sets[1].len(), 1);
    assert_eq!(s.landmarks().sets[1][0].label, "medial condyle");
    let d: f64 = (0..3)
        .map(|a| (s.landmarks().sets[1][0].position_mm[a] - [1.0, 2.0, 3.0][a]).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(d < 1e-6, "same position through .fcsv: {d}");
    assert_eq!(s.tre().expect("paired").pairs[0].tre_mm, d);
    assert!(h.state_mut().landmarks_mut().undo());
    assert!(h.state().landmarks().sets[1].is_empty(), "import undone");
    // A missing file: the error names it.
    h.state_mut()
        .import_landmarks(&dir.path().join("nope.mrk.json"));
    assert!(h.state().error().unwrap_or("").contains("nope.mrk.json"));
}

/// A file dropped on the window, as winit hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(h: &mut Harness<'static, ViewerApp>, path: &std::path::Path) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    h.run_steps(1);
    let start = std::time::Instant::now();
    while h.state().is_loading() {
        assert!(start.elapsed().as_secs() < 60, "load did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(1);
}

/// Dropping files on the window: a CT-like image becomes the CT layer, an MR-like one
/// the MR layer (hot overlay), a landmark file goes to the chosen image's landmarks, and
/// the images join the recent list.
#[test]
fn dropped_files_become_layers_and_landmarks() {
    let dir = tempfile::tempdir().expect("tmp");
    let ct = demo_ct();
    let ct_path = dir.path().join("knee_ct.nii.gz");
    srrd::io::write_nifti(&ct_path, &ct, srrd::io::WriteDtype::F32).expect("write");
    let mr =
        srrd::volume::Volume::from_data(ct.geometry.clone(), ct.data.mapv(|v| (v + 1000.0) * 0.5))
            .expect("mr");
    let mr_path = dir.path().join("knee_mr.nii.gz");
    srrd::io::write_nifti(&mr_path, &mr, srrd::io::WriteDtype::F32).expect("write");
    let marks = dir.path().join("marks.mrk.json");
    srrd::io::write_landmarks(
        &marks,
        &[srrd::io::Landmark {
            label: "tibial tuberosity".into(),
            position_mm: [1.0, 2.0, 3.0],
        }],
    )
    .expect("write");
    // A fresh app's recent list lives in memory: the test writes nothing to ~/.config.
    let app = ViewerApp::with_layers(Vec::new());
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(1);
    drop_file(&mut h, &mr_path);
    drop_file(&mut h, &ct_path);
    let s = h.state();
    assert!(s.error().is_none(), "{:?}", s.error());
    let names: Vec<&str> = s.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["MR", "CT"],
        "roles from the values (HU has air below -500)"
    );
    assert_eq!(
        s.layers()[1].window,
        (400.0, 1800.0),
        "the CT opens in the bone window"
    );
    assert_eq!(s.layers()[1].source.as_deref(), Some(ct_path.as_path()));
    assert!(
        s.recent()
            .paths
            .iter()
            .any(|p| p.ends_with("knee_ct.nii.gz"))
    );
    drop_file(&mut h, &marks);
    assert_eq!(h.state().landmarks().sets[0].len(), 1);
    assert_eq!(h.state().landmarks().sets[0][0].label, "tibial tuberosity");
}

/// The knee protocol drives placement: the panel prompts the next landmark with its
/// description and progress; Skip sends it to the end, Cannot be placed retires it, and a
/// placement takes the prompted name, so the CT and MR points pair by name.
#[test]
fn the_landmark_protocol_prompts_skips_and_names_placements() {
    let mut h = harness();
    h.get_by_label("Follow the knee protocol (25 landmarks)")
        .click();
    h.run_steps(2);
    h.get_by_label("next on the CT (1 of 25): femur_medial_condyle_distal");
    h.get_by_label("lowest point of the medial femoral condyle");
    h.get_by_label("Skip").click();
    h.run_steps(2);
    h.get_by_label("next on the CT (1 of 25): femur_lateral_condyle_distal");
    let label = h
        .state_mut()
        .landmarks_mut()
        .place(nalgebra::Point3::new(1.0, 2.0, 3.0));
    assert_eq!(label, "femur_lateral_condyle_distal");
    h.run_steps(2);
    h.get_by_label("Cannot be placed").click();
    h.run_steps(2);
    // 1 placed + 1 that cannot be: the third prompt is entry 4 of the protocol.
    h.get_by_label("next on the CT (3 of 25): femur_lateral_condyle_posterior");
    // The MR keeps its own place in the protocol: its first landmark pairs with nothing
    // yet, its second pairs with the CT's.
    h.state_mut().landmarks_mut().active = 1;
    h.state_mut().landmarks_mut().skip();
    let label = h
        .state_mut()
        .landmarks_mut()
        .place(nalgebra::Point3::new(1.5, 2.0, 3.0));
    assert_eq!(label, "femur_lateral_condyle_distal");
    let tre = h.state().tre().expect("a pair");
    assert_eq!(tre.n, 1);
    assert!((tre.mean_mm - 0.5).abs() < 1e-9);
    // The skipped landmark comes back once the others are done or retired.
    let names: Vec<String> = h
        .state()
        .landmarks()
        .protocol
        .as_ref()
        .expect("protocol")
        .landmarks
        .iter()
        .map(|l| l.name.clone())
        .collect();
    h.state_mut().landmarks_mut().active = 0;
    for _ in 3..25 {
        h.state_mut().landmarks_mut().cannot_place();
    }
    let next = h.state().landmarks().next_prompt().map(|l| l.name.clone());
    assert_eq!(next.as_deref(), Some(names[0].as_str()));
}
