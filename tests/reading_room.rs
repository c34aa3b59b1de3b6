//! The reading room as its users go through it (egui_kittest, no GPU needed): an
//! annotator works through a 5-knee worklist with the landmark protocol and the keyboard,
//! blinded, and compares with a second annotator; a radiologist rejects a registration
//! that went wrong (an MR whose header turns it half a turn), fixes it from landmark pairs
//! with a nudge and its undo, refines, accepts, and the analysis uses the fixed start;
//! everything is there again after a restart; the MR moved and turned with the mouse and
//! by typed numbers. The study batch is in reading_room_batch.rs.

use eframe::egui::{self, Event, PointerButton, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nalgebra::{Point3, Vector3};
use srrd::app::ViewerApp;
use srrd::io::{Landmark, read_landmarks, write_landmarks};
use srrd::pipeline::worklist::{CaseStatus, Decision, START_TFM};
use srrd::registration::tre::tre_report;

const FOUR: [&str; 4] = [
    "femur_medial_condyle_distal",
    "femur_lateral_condyle_distal",
    "tibia_tuberosity",
    "patella_inferior_pole",
];

#[path = "common/study.rs"]
mod study;
use study::{harness, key, study, wait};

/// A click in placing mode (the panel's "Place with a click").
fn place_click(h: &mut Harness<'static, ViewerApp>, pos: Pos2) {
    h.hover_at(pos);
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos,
            button: PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.run_steps(2);
}

fn open_index(h: &Harness<'static, ViewerApp>) -> usize {
    h.state().worklist().expect("worklist").open()
}

#[test]
fn an_annotator_works_through_the_worklist_with_the_protocol_and_the_keyboard() {
    let s = study();
    let reader_a = s.dir.join("reads/a");
    let mut h = harness(&s.list, &reader_a);
    assert!(h.query_by_label_contains("0 of 5 done").is_some());
    assert_eq!(h.state().layers().len(), 2, "knee1's CT and MR loaded");
    h.get_by_label("Follow the knee protocol (25 landmarks)")
        .click();
    h.get_by_label("Place with a click (Ctrl+click always)")
        .click();
    h.run_steps(2);
    let first = h
        .state()
        .landmarks()
        .next_prompt()
        .expect("prompt")
        .name
        .clone();
    let rect = h.state().view_rects()[0];
    // Place the first landmark, skip the second, place the third.
    place_click(&mut h, rect.center() + egui::vec2(-30.0, 10.0));
    h.get_by_label("Skip").click();
    h.run_steps(2);
    let third = h
        .state()
        .landmarks()
        .next_prompt()
        .expect("prompt")
        .name
        .clone();
    place_click(&mut h, rect.center() + egui::vec2(30.0, -10.0));
    assert!(
        h.query_by_label_contains("next on the CT (3 of 25)")
            .is_some()
    );
    let labels: Vec<String> = h.state().landmarks().sets[0]
        .iter()
        .map(|l| l.label.clone())
        .collect();
    assert_eq!(labels, vec![first.clone(), third.clone()]);
    // Autosaved as the case's landmark file, the case in progress.
    let saved = read_landmarks(&reader_a.join("knee1/landmarks_ct.json")).expect("autosaved");
    assert_eq!(saved.len(), 2);
    assert_eq!(
        h.state().worklist().map(|w| w.status()),
        Some(CaseStatus::InProgress)
    );

    // N: the next case, empty; its landmarks are its own.
    h.hover_at(Pos2::new(5.0, 5.0));
    key(&mut h, egui::Key::N, egui::Modifiers::NONE);
    wait(&mut h);
    assert_eq!(open_index(&h), 1);
    assert!(h.state().landmarks().sets[0].is_empty());
    assert!(
        h.state().landmarks().protocol.is_some(),
        "the protocol stays"
    );
    let centre = h.state().view_rects()[0].center();
    place_click(&mut h, centre);
    // P: back to knee1, its two landmarks restored.
    h.hover_at(Pos2::new(5.0, 5.0));
    key(&mut h, egui::Key::P, egui::Modifiers::NONE);
    wait(&mut h);
    assert_eq!(open_index(&h), 0);
    assert_eq!(h.state().landmarks().sets[0].len(), 2);
    h.get_by_label("Mark done").click();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("1 of 5 done, 1 in progress")
            .is_some()
    );

    // Blinded: the MR's placements show no TRE while placing.
    h.get_by_label("MR (moving)").click();
    h.run_steps(2);
    let at = h.state().view_rects()[0].center() + egui::vec2(-30.0, 10.0);
    place_click(&mut h, at);
    assert!(
        h.query_by_label_contains("1 pairs: mean").is_some(),
        "TRE shown unblinded"
    );
    h.get_by_label("Blinded (hide the other image's points and the TRE)")
        .click();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("pairs: mean").is_none(),
        "TRE hidden"
    );
    assert!(
        h.query_by_label_contains("Blinded: the other image's points")
            .is_some()
    );

    // The filter: only the done case; N has nowhere to go.
    h.get_by_label("done").click();
    h.run_steps(2);
    key(&mut h, egui::Key::N, egui::Modifiers::NONE);
    assert_eq!(open_index(&h), 0);
    drop(h);

    // A restart: the same place, filter, blinding and work.
    let h = harness(&s.list, &reader_a);
    let w = h.state().worklist().expect("worklist");
    assert_eq!(w.open(), 0);
    assert_eq!(w.list().state.show, vec![CaseStatus::Done]);
    assert!(h.state().blinded());
    assert_eq!(h.state().landmarks().sets[0].len(), 2);
    assert_eq!(h.state().landmarks().sets[1].len(), 1);
    assert_eq!(w.status(), CaseStatus::Done);

    // A second annotator placed the same landmarks 1 mm away on knee1 and knee2: the
    // inter-observer report over both readers' folders.
    let reader_b = s.dir.join("reads/b");
    srrd::pipeline::worklist::Worklist::open(&s.list, &reader_b).expect("b");
    for knee in ["knee1", "knee2"] {
        let Ok(mut marks) = read_landmarks(&reader_a.join(knee).join("landmarks_ct.json")) else {
            continue;
        };
        for m in &mut marks {
            m.position_mm[2] += 1.0;
        }
        std::fs::create_dir_all(reader_b.join(knee)).expect("dir");
        write_landmarks(&reader_b.join(knee).join("landmarks_ct.json"), &marks).expect("b");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(["tre", "--inter-observer", "--json", "--fixed"])
        .arg(&reader_a)
        .arg("--moving")
        .arg(&reader_b)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["cases"], 2);
    assert_eq!(v["n"], 3);
    assert!(
        (v["mean_mm"].as_f64().expect("mean") - 1.0).abs() < 1e-6,
        "{v}"
    );
    assert!(
        v["landmarks"][0]["label"]
            .as_str()
            .expect("label")
            .ends_with("(CT)")
    );
}

