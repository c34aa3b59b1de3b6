//! The viewer as a user drives it (egui_kittest, no GPU needed): clicking a view moves the
//! crosshair within that plane, scrolling changes the slice, presets set the window.

use eframe::egui::{self, Event, PointerButton, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use srrd::app::{Layer, ViewerApp, demo_ct};

fn harness() -> Harness<'static, ViewerApp> {
    let app = ViewerApp::with_layers(vec![Layer::new("CT", demo_ct())]);
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h
}

fn click(h: &mut Harness<'static, ViewerApp>, pos: Pos2) {
    h.hover_at(pos);
    let m = egui::Modifiers::NONE;
    h.event(Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed: true,
        modifiers: m,
    });
    h.event(Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed: false,
        modifiers: m,
    });
    h.run_steps(2);
}

#[test]
fn click_in_axial_view_moves_crosshair_in_plane() {
    let mut h = harness();
    let before = h.state().crosshair;
    let rect = h.state().view_rects[0];
    assert!(rect.width() > 100.0, "axial view laid out: {rect:?}");
    // Right of centre on screen is patient left (+x in LPS); below is posterior (+y).
    click(&mut h, rect.center() + egui::vec2(60.0, 40.0));
    let after = h.state().crosshair;
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
        h.state().status.contains("mm LPS"),
        "status shows the position: {}",
        h.state().status
    );
}

#[test]
fn scrolling_steps_one_slice() {
    let mut h = harness();
    let before = h.state().crosshair;
    let rect = h.state().view_rects[0];
    h.hover_at(rect.center());
    h.event(Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: egui::vec2(0.0, 1.0),
        modifiers: egui::Modifiers::NONE,
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
    });
    h.run_steps(2);
    let dz = h.state().crosshair.z - before.z;
    assert!((dz.abs() - 1.0).abs() < 1e-9, "one 1.0 mm CT slice: {dz}");
}

#[test]
fn window_presets_apply() {
    let mut h = harness();
    h.get_by_label("CT soft").click();
    h.run_steps(2);
    assert_eq!(h.state().layers[0].window, (40.0, 400.0));
    h.get_by_label("CT bone").click();
    h.run_steps(2);
    assert_eq!(h.state().layers[0].window, (400.0, 1800.0));
}
