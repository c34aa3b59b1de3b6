//! The viewer window: a small composition of owned parts (layers, views, landmarks,
//! review, jobs, files, worklist, 3D view, results, screenshot) and the status line.
//! Each part keeps its own state and draws its own panel; panels return actions, which
//! `actions.rs` applies across the parts. Loading runs on a background thread; the UI
//! never waits for it.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::{self, Color32, Pos2, Rect, Vec2};
use nalgebra::Point3;

use super::actions::Action;
use super::files::{FileAction, Files};
use super::jobs::{Jobs, PipelineContext};
use super::landmark_panel::Marks;
use super::landmarks::LandmarkEditor;
use super::layers::Layers;
use super::pacs_panel::PacsAction;
use super::results::ResultsSummary;
use super::review::{Review, ReviewContext};
use super::screenshot::Screenshot;
use super::session::{RecentFiles, SESSION_FORMAT, Session};
use super::slice::Plane;
use super::view::Views;
use super::view3d::View3d;
use super::worklist::WorklistPanel;

pub use super::layer::{Colormap, Layer, auto_window, jet, viridis};

/// The application state: the parts and the status line.
pub struct ViewerApp {
    pub(super) layers: Layers,
    pub(super) views: Views,
    pub(super) marks: Marks,
    pub(super) review: Review,
    pub(super) jobs: Jobs,
    pub(super) files: Files,
    /// The models folder analyses use (File > Models).
    pub(super) models: super::models_choice::ModelsChoice,
    /// A study read case by case (`srrd view --worklist`).
    pub(super) worklist: Option<WorklistPanel>,
    /// The 3D view in the fourth quadrant and the bone surfaces it shows.
    pub(super) view3d: View3d,
    /// The results view, after an analysis.
    pub(super) results: Option<ResultsSummary>,
    /// File > PACS…: the DICOM nodes, search, retrieval and sending.
    pub(super) pacs: super::pacs_panel::PacsPanel,
    pub(super) screenshot: Screenshot,
    pub(super) status: String,
    pub(super) error: Option<String>,
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
    (
        "Left drag / Shift + left drag",
        "while correcting by hand: move the MR in the view's plane / turn it about the crosshair",
    ),
    (
        "Ctrl + V",
        "while correcting by hand: paste an ITK .tfm text as the transform",
    ),
    ("F1", "this help"),
];

impl ViewerApp {
    /// Starts loading the given images (or the demo volume) in the background.
    pub fn start(ct: Option<PathBuf>, mr: Option<PathBuf>) -> Self {
        let files = [("CT", ct), ("MR", mr)]
            .into_iter()
            .filter_map(|(n, p)| Some(super::jobs::ImageFile::named(n, p?)))
            .collect();
        let mut app = Self::with_layers(Vec::new());
        app.jobs.start_loading(files, false, None);
        app
    }

    /// An app showing the given layers at once (used by tests).
    pub fn with_layers(layers: Vec<Layer>) -> Self {
        let crosshair = layers
            .first()
            .map(|l| l.volume.geometry.center_mm())
            .unwrap_or_else(Point3::origin);
        ViewerApp {
            layers: Layers::new(layers),
            views: Views::new(crosshair),
            marks: Marks::default(),
            review: Review::default(),
            jobs: Jobs::default(),
            files: Files::default(),
            models: Default::default(),
            worklist: None,
            view3d: View3d::new(Default::default()),
            results: None,
            pacs: Default::default(),
            screenshot: Screenshot::default(),
            status: String::new(),
            error: None,
        }
    }

    /// Installs the GPU slice renderer on eframe's wgpu render state: from now on the
    /// views are drawn by `shaders/slice.wgsl` (volumes too large for a 3D texture fall
    /// back to the CPU renderer).
    pub fn enable_gpu(&mut self, render_state: &eframe::egui_wgpu::RenderState) {
        self.views
            .set_gpu(super::gpu::SliceRenderer::install(render_state));
        self.view3d.enable_gpu(render_state);
    }

    /// The volume of the layer called `name` ("CT", "MR", "rrMR", ...).
    pub fn layer_volume(&self, name: &str) -> Option<Arc<srrd_base::volume::Volume>> {
        self.layers.volume(name)
    }

    /// A rigid fit (fixed -> moving) to the CT-MR landmark pairs (matched by label; 3
    /// or more, not on one line), with each pair's residual.
    pub fn landmark_fit(
        &self,
    ) -> srrd_base::error::Result<srrd_registration::landmark_fit::LandmarkFit> {
        self.marks.fit()
    }