#[test]
fn a_radiologist_rejects_fixes_refines_and_accepts_and_the_analysis_uses_the_fix() {
    let s = study();
    let reader = s.dir.join("reads/radiologist");
    let mut h = harness(&s.list, &reader);
    // To knee3, whose MR header is turned.
    key(&mut h, egui::Key::N, egui::Modifiers::NONE);
    wait(&mut h);
    key(&mut h, egui::Key::N, egui::Modifiers::NONE);
    wait(&mut h);
    assert_eq!(open_index(&h), 2);
    h.get_by_label("Register MR to CT").click();
    wait(&mut h);
    let tre_of = |h: &Harness<'static, ViewerApp>| {
        let t = &h
            .state()
            .transforms()
            .iter()
            .find(|(n, _)| n == "coarse")
            .expect("coarse")
            .1;
        tre_report(&s.ct_marks, &s.turned_marks, t)
            .expect("pairs")
            .mean_mm
    };
    let automatic = tre_of(&h);
    assert!(
        automatic > 20.0,
        "the automatic registration should land far off: {automatic:.1} mm"
    );
    h.get_by_label("Review layers").click();
    wait(&mut h);
    for name in ["CT edges", "similarity", "Jacobian"] {
        assert!(
            h.state().layers().iter().any(|l| l.name == name),
            "{name} layer"
        );
    }
    h.get_by_label("reject").click();
    h.run_steps(3);
    assert_eq!(
        h.state().worklist().map(|w| w.status()),
        Some(CaseStatus::Done)
    );

    // Four landmark pairs, placed (here: given) on the CT and the turned MR.
    let keep = |l: &[Landmark]| -> Vec<Landmark> {
        l.iter()
            .filter(|m| FOUR.contains(&m.label.as_str()))
            .cloned()
            .collect()
    };
    *h.state_mut().landmarks_mut() =
        srrd::app::landmarks::LandmarkEditor::with_sets(keep(&s.ct_marks), keep(&s.turned_marks));
    h.run_steps(2);
    h.get_by_label("needs fix").click();
    h.get_by_label("Start from landmarks").click();
    h.run_steps(2);
    assert!(
        h.state().status().contains("start from 4 landmark pairs"),
        "{}",
        h.state().status()
    );
    assert!(
        h.state().status().contains("tibia_tuberosity"),
        "residual per pair"
    );
    let fitted = h.state().manual().expect("correcting").current.clone();
    // The MR layer is shown under the start.
    let mr = h
        .state()
        .layers()
        .iter()
        .find(|l| l.name == "MR")
        .expect("MR");
    assert_eq!(mr.moved_by.as_ref(), Some(&fitted));
    // A nudge with the keyboard over the axial view: 1 mm to the right (patient left,
    // +x), then undone.
    let centre = h.state().view_rects()[0].center();
    h.hover_at(centre);
    key(&mut h, egui::Key::ArrowRight, egui::Modifiers::SHIFT);
    let nudged = h.state().manual().expect("correcting").current.clone();
    use srrd::volume::PointTransform;
    let p = Point3::new(0.0, 0.0, 0.0);
    let moved = fitted.transform_point(&p) - nudged.transform_point(&(p + Vector3::x()));
    assert!(moved.norm() < 1e-6, "content moved 1 mm along +x: {moved}");
    key(&mut h, egui::Key::Z, egui::Modifiers::COMMAND);
    assert_eq!(
        h.state().manual().map(|m| m.current.clone()),
        Some(fitted.clone())
    );
    h.get_by_label("Refine from here").click();
    wait(&mut h);
    let fixed = tre_of(&h);
    assert!(
        fixed < 3.0,
        "refined from the corrected start: {fixed:.2} mm"
    );
    assert!(h.state().manual().is_none());
    h.get_by_label("accept").click();
    h.get_by_label("Export reviews").click();
    h.run_steps(3);
    let start_file = reader.join("knee3").join(START_TFM);
    assert!(start_file.exists(), "the corrected start is saved");
    let csv = std::fs::read_to_string(reader.join("reviews.csv")).expect("csv");
    let row = csv
        .lines()
        .find(|l| l.starts_with("knee3,"))
        .expect("knee3 row");
    assert!(row.starts_with("knee3,done,accept,,true,"), "{row}");
    drop(h);

    // After a restart: the case, its verdict and its corrected start are back.
    let h = harness(&s.list, &reader);
    let w = h.state().worklist().expect("worklist");
    assert_eq!(w.open(), 2);
    assert_eq!(w.review().decision, Some(Decision::Accept));
    let back = h
        .state()
        .registration_start()
        .cloned()
        .expect("start restored");
    for q in [Point3::new(0.0, 0.0, 0.0), Point3::new(40.0, -30.0, 20.0)] {
        assert!((back.transform_point(&q) - fitted.transform_point(&q)).norm() < 1e-6);
    }
    drop(h);

    // The cohort analysis of knee3 registers from the reader's corrected start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(["analyze", "--subjects", "knee3", "--manifest"])
        .arg(&s.list)
        .arg("--reviews")
        .arg(&reader)
        .arg("--out")
        .arg(s.dir.join("results"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("knee3: registration starts from"), "{err}");
    assert!(s.dir.join("results/knee3/report.json").exists());
}

