//! The viewer window: layers, three linked world-space views, window/level, status bar.
//! Loading runs on a background thread; the UI never waits for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use eframe::egui::{self, Color32, Rect, TextureHandle, Vec2};
use nalgebra::Point3;

use super::fusion::FusionMode;
use super::gpu::GpuInfo;
use super::landmarks::LandmarkEditor;
use super::slice::{Plane, SliceImage};
use srrd_base::progress::Progress;
use srrd_base::volume::Interpolation;
use srrd_base::volume::{AffineTransform, Transform};

use super::jobs::{JobResult, StageLog};
pub use super::layer::{Colormap, Layer, auto_window, jet, viridis};
use super::loading::Loading;

/// The application state.
pub struct ViewerApp {
    pub layers: Vec<Layer>,
    /// The linked crosshair, in world LPS mm.
    pub crosshair: Point3<f64>,
    pub interpolation: Interpolation,
    pub error: Option<String>,
    pub status: String,
    /// Where each view (axial, coronal, sagittal) was drawn last frame, in points.
    pub view_rects: [Rect; 3],
    pub(super) loading: Option<Loading>,
    /// Landmarks of the fixed (CT) and moving (MR) images, with undo/redo.
    pub landmarks: LandmarkEditor,
    /// In placing mode a left click adds a landmark (Ctrl+click always does).
    pub placing: bool,
    /// Transforms the TRE table can use (fixed -> moving); the first is the identity.
    pub transforms: Vec<(String, Transform)>,
    pub transform_choice: usize,
    /// How the chosen pair of layers is compared.
    pub fusion: FusionMode,
    /// The pair compared (layer indices: a, b); in the yellow fusion a is the CT.
    pub pair: (usize, usize),
    /// Checkerboard tile, in slice pixels.
    pub tile_px: usize,
    /// Flicker: Some(false) shows only a, Some(true) only b; None is off.
    pub flicker: Option<bool>,
    pub(super) composed: [(usize, Vec<Color32>); 3],
    /// A pipeline run in the background (registration, analysis), with its progress.
    pub(super) job: Option<(Receiver<JobResult>, Arc<Progress>)>,
    /// The stages of the current (or last) pipeline run.
    pub stage_log: StageLog,
    /// The results view, after an analysis.
    pub results: Option<super::results::ResultsSummary>,
    /// Start the analysis as soon as the images are loaded (`srrd view --analyze`).
    pub analyze_on_load: bool,
    /// Zoom factor of each view over the fitted size (1 = the whole slice fits).
    pub zoom: [f32; 3],
    /// Offset of each view's slice centre from the view centre, in points.
    pub pan: [Vec2; 3],
    /// Three views, or one of them alone and large.
    pub layout: Layout,
    /// The keyboard and mouse help window.
    pub show_help: bool,
    /// Crosshair, orientation letters and slice readout over the views.
    pub show_overlays: bool,
    /// Set when the GPU renderer is installed (eframe with wgpu); None: the CPU renderer.
    pub gpu: Option<GpuInfo>,
    /// Recently opened images and sessions.
    pub recent: super::session::RecentFiles,
    /// An open/save prompt (path field, Browse button) on screen.
    pub prompt: Option<super::files::Prompt>,
    /// A file dialog running on its own thread, and what its answer is for.
    pub(super) dialog: Option<(super::files::FileAction, Receiver<Option<PathBuf>>)>,
    /// Save a screenshot here once the images are shown, then close (`--screenshot`).
    pub screenshot: Option<PathBuf>,
    pub(super) screenshot_frames: u32,
    pub(super) screenshot_done: Arc<std::sync::atomic::AtomicBool>,
    /// The rename field of the landmark panel.
    pub(super) rename_text: String,
    /// Each view's slice pixel grid (its values only on the CPU path).
    pub(super) grids: [Option<SliceImage>; 3],
    pub(super) textures: [Option<TextureHandle>; 3],
    pub(super) dirty: bool,
    /// Background DICOM work: a series being switched, an export being written.
    pub(super) dicom_jobs: super::dicom::DicomJobs,
    /// A study read case by case (`srrd view --worklist`).
    pub worklist: Option<super::worklist::WorklistPanel>,
    /// Blinded placement: only the active image's landmarks are drawn, and no TRE.
    pub blinded: bool,
    /// The registration's corrected start (fixed -> moving): from landmarks or a nudge;
    /// the analysis registers from it, and a worklist case keeps it.
    pub registration_start: Option<srrd_base::volume::RigidTransform>,
    /// The MR being nudged by hand (shown under its transform), with undo.
    pub manual: Option<srrd_registration::manual::ManualStart>,
    /// The 3D view in the fourth quadrant, and the bone surfaces it shows (after an
    /// analysis).
    pub view3d: super::view3d::View3d,
    pub surfaces3d: Option<Arc<super::view3d::KneeSurfaces>>,
}