    /// Whether the views are drawn on the GPU now.
    pub fn drawing_on_gpu(&self) -> bool {
        self.views.on_gpu(self.layers.list())
    }

    /// The layers, bottom first.
    pub fn layers(&self) -> &[Layer] {
        self.layers.list()
    }

    /// The layers part (the layers, the comparison of two).
    pub fn layer_stack(&self) -> &Layers {
        &self.layers
    }

    /// The layers part, to change it (the views are drawn again).
    pub fn layer_stack_mut(&mut self) -> &mut Layers {
        self.views.mark_dirty();
        &mut self.layers
    }

    /// The linked crosshair, in world LPS mm.
    pub fn crosshair(&self) -> Point3<f64> {
        self.views.crosshair()
    }

    /// Where each view (axial, coronal, sagittal) was drawn last frame, in points.
    pub fn view_rects(&self) -> [Rect; 3] {
        self.views.rects()
    }

    /// Where view `n`'s landmark labels were drawn last frame, with each landmark's name.
    pub fn landmark_labels(&self, n: usize) -> &[(String, super::label_layout::Placed)] {
        self.views.labels(n)
    }

    /// Each view's zoom factor over the fitted size.
    pub fn zoom(&self) -> [f32; 3] {
        self.views.zoom()
    }

    /// Each view's pan, in points.
    pub fn pan(&self) -> [Vec2; 3] {
        self.views.pan()
    }

    /// Sets view `n`'s zoom and pan.
    pub fn set_zoom_pan(&mut self, n: usize, zoom: f32, pan: Vec2) {
        self.views.set_zoom_pan(n, zoom, pan);
    }

    /// Three views, or one alone.
    pub fn layout(&self) -> Layout {
        self.views.layout()
    }

    /// Sets the layout.
    pub fn set_layout(&mut self, layout: Layout) {
        self.views.set_layout(layout);
    }

    /// Moves the crosshair (world LPS mm).
    pub fn set_crosshair(&mut self, p: Point3<f64>) {
        self.views.set_crosshair(p);
    }

    /// Shows the overlays over the views (crosshair, letters, readout) or not.
    pub fn set_show_overlays(&mut self, on: bool) {
        self.views.set_overlays(on);
    }

    /// Whether the help window is open.
    pub fn show_help(&self) -> bool {
        self.views.show_help()
    }

    /// The status bar's line.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// The error shown, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Shows an error (None: clears it).
    pub fn set_error(&mut self, e: Option<String>) {
        self.error = e;
    }

    /// The landmark editor.
    pub fn landmarks(&self) -> &LandmarkEditor {
        self.marks.editor()
    }

    /// The landmark editor, to change it.
    pub fn landmarks_mut(&mut self) -> &mut LandmarkEditor {
        self.marks.editor_mut()
    }

    /// Whether a plain left click places a landmark.
    pub fn placing(&self) -> bool {
        self.marks.placing()
    }

    /// Blinded placement: only the active image's landmarks are drawn, and no TRE.
    pub fn blinded(&self) -> bool {
        self.marks.blinded()
    }

    /// The results view, after an analysis.
    pub fn results(&self) -> Option<&ResultsSummary> {
        self.results.as_ref()
    }

    /// The bone surfaces the 3D view shows (from the bones alone, or an analysis).
    pub fn bone_surfaces(&self) -> Option<&Arc<super::view3d::KneeSurfaces>> {
        self.view3d.surfaces()
    }

    /// The 3D view (its settings and where it drew last).
    pub fn view3d(&self) -> &View3d {
        &self.view3d
    }

    /// The worklist, when one is open.
    pub fn worklist(&self) -> Option<&WorklistPanel> {
        self.worklist.as_ref()
    }

    /// The MR being nudged by hand, if it is.
    pub fn manual(&self) -> Option<&srrd_registration::manual::ManualStart> {
        self.review.manual()
    }

    /// The registration's corrected start (fixed -> moving), when there is one.
    pub fn registration_start(&self) -> Option<&srrd_base::volume::RigidTransform> {
        self.review.start()
    }

    /// The recent files.
    pub fn recent(&self) -> &RecentFiles {
        self.files.recent()
    }

    /// The recent files, to add to them.
    pub fn recent_mut(&mut self) -> &mut RecentFiles {
        self.files.recent_mut()
    }