#[test]
fn the_next_case_is_read_ahead_and_shows_at_once() {
    let s = study();
    let mut h = harness(&s.list, &s.dir.join("reads/ahead"));
    assert_eq!(open_index(&h), 0);
    // While knee1 was read, knee2 was read in the background.
    let start = std::time::Instant::now();
    while h.state_mut().prefetched_case() != Some((1, true)) {
        assert!(start.elapsed().as_secs() < 120, "knee2 was not read ahead");
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run_steps(1);
    }
    let reads = h.state().loads_started();
    key(&mut h, egui::Key::N, egui::Modifiers::NONE);
    assert_eq!(open_index(&h), 1);
    assert!(!h.state().is_loading(), "knee2 shows at once");
    assert_eq!(h.state().loads_started(), reads, "no new read for knee2");
    assert_eq!(h.state().layers().len(), 2, "knee2's CT and MR shown");
    assert!(
        h.state().status().contains("case 2 of 5: knee2"),
        "{}",
        h.state().status()
    );
    // Now knee3 is read ahead; going back to knee1 instead reads it again and the read
    // ahead of knee3 is dropped.
    assert_eq!(h.state_mut().prefetched_case().map(|(c, _)| c), Some(2));
    key(&mut h, egui::Key::P, egui::Modifiers::NONE);
    assert_eq!(open_index(&h), 0);
    assert_eq!(h.state().loads_started(), reads + 1, "knee1 is read again");
    wait(&mut h);
    assert_eq!(h.state().layers().len(), 2);
    assert_eq!(h.state_mut().prefetched_case().map(|(c, _)| c), Some(1));
}

