//! The workstation window (eframe with the wgpu renderer). This first version draws
//! axial, coronal and sagittal slices in world space on the CPU; the GPU slice renderer,
//! layers for registration review and landmarks come with the viewer issue.

mod demo;
pub mod fusion;
pub mod landmarks;
pub mod results;
mod slice;
pub mod viewer;

use std::path::PathBuf;

use anyhow::{Context, Result};

pub use demo::demo_ct;
pub use slice::{Plane, SliceImage, render_slice, sample_on_slice};
pub use viewer::{Layer, ViewerApp};

/// Opens the workstation window with the given images (or the demo volume); with
/// `analyze`, the SRRD analysis starts once they are loaded.
pub fn run(ct: Option<PathBuf>, mr: Option<PathBuf>, analyze: bool) -> Result<()> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_inner_size([1400.0, 900.0])
            .with_title("SRRD workstation"),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "SRRD workstation",
        options,
        Box::new(move |_cc| {
            let mut app = ViewerApp::start(ct, mr);
            app.analyze_on_load = analyze;
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("cannot open the workstation window (is a display available? try `xvfb-run srrd`)")
}
