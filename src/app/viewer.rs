//! The viewer window: layers, three linked world-space views, window/level, status bar.
//! Loading runs on a background thread; the UI never waits for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui::{
    self, Color32, ColorImage, Pos2, Rect, Sense, TextureHandle, TextureOptions, Vec2,
};
use nalgebra::Point3;

use super::fusion::{FusionMode, fuse, normalize};
use super::gpu::{DrawLayer, DrawMode, GpuInfo, MAX_LAYERS, SliceCallback, SliceDraw};
use super::landmarks::LandmarkEditor;
use super::slice::{Plane, SliceImage, sample_on_slice, slice_grid};
use crate::io::landmarks::Landmark;
use crate::progress::Progress;
use crate::registration::tre::{TreReport, tre_report};
use crate::volume::{AffineTransform, Transform};
use crate::volume::{Interpolation, Volume};

/// How a layer's values become colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Colormap {
    Grey,
    Hot,
    /// Rainbow (jet): blue, cyan, yellow, red.
    Jet,
    /// Perceptually uniform (viridis-like), for parameter maps.
    Viridis,
}

impl Colormap {
    /// All maps, in the order the UI lists them.
    pub const ALL: [Colormap; 4] = [
        Colormap::Grey,
        Colormap::Hot,
        Colormap::Jet,
        Colormap::Viridis,
    ];
}

/// Jet colour at `t` in [0, 1] (each channel a clamped tent).
pub fn jet(t: f32) -> [f32; 3] {
    let tent = |c: f32| (1.5 - (4.0 * t - c).abs()).clamp(0.0, 1.0);
    [tent(3.0), tent(2.0), tent(1.0)]
}

/// Viridis-like colour at `t` in [0, 1] (see `stats::viridis_rgb`).
pub fn viridis(t: f32) -> Color32 {
    let [r, g, b] = crate::stats::viridis_rgb(t);
    Color32::from_rgb(r, g, b)
}

/// One image shown in the views.
#[derive(Clone)]
pub struct Layer {
    /// Unique per loaded image: names its texture on the GPU.
    pub id: u64,
    pub name: String,
    /// The file it was read from (None: computed in the app); sessions store these.
    pub source: Option<PathBuf>,
    /// Whether the values look like HU (air below -500): CT window presets apply.
    pub in_hu: bool,
    pub volume: Arc<Volume>,
    pub visible: bool,
    pub opacity: f32,
    pub colormap: Colormap,
    /// Window centre and width, in the image's units (HU for CT).
    pub window: (f32, f32),
    /// For a DICOM image: the study, series and instances it came from (DICOM export
    /// refers to them).
    pub dicom: Option<Arc<crate::io::DicomSource>>,
    /// For a DICOM folder: the series (or part) shown, and every one the folder holds
    /// when there are several (the layer panel offers them).
    pub series_id: Option<String>,
    pub series_choices: Vec<crate::io::SeriesInfo>,
}

impl Layer {
    /// A layer with a window from the image's 1st and 99th percentiles.
    pub fn new(name: impl Into<String>, volume: Volume) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let window = auto_window(&volume);
        Layer {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name: name.into(),
            source: None,
            in_hu: volume.data.iter().any(|v| *v < -500.0),
            volume: Arc::new(volume),
            visible: true,
            opacity: 1.0,
            colormap: Colormap::Grey,
            window,
            dicom: None,
            series_id: None,
            series_choices: Vec::new(),
        }
    }
}

/// Window (centre, width) covering the 1st to 99th percentile of a sample of voxels.
pub fn auto_window(v: &Volume) -> (f32, f32) {
    let step = (v.data.len() / 100_000).max(1);
    let mut s: Vec<f32> = v
        .data
        .iter()
        .step_by(step)
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if s.is_empty() {
        return (0.0, 1.0);
    }
    s.sort_by(f32::total_cmp);
    let lo = s[s.len() / 100];
    let hi = s[(s.len() * 99) / 100];
    ((lo + hi) / 2.0, (hi - lo).max(1e-3))
}

/// What a pipeline run adds: layers, a line for the status bar, transforms for the TRE
/// table, and (after an analysis) the results view; or an error.
struct JobOutput {
    layers: Vec<Layer>,
    status: String,
    transforms: Vec<(String, Transform)>,
    results: Option<super::results::ResultsSummary>,
}
type JobResult = Result<JobOutput, String>;

/// Loaded layers and a note for the user (e.g. why the demo fell back), or an error.
type LoadResult = Result<(Vec<Layer>, Option<String>, [Vec<Landmark>; 2]), String>;

/// A background load: what arrives, its progress, whether the layers are added to those
/// shown (else they replace them), and a session to apply once they are there.
pub(super) struct Loading {
    rx: Receiver<LoadResult>,
    progress: Arc<Progress>,
    append: bool,
    session: Option<super::session::Session>,
}

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
    loading: Option<Loading>,
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
    composed: [(usize, Vec<Color32>); 3],
    /// A pipeline run in the background (registration, analysis), with its progress.
    job: Option<(Receiver<JobResult>, Arc<Progress>)>,
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
    screenshot_frames: u32,
    screenshot_done: Arc<std::sync::atomic::AtomicBool>,
    /// The rename field of the landmark panel.
    rename_text: String,
    /// Each view's slice pixel grid (its values only on the CPU path).
    grids: [Option<SliceImage>; 3],
    textures: [Option<TextureHandle>; 3],
    dirty: bool,
    /// Background DICOM work: a series being switched, an export being written.
    pub(super) dicom_jobs: super::dicom::DicomJobs,
}

/// How the central area is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    /// Axial and coronal on top, sagittal below.
    Three,
    /// One view (0 axial, 1 coronal, 2 sagittal) over the whole area.
    Single(usize),
}