/// A left drag from `from` to `to` in steps, with `modifiers` held throughout.
fn drag(h: &mut Harness<'static, ViewerApp>, from: Pos2, to: Pos2, modifiers: egui::Modifiers) {
    h.event(Event::ModifiersChanged(modifiers));
    h.event(Event::PointerMoved(from));
    h.run_steps(1);
    h.event(Event::PointerButton {
        pos: from,
        button: PointerButton::Primary,
        pressed: true,
        modifiers,
    });
    h.run_steps(1);
    for k in 1..=6 {
        h.event(Event::PointerMoved(from + (to - from) * (k as f32 / 6.0)));
        h.run_steps(1);
    }
    h.event(Event::PointerButton {
        pos: to,
        button: PointerButton::Primary,
        pressed: false,
        modifiers,
    });
    h.event(Event::ModifiersChanged(egui::Modifiers::NONE));
    h.run_steps(2);
}

/// Where a point of the axial view is in the world: a click moves the crosshair there.
fn world_at(h: &mut Harness<'static, ViewerApp>, pos: Pos2) -> Point3<f64> {
    h.hover_at(pos);
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos,
            button: PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.run_steps(2);
    h.state().crosshair()
}

#[test]
fn a_radiologist_moves_and_turns_the_mr_with_the_mouse_and_undoes() {
    use srrd::volume::PointTransform;
    let s = study();
    let mut h = harness(&s.list, &s.dir.join("reads/mouse"));
    h.get_by_label("Correct by hand").click();
    h.run_steps(6);
    let start = h.state().manual().expect("correcting").current.clone();
    let rect = h.state().view_rects()[0];
    let (a, b) = (
        rect.center() + egui::vec2(-40.0, 15.0),
        rect.center() + egui::vec2(35.0, -25.0),
    );
    let (pa, pb) = (world_at(&mut h, a), world_at(&mut h, b));
    let c = world_at(&mut h, rect.center());
    assert!(
        (pb - pa).norm() > 10.0,
        "the drag spans {:.1} mm",
        (pb - pa).norm()
    );

    // A drag moves the MR's content by the dragged distance in mm, in the axial plane.
    drag(&mut h, a, b, egui::Modifiers::NONE);
    assert_eq!(
        h.state().view_rects()[0],
        rect,
        "the view stayed where it was"
    );
    let moved = h.state().manual().expect("correcting").current.clone();
    assert_eq!(
        h.state().crosshair(),
        c,
        "the drag did not pan or move the crosshair"
    );
    for p in [Point3::new(0.0, 0.0, 0.0), Point3::new(20.0, -10.0, 5.0)] {
        let err = (moved.transform_point(&(p + (pb - pa))) - start.transform_point(&p)).norm();
        assert!(err < 1e-6, "content moved by the drag: {err} mm off");
    }
    let (_, t) = h.state().manual().expect("correcting").summary();
    assert!(
        ((t + (pb - pa)).norm()) < 1e-6,
        "translation {t} for a drag of {}",
        pb - pa
    );
    // The panel's numbers show it (the x translation, to 3 decimals).
    let shown = format!("{:.3}", t.x);
    assert!(
        h.query_by_label(&shown).is_some() || h.query_by_value(&shown).is_some(),
        "{shown}"
    );

    // Shift + drag turns it about the crosshair by the angle swept.
    drag(&mut h, a, b, egui::Modifiers::SHIFT);
    assert_eq!(
        h.state().view_rects()[0],
        rect,
        "the view stayed where it was"
    );
    let turned = h.state().manual().expect("correcting").current.clone();
    let (va, vb) = (pa - c, pb - c);
    let angle = va.cross(&vb).z.atan2(va.dot(&vb));
    let r = nalgebra::Rotation3::from_axis_angle(&nalgebra::Vector3::z_axis(), angle);
    for p in [Point3::new(0.0, 0.0, 0.0), Point3::new(20.0, -10.0, 5.0)] {
        let to = c + r * (p - c);
        let err = (turned.transform_point(&to) - moved.transform_point(&p)).norm();
        assert!(
            err < 1e-6,
            "turned by {:.1} degrees: {err} mm off",
            angle.to_degrees()
        );
    }
    let (deg, _) = h.state().manual().expect("correcting").summary();
    assert!(
        (deg - angle.abs().to_degrees()).abs() < 1e-6,
        "{deg} vs {}",
        angle.to_degrees()
    );

    // Undo takes back one drag at a time; the MR layer shows the transform.
    h.hover_at(Pos2::new(5.0, 5.0));
    key(&mut h, egui::Key::Z, egui::Modifiers::COMMAND);
    assert_eq!(
        h.state().manual().map(|m| m.current.clone()),
        Some(moved.clone())
    );
    key(&mut h, egui::Key::Z, egui::Modifiers::COMMAND);
    assert_eq!(h.state().manual().map(|m| m.current.clone()), Some(start));
    key(&mut h, egui::Key::Y, egui::Modifiers::COMMAND);
    let mr = h
        .state()
        .layers()
        .iter()
        .find(|l| l.name == "MR")
        .expect("MR");
    assert_eq!(mr.moved_by.as_ref(), Some(&moved));

    // Numbers typed in the panel give that transform exactly.
    let typed = [("x mm", "12.5"), ("z°", "-7.25")];
    for (name, text) in typed {
        use egui::accesskit::Role;
        let field = h.get_by_role_and_label(Role::SpinButton, name);
        field.focus();
        h.run_steps(2);
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        h.event(Event::Text(text.to_string()));
        h.run_steps(1);
        h.key_press(egui::Key::Enter);
        h.run_steps(3);
    }
    let t = h.state().manual().expect("correcting").current.clone();
    assert_eq!(t.translation_mm.x, 12.5, "{t:?}");
    let z_deg = t.euler_zxy()[2].to_degrees();
    assert!((z_deg + 7.25).abs() < 1e-9, "{z_deg}");
    let want = srrd::volume::RigidTransform::from_euler_zxy(
        [
            moved.euler_zxy()[0],
            moved.euler_zxy()[1],
            (-7.25f64).to_radians(),
        ],
        nalgebra::Vector3::new(12.5, moved.translation_mm.y, moved.translation_mm.z),
        moved.center_mm,
    );
    for p in [Point3::new(0.0, 0.0, 0.0), Point3::new(20.0, -10.0, 5.0)] {
        assert!((t.transform_point(&p) - want.transform_point(&p)).norm() < 1e-6);
    }

    // Copy gives the transform as .tfm text; a .tfm pasted over the viewer becomes the
    // transform (exactly, up to the text's digits), and a text that is none is refused.
    h.get_by_label("Copy .tfm").click();
    h.run_steps(1);
    let copied = h
        .output()
        .platform_output
        .commands
        .iter()
        .find_map(|c| match c {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        });
    let copied = copied.expect("copied");
    assert!(copied.contains("Euler3DTransform_double_3_3"), "{copied}");
    let back = srrd::io::transform_file::parse_transform(&copied)
        .expect("parses")
        .as_rigid()
        .expect("rigid");
    for p in [Point3::new(0.0, 0.0, 0.0), Point3::new(20.0, -10.0, 5.0)] {
        assert!((back.transform_point(&p) - t.transform_point(&p)).norm() < 1e-9);
    }
    let other = srrd::volume::RigidTransform::from_euler_zxy(
        [0.1, -0.05, 0.2],
        nalgebra::Vector3::new(3.0, -4.0, 5.0),
        Point3::new(1.0, 2.0, 3.0),
    );
    h.hover_at(Pos2::new(5.0, 5.0));
    h.event(Event::Paste(srrd::io::transform_file::rigid_text(&other)));
    h.run_steps(2);
    let pasted = h.state().manual().expect("correcting").current.clone();
    for p in [Point3::new(0.0, 0.0, 0.0), Point3::new(20.0, -10.0, 5.0)] {
        assert!((pasted.transform_point(&p) - other.transform_point(&p)).norm() < 1e-9);
    }
    h.event(Event::Paste("not a transform".into()));
    h.run_steps(2);
    let e = h.state().error().unwrap_or_default().to_string();
    assert!(e.contains("pasted transform"), "{e}");
    assert_eq!(h.state().manual().map(|m| m.current.clone()), Some(pasted));

    // Reset from the panel: the identity again (undoable).
    h.get_by_label("Reset transform").click();
    h.run_steps(2);
    assert_eq!(
        h.state().manual().map(|m| m.current.clone()),
        Some(srrd::volume::RigidTransform::default())
    );
}