    /// The models folder analyses use now.
    pub fn models_dir(&self) -> std::path::PathBuf {
        self.models.dir()
    }

    /// Sets the models choice (the stored one, at start).
    pub fn set_models(&mut self, models: super::models_choice::ModelsChoice) {
        self.models = models;
    }

    /// Sets the recent files (the stored list, at start).
    pub fn set_recent(&mut self, recent: RecentFiles) {
        *self.files.recent_mut() = recent;
    }

    /// Starts the analysis as soon as the images are loaded (`srrd view --analyze`).
    pub fn set_analyze_on_load(&mut self, on: bool) {
        self.jobs.set_analyze_on_load(on);
    }

    /// Saves a screenshot to `path` once the images are shown, then closes (`--screenshot`).
    pub fn set_screenshot(&mut self, path: Option<PathBuf>) {
        self.screenshot = Screenshot::new(path);
    }

    /// Whether a background load is still running.
    pub fn is_loading(&self) -> bool {
        self.jobs.is_loading()
    }

    /// Whether a pipeline run, DICOM work, the bones or the worklist's batch is in
    /// progress.
    pub fn is_busy(&self) -> bool {
        self.jobs.busy()
            || self.pacs.busy()
            || self.worklist.as_ref().is_some_and(|w| w.batch_running())
    }

    /// How many reads of shown images were started (reads ahead of a worklist case not
    /// counted).
    pub fn loads_started(&self) -> usize {
        self.jobs.loads_started()
    }

    /// The worklist case read ahead, and whether its read is done.
    pub fn prefetched_case(&mut self) -> Option<(usize, bool)> {
        self.jobs.prefetched()
    }

    /// The colours last composed for view `n` (axial, coronal, sagittal), row by row, and
    /// the row width.
    pub fn composed(&self, n: usize) -> (usize, &[Color32]) {
        self.views.composed(n)
    }

    /// Moves the crosshair along a plane's normal by `steps` voxels of the base layer.
    pub fn scroll(&mut self, plane: Plane, steps: f64) {
        self.views.scroll(self.layers.base(), plane, steps);
    }

    /// Asks for the views to be drawn again (after a change made from outside).
    pub fn mark_dirty(&mut self) {
        self.views.mark_dirty();
    }

    /// Zooms view `n` (drawn in `rect`) by `factor`, keeping the point under `cursor` in
    /// place; zoom stays within 0.5x to 40x.
    pub fn zoom_about(&mut self, n: usize, rect: Rect, cursor: Pos2, factor: f32) {
        self.views.zoom_about(n, rect, cursor, factor);
    }

    /// Fits every view again (zoom 1, no pan).
    pub fn reset_views(&mut self) {
        self.views.reset();
    }

    /// The base layer's slice index (1-based) through the crosshair along the grid axis
    /// closest to the plane's normal, and the number of slices.
    pub fn slice_index(&self, plane: Plane) -> (usize, usize) {
        self.views.slice_index(self.layers.base(), plane)
    }

    /// Values of every layer at a world point.
    pub fn values_at(&self, p: &Point3<f64>) -> Vec<(String, Option<f32>)> {
        self.layers.values_at(p)
    }

    /// Flicker between the pair: off -> B -> A -> B ...
    pub fn toggle_flicker(&mut self) {
        self.layers.toggle_flicker();
        self.views.mark_dirty();
    }

    /// The transforms the TRE table can use (fixed -> moving); the first is the identity.
    pub fn transforms(&self) -> &[(String, srrd_base::volume::Transform)] {
        self.marks.transforms()
    }

    /// The stages of the current (or last) pipeline run.
    pub fn stage_log(&self) -> &super::jobs::StageLog {
        self.jobs.stage_log()
    }

    /// The open/save prompt on screen, to fill its field.
    pub fn prompt_mut(&mut self) -> Option<&mut super::files::Prompt> {
        self.files.prompt_mut()
    }

    /// The TRE of the landmark pairs under the chosen transform.
    pub fn tre(&self) -> Option<srrd_registration::tre::TreReport> {
        self.marks.tre()
    }