const PLANES: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

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

    /// Reads `files` (layer name, or None for the file's own name) in the background
    /// (none: the demo knee); `append` adds them to the layers shown, else they replace
    /// them; `session` is applied once they are loaded.
    pub(super) fn start_loading(
        &mut self,
        files: Vec<(Option<String>, PathBuf)>,
        append: bool,
        session: Option<super::session::Session>,
    ) {
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(load_layers(files, &worker));
        });
        self.loading = Some(Loading {
            rx,
            progress,
            append,
            session,
        });
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
        }
    }

    /// Installs the GPU slice renderer on eframe's wgpu render state: from now on the
    /// views are drawn by `shaders/slice.wgsl` (volumes too large for a 3D texture fall
    /// back to the CPU renderer).
    pub fn enable_gpu(&mut self, render_state: &eframe::egui_wgpu::RenderState) {
        self.gpu = Some(super::gpu::SliceRenderer::install(render_state));
        self.dirty = true;
    }

    /// Whether the views are drawn on the GPU now.
    pub fn drawing_on_gpu(&self) -> bool {
        self.gpu
            .is_some_and(|g| self.layers.iter().all(|l| g.fits(&l.volume)))
    }

    /// What view `n` draws on the GPU, for the part `pixel_rect` of its slice.
    fn slice_draw(&self, n: usize, grid: &SliceImage, pixel_rect: [f32; 4]) -> SliceDraw {
        let draw_layer = |li: usize, opacity: f32| {
            let l = &self.layers[li];
            DrawLayer {
                id: l.id,
                volume: l.volume.clone(),
                window: l.window,
                opacity,
                colormap: l.colormap,
            }
        };
        let (a, b) = self.pair;
        let pair_ok = a < self.layers.len() && b < self.layers.len() && a != b;
        let (layers, mode) = match (self.flicker, pair_ok) {
            (Some(show_b), true) => (
                vec![draw_layer(if show_b { b } else { a }, 1.0)],
                DrawMode::Single,
            ),
            _ if self.fusion != FusionMode::Alpha && pair_ok => {
                let mode = match self.fusion {
                    FusionMode::Checkerboard => DrawMode::Checkerboard,
                    FusionMode::Yellow => DrawMode::Yellow,
                    FusionMode::Difference => DrawMode::Difference,
                    FusionMode::MagentaGreen | FusionMode::Alpha => DrawMode::MagentaGreen,
                };
                (vec![draw_layer(a, 1.0), draw_layer(b, 1.0)], mode)
            }
            _ => (
                self.layers
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.visible)
                    .take(MAX_LAYERS)
                    .map(|(li, l)| draw_layer(li, if li == 0 { 1.0 } else { l.opacity }))
                    .collect(),
                DrawMode::Alpha,
            ),
        };
        SliceDraw {
            view: n,
            plane: PLANES[n],
            grid: grid.clone(),
            pixel_rect,
            layers,
            mode,
            tile_px: self.tile_px as f32,
            linear: self.interpolation == Interpolation::Linear,
            live: self.layers.iter().map(|l| l.id).collect(),
        }
    }

    /// The TRE of the landmark pairs under the chosen transform.
    pub fn tre(&self) -> Option<TreReport> {
        let t = &self.transforms.get(self.transform_choice)?.1;
        tre_report(&self.landmarks.sets[0], &self.landmarks.sets[1], t)
    }

    fn landmark_panel(&mut self, ui: &mut egui::Ui, changed: &mut bool) {
        ui.label("Landmarks");
        ui.horizontal(|ui| {
            ui.label("place on");
            *changed |= ui
                .radio_value(&mut self.landmarks.active, 0, "CT (fixed)")
                .changed();
            *changed |= ui
                .radio_value(&mut self.landmarks.active, 1, "MR (moving)")
                .changed();
        });
        ui.checkbox(&mut self.placing, "Place with a click (Ctrl+click always)");
        ui.horizontal(|ui| {
            if ui.button("Undo").clicked() {
                *changed |= self.landmarks.undo();
            }
            if ui.button("Redo").clicked() {
                *changed |= self.landmarks.redo();
            }
            if ui.button("Delete").clicked() {
                *changed |= self.landmarks.delete_selected();
            }
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.rename_text)
                    .desired_width(120.0)
                    .hint_text("new label"),
            );
            let can = self.landmarks.selected.is_some() && !self.rename_text.trim().is_empty();
            if ui
                .add_enabled(can, egui::Button::new("Rename selected"))
                .clicked()
                && self.landmarks.rename_selected(&self.rename_text)
            {
                self.rename_text.clear();
                *changed = true;
            }
        });
        self.protocol_ui(ui, changed);
        let names: Vec<String> = self.transforms.iter().map(|t| t.0.clone()).collect();
        egui::ComboBox::from_label("TRE under")
            .selected_text(
                names
                    .get(self.transform_choice)
                    .cloned()
                    .unwrap_or_default(),
            )
            .show_ui(ui, |ui| {
                for (i, n) in names.iter().enumerate() {
                    ui.selectable_value(&mut self.transform_choice, i, n);
                }
            });
        let Some(report) = self.tre() else {
            ui.small("No pairs yet: place a point on each image with the same label.");
            return;
        };
        ui.label(format!(
            "{} pairs: mean {:.2} +- {:.2} mm, max {:.2}",
            report.n, report.mean_mm, report.sd_mm, report.max_mm
        ));
        egui::ScrollArea::vertical()
            .max_height(180.0)
            .show(ui, |ui| {
                for p in &report.pairs {
                    let colour = if report.is_outlier(p.tre_mm) {
                        Color32::from_rgb(255, 90, 90)
                    } else {
                        Color32::LIGHT_GRAY
                    };
                    let selected = self.landmarks.selected.as_deref() == Some(p.label.as_str());
                    let label: String = p.label.chars().take(26).collect();
                    let text = egui::RichText::new(format!("{label:<26} {:>6.2} mm", p.tre_mm))
                        .monospace()
                        .color(colour);
                    if ui.selectable_label(selected, text).clicked() {
                        self.landmarks.selected = Some(p.label.clone());
                        if let Some(q) = self.landmarks.sets[self.landmarks.active]
                            .iter()
                            .find(|l| l.label == p.label)
                            .map(|l| Point3::from(l.position_mm))
                        {
                            self.crosshair = q;
                        }
                        *changed = true;
                    }
                }
            });
    }

    /// Flicker between the pair: off -> B -> A -> B ...
    pub fn toggle_flicker(&mut self) {
        self.flicker = Some(!self.flicker.unwrap_or(false));
        self.dirty = true;
    }

    /// The colours last composed for view `n` (axial, coronal, sagittal), row by row, and
    /// the row width.
    pub fn composed(&self, n: usize) -> (usize, &[Color32]) {
        (self.composed[n].0, &self.composed[n].1)
    }

    /// Whether a pipeline run (registration) is in progress.
    pub fn is_busy(&self) -> bool {
        self.job.is_some() || self.dicom_jobs.busy()
    }

    /// Starts the registration of the MR layer onto the CT layer in the background
    /// (coarse rigid, then per-bone refined); crMR and rrMR arrive as layers.
    pub fn start_registration(&mut self) {
        self.start_registration_from(None);
    }

    /// Fits a rigid transform to the landmark pairs placed on the CT and the MR (matched
    /// by label; 3 or more, not on one line) and registers from it: the manual start when
    /// the automatic one lands far off. Each pair's residual goes to the status bar.
    pub fn start_registration_from_landmarks(&mut self) {
        let pairs: Vec<(String, Point3<f64>, Point3<f64>)> =
            crate::io::pair_by_label(&self.landmarks.sets[0], &self.landmarks.sets[1])
                .into_iter()
                .map(|(l, a, b)| (l.to_string(), Point3::from(a), Point3::from(b)))
                .collect();
        match crate::registration::landmark_fit::fit_rigid(&pairs) {
            Ok(fit) => {
                let worst = fit
                    .pairs
                    .iter()
                    .max_by(|a, b| a.residual_mm.total_cmp(&b.residual_mm))
                    .map(|p| format!("{} {:.1} mm", p.label, p.residual_mm))
                    .unwrap_or_default();
                let how = format!(
                    "{} landmark pairs (rotation {:.0} degrees, RMS residual {:.1} mm, largest {worst})",
                    fit.pairs.len(),
                    fit.angle_deg,
                    fit.rms_mm
                );
                self.start_registration_from(Some((fit.transform, how)));
            }
            Err(e) => self.error = Some(format!("landmark start: {e}")),
        }
    }

    fn start_registration_from(&mut self, start: Option<(crate::volume::RigidTransform, String)>) {
        let find = |name: &str| {
            self.layers
                .iter()
                .find(|l| l.name == name)
                .map(|l| l.volume.clone())
        };
        let (Some(ct), Some(mr)) = (find("CT"), find("MR")) else {
            self.error = Some("registration needs a CT and an MR layer".into());
            return;
        };
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(run_registration(&ct, &mr, start, &worker));
        });
        self.error = None;
        self.stage_log = StageLog::default();
        self.job = Some((rx, progress));
    }

    /// Starts the whole SRRD analysis of the CT layer (with the MR layer when there is
    /// one) in the background; parameter maps and subregions arrive as layers and the
    /// results view fills in.
    pub fn start_analysis(&mut self) {
        self.start_analysis_of(None);
    }

    /// [`Self::start_analysis`] of one knee of a bilateral CT (None: the only knee).
    pub fn start_analysis_of(&mut self, side: Option<crate::segmentation::knees::Side>) {
        let find = |name: &str| {
            self.layers
                .iter()
                .find(|l| l.name == name)
                .map(|l| l.volume.clone())
        };
        let Some(ct) = find("CT") else {
            self.error = Some("the analysis needs a CT layer".into());
            return;
        };
        let mr = find("MR");
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(run_analysis(&ct, mr.as_deref(), side, &worker));
        });
        self.error = None;
        self.stage_log = StageLog::default();
        self.job = Some((rx, progress));
    }

    fn poll_job(&mut self) {
        if let Some((rx, _)) = &self.job
            && let Ok(result) = rx.try_recv()
        {
            if let Some((_, progress)) = &self.job {
                self.stage_log.observe(progress);
            }
            self.job = None;
            self.stage_log.finish();
            match result {
                Ok(out) => {
                    for l in out.layers {
                        self.layers.retain(|x| x.name != l.name);
                        self.layers.push(l);
                    }
                    if !out.transforms.is_empty() {
                        for t in out.transforms {
                            self.transforms.retain(|x| x.0 != t.0);
                            self.transforms.push(t);
                        }
                        self.transform_choice = self.transforms.len() - 1;
                    }
                    if out.results.is_some() {
                        self.results = out.results;
                        // The maps over the CT are the point now: MR overlays step aside.
                        for l in &mut self.layers {
                            if matches!(l.name.as_str(), "MR" | "crMR" | "sCT" | "rrMR") {
                                l.visible = false;
                            }
                        }
                    }
                    self.status = out.status;
                    self.dirty = true;
                }
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Whether a background load is still running.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    fn poll_loading(&mut self) {
        let Some(loading) = &self.loading else {
            return;
        };
        let Ok(result) = loading.rx.try_recv() else {
            return;
        };
        let Some(Loading {
            append, session, ..
        }) = self.loading.take()
        else {
            return;
        };
        match result {
            Ok((layers, note, _)) if append => {
                for mut l in layers {
                    // An added image becomes the CT or the MR when that role is free.
                    let has = |n: &str| self.layers.iter().any(|x| x.name == n);
                    let looks_ct = l.in_hu;
                    if !has("CT") && looks_ct {
                        l.name = "CT".into();
                        l.window = (400.0, 1800.0);
                    } else if !has("MR") && !looks_ct {
                        l.name = "MR".into();
                    }
                    while self.layers.iter().any(|x| x.name == l.name) {
                        l.name.push('\'');
                    }
                    if !self.layers.is_empty() {
                        l.colormap = Colormap::Hot;
                        l.opacity = 0.4;
                    }
                    self.status = format!("added {}", l.name);
                    self.layers.push(l);
                }
                if self.layers.len() == 1 {
                    self.crosshair = self.layers[0].volume.geometry.center_mm();
                }
                self.error = note;
                self.dirty = true;
            }
            Ok((layers, note, marks)) => {
                // A fresh start on the new images; the app's own settings stay.
                let kept = (
                    self.analyze_on_load,
                    self.gpu,
                    std::mem::take(&mut self.recent),
                    self.screenshot.take(),
                );
                *self = Self::with_layers(layers);
                (self.analyze_on_load, self.gpu, self.recent, self.screenshot) = kept;
                self.error = note;
                let [f, m] = marks;
                self.landmarks = LandmarkEditor::with_sets(f, m);
                if let Some(s) = session {
                    self.apply_session(s);
                }
                if self.analyze_on_load {
                    self.start_analysis();
                }
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Moves the crosshair along a plane's normal by `steps` voxels of the base layer
    /// (its spacing along the grid axis closest to the normal).
    pub fn scroll(&mut self, plane: Plane, steps: f64) {
        let Some(base) = self.layers.first() else {
            return;
        };
        let (_, _, n) = plane.axes();
        let g = &base.volume.geometry;
        let alignment = |a: usize| n.dot(&g.direction.column(a)).abs();
        let axis = (0..3)
            .max_by(|&a, &b| alignment(a).total_cmp(&alignment(b)))
            .unwrap_or(2);
        self.crosshair += n * (steps * g.spacing_mm[axis]);
        self.dirty = true;
    }

    /// Asks for the views to be drawn again (after a change made from outside).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

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
        if let Some(n) = hovered {
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

    /// Zooms view `n` (drawn in `rect`) by `factor`, keeping the point under `cursor` in
    /// place; zoom stays within 0.5x to 40x.
    pub fn zoom_about(&mut self, n: usize, rect: Rect, cursor: Pos2, factor: f32) {
        let new_zoom = (self.zoom[n] * factor).clamp(0.5, 40.0);
        let ratio = new_zoom / self.zoom[n];
        let from_centre = cursor - (rect.center() + self.pan[n]);
        self.pan[n] = cursor - from_centre * ratio - rect.center();
        self.zoom[n] = new_zoom;
    }

    /// Fits every view again (zoom 1, no pan).
    pub fn reset_views(&mut self) {
        self.zoom = [1.0; 3];
        self.pan = [Vec2::ZERO; 3];
    }

    /// The base layer's slice index (1-based) through the crosshair along the grid axis
    /// closest to the plane's normal, and the number of slices.
    pub fn slice_index(&self, plane: Plane) -> (usize, usize) {
        let Some(base) = self.layers.first() else {
            return (0, 0);
        };
        let g = &base.volume.geometry;
        let (_, _, normal) = plane.axes();
        let alignment = |a: usize| normal.dot(&g.direction.column(a)).abs();
        let axis = (0..3)
            .max_by(|&a, &b| alignment(a).total_cmp(&alignment(b)))
            .unwrap_or(2);
        let idx = g.world_to_index(&self.crosshair)[axis].round();
        let count = g.size[axis];
        ((idx.clamp(0.0, count as f64 - 1.0) as usize) + 1, count)
    }

    /// Values of every layer at a world point.
    pub fn values_at(&self, p: &Point3<f64>) -> Vec<(String, Option<f32>)> {
        self.layers
            .iter()
            .map(|l| {
                let g = &l.volume.geometry;
                let idx = g.world_to_index(p);
                let data = l.volume.data.as_slice();
                let v =
                    data.and_then(|d| crate::volume::interpolate::sample_nearest(d, g.size, idx));
                (l.name.clone(), v)
            })
            .collect()
    }

    fn refresh_textures(&mut self, ctx: &egui::Context) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let Some(base) = self.layers.first() else {
            self.textures = [None, None, None];
            self.grids = [None, None, None];
            return;
        };
        let on_gpu = self.drawing_on_gpu();
        for (n, plane) in PLANES.iter().enumerate() {
            let slice = slice_grid(&base.volume, *plane, self.crosshair);
            self.grids[n] = Some(slice.clone());
            if on_gpu {
                // The shader samples every layer itself: nothing to compose here.
                self.textures[n] = None;
                continue;
            }
            let values_of = |li: usize| -> Vec<f32> {
                sample_on_slice(&self.layers[li].volume, *plane, &slice, self.interpolation)
            };
            let (a, b) = self.pair;
            let pair_ok = a < self.layers.len() && b < self.layers.len() && a != b;
            let rgba = match (self.flicker, pair_ok) {
                (Some(show_b), true) => {
                    let li = if show_b { b } else { a };
                    let layer = &self.layers[li];
                    values_of(li)
                        .iter()
                        .map(|v| {
                            if v.is_nan() {
                                Color32::BLACK
                            } else {
                                colour(layer, *v)
                            }
                        })
                        .collect()
                }
                _ if self.fusion != FusionMode::Alpha && pair_ok => {
                    let norm = |li: usize| -> Vec<f32> {
                        let w = self.layers[li].window;
                        values_of(li)
                            .iter()
                            .map(|v| if v.is_nan() { *v } else { normalize(*v, w) })
                            .collect()
                    };
                    fuse(self.fusion, &norm(a), &norm(b), slice.width, self.tile_px)
                }
                _ => {
                    let mut rgba = vec![Color32::BLACK; slice.width * slice.height];
                    for (li, layer) in self.layers.iter().enumerate() {
                        if !layer.visible {
                            continue;
                        }
                        let values = values_of(li);
                        for (px, v) in rgba.iter_mut().zip(values.iter()) {
                            if v.is_nan() {
                                continue;
                            }
                            let c = colour(layer, *v);
                            *px = blend(*px, c, if li == 0 { 1.0 } else { layer.opacity });
                        }
                    }
                    rgba
                }
            };
            self.composed[n] = (slice.width, rgba.clone());
            let image = ColorImage::new([slice.width, slice.height], rgba);
            let tex = ctx.load_texture(format!("slice-{n}"), image, TextureOptions::NEAREST);
            self.textures[n] = Some(tex);
        }
    }

    fn view(&mut self, ui: &mut egui::Ui, n: usize, size: Vec2) {
        let plane = PLANES[n];
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        self.view_rects[n] = rect;
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(10));
        let Some(slice) = self.grids[n].clone() else {
            return;
        };
        // Fit the slice into the view keeping square pixels, then zoom and pan.
        let fit = (rect.width() / slice.width as f32).min(rect.height() / slice.height as f32);
        let scale = fit * self.zoom[n];
        let img_size = Vec2::new(slice.width as f32 * scale, slice.height as f32 * scale);
        let img_rect = Rect::from_center_size(rect.center() + self.pan[n], img_size);
        if let Some(tex) = &self.textures[n] {
            painter.image(
                tex.id(),
                img_rect,
                Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
        } else if self.gpu.is_some() {
            let visible = img_rect.intersect(rect);
            if visible.is_positive() {
                let px = |p: Pos2| {
                    (
                        (p.x - img_rect.min.x) / scale - 0.5,
                        (p.y - img_rect.min.y) / scale - 0.5,
                    )
                };
                let ((x0, y0), (x1, y1)) = (px(visible.min), px(visible.max));
                let draw = self.slice_draw(n, &slice, [x0, y0, x1, y1]);
                painter.add(eframe::egui_wgpu::Callback::new_paint_callback(
                    visible,
                    SliceCallback(draw),
                ));
            }
        }
        // Crosshair.
        let to_screen = |x: f64, y: f64| {
            img_rect.min + Vec2::new((x as f32 + 0.5) * scale, (y as f32 + 0.5) * scale)
        };
        let (_, _, normal) = plane.axes();
        if self.show_overlays {
            let (cx, cy) = slice.pixel_of(plane, &self.crosshair);
            let c = to_screen(cx, cy);
            let stroke = egui::Stroke::new(1.0, Color32::from_rgba_unmultiplied(0, 220, 255, 160));
            painter.line_segment(
                [
                    Pos2::new(img_rect.min.x, c.y),
                    Pos2::new(img_rect.max.x, c.y),
                ],
                stroke,
            );
            painter.line_segment(
                [
                    Pos2::new(c.x, img_rect.min.y),
                    Pos2::new(c.x, img_rect.max.y),
                ],
                stroke,
            );
            // Orientation letters and the view name.
            let [l, r, t, b] = plane.edge_letters();
            let font = egui::FontId::proportional(16.0);
            let col = Color32::from_rgb(255, 200, 0);
            painter.text(
                Pos2::new(rect.min.x + 6.0, rect.center().y),
                egui::Align2::LEFT_CENTER,
                l,
                font.clone(),
                col,
            );
            painter.text(
                Pos2::new(rect.max.x - 6.0, rect.center().y),
                egui::Align2::RIGHT_CENTER,
                r,
                font.clone(),
                col,
            );
            // The top letter sits under the view's title line, which may reach the centre.
            painter.text(
                Pos2::new(rect.center().x, rect.min.y + 24.0),
                egui::Align2::CENTER_TOP,
                t,
                font.clone(),
                col,
            );
            painter.text(
                Pos2::new(rect.center().x, rect.max.y - 4.0),
                egui::Align2::CENTER_BOTTOM,
                b,
                font,
                col,
            );
            let (index, count) = self.slice_index(plane);
            painter.text(
                rect.min + Vec2::new(6.0, 4.0),
                egui::Align2::LEFT_TOP,
                format!(
                    "{}  slice {}/{}  {:.1} mm{}",
                    plane.name(),
                    index,
                    count,
                    normal.dot(&self.crosshair.coords),
                    if (self.zoom[n] - 1.0).abs() > 1e-3 {
                        format!("  x{:.1}", self.zoom[n])
                    } else {
                        String::new()
                    }
                ),
                egui::FontId::proportional(13.0),
                Color32::LIGHT_GRAY,
            );
        }
        let world_under = |pos: Pos2| {
            let x = ((pos.x - img_rect.min.x) / scale) as f64 - 0.5;
            let y = ((pos.y - img_rect.min.y) / scale) as f64 - 0.5;
            slice.world_at(plane, x, y)
        };
        if let Some(pos) = response.hover_pos() {
            let p = world_under(pos);
            let values = self.values_at(&p);
            let vals: Vec<String> = values
                .iter()
                .map(|(name, v)| match v {
                    Some(v) => format!("{name} {v:.1}"),
                    None => format!("{name} -"),
                })
                .collect();
            self.status = format!(
                "({:.1}, {:.1}, {:.1}) mm LPS   {}",
                p.x,
                p.y,
                p.z,
                vals.join("   ")
            );
            // Wheel: slice; with Ctrl (or Cmd): zoom about the cursor.
            let (slices, zoom_steps) = ui.input(|i| {
                i.raw
                    .events
                    .iter()
                    .fold((0.0f32, 0.0f32), |(s, z), e| match e {
                        egui::Event::MouseWheel {
                            delta, modifiers, ..
                        } if modifiers.command || modifiers.ctrl => (s, z + delta.y.signum()),
                        egui::Event::MouseWheel { delta, .. } => (s + delta.y.signum(), z),
                        _ => (s, z),
                    })
            });
            if slices != 0.0 {
                self.scroll(plane, slices as f64);
            }
            if zoom_steps != 0.0 {
                self.zoom_about(n, rect, pos, 1.25f32.powf(zoom_steps));
            }
        }
        let command = ui.input(|i| i.modifiers.command);
        let editing = self.placing || command;
        if response.double_clicked() {
            self.layout = match self.layout {
                Layout::Three => Layout::Single(n),
                Layout::Single(_) => Layout::Three,
            };
        } else if (response.clicked()
            || (editing && response.dragged_by(egui::PointerButton::Primary)))
            && let Some(pos) = response.interact_pointer_pos()
        {
            let p = world_under(pos);
            // Keep the slice; move within the plane.
            let p = p + normal * normal.dot(&(self.crosshair - p));
            if response.clicked() && editing {
                self.landmarks.place(p);
            } else if editing {
                self.landmarks.move_selected(p);
            } else {
                self.crosshair = p;
            }
            self.dirty = true;
        } else if response.dragged_by(egui::PointerButton::Primary)
            || response.dragged_by(egui::PointerButton::Middle)
        {
            // Drag: pan.
            self.pan[n] += response.drag_delta();
        }
        // Landmarks within 2 mm of this slice: fixed (CT) cyan, moving (MR) magenta, the
        // selected one larger, in yellow.
        for (set, colour) in [
            (0usize, Color32::from_rgb(0, 220, 255)),
            (1, Color32::from_rgb(255, 80, 220)),
        ] {
            for l in &self.landmarks.sets[set] {
                let q = Point3::from(l.position_mm);
                if normal.dot(&(q - self.crosshair)).abs() > 2.0 {
                    continue;
                }
                let (x, y) = slice.pixel_of(plane, &q);
                let at = to_screen(x, y);
                let selected = self.landmarks.selected.as_deref() == Some(l.label.as_str());
                let (r, c) = if selected {
                    (6.0, Color32::YELLOW)
                } else {
                    (4.0, colour)
                };
                painter.circle_stroke(at, r, egui::Stroke::new(1.5, c));
                painter.text(
                    at + Vec2::new(6.0, -6.0),
                    egui::Align2::LEFT_BOTTOM,
                    &l.label,
                    egui::FontId::proportional(11.0),
                    c,
                );
            }
        }
        if response.dragged_by(egui::PointerButton::Secondary)
            && let Some(base) = self.layers.first_mut()
        {
            let d = response.drag_delta();
            let (c, w) = base.window;
            base.window = (c - d.y * w / 200.0, (w * (1.0 + d.x / 200.0)).max(1e-3));
            self.dirty = true;
        }
    }
}

/// The stages a background run went through: each with its fraction done and, once the
/// next began, how long it took.
#[derive(Default)]
pub struct StageLog {
    pub stages: Vec<(String, f32, Option<f64>)>,
    started: Option<std::time::Instant>,
}

impl StageLog {
    /// Follows `progress`: every stage it started, those before the current one done
    /// (full bar, their time), the current one at its fraction.
    pub fn observe(&mut self, progress: &Progress) {
        let history = progress.history();
        self.stages = history
            .iter()
            .enumerate()
            .map(|(i, (name, t0))| match history.get(i + 1) {
                Some((_, t1)) => (
                    name.clone(),
                    1.0,
                    Some(t1.duration_since(*t0).as_secs_f64()),
                ),
                None => (name.clone(), progress.fraction() as f32, None),
            })
            .collect();
        self.started = history.last().map(|(_, t)| *t);
    }

    /// Closes the last stage (the run ended).
    pub fn finish(&mut self) {
        if let (Some(last), Some(t0)) = (self.stages.last_mut(), self.started.take()) {
            last.1 = 1.0;
            last.2 = Some(t0.elapsed().as_secs_f64());
        }
    }

    /// One row per stage: name, its own progress bar, its time once done.
    pub fn ui(&self, ui: &mut egui::Ui) {
        for (name, f, secs) in &self.stages {
            ui.horizontal(|ui| {
                let text = match secs {
                    Some(s) => format!("{name} ({s:.1} s)"),
                    None => name.clone(),
                };
                ui.add(
                    egui::ProgressBar::new(*f)
                        .desired_width(120.0)
                        .text(format!("{:.0}%", f * 100.0)),
                );
                ui.label(text);
            });
        }
    }
}

/// Stage, progress bar and Cancel of a background task; keeps the frames coming.
fn progress_ui(ui: &mut egui::Ui, progress: &Progress) {
    ui.label(progress.stage());
    ui.add(egui::ProgressBar::new(progress.fraction() as f32).show_percentage());
    ui.horizontal(|ui| {
        ui.spinner();
        if progress.is_cancelled() {
            ui.label("cancelling...");
        } else if ui.button("Cancel").clicked() {
            progress.cancel();
        }
    });
    ui.ctx()
        .request_repaint_after(std::time::Duration::from_millis(100));
}

fn colour(layer: &Layer, v: f32) -> Color32 {
    let (c, w) = layer.window;
    let t = ((v - (c - w / 2.0)) / w).clamp(0.0, 1.0);
    match layer.colormap {
        Colormap::Grey => {
            let g = (t * 255.0) as u8;
            Color32::from_rgb(g, g, g)
        }
        Colormap::Viridis => viridis(t),
        Colormap::Jet => {
            let [r, g, b] = jet(t);
            Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
        }
        Colormap::Hot => {
            let r = (t * 3.0).min(1.0);
            let g = (t * 3.0 - 1.0).clamp(0.0, 1.0);
            let b = (t * 3.0 - 2.0).clamp(0.0, 1.0);
            Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
        }
    }
}

fn blend(under: Color32, over: Color32, alpha: f32) -> Color32 {
    let mix = |a: u8, b: u8| (a as f32 * (1.0 - alpha) + b as f32 * alpha) as u8;
    Color32::from_rgb(
        mix(under.r(), over.r()),
        mix(under.g(), over.g()),
        mix(under.b(), over.b()),
    )
}

/// A layer for an image of the registration: MR-like ones as a hot overlay, the sCT in
/// grey with a bone window (hidden at first: it is for checking the synthesis).
fn registered_layer(name: &str, v: Volume) -> Layer {
    let mut l = Layer::new(name, v);
    if name == "sCT" {
        l.window = (400.0, 2000.0);
        l.opacity = 0.6;
        l.visible = false;
    } else {
        l.colormap = Colormap::Hot;
        l.opacity = 0.4;
    }
    l
}

fn run_registration(
    ct: &Volume,
    mr: &Volume,
    start: Option<(crate::volume::RigidTransform, String)>,
    progress: &Progress,
) -> JobResult {
    use crate::pipeline::registration::register_knee_from;
    use crate::synthesis::model::{demo_model_dir, load_model};
    // The demo synthesis model when it is there: coarse -> sCT (a layer to review) ->
    // refined on crMR (the demo sCT is not yet good enough to refine on).
    let model = load_model(&demo_model_dir()).ok();
    let initial = start.as_ref().map(|(t, _)| t);
    let reg = register_knee_from(ct, mr, model.as_ref(), false, initial, progress)
        .map_err(|e| format!("registration: {e}"))?;
    let (c, r) = (reg.coarse, reg.refined);
    let mut status = format!(
        "registered: coarse {:.1} s, refined on {} {:.1} s (min Jacobian {:.2})",
        c.result.seconds, reg.refined_on, r.result.seconds, r.result.min_jacobian
    );
    if let Some((_, how)) = &start {
        status = format!("{status}; started from {how}");
    }
    if r.result.min_jacobian <= 0.0 {
        status.push_str("  WARNING: the refined field folds; do not trust rrMR");
    }
    let transforms = vec![
        (
            "coarse".to_string(),
            Transform::Affine(c.result.transform.to_affine()),
        ),
        ("refined".to_string(), Transform::Field(r.result.field)),
    ];
    Ok(JobOutput {
        layers: std::iter::once(("crMR", c.cr_mr))
            .chain(reg.sct.map(|s| ("sCT", s)))
            .chain(std::iter::once(("rrMR", r.rr_mr)))
            .map(|(n, v)| registered_layer(n, v))
            .collect(),
        status,
        transforms,
        results: None,
    })
}

fn run_analysis(
    ct: &Volume,
    mr: Option<&Volume>,
    side: Option<crate::segmentation::knees::Side>,
    progress: &Progress,
) -> JobResult {
    let (maps, labels, registered, summary) = super::results::run_analysis(ct, mr, side, progress)?;
    let mut layers = Vec::new();
    for (n, (name, v)) in maps.into_iter().enumerate() {
        let mut l = Layer::new(name, v);
        l.colormap = Colormap::Viridis;
        l.opacity = 0.75;
        let (lo, hi) = summary.ranges[n];
        l.window = ((lo + hi) / 2.0, (hi - lo).max(1e-6));
        // One parameter map visible at a time: Tb.Th first.
        l.visible = n == 1;
        layers.push(l);
    }
    for (name, v) in registered {
        layers.push(registered_layer(&name, v));
    }
    let mut sub = Layer::new("subregions", labels);
    sub.colormap = Colormap::Viridis;
    sub.window = (6.5, 12.0);
    sub.opacity = 0.4;
    sub.visible = false;
    layers.push(sub);
    let status = match &summary.koa {
        Some(k) => format!(
            "analysis done: {} (P(KOA) = {:.2}); phantom-trained models, research use only",
            k.class, k.probability
        ),
        None => match &summary.koa_withheld {
            Some(why) => format!("analysis done; KOA score withheld ({why})"),
            None => "analysis done (no KOA classifier found)".to_string(),
        },
    };
    Ok(JobOutput {
        layers,
        status,
        transforms: Vec::new(),
        results: Some(summary),
    })
}

fn load_layers(files: Vec<(Option<String>, PathBuf)>, progress: &Progress) -> LoadResult {
    let mut marks: [Vec<Landmark>; 2] = [Vec::new(), Vec::new()];
    let files = if files.is_empty() {
        // The demo knee: generated once into the cache, then read from there, with its
        // paired landmarks.
        match crate::phantom::ensure_demo(progress) {
            Ok(dir) => {
                for (n, f) in ["landmarks_ct.json", "landmarks_mr.json"]
                    .iter()
                    .enumerate()
                {
                    marks[n] = crate::io::read_landmarks(&dir.join(f)).unwrap_or_default();
                }
                vec![
                    (Some("CT".to_string()), dir.join("ct.nii.gz")),
                    (Some("MR".to_string()), dir.join("mr.nii.gz")),
                ]
            }
            Err(e) => {
                let mut l = Layer::new("demo CT (analytic)", super::demo::demo_ct());
                l.window = (400.0, 1800.0);
                let why = format!(
                    "the demo knee could not be prepared ({e}); showing a simple analytic volume"
                );
                return Ok((vec![l], Some(why), [Vec::new(), Vec::new()]));
            }
        }
    } else {
        files
    };
    let mut layers = Vec::new();
    for (name, path) in files {
        let name = name.unwrap_or_else(|| file_stem(&path));
        progress.start(&format!("reading {name}"), 1);
        let img = crate::io::read_image(&path, None).map_err(|e| e.to_string())?;
        let mut layer = Layer::new(name.as_str(), img.volume);
        layer.dicom = img.dicom.map(Arc::new);
        layer.series_id = img.series.map(|s| s.id);
        if path.is_dir() {
            // A folder with several series or parts: the layer panel offers them all.
            let choices = crate::io::list_series(&path).unwrap_or_default();
            if choices.len() > 1 {
                layer.series_choices = choices;
            }
        }
        layer.source = Some(path);
        if name == "CT" {
            layer.window = (400.0, 1800.0);
        }
        if !layers.is_empty() {
            layer.colormap = Colormap::Hot;
            layer.opacity = 0.4;
        }
        layers.push(layer);
    }
    Ok((layers, None, marks))
}

/// A file's name without its image extensions (`knee.nii.gz` -> `knee`).
fn file_stem(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "image".into());
    for ext in [".nii.gz", ".nii", ".dcm"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    name
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
        if (undo && self.landmarks.undo()) || (redo && self.landmarks.redo()) {
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
        egui::Panel::left("layers")
            .default_size(330.0)
            .show(ui, |ui| {
              egui::ScrollArea::vertical().show(ui, |ui| {
                ui.heading("Layers");
                if let Some(l) = &self.loading {
                    progress_ui(ui, &l.progress);
                }
                // A bilateral CT: ask which knee.
                let which = self
                    .error
                    .as_deref()
                    .is_some_and(|e| e.starts_with(super::results::WHICH_KNEE));
                if let Some(e) = &self.error
                    && !which
                {
                    ui.colored_label(Color32::from_rgb(255, 90, 90), e);
                }
                if which && self.job.is_none() {
                    ui.colored_label(
                        Color32::from_rgb(232, 176, 74),
                        "This CT holds both knees: analyse which?",
                    );
                    use crate::segmentation::knees::Side;
                    ui.horizontal(|ui| {
                        ui.label("Which knee?");
                        if ui.button("Left knee").clicked() {
                            self.start_analysis_of(Some(Side::Left));
                        }
                        if ui.button("Right knee").clicked() {
                            self.start_analysis_of(Some(Side::Right));
                        }
                    });
                }
                let mut changed = false;
                let mut switch = None;
                for layer in &mut self.layers {
                    ui.separator();
                    changed |= ui
                        .checkbox(&mut layer.visible, layer.name.as_str())
                        .changed();
                    let g = &layer.volume.geometry;
                    ui.small(format!(
                        "{}x{}x{}  {:.3}x{:.3}x{:.3} mm",
                        g.size[0],
                        g.size[1],
                        g.size[2],
                        g.spacing_mm[0],
                        g.spacing_mm[1],
                        g.spacing_mm[2]
                    ));
                    if let Some(id) = super::dicom::series_combo(ui, layer) {
                        switch = Some((layer.id, id));
                    }
                    changed |= ui
                        .add(egui::Slider::new(&mut layer.window.0, -1500.0..=3000.0)
                                .clamping(egui::SliderClamping::Never)
                                .text("level"))
                        .changed();
                    changed |= ui
                        .add(
                            egui::Slider::new(&mut layer.window.1, 0.01..=5000.0)
                                .logarithmic(true)
                                .clamping(egui::SliderClamping::Never)
                                .text("window"),
                        )
                        .changed();
                    ui.horizontal(|ui| {
                        changed |= ui
                            .add(egui::Slider::new(&mut layer.opacity, 0.0..=1.0).text("opacity"))
                            .changed();
                        egui::ComboBox::new(("colormap", layer.id), "colours")
                            .selected_text(format!("{:?}", layer.colormap))
                            .width(70.0)
                            .show_ui(ui, |ui| {
                                for c in Colormap::ALL {
                                    changed |= ui
                                        .selectable_value(&mut layer.colormap, c, format!("{c:?}"))
                                        .changed();
                                }
                            });
                    });
                    // HU presets for images in HU; the percentile window for every layer.
                    let in_hu = layer.in_hu;
                    ui.horizontal(|ui| {
                        if in_hu && ui.button("CT bone").clicked() {
                            layer.window = (400.0, 1800.0);
                            changed = true;
                        }
                        if in_hu && ui.button("CT soft").clicked() {
                            layer.window = (40.0, 400.0);
                            changed = true;
                        }
                        if ui.button("auto").clicked() {
                            layer.window = auto_window(&layer.volume);
                            changed = true;
                        }
                    });
                }
                if let Some((layer_id, series)) = switch {
                    self.switch_series(layer_id, series);
                }
                ui.separator();
                let mut linear = self.interpolation == Interpolation::Linear;
                if ui.checkbox(&mut linear, "linear interpolation").changed() {
                    self.interpolation = if linear {
                        Interpolation::Linear
                    } else {
                        Interpolation::Nearest
                    };
                    changed = true;
                }
                if self.layers.len() >= 2 {
                    ui.separator();
                    ui.label("Compare");
                    let names: Vec<String> = self.layers.iter().map(|l| l.name.clone()).collect();
                    for (which, label) in [(0, "A"), (1, "B")] {
                        let current = if which == 0 { self.pair.0 } else { self.pair.1 };
                        egui::ComboBox::from_label(label)
                            .selected_text(names.get(current).cloned().unwrap_or_default())
                            .show_ui(ui, |ui| {
                                for (i, n) in names.iter().enumerate() {
                                    let target = if which == 0 { &mut self.pair.0 } else { &mut self.pair.1 };
                                    if ui.selectable_value(target, i, n).changed() {
                                        changed = true;
                                    }
                                }
                            });
                    }
                    ui.horizontal_wrapped(|ui| {
                        for mode in FusionMode::ALL {
                            if ui.selectable_value(&mut self.fusion, mode, mode.label()).changed() {
                                changed = true;
                            }
                        }
                    });
                    if self.fusion == FusionMode::Checkerboard {
                        changed |= ui.add(egui::Slider::new(&mut self.tile_px, 2..=64).text("tile (px)")).changed();
                    }
                    ui.horizontal(|ui| {
                        let label = match self.flicker {
                            None => "Flicker (F)".to_string(),
                            Some(b) => format!("Flicker: {} (F)", if b { "B" } else { "A" }),
                        };
                        if ui.button(label).clicked() {
                            self.toggle_flicker();
                            changed = true;
                        }
                        if self.flicker.is_some() && ui.button("Flicker off").clicked() {
                            self.flicker = None;
                            changed = true;
                        }
                    });
                }
                ui.separator();
                self.landmark_panel(ui, &mut changed);
                ui.separator();
                ui.label("Pipeline");
                if let Some((_, progress)) = &self.job {
                    self.stage_log.observe(progress);
                    self.stage_log.ui(ui);
                    progress_ui(ui, progress);
                } else {
                    // The stages of the last run stay listed, with their times.
                    self.stage_log.ui(ui);
                    let ready = ["CT", "MR"].iter().all(|n| self.layers.iter().any(|l| l.name == *n));
                    if ui
                        .add_enabled(ready, egui::Button::new("Register MR to CT"))
                        .on_hover_text("coarse rigid (mutual information), sCT from crMR (SPSNet, when its model is present), then femur and tibia separately on crMR: adds crMR, sCT and rrMR")
                        .clicked()
                    {
                        self.start_registration();
                    }
                    let pairs = crate::io::pair_by_label(
                        &self.landmarks.sets[0],
                        &self.landmarks.sets[1],
                    )
                    .len();
                    if ui
                        .add_enabled(
                            ready && pairs >= 3,
                            egui::Button::new(format!("Register from {pairs} landmark pairs")),
                        )
                        .on_hover_text("when the automatic registration lands far off: a rigid start fitted to the CT-MR landmark pairs (same labels, 3 or more, not on one line), then the coarse and refined steps from there")
                        .clicked()
                    {
                        self.start_registration_from_landmarks();
                    }
                    let has_ct = self.layers.iter().any(|l| l.name == "CT");
                    if ui
                        .add_enabled(has_ct, egui::Button::new("Analyze (SRRD)"))
                        .on_hover_text("bones, subchondral subregions, CT-only trabecular parameters, KOA score (with the MR: registration and MR-measured parameters for comparison)")
                        .clicked()
                    {
                        self.start_analysis();
                    }
                }
                ui.separator();
                ui.small("Research use only. F1: keyboard and mouse help.");
                if changed {
                    self.dirty = true;
                }
              });
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
                    match crate::io::raster::write_rgb_png(&path, w as u32, h as u32, &rgb) {
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
