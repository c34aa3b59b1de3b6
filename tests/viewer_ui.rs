//! The viewer as a user drives it (egui_kittest, no GPU needed): clicking a view moves the
//! crosshair within that plane, scrolling changes the slice, presets set the window.

use eframe::egui::{self, Event};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use srrd::app::{Layer, ViewerApp, demo_ct};

#[path = "common/gui.rs"]
mod gui;
use gui::{click, harness, wait_for_job};

#[test]
fn click_in_axial_view_moves_crosshair_in_plane() {
    let mut h = harness();
    let before = h.state().crosshair();
    let rect = h.state().view_rects()[0];
    assert!(rect.width() > 100.0, "axial view laid out: {rect:?}");
    // Right of centre on screen is patient left (+x in LPS); below is posterior (+y).
    click(&mut h, rect.center() + egui::vec2(60.0, 40.0));
    let after = h.state().crosshair();
    assert!(
        after.x > before.x + 5.0,
        "moved to patient left: {before} -> {after}"
    );
    assert!(
        after.y > before.y + 3.0,
        "moved posterior: {before} -> {after}"
    );
    assert!(
        (after.z - before.z).abs() < 1e-9,
        "axial click keeps the slice"
    );
    assert!(
        h.state().status().contains("mm LPS"),
        "status shows the position: {}",
        h.state().status()
    );
}

#[test]
fn scrolling_steps_one_slice() {
    let mut h = harness();
    let before = h.state().crosshair();
    let rect = h.state().view_rects()[0];
    h.hover_at(rect.center());
    h.event(Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: egui::vec2(0.0, 1.0),
        modifiers: egui::Modifiers::NONE,
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
    });
    h.run_steps(2);
    let dz = h.state().crosshair().z - before.z;
    assert!((dz.abs() - 1.0).abs() < 1e-9, "one 1.0 mm CT slice: {dz}");
}

#[test]
fn window_presets_apply() {
    let mut h = harness();
    h.get_by_label("CT soft").click();
    h.run_steps(2);
    assert_eq!(h.state().layers()[0].window, (40.0, 400.0));
    h.get_by_label("CT bone").click();
    h.run_steps(2);
    assert_eq!(h.state().layers()[0].window, (400.0, 1800.0));
}

/// A user with a CT and an MR clicks "Register MR to CT": progress shows, and crMR and
/// rrMR arrive as layers, the rrMR closer to the CT's anatomy than the raw MR.
/// Mean of `v` over the voxels labelled `label`.
fn mean_on_label(v: &srrd::volume::Volume, labels: &srrd::volume::LabelMap, label: u8) -> f32 {
    let (sum, n) = v
        .data
        .iter()
        .zip(labels.labels())
        .filter(|(_, l)| **l == label)
        .fold((0.0f32, 0usize), |(s, n), (x, _)| (s + x, n + 1));
    sum / n.max(1) as f32
}

/// The small mild phantom (seed 5) the registration tests share.
fn mild_small_phantom() -> srrd::phantom::Phantom {
    use srrd::phantom::{Config, Grade, Preset, generate};
    generate(
        Config {
            seed: 5,
            grade: Grade::Mild,
            preset: Preset::Small,
        },
        &srrd::progress::Progress::new(),
    )
    .expect("phantom")
}