/// How the central area is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    /// Axial and coronal on top, sagittal below.
    Three,
    /// One view (0 axial, 1 coronal, 2 sagittal) over the whole area.
    Single(usize),
}

pub(super) const PLANES: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

/// The help window: every shortcut the viewer knows.
pub const HELP: &[(&str, &str)] = &[
    ("Left click", "move the crosshair (all views follow)"),
    ("Left drag, middle drag", "pan the view"),
    ("Wheel", "next / previous slice"),
    ("Ctrl + wheel", "zoom about the cursor"),
    (
        "Right drag",
        "window (left-right) and level (up-down) of the first layer",
    ),
    ("Double click", "this view alone / back to three views"),
    (
        "1, 2, 3 / 0",
        "axial, coronal, sagittal alone / three views",
    ),
    (
        "Up / Down, PgUp / PgDn",
        "slice in the view under the cursor (1 / 10)",
    ),
    ("R", "reset zoom and pan"),
    ("O", "overlays (crosshair, letters, readout) on / off"),
    ("F", "flicker between the compared layers A and B"),
    (
        "Ctrl + click",
        "place a landmark (on the image chosen in the panel)",
    ),
    ("Ctrl + drag", "move the selected landmark"),
    ("Del", "delete the selected landmark"),
    ("Ctrl + Z / Ctrl + Y", "undo / redo a landmark edit"),
    ("Ctrl + S", "save the session"),
    ("N / P", "next / previous case of the worklist"),
    (
        "Shift + arrows",
        "while correcting by hand: move the MR 1 mm in the view under the pointer",
    ),
    (
        "Shift + , / Shift + .",
        "while correcting by hand: turn the MR 1 degree about the view's normal",
    ),
    ("F1", "this help"),
];

impl ViewerApp {
    /// Starts loading the given images (or the demo volume) in the background.
    pub fn start(ct: Option<PathBuf>, mr: Option<PathBuf>) -> Self {
        let files = [("CT", ct), ("MR", mr)]
            .into_iter()
            .filter_map(|(n, p)| Some((Some(n.to_string()), p?)))
            .collect();
        let mut app = Self::with_layers(Vec::new());
        app.start_loading(files, false, None);
        app
    }

    /// An app showing the given layers at once (used by tests).
    pub fn with_layers(layers: Vec<Layer>) -> Self {
        let crosshair = layers
            .first()
            .map(|l| l.volume.geometry.center_mm())
            .unwrap_or_else(Point3::origin);
        ViewerApp {
            layers,
            crosshair,
            interpolation: Interpolation::Linear,
            error: None,
            status: String::new(),
            view_rects: [Rect::NOTHING; 3],
            loading: None,
            landmarks: LandmarkEditor::default(),
            placing: false,
            transforms: vec![(
                "identity".into(),
                Transform::Affine(AffineTransform::identity()),
            )],
            transform_choice: 0,
            fusion: FusionMode::Alpha,
            pair: (0, 1),
            tile_px: 16,
            flicker: None,
            composed: [(0, Vec::new()), (0, Vec::new()), (0, Vec::new())],
            job: None,
            stage_log: StageLog::default(),
            results: None,
            analyze_on_load: false,
            zoom: [1.0; 3],
            pan: [Vec2::ZERO; 3],
            layout: Layout::Three,
            show_help: false,
            show_overlays: true,
            gpu: None,
            recent: super::session::RecentFiles::default(),
            prompt: None,
            dialog: None,
            screenshot: None,
            screenshot_frames: 0,
            screenshot_done: Arc::default(),
            rename_text: String::new(),
            grids: [None, None, None],
            textures: [None, None, None],
            dirty: true,
            dicom_jobs: Default::default(),
            worklist: None,
            blinded: false,
            registration_start: None,
            manual: None,
            view3d: super::view3d::View3d::new(Default::default()),
            surfaces3d: None,
        }
    }

    /// Installs the GPU slice renderer on eframe's wgpu render state: from now on the
    /// views are drawn by `shaders/slice.wgsl` (volumes too large for a 3D texture fall
    /// back to the CPU renderer).
    pub fn enable_gpu(&mut self, render_state: &eframe::egui_wgpu::RenderState) {
        self.gpu = Some(super::gpu::SliceRenderer::install(render_state));
        self.view3d.enable_gpu(render_state);
        self.dirty = true;
    }

