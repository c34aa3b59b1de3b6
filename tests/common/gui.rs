//! The workstation's test harness, shared by the GUI test files (`#[path]`-included): a
//! viewer on the demo CT, waiting for a background job, and a click.
#![allow(dead_code)]

use eframe::egui::{self, Event, PointerButton, Pos2};
use egui_kittest::Harness;
use srrd::app::{Layer, ViewerApp, demo_ct};

pub fn harness() -> Harness<'static, ViewerApp> {
    let app = ViewerApp::with_layers(vec![Layer::new("CT", demo_ct())]);
    let mut h = Harness::builder()
        .with_size([1200.0, 800.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h
}

/// Steps the UI until the background job (analysis, registration) has finished.
pub fn wait_for_job(h: &mut Harness<'static, ViewerApp>) {
    let start = std::time::Instant::now();
    while h.state().is_busy() {
        assert!(start.elapsed().as_secs() < 300, "the job did not finish");
        std::thread::sleep(std::time::Duration::from_millis(200));
        h.run_steps(1);
    }
    h.run_steps(2);
}

pub fn click(h: &mut Harness<'static, ViewerApp>, pos: Pos2) {
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
