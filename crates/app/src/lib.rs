//! The workstation window (eframe with the wgpu renderer): axial, coronal and sagittal
//! views in world space drawn on the GPU (`gpu`, `shaders/slice.wgsl`; a CPU renderer in
//! `slice` and `fusion` is the reference and the fallback), layers and fusion modes for
//! registration review, landmarks with TRE, sessions, and the SRRD results view.

pub mod actions;
pub mod bones;
mod compose;
mod demo;
pub mod dicom;
pub mod files;
pub mod fusion;
pub mod gpu;
pub mod jobs;
pub mod label_layout;
pub mod landmark_panel;
pub mod landmarks;
pub mod layer;
pub mod layers;
mod loading;
pub mod models_choice;
pub mod pacs_panel;
mod pacs_work;
mod protocol;
pub mod results;
pub mod review;
pub mod screenshot;
pub mod session;
mod slice;
pub mod study_batch;
pub mod view;
pub mod view3d;
pub mod viewer;
pub mod worklist;

use std::path::PathBuf;

use anyhow::{Context, Result};

pub use demo::demo_ct;
pub use slice::{Plane, SliceImage, render_slice, sample_on_slice, slice_grid};
pub use viewer::{Colormap, Layer, Layout, ViewerApp};

/// What `srrd view` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub ct: Option<PathBuf>,
    pub mr: Option<PathBuf>,
    /// Start the SRRD analysis once the images are loaded.
    pub analyze: bool,
    /// Restore this session instead of opening `ct` / `mr`.
    pub session: Option<PathBuf>,
    /// Write a screenshot here once everything is shown, then quit.
    pub screenshot: Option<PathBuf>,
    /// A study list read case by case, and the reader's folder.
    pub worklist: Option<(PathBuf, PathBuf)>,
    /// The models folder to analyse with (checked and remembered).
    pub models: Option<PathBuf>,
}

/// Where a reader's work on `list` goes by default: `reads/$USER` beside the list.
pub fn default_reader_dir(list: &std::path::Path) -> PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "reader".into());
    let base = if list.is_dir() {
        list.to_path_buf()
    } else {
        list.parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    };
    base.join("reads").join(user)
}

/// Opens the workstation window with the given images, session, worklist, or the demo
/// knee.
pub fn run(opts: RunOptions) -> Result<()> {
    // A worklist that cannot be opened is refused before any window.
    if let Some((list, reader)) = &opts.worklist {
        srrd_pipeline::worklist::Worklist::open(list, reader)
            .with_context(|| format!("cannot open the worklist {}", list.display()))?;
    }
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_inner_size([1400.0, 900.0])
            .with_title("SRRD workstation")
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    let mut options = options;
    options.wgpu_options.wgpu_setup =
        gpu::with_volume_limits(options.wgpu_options.wgpu_setup.clone());
    eframe::run_native(
        "SRRD workstation",
        options,
        Box::new(move |cc| {
            cc.egui_ctx.set_visuals(eframe::egui::Visuals::dark());
            let recent = session::RecentFiles::load();
            let models = models_choice::ModelsChoice::load();
            let mut app = match (&opts.session, &opts.worklist) {
                (_, Some((list, reader))) => {
                    let mut app = ViewerApp::with_layers(Vec::new());
                    app.set_recent(recent);
                    if let Err(e) = app.open_worklist(list, reader) {
                        app.set_error(Some(e));
                    }
                    app
                }
                (Some(s), None) => {
                    let mut app = ViewerApp::with_layers(Vec::new());
                    app.set_recent(recent);
                    app.open_session(s);
                    app
                }
                (None, None) => {
                    let mut app = ViewerApp::start(opts.ct.clone(), opts.mr.clone());
                    app.set_recent(recent);
                    for p in [&opts.ct, &opts.mr].into_iter().flatten() {
                        app.recent_mut().push(p);
                    }
                    app
                }
            };
            app.set_models(models);
            if let Some(dir) = &opts.models {
                app.choose_models(dir);
            }
            app.set_analyze_on_load(opts.analyze);
            app.set_screenshot(opts.screenshot.clone());
            if let Some(rs) = cc.wgpu_render_state.as_ref() {
                app.enable_gpu(rs);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("cannot open the workstation window (is a display available? try `xvfb-run srrd`)")
}