#[test]
fn register_button_adds_crmr_sct_and_rrmr_layers() {
    let p = mild_small_phantom();
    let app = ViewerApp::with_layers(vec![
        Layer::new("CT", p.ct.clone()),
        Layer::new("MR", p.mr.clone()),
    ]);
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h.get_by_label("Register MR to CT").click();
    h.run_steps(2);
    assert!(
        h.state().is_busy(),
        "the registration runs in the background"
    );
    let start = std::time::Instant::now();
    while h.state().is_busy() {
        assert!(
            start.elapsed().as_secs() < 300,
            "registration did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        h.run_steps(1);
    }
    let s = h.state();
    assert!(s.error().is_none(), "{:?}", s.error());
    let names: Vec<&str> = s.layers().iter().map(|l| l.name.as_str()).collect();
    // With the demo synthesis model (assets/synthesis): coarse -> sCT -> refined.
    assert_eq!(names, ["CT", "MR", "crMR", "sCT", "rrMR"]);
    assert!(s.status().contains("registered"), "{}", s.status());
    // The sCT lies on the CT grid, in HU: air around the knee, and far denser where the
    // CT has bone than where it has fat (crMR's pose is close to the CT's).
    let sct = &s.layers()[3].volume;
    assert_eq!(sct.geometry, p.ct.geometry);
    let sct_on = |label: u8| mean_on_label(sct, &p.ct_labels, label);
    assert!(sct_on(0) < -700.0, "air {}", sct_on(0));
    assert!(
        sct_on(1) > sct_on(10) + 50.0,
        "femur {} vs fat {}",
        sct_on(1),
        sct_on(10)
    );
    // rrMR is on the CT grid and its bone (dark on MR) lies on the CT's bone.
    let rr = &s.layers()[4].volume;
    assert_eq!(rr.geometry, p.ct.geometry);
    let mean_on = |label: u8| mean_on_label(rr, &p.ct_labels, label);
    assert!(
        mean_on(10) > mean_on(2) + 100.0,
        "fat brighter than tibia marrow+trabeculae on rrMR"
    );
}

/// A registration that went wrong is started again from landmark pairs: an MR whose
/// header turns it half a turn about the leg; with two pairs the start is refused, with
/// four the button registers from their rigid fit and the result lands on the anatomy.
#[test]
fn register_from_landmark_pairs_fixes_a_half_turned_mr() {
    use nalgebra::{Matrix3, Point3, Vector3};
    use srrd::io::Landmark;
    use srrd::registration::tre::tre_report;
    let p = mild_small_phantom();
    let mut mr = p.mr.clone();
    let c = mr.geometry.center_mm();
    let turn = Matrix3::from_diagonal(&Vector3::new(-1.0, -1.0, 1.0));
    let turned = |q: Point3<f64>| c + turn * (q - c);
    mr.geometry.direction = turn * mr.geometry.direction;
    mr.geometry.origin_mm = turned(mr.geometry.origin_mm);
    let mr_marks: Vec<Landmark> = p
        .landmarks_mr
        .iter()
        .map(|l| Landmark {
            label: l.label.clone(),
            position_mm: turned(Point3::from(l.position_mm)).coords.into(),
        })
        .collect();
    let four = [
        "femur_medial_condyle_distal",
        "femur_lateral_condyle_distal",
        "tibia_tuberosity",
        "patella_inferior_pole",
    ];
    let keep = |list: &[Landmark], n: usize| -> Vec<Landmark> {
        list.iter()
            .filter(|l| four[..n].contains(&l.label.as_str()))
            .cloned()
            .collect()
    };
    let mut app =
        ViewerApp::with_layers(vec![Layer::new("CT", p.ct.clone()), Layer::new("MR", mr)]);
    *app.landmarks_mut() = srrd::app::landmarks::LandmarkEditor::with_sets(
        keep(&p.landmarks_ct, 2),
        keep(&mr_marks, 2),
    );
    let mut h = Harness::builder()
        .with_size([1200.0, 1400.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    // Two pairs: no start.
    h.state_mut().start_registration_from_landmarks();
    let e = h.state().error().map(str::to_string).unwrap_or_default();
    assert!(e.contains("at least 3"), "{e}");
    assert!(!h.state().is_busy());
    // Four pairs: the button says so and registers from them.
    *h.state_mut().landmarks_mut() = srrd::app::landmarks::LandmarkEditor::with_sets(
        keep(&p.landmarks_ct, 4),
        keep(&mr_marks, 4),
    );
    h.state_mut().set_error(None);
    h.run_steps(2);
    h.get_by_label("Register from 4 landmark pairs").click();
    h.run_steps(2);
    wait_for_job(&mut h);
    let s = h.state();
    assert!(s.error().is_none(), "{:?}", s.error());
    assert!(
        s.status().contains("started from 4 landmark pairs"),
        "{}",
        s.status()
    );
    let coarse = &s
        .transforms()
        .iter()
        .find(|(n, _)| n == "coarse")
        .expect("coarse")
        .1;
    let tre = tre_report(&p.landmarks_ct, &mr_marks, coarse).expect("pairs");
    assert!(
        tre.mean_mm < 3.0,
        "TRE over all 25 landmarks: {:.2} mm",
        tre.mean_mm
    );
}

/// Compare two layers: flicker shows each alone, the checkerboard alternates them tile by
/// tile, the difference of a layer with itself is black; F toggles flicker.
#[test]
fn fusion_modes_and_flicker() {
    let ct = demo_ct();
    // B: the same CT shifted by a few mm, so the two differ.
    let mut g = ct.geometry.clone();
    g.origin_mm.x += 6.0;
    let shifted = srrd::volume::Volume::from_data(g, ct.data.clone()).expect("volume");
    let app = ViewerApp::with_layers(vec![
        Layer::new("CT", ct.clone()),
        Layer::new("CT shifted", shifted),
    ]);
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h.get_by_label("Flicker (F)").click();
    h.run_steps(2);
    assert_eq!(h.state().layer_stack().flicker(), Some(true));
    let (w, img_b) = h.state().composed(0);
    let img_b = img_b.to_vec();
    h.key_press(egui::Key::F);
    h.run_steps(2);
    assert_eq!(
        h.state().layer_stack().flicker(),
        Some(false),
        "F flips to A"
    );
    let img_a = h.state().composed(0).1.to_vec();
    assert_ne!(img_a, img_b);
    h.get_by_label("Flicker off").click();
    h.get_by_label("Checkerboard").click();
    h.run_steps(2);
    let tile = h.state().layer_stack().tile_px();
    let (w2, cb) = h.state().composed(0);
    assert_eq!(w, w2);
    for (n, c) in cb.iter().enumerate() {
        let (i, j) = (n % w, n / w);
        let expect = if (i / tile + j / tile) % 2 == 0 {
            img_a[n]
        } else {
            img_b[n]
        };
        assert_eq!(*c, expect, "pixel ({i}, {j})");
    }
    h.get_by_label("Difference").click();
    h.run_steps(2);
    let diff = h.state().composed(0).1.to_vec();
    assert!(
        diff.iter().any(|c| c.r() > 100),
        "the shift shows as a difference"
    );
    assert_eq!(
        h.state().layer_stack().fusion(),
        srrd::app::fusion::FusionMode::Difference
    );
}

/// A clinician with a knee CT clicks "Analyze (SRRD)": the parameter maps arrive as layers
/// (NaN outside the subchondral regions, so they only colour the bone), the results view
/// shows every subregion, the KOA probability and the phantom-only provenance.
#[test]
fn analyze_button_fills_the_results_view() {
    use srrd::phantom::{Config, Grade, Preset, generate_with, scan_specs, truth_sampling};
    use srrd::progress::Progress;
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
    h.get_by_label("Analyze (SRRD)").click();
    h.run_steps(2);
    assert!(h.state().is_busy(), "the analysis runs in the background");
    wait_for_job(&mut h);
    let s = h.state();
    assert!(s.error().is_none(), "{:?}", s.error());
    let names: Vec<&str> = s.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["CT", "BV/TV", "Tb.Th", "Tb.Sp", "Tb.N", "subregions"]
    );
    // The Tb.Th map: positive millimetres inside, NaN (transparent) outside the bone.
    let tb_th = &s.layers()[2].volume;
    assert_eq!(tb_th.geometry, p.ct.geometry);
    let inside: Vec<f32> = tb_th
        .data
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    assert!(inside.len() > 1000);
    assert!(inside.iter().all(|v| *v > 0.05 && *v < 5.0), "Tb.Th in mm");
    let outside_bone = tb_th
        .data
        .iter()
        .zip(p.ct_labels.labels())
        .filter(|(v, l)| v.is_finite() && !matches!(**l, 1 | 2))
        .count();
    assert!(
        (outside_bone as f64) < 0.02 * inside.len() as f64,
        "the map stays in femur and tibia: {outside_bone} of {}",
        inside.len()
    );
    // Each stage of the run is listed with its own (full) bar and time.
    let stages = &s.stage_log().stages;
    assert!(stages.len() >= 2, "stages: {stages:?}");
    assert!(
        stages.iter().all(|(_, f, t)| *f == 1.0 && t.is_some()),
        "{stages:?}"
    );
    let r = s.results().expect("results view");
    assert_eq!(r.stats.len(), 12);
    assert!(r.stats.iter().filter(|st| st.patches > 0).count() >= 10);
    let koa = r
        .koa
        .as_ref()
        .expect("a KOA prediction (classifier in assets/)");
    assert!((0.0..=1.0).contains(&koa.probability));
    assert!(koa.provenance.contains("phantoms"));
    assert!(r.provenance.iter().any(|l| l.contains("KOA classifier")));
    // The results view is on screen: the table and the research-use sentence.
    let _ = h.get_by_label("femur MC");
    let _ = h.get_by_label(
        "Trained on synthetic knee phantoms only; for research use, not clinically validated.",
    );
    // Export DICOM from the results panel: the prompt asks for a folder.
    let out = tempfile::tempdir().expect("tmp");
    let dicom = out.path().join("dicom");
    h.get_by_label("Export DICOM…").click();
    h.run_steps(2);
    // The prompt is on screen; its path field takes the folder (set here: typed text
    // reaches the landmark panel's field first under kittest).
    h.state_mut().prompt_mut().expect("the export prompt").path = dicom.display().to_string();
    h.run_steps(1);
    h.get_by_label("OK").click();
    h.run_steps(2);
    wait_for_job(&mut h);
    let status = h.state().status().to_string();
    assert!(status.starts_with("DICOM written to"), "{status}");
    assert!(
        status.contains("new study"),
        "a NIfTI-less CT: says so: {status}"
    );
    let mut files: Vec<String> = std::fs::read_dir(&dicom)
        .expect("dicom folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "pmap_bv_tv.dcm",
            "pmap_tb_n_per_mm.dcm",
            "pmap_tb_sp_mm.dcm",
            "pmap_tb_th_mm.dcm",
            "seg.dcm",
            "sr.dcm"
        ]
    );
    // The same folder again is refused (it is no longer empty), with the reason shown.
    h.state_mut().export_dicom(&dicom);
    wait_for_job(&mut h);
    let status = h.state().status().to_string();
    assert!(status.contains("not empty"), "{status}");
}

/// Ctrl+wheel zooms about the cursor (the point under it stays put), a drag pans, the
/// slice readout follows the wheel, R resets, double click and 1/0 switch the layout.
#[test]
fn zoom_pan_and_layouts() {
    let mut h = harness();
    let rect = h.state().view_rects()[0];
    let cursor = rect.center() + egui::vec2(50.0, -30.0);
    h.hover_at(cursor);
    h.event(Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: egui::vec2(0.0, 1.0),
        modifiers: egui::Modifiers::CTRL,
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
    });
    h.run_steps(2);
    let s = h.state();
    assert!((s.zoom()[0] - 1.25).abs() < 1e-6, "zoom {}", s.zoom()[0]);
    // The slice point under the cursor (its offset from the slice centre over the zoom)
    // is the same before and after.
    let before = cursor - rect.center();
    assert!(
        ((cursor - (rect.center() + s.pan()[0])) / 1.25 - before).length() < 1e-3,
        "the point under the cursor stays: pan {:?}",
        s.pan()[0]
    );
    // Drag pans (and does not move the crosshair).
    let crosshair = h.state().crosshair();
    let pan = h.state().pan()[0];
    h.drag_at(cursor);
    h.hover_at(cursor + egui::vec2(30.0, 10.0));
    h.run_steps(1);
    h.hover_at(cursor + egui::vec2(60.0, 20.0));
    h.run_steps(1);
    h.drop_at(cursor + egui::vec2(60.0, 20.0));
    h.run_steps(2);
    let moved = h.state().pan()[0] - pan;
    assert!(
        (moved - egui::vec2(60.0, 20.0)).length() < 1.0,
        "panned by the drag: {moved:?}"
    );
    assert_eq!(h.state().crosshair(), crosshair, "a drag is not a click");
    h.hover_at(rect.center() + egui::vec2(400.0, 0.0));
    h.key_press(egui::Key::R);
    h.run_steps(2);
    assert_eq!(h.state().zoom(), [1.0; 3]);
    assert_eq!(h.state().pan()[0], egui::Vec2::ZERO);
    h.key_press(egui::Key::Num2);
    h.run_steps(2);
    assert_eq!(h.state().layout(), srrd::app::Layout::Single(1));
    let big = h.state().view_rects()[1];
    assert!(big.width() > 1.6 * rect.width(), "{big:?} vs {rect:?}");
    h.key_press(egui::Key::Num0);
    h.run_steps(2);
    assert_eq!(h.state().layout(), srrd::app::Layout::Three);
    // The slice readout: the demo CT has 90 axial slices; one wheel step is one slice.
    let (k, n) = h.state().slice_index(srrd::app::Plane::Axial);
    assert_eq!(n, 90);
    assert!((45..=46).contains(&k), "the middle slice: {k}");
    h.state_mut().scroll(srrd::app::Plane::Axial, 1.0);
    assert_eq!(h.state().slice_index(srrd::app::Plane::Axial).0, k + 1);
}