    /// The volume of the layer called `name` ("CT", "MR", "rrMR", ...).
    pub fn layer_volume(&self, name: &str) -> Option<Arc<srrd_base::volume::Volume>> {
        self.layers
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.volume.clone())
    }

    /// A rigid fit (fixed -> moving) to the CT-MR landmark pairs (matched by label; 3
    /// or more, not on one line), with each pair's residual.
    pub fn landmark_fit(
        &self,
    ) -> srrd_base::error::Result<srrd_registration::landmark_fit::LandmarkFit> {
        let pairs: Vec<(String, Point3<f64>, Point3<f64>)> =
            srrd_base::io::pair_by_label(&self.landmarks.sets[0], &self.landmarks.sets[1])
                .into_iter()
                .map(|(l, a, b)| (l.to_string(), Point3::from(a), Point3::from(b)))
                .collect();
        srrd_registration::landmark_fit::fit_rigid(&pairs)
    }

    /// Whether the views are drawn on the GPU now.
    pub fn drawing_on_gpu(&self) -> bool {
        self.gpu
            .is_some_and(|g| self.layers.iter().all(|l| g.fits(&l.volume)))
    }
}

impl ViewerApp {
    /// Keyboard shortcuts (none while a text field has the keyboard).
    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let pressed = |k: egui::Key| ctx.input(|i| i.key_pressed(k) && !i.modifiers.command);
        if self.layers.len() >= 2 && pressed(egui::Key::F) {
            self.toggle_flicker();
        }
        if ctx.input(|i| i.modifiers.command && i.key_pressed(egui::Key::S)) {
            self.prompt = Some(super::files::Prompt {
                action: super::files::FileAction::SaveSession,
                path: "session.srrd.json".into(),
            });
        }
        if pressed(egui::Key::F1) {
            self.show_help = !self.show_help;
        }
        if pressed(egui::Key::R) {
            self.reset_views();
        }
        if pressed(egui::Key::O) {
            self.show_overlays = !self.show_overlays;
        }
        for (key, layout) in [
            (egui::Key::Num0, Layout::Three),
            (egui::Key::Num1, Layout::Single(0)),
            (egui::Key::Num2, Layout::Single(1)),
            (egui::Key::Num3, Layout::Single(2)),
        ] {
            if pressed(key) {
                self.layout = layout;
            }
        }
        if pressed(egui::Key::Delete) && self.landmarks.delete_selected() {
            self.dirty = true;
        }
        // Arrow keys and page keys step the slice of the view under the pointer.
        let hovered = ctx
            .pointer_hover_pos()
            .and_then(|p| (0..3).find(|&n| self.view_rects[n].contains(p)));
        self.nudge_keys(ctx, hovered);
        if self.worklist.is_some() && pressed(egui::Key::N) {
            self.step_case(1);
        }
        if self.worklist.is_some() && pressed(egui::Key::P) {
            self.step_case(-1);
        }
        let shift = ctx.input(|i| i.modifiers.shift);
        if let Some(n) = hovered.filter(|_| !shift || self.manual.is_none()) {
            for (key, steps) in [
                (egui::Key::ArrowUp, 1.0),
                (egui::Key::ArrowDown, -1.0),
                (egui::Key::PageUp, 10.0),
                (egui::Key::PageDown, -10.0),
            ] {
                if pressed(key) {
                    self.scroll(PLANES[n], steps);
                }
            }
        }
    }
}