    /// The session as it is now (what a session file persists).
    pub fn session(&self) -> Session {
        let p = self.views.crosshair();
        let c = self.layers.comparison();
        Session {
            format: SESSION_FORMAT.into(),
            files: self
                .layers
                .list()
                .iter()
                .filter_map(|l| Some((l.name.clone(), l.source.clone()?)))
                .collect(),
            layers: self.layers.states(),
            crosshair_mm: [p.x, p.y, p.z],
            zoom: self.views.zoom(),
            pan: self.views.pan().map(|v| [v.x, v.y]),
            layout: self.views.layout(),
            interpolation: c.interpolation,
            fusion: c.fusion,
            pair: c.pair,
            tile_px: c.tile_px,
            flicker: c.flicker,
            landmarks: self.marks.editor().sets.clone(),
            landmark_target: self.marks.editor().active,
            view3d: self.view3d.settings.clone(),
            registration_start: self.review.start().cloned(),
            series: self
                .layers
                .list()
                .iter()
                .filter(|l| l.source.is_some() && !l.series_choices.is_empty())
                .filter_map(|l| Some((l.name.clone(), l.series_id.clone()?)))
                .collect(),
        }
    }

    /// Keyboard shortcuts (none while a text field has the keyboard).
    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let pressed = |k: egui::Key| ctx.input(|i| i.key_pressed(k) && !i.modifiers.command);
        if self.layers.list().len() >= 2 && pressed(egui::Key::F) {
            self.toggle_flicker();
        }
        if ctx.input(|i| i.modifiers.command && i.key_pressed(egui::Key::S)) {
            self.files.ask(FileAction::SaveSession, "session.srrd.json");
        }
        if pressed(egui::Key::F1) {
            self.views.toggle_help();
        }
        if pressed(egui::Key::R) {
            self.reset_views();
        }
        if pressed(egui::Key::O) {
            self.views.toggle_overlays();
        }
        for (key, layout) in [
            (egui::Key::Num0, Layout::Three),
            (egui::Key::Num1, Layout::Single(0)),
            (egui::Key::Num2, Layout::Single(1)),
            (egui::Key::Num3, Layout::Single(2)),
        ] {
            if pressed(key) {
                self.views.set_layout(layout);
            }
        }
        if pressed(egui::Key::Delete) && self.marks.editor_mut().delete_selected() {
            self.views.mark_dirty();
        }
        // Arrow keys and page keys step the slice of the view under the pointer.
        let hovered = self.views.hovered(ctx);
        if self.review.nudge_keys(ctx, hovered, self.views.crosshair()) {
            self.show_manual();
        }
        match self.review.paste(ctx) {
            Ok(true) => {
                self.show_manual();
                self.status = "transform pasted".into();
            }
            Ok(false) => {}
            Err(e) => self.error = Some(e),
        }
        if self.worklist.is_some() && pressed(egui::Key::N) {
            self.step_case(1);
        }
        if self.worklist.is_some() && pressed(egui::Key::P) {
            self.step_case(-1);
        }
        let shift = ctx.input(|i| i.modifiers.shift);
        if let Some(n) = hovered.filter(|_| !shift || self.review.manual().is_none()) {
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

    /// Draws the whole window into `ui` (the eframe app and the UI tests call this).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll_jobs();
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
        if self.review.manual().is_some() {
            if self.review.undo_redo(undo, redo) {
                self.show_manual();
            }
        } else if (undo && self.marks.editor_mut().undo())
            || (redo && self.marks.editor_mut().redo())
        {
            self.views.mark_dirty();
        }
        let actions = super::files::file_ui(&ctx, &mut self.files);
        self.apply_all(actions);
        let actions = self.pacs.ui(&ctx, self.results.is_some());
        self.apply_all(actions);
        self.views.refresh(&ctx, &self.layers);
        let mut actions = Vec::new();
        egui::Panel::top("menu").show(ui, |ui| {
            ui.horizontal(|ui| {
                let models = self.models.dir();
                actions.extend(super::files::file_menu(ui, &mut self.files, &models));
                ui.menu_button("View", |ui| self.views.menu_ui(ui));
                if ui.button("Help (F1)").clicked() {
                    self.views.toggle_help();
                }
                ui.separator();
                ui.label(if self.drawing_on_gpu() {
                    "GPU rendering"
                } else {
                    "CPU rendering"
                });
            });
        });
        self.apply_all(std::mem::take(&mut actions));
        if let Some(w) = &mut self.worklist {
            egui::Panel::left("worklist")
                .default_size(260.0)
                .show(ui, |ui| {
                    actions.extend(super::worklist::worklist_ui(ui, w));
                });
        }
        self.apply_all(std::mem::take(&mut actions));
        egui::Panel::left("layers")
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let side = self.side_panel(ui);
                    actions.extend(side);
                });
            });
        self.apply_all(std::mem::take(&mut actions));
        if let Some(r) = &mut self.results {
            egui::Panel::right("results")
                .default_size(380.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        ui.heading("Results");
                        match super::results::results_ui(ui, r) {
                            Some(super::results::ResultsAction::Status(line)) => {
                                actions.push(Action::Status(line));
                            }
                            Some(super::results::ResultsAction::ExportDicom) => {
                                actions.push(Action::Ask(FileAction::ExportDicom));
                            }
                            Some(super::results::ResultsAction::SendToPacs) => {
                                actions.push(Action::Pacs(PacsAction::Show));
                            }
                            None => {}
                        }
                    });
                });
        }
        self.apply_all(std::mem::take(&mut actions));
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.label(self.status.as_str());
        });
        self.views.set_correcting(self.review.manual().is_some());
        egui::CentralPanel::default().show(ui, |ui| {
            let marks = &self.marks;
            let view3d = &mut self.view3d;
            let blinded = marks.blinded();
            let active = marks.editor().active;
            let sets = &marks.editor().sets;
            let shown = |set: usize| (!blinded || active == set).then(|| sets[set].as_slice());
            let central = self
                .views
                .central_ui(ui, &self.layers, marks, |ui, size, c| {
                    view3d.quadrant_ui(ui, size, c, [shown(0), shown(1)]);
                });
            actions.extend(central);
        });
        self.apply_all(std::mem::take(&mut actions));
        self.views.help_window(&ctx);
        // Autosave once the pointer is released (not on every frame of a drag).
        if self.worklist.is_some() && !ctx.input(|i| i.pointer.any_down()) {
            self.autosave();
        }
        let ready = !self.jobs.is_loading()
            && !self.jobs.running()
            && !self.layers.list().is_empty()
            && (!self.jobs.analyze_on_load() || self.results.is_some() || self.error.is_some());
        let how = if self.drawing_on_gpu() {
            "GPU rendering"
        } else {
            "CPU rendering"
        };
        self.screenshot.step(&ctx, ready, how);
        if self.views.dirty() {
            ctx.request_repaint();
        }
    }

    /// Everything the left panel shows, top to bottom: the read's progress, the error
    /// (or which knee), layers, landmarks, review and pipeline.
    fn side_panel(&mut self, ui: &mut egui::Ui) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.heading("Layers");
        self.jobs.loading_ui(ui);
        actions.extend(which_knee_ui(
            ui,
            self.error.as_deref(),
            self.jobs.running(),
        ));
        actions.extend(super::layers::layers_ui(ui, &mut self.layers));
        ui.separator();
        actions.extend(super::landmark_panel::landmark_ui(ui, &mut self.marks));
        ui.separator();
        let ready = self.layers.ct_and_mr();
        let has_ct = self.layers.has("CT");
        let pairs = self.marks.pairs();
        actions.extend(super::review::review_ui(
            ui,
            &mut self.review,
            self.worklist.as_mut(),
            ReviewContext {
                ready,
                has_ct,
                pairs,
            },
        ));
        ui.separator();
        actions.extend(super::jobs::pipeline_ui(
            ui,
            &mut self.jobs,
            PipelineContext {
                ready,
                has_ct,
                pairs,
            },
        ));
        ui.separator();
        ui.small("Research use only. F1: keyboard and mouse help.");
        actions
    }
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// The error line, or for a bilateral CT (and no run going) the question which knee to
/// analyse.
fn which_knee_ui(ui: &mut egui::Ui, error: Option<&str>, running: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    let which = error.is_some_and(|e| e.starts_with(super::results::WHICH_KNEE));
    if let Some(e) = error
        && !which
    {
        ui.colored_label(Color32::from_rgb(255, 90, 90), e);
    }
    if which && !running {
        ui.colored_label(
            Color32::from_rgb(232, 176, 74),
            "This CT holds both knees: analyse which?",
        );
        use srrd_segmentation::knees::Side;
        ui.horizontal(|ui| {
            ui.label("Which knee?");
            if ui.button("Left knee").clicked() {
                actions.push(Action::Analyze(Some(Side::Left)));
            }
            if ui.button("Right knee").clicked() {
                actions.push(Action::Analyze(Some(Side::Right)));
            }
        });
    }
    actions
}