/// A session saved after changing windows, fusion, zoom, landmarks and the crosshair
/// reopens exactly as it was (the images are read again from their files).
#[test]
fn session_save_and_restore_round_trip() {
    let dir = tempfile::tempdir().expect("tmp");
    let ct_path = dir.path().join("ct.nii.gz");
    srrd::io::write_nifti(&ct_path, &demo_ct(), srrd::io::WriteDtype::F32).expect("write");
    let mut app = ViewerApp::start(Some(ct_path.clone()), None);
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .build_ui_state(
            |ui, app: &mut ViewerApp| app.show(ui),
            std::mem::replace(&mut app, ViewerApp::with_layers(Vec::new())),
        );
    let start = std::time::Instant::now();
    while h.state().is_loading() {
        assert!(start.elapsed().as_secs() < 60, "load did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(2);
    assert_eq!(
        h.state().layers()[0].source.as_deref(),
        Some(ct_path.as_path())
    );
    {
        let s = h.state_mut();
        s.layer_stack_mut().list_mut()[0].window = (123.0, 456.0);
        s.layer_stack_mut().list_mut()[0].colormap = srrd::app::Colormap::Jet;
        s.layer_stack_mut()
            .set_fusion(srrd::app::fusion::FusionMode::Difference);
        let pan = s.pan();
        for (n, z) in [2.0, 1.5, 1.0].into_iter().enumerate() {
            s.set_zoom_pan(n, z, pan[n]);
        }
        s.set_zoom_pan(1, 1.5, egui::vec2(12.0, -7.0));
        s.set_layout(srrd::app::Layout::Single(2));
        s.set_crosshair(nalgebra::Point3::new(3.0, -4.0, 5.5));
        s.landmarks_mut()
            .place(nalgebra::Point3::new(1.0, 2.0, 3.0));
    }
    let saved = h.state().session();
    let path = dir.path().join("knee.srrd.json");
    h.state_mut().save_session(&path);
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    assert!(h.state().status().contains("session saved"));
    let mut fresh = ViewerApp::with_layers(Vec::new());
    fresh.open_session(&path);
    let mut h2 = Harness::builder()
        .with_size([1200.0, 800.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), fresh);
    let start = std::time::Instant::now();
    while h2.state().is_loading() {
        assert!(
            start.elapsed().as_secs() < 60,
            "session load did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        h2.run_steps(1);
    }
    h2.run_steps(2);
    assert!(h2.state().error().is_none(), "{:?}", h2.state().error());
    assert_eq!(h2.state().session(), saved, "restored exactly");
    // A broken session file is an error in the UI, not a crash.
    std::fs::write(dir.path().join("bad.srrd.json"), "{not json").expect("write");
    h2.state_mut()
        .open_session(&dir.path().join("bad.srrd.json"));
    let e = h2.state().error().map(str::to_string).expect("error shown");
    assert!(e.contains("bad.srrd.json"), "{e}");
}

/// F1 opens the help window listing the shortcuts.
#[test]
fn help_window_lists_shortcuts() {
    let mut h = harness();
    h.key_press(egui::Key::F1);
    h.run_steps(2);
    assert!(h.state().show_help());
    h.get_by_label("Keyboard and mouse");
    h.get_by_label("zoom about the cursor");
}

/// A CT of both knees: "Analyze (SRRD)" asks which knee; choosing the left one analyses it,
/// and the results view shows its side and the quality checks. This small-preset CT has
/// 1.95 mm pixels, coarser than the models' validated range: the check fails and the
/// score is withheld, saying why.
#[test]
fn a_bilateral_ct_asks_which_knee_and_shows_the_checks() {
    use srrd::phantom::acquisition::{Acquisition, generate_acquired_with};
    use srrd::phantom::{CohortCt, Config, Grade, Preset};
    use srrd::pipeline::quality::Status;
    use srrd::progress::Progress;
    let p = generate_acquired_with(
        Config {
            seed: 12,
            grade: Grade::Mild,
            preset: Preset::Small,
        },
        CohortCt::default(),
        &Acquisition {
            bilateral: true,
            ..Default::default()
        },
        false,
        &Progress::new(),
    )
    .expect("phantom");
    let app = ViewerApp::with_layers(vec![Layer::new("CT", p.ct.clone())]);
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h.get_by_label("Analyze (SRRD)").click();
    h.run_steps(2);
    wait_for_job(&mut h);
    assert!(h.state().results().is_none());
    let _ = h.get_by_label("This CT holds both knees: analyse which?");
    h.get_by_label("Left knee").click();
    h.run_steps(2);
    wait_for_job(&mut h);
    let s = h.state();
    assert!(s.error().is_none(), "{:?}", s.error());
    let r = s.results().expect("results");
    let knee = r.knee.as_ref().expect("knee");
    assert_eq!(knee.side.name(), "left");
    assert_eq!(knee.knees_in_ct, 2);
    assert!(r.koa.is_none());
    assert!(
        r.koa_withheld
            .as_deref()
            .is_some_and(|w| w.contains("acquisition")),
        "{:?}",
        r.koa_withheld
    );
    let acq = r
        .checks
        .iter()
        .find(|c| c.name == "acquisition")
        .expect("acquisition check");
    assert_eq!(acq.status, Status::Fail);
    let _ = h.get_by_label("KOA score withheld");
    let _ = h.get_by_label("acquisition (fail)");
}

mod common;

/// A DICOM folder whose series holds a scout in another plane: the layer shows the largest
/// part and its panel offers both; choosing the scout shows it in the same layer.
#[test]
fn a_dicom_folder_offers_its_series_parts() {
    use common::{ROWS, SliceSpec, stored, write_slice};
    let dir = tempfile::tempdir().expect("tmp");
    let axial = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    for n in 0..4 {
        write_slice(
            dir.path(),
            axial,
            &SliceSpec {
                n,
                ipp: nalgebra::Vector3::new(0.0, 0.0, 2.0 * n as f64),
                rows: ROWS,
                series: "1.2.77",
            },
        );
    }
    write_slice(
        dir.path(),
        [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
        &SliceSpec {
            n: 9,
            ipp: nalgebra::Vector3::new(0.0, -5.0, 10.0),
            rows: ROWS,
            series: "1.2.77",
        },
    );
    let app = ViewerApp::start(Some(dir.path().to_path_buf()), None);
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
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
    let layer = &s.layers()[0];
    assert_eq!(
        layer.volume.geometry.size[2], 4,
        "the largest part: 4 axial slices"
    );
    assert_eq!(layer.series_id.as_deref(), Some("1.2.77#1"));
    assert_eq!(layer.series_choices.len(), 2);
    assert!(layer.dicom.is_some(), "the source is kept for DICOM export");
    // The chooser lists both parts; pick the scout.
    h.get_by_label("series").click();
    h.run_steps(2);
    h.get_by_label_contains("coronal 6x8, 1 files").click();
    h.run_steps(2);
    wait_for_job(&mut h);
    let s = h.state();
    let layer = &s.layers()[0];
    assert_eq!(layer.series_id.as_deref(), Some("1.2.77#2"));
    assert_eq!(layer.volume.geometry.size, [6, ROWS, 1]);
    assert_eq!(
        layer.volume.data[[0, 0, 0]],
        stored(9, 0, 0) as f32 - 1024.0
    );
    assert!(s.status().contains("1.2.77#2"), "{}", s.status());
}

/// Steps until nothing is read or run in the background.
fn settle(h: &mut Harness<'static, ViewerApp>) {
    let start = std::time::Instant::now();
    h.run_steps(1);
    while h.state().is_loading() || h.state().is_busy() {
        assert!(start.elapsed().as_secs() < 60, "still reading");
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(2);
}

/// The part of a split DICOM series the reader chose (the scout, not the largest part)
/// comes back with a session and with a worklist case.
#[test]
fn the_chosen_series_part_is_reopened_by_sessions_and_worklist_cases() {
    use common::{ROWS, SliceSpec, write_slice};
    let dir = tempfile::tempdir().expect("tmp");
    let dicom = dir.path().join("knee");
    std::fs::create_dir_all(&dicom).expect("dir");
    for n in 0..4 {
        write_slice(
            &dicom,
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            &SliceSpec {
                n,
                ipp: nalgebra::Vector3::new(0.0, 0.0, 2.0 * n as f64),
                rows: ROWS,
                series: "1.2.77",
            },
        );
    }
    write_slice(
        &dicom,
        [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
        &SliceSpec {
            n: 9,
            ipp: nalgebra::Vector3::new(0.0, -5.0, 10.0),
            rows: ROWS,
            series: "1.2.77",
        },
    );
    let choose_scout = |h: &mut Harness<'static, ViewerApp>| {
        assert_eq!(h.state().layers()[0].series_id.as_deref(), Some("1.2.77#1"));
        h.get_by_label("series").click();
        h.run_steps(2);
        h.get_by_label_contains("coronal 6x8, 1 files").click();
        settle(h);
        assert_eq!(h.state().layers()[0].series_id.as_deref(), Some("1.2.77#2"));
    };
    let build = |app: ViewerApp| {
        let mut h = Harness::builder()
            .with_size([1200.0, 800.0])
            .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
        settle(&mut h);
        h
    };

    // A session.
    let mut h = build(ViewerApp::start(Some(dicom.clone()), None));
    choose_scout(&mut h);
    let path = dir.path().join("scout.srrd.json");
    h.state_mut().save_session(&path);
    drop(h);
    let mut fresh = ViewerApp::with_layers(Vec::new());
    fresh.open_session(&path);
    let h = build(fresh);
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    let layer = &h.state().layers()[0];
    assert_eq!(layer.series_id.as_deref(), Some("1.2.77#2"), "the scout");
    assert_eq!(layer.volume.geometry.size, [6, ROWS, 1]);
    assert_eq!(layer.series_choices.len(), 2, "both parts still offered");
    drop(h);

    // A worklist case: chosen on knee a, kept in its case.json, shown again after
    // visiting knee b; knee b shows the largest part.
    let list = dir.path().join("study.csv");
    std::fs::write(&list, "subject,ct\na,knee\nb,knee\n").expect("csv");
    let reader = dir.path().join("reads/r");
    let mut app = ViewerApp::with_layers(Vec::new());
    app.open_worklist(&list, &reader).expect("worklist");
    let mut h = build(app);
    choose_scout(&mut h);
    h.hover_at(egui::Pos2::new(5.0, 5.0));
    h.key_press(egui::Key::N);
    settle(&mut h);
    assert_eq!(h.state().worklist().map(|w| w.open()), Some(1));
    assert_eq!(h.state().layers()[0].series_id.as_deref(), Some("1.2.77#1"));
    let case: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reader.join("a/case.json")).expect("case.json"))
            .expect("json");
    assert_eq!(case["series"][0], "1.2.77#2", "{case}");
    h.key_press(egui::Key::P);
    settle(&mut h);
    assert_eq!(h.state().worklist().map(|w| w.open()), Some(0));
    let layer = &h.state().layers()[0];
    assert_eq!(layer.series_id.as_deref(), Some("1.2.77#2"));
    assert_eq!(layer.volume.geometry.size, [6, ROWS, 1]);
}