impl ViewerApp {
    /// The fourth quadrant: the bone surfaces in 3D with the landmarks and the crosshair.
    fn view3d_quadrant(&mut self, ui: &mut egui::Ui, size: Vec2) {
        let c = self.crosshair;
        let scene = self.surfaces3d.as_ref().map(|s| {
            let mut scene = super::view3d::Scene3d::new(s.clone()).with_crosshair([c.x, c.y, c.z]);
            if !self.blinded || self.landmarks.active == 0 {
                scene = scene.with_landmarks(&self.landmarks.sets[0], [0, 220, 255, 255]);
            }
            if !self.blinded || self.landmarks.active == 1 {
                scene = scene.with_landmarks(&self.landmarks.sets[1], [255, 80, 220, 255]);
            }
            scene
        });
        self.view3d.ui(ui, size, scene.as_ref());
    }
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

impl ViewerApp {
    /// Draws the whole window into `ui` (the eframe app and the UI tests call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll_loading();
        self.poll_job();
        self.poll_dicom();
        self.shortcuts(&ctx);
        let (undo, redo) = ctx.input(|i| {
            (
                i.modifiers.command && i.key_pressed(egui::Key::Z) && !i.modifiers.shift,
                i.modifiers.command
                    && (i.key_pressed(egui::Key::Y)
                        || (i.modifiers.shift && i.key_pressed(egui::Key::Z))),
            )
        });
        // While the MR is being nudged, undo and redo act on the nudge.
        if let Some(m) = &mut self.manual {
            if (undo && m.undo()) || (redo && m.redo()) {
                self.show_manual();
            }
        } else if (undo && self.landmarks.undo()) || (redo && self.landmarks.redo()) {
            self.dirty = true;
        }
        self.file_ui(&ctx);
        self.refresh_textures(&ctx);
        egui::Panel::top("menu").show(ui, |ui| {
            ui.horizontal(|ui| {
                self.file_menu(ui);
                ui.menu_button("View", |ui| {
                    for (label, layout) in [
                        ("Three views (0)", Layout::Three),
                        ("Axial alone (1)", Layout::Single(0)),
                        ("Coronal alone (2)", Layout::Single(1)),
                        ("Sagittal alone (3)", Layout::Single(2)),
                    ] {
                        ui.selectable_value(&mut self.layout, layout, label);
                    }
                    if ui.button("Reset zoom and pan (R)").clicked() {
                        self.reset_views();
                    }
                    ui.checkbox(&mut self.show_overlays, "Overlays (O)");
                });
                if ui.button("Help (F1)").clicked() {
                    self.show_help = !self.show_help;
                }
                ui.separator();
                ui.label(if self.drawing_on_gpu() {
                    "GPU rendering"
                } else {
                    "CPU rendering"
                });
            });
        });
        if self.worklist.is_some() {
            egui::Panel::left("worklist")
                .default_size(260.0)
                .show(ui, |ui| self.worklist_ui(ui));
        }
        egui::Panel::left("layers")
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
            });
        let mut export_prompt = false;
        if let Some(r) = &mut self.results {
            let status = &mut self.status;
            egui::Panel::right("results")
                .default_size(380.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        ui.heading("Results");
                        match super::results::results_ui(ui, r) {
                            Some(super::results::ResultsAction::Status(line)) => *status = line,
                            Some(super::results::ResultsAction::ExportDicom) => {
                                export_prompt = true;
                            }
                            None => {}
                        }
                    });
                });
        }
        if export_prompt {
            self.prompt = Some(super::files::Prompt {
                action: super::files::FileAction::ExportDicom,
                path: String::new(),
            });
        }
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.label(self.status.as_str());
        });
        egui::CentralPanel::default().show(ui, |ui| {
            let avail = ui.available_size();
            match self.layout {
                Layout::Single(n) => {
                    self.view_rects = [Rect::NOTHING; 3];
                    self.view(ui, n.min(2), avail.max(Vec2::splat(50.0)));
                }
                Layout::Three => {
                    let w = (avail.x - 8.0) / 2.0;
                    let h = (avail.y - 8.0) / 2.0;
                    let size = Vec2::new(w.max(50.0), h.max(50.0));
                    ui.horizontal(|ui| {
                        self.view(ui, 0, size);
                        self.view(ui, 1, size);
                    });
                    ui.horizontal(|ui| {
                        self.view(ui, 2, size);
                        self.view3d_quadrant(ui, size);
                    });
                }
            }
        });
        if self.show_help {
            egui::Window::new("Keyboard and mouse")
                .open(&mut self.show_help)
                .resizable(false)
                .show(&ctx, |ui| {
                    egui::Grid::new("help").striped(true).show(ui, |ui| {
                        for (keys, what) in HELP {
                            ui.monospace(*keys);
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
                });
        }
        // Autosave once the pointer is released (not on every frame of a drag).
        if self.worklist.is_some() && !ctx.input(|i| i.pointer.any_down()) {
            self.autosave();
        }
        self.screenshot_step(&ctx);
        if self.dirty {
            ctx.request_repaint();
        }
    }

    /// `--screenshot`: once everything asked for is shown (images loaded, the analysis
    /// done when one was asked for), a few frames later, asks for a screenshot, writes it
    /// as PNG and closes the window.
    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let Some(path) = self.screenshot.clone() else {
            return;
        };
        if self
            .screenshot_done
            .load(std::sync::atomic::Ordering::Acquire)
        {
            self.screenshot = None;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        let ready = self.loading.is_none()
            && self.job.is_none()
            && !self.layers.is_empty()
            && (!self.analyze_on_load || self.results.is_some() || self.error.is_some());
        if ready {
            self.screenshot_frames += 1;
            if self.screenshot_frames == 5 {
                let how = if self.drawing_on_gpu() {
                    "GPU rendering"
                } else {
                    "CPU rendering"
                };
                let done = self.screenshot_done.clone();
                let repaint = ctx.clone();
                let callback = egui::ScreenshotCallback::new(move |image| {
                    let [w, h] = image.size;
                    let rgb: Vec<u8> = image
                        .pixels
                        .iter()
                        .flat_map(|c| [c.r(), c.g(), c.b()])
                        .collect();
                    match srrd_base::io::raster::write_rgb_png(&path, w as u32, h as u32, &rgb) {
                        Ok(()) => eprintln!("screenshot written to {} ({how})", path.display()),
                        Err(e) => eprintln!("cannot write the screenshot {}: {e}", path.display()),
                    }
                    done.store(true, std::sync::atomic::Ordering::Release);
                    repaint.request_repaint();
                });
                ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(callback));
            }
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
    }
}
