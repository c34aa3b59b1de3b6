//! What the panels ask of the viewer ([`Action`]) and how the viewer does it: the
//! dispatch across the parts, and the work that needs more than one part (loading done,
//! a pipeline run done, sessions, worklist cases, registration and analysis starts).

use std::path::{Path, PathBuf};

use nalgebra::Point3;

use super::dicom::{DicomEvent, ExportJob};
use super::files::FileAction;
use super::jobs::{JobEvent, JobOutput, run_analysis, run_registration};
use super::loading::LoadResult;
use super::results::MAP_LAYERS;
use super::session::Session;
use super::viewer::ViewerApp;
use super::worklist::{CaseFiles, WorklistPanel};
use srrd_base::io::landmarks::{read_landmarks, write_landmarks};
use srrd_base::volume::RigidTransform;
use srrd_pipeline::worklist::{CaseWork, Decision};
use srrd_segmentation::knees::Side;

/// What a panel asks the viewer to do.
#[derive(Clone, Debug)]
pub enum Action {
    /// Draw the views again.
    Redraw,
    /// A line for the status bar.
    Status(String),
    /// Move the crosshair here (world LPS mm).
    Crosshair(Point3<f64>),
    /// Place a landmark here, on the image chosen in the landmark panel.
    PlaceLandmark(Point3<f64>),
    /// Move the selected landmark here.
    MoveLandmark(Point3<f64>),
    /// Window (dx) and level (dy) of the base layer, from a right drag.
    DragWindow(f32, f32),
    /// Show another series of a layer's DICOM folder (layer id, series id).
    SwitchSeries(u64, String),
    /// Follow a landmark protocol (None: the default knee protocol).
    UseProtocol(Option<PathBuf>),
    /// Put the open/save prompt for this on screen.
    Ask(FileAction),
    /// Do what a file action says with a path.
    File(FileAction, PathBuf),
    /// Register the MR onto the CT.
    Register,
    /// Register from a rigid fit to the landmark pairs.
    RegisterFromLandmarks,
    /// Analyse the CT (a knee of a bilateral CT).
    Analyze(Option<Side>),
    /// Add the review layers.
    ReviewLayers,
    /// Start nudging the MR from this transform.
    BeginManual(RigidTransform),
    /// Start nudging the MR from a fit to the landmark pairs.
    BeginManualFromLandmarks,
    /// Show the MR under the nudge being edited (or as read).
    ShowManual,
    /// Register from the nudge being edited.
    RefineFromHere,
    /// Show worklist case `i`.
    OpenCase(usize),
    /// Write every case's review into one CSV.
    ExportReviews,
    /// Blinded placement on or off.
    Blinded(bool),
    /// Analyse with the shipped demo models again.
    DemoModels,
    /// The bone surfaces for the 3D view from the segmentation alone.
    Bones,
    /// Correcting by hand, a drag in view `view`: the MR moves by `shift_mm` (world LPS)
    /// and turns by `turn_deg` about the view's normal through the crosshair; `first`:
    /// the drag's first step (one undo step per drag).
    DragMr {
        view: usize,
        shift_mm: nalgebra::Vector3<f64>,
        turn_deg: f64,
        first: bool,
    },
    /// Correcting by hand: the transform typed in the panel (undoable).
    SetManual(RigidTransform),
    /// Analyse the worklist's cases in the background (accepted, or all).
    AnalyzeStudy(super::study_batch::Which),
    /// What the PACS window asks (File > PACS…, retrieved images, send the results).
    Pacs(super::pacs_panel::PacsAction),
}

impl ViewerApp {
    /// Does what the actions say, in order.
    pub(super) fn apply_all(&mut self, actions: Vec<Action>) {
        for a in actions {
            self.apply(a);
        }
    }

    /// Does what `action` says.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Redraw => self.views.mark_dirty(),
            Action::Status(line) => self.status = line,
            Action::Crosshair(p) => self.views.set_crosshair(p),
            Action::PlaceLandmark(p) => {
                self.marks.editor_mut().place(p);
                self.views.mark_dirty();
            }
            Action::MoveLandmark(p) => {
                self.marks.editor_mut().move_selected(p);
                self.views.mark_dirty();
            }
            Action::DragWindow(dx, dy) => {
                self.layers.drag_window(dx, dy);
                self.views.mark_dirty();
            }
            Action::SwitchSeries(id, series) => self.switch_series(id, series),
            Action::UseProtocol(path) => self.use_protocol(path.as_deref()),
            Action::Ask(action) => self.files.ask(action, ""),
            Action::File(action, path) => self.file_action(action, &path),
            Action::DemoModels => {
                self.models.reset();
                self.status = format!("models: the demo models ({})", self.models.dir().display());
            }
            Action::Register => self.start_registration(),
            Action::RegisterFromLandmarks => self.start_registration_from_landmarks(),
            Action::Analyze(side) => self.start_analysis_of(side),
            Action::ReviewLayers => self.add_review_layers(),
            Action::BeginManual(t) => self.begin_manual(t),
            Action::BeginManualFromLandmarks => self.begin_manual_from_landmarks(),
            Action::ShowManual => self.show_manual(),
            Action::RefineFromHere => self.refine_from_here(),
            Action::OpenCase(i) => self.open_case(i),
            Action::ExportReviews => self.export_reviews(),
            Action::Blinded(b) => self.marks.set_blinded(b),
            Action::Bones => self.start_bones(true),
            Action::Pacs(a) => self.pacs_action(a),
            Action::DragMr {
                view,
                shift_mm,
                turn_deg,
                first,
            } => {
                let c = self.views.crosshair();
                if self.review.drag(view, shift_mm, turn_deg, first, c) {
                    self.show_manual();
                }
            }
            Action::SetManual(t) => {
                if self.review.set_manual(t) {
                    self.show_manual();
                }
            }
            Action::AnalyzeStudy(which) => {
                self.autosave();
                let models = self.models.dir();
                if let Some(w) = &mut self.worklist {
                    w.start_batch(which, models);
                }
            }
        }
    }

    /// Takes in what ended in the background.
    pub(super) fn poll_jobs(&mut self) {
        if let Some(w) = &mut self.worklist {
            w.poll_batch();
        }
        for event in self.jobs.poll() {
            match event {
                JobEvent::Loaded {
                    result,
                    append,
                    session,
                } => self.loaded(result, append, session.map(|s| *s)),
                JobEvent::Done(result) => match *result {
                    Ok(out) => self.job_done(out),
                    Err(e) => self.error = Some(e),
                },
                JobEvent::Bones(outcome, asked) => self.bones_done(outcome, asked),
                JobEvent::Dicom(DicomEvent::Exported(outcome)) => {
                    let sending = self.pacs.exported(&outcome);
                    self.status = match outcome {
                        Ok(line) => line,
                        Err(e) => format!("DICOM export failed: {e}"),
                    };
                    if let Some(s) = sending {
                        self.status = format!("{}; {s}", self.status);
                    }
                }
                JobEvent::Dicom(DicomEvent::Series(outcome)) => match *outcome {
                    Ok((id, series, img)) => self.show_series(id, series, img),
                    Err(e) => self.status = format!("cannot read that series: {e}"),
                },
            }
        }
    }

    /// A series read for layer `id` arrived: the layer shows it (an analysis of the CT's
    /// other series is closed).
    fn show_series(&mut self, id: u64, series: String, img: srrd_base::io::LoadedImage) {
        let warnings = img.warnings.clone();
        let Some(name) = self.layers.show_series(id, &series, img) else {
            return;
        };
        // A worklist case remembers the part its reader chose.
        if let (Some(w), Some(image)) = (
            &mut self.worklist,
            ["CT", "MR"].iter().position(|n| *n == name),
        ) {
            w.choose_series(image, series.clone());
        }
        if name == "CT" && self.results.is_some() {
            self.results = None;
            self.status = format!(
                "showing series {series}; the analysis was of another series and is closed"
            );
        } else {
            self.status = format!("showing series {series}");
        }
        for w in &warnings {
            self.status.push_str(&format!(" ({w})"));
        }
        self.views.mark_dirty();
    }

    /// Images arrived: added to the layers, or a fresh start on them (the app's own
    /// settings, the worklist and the landmark protocol stay).
    fn loaded(&mut self, result: LoadResult, append: bool, session: Option<Session>) {
        match result {
            Ok((layers, note, _)) if append => {
                for l in layers {
                    let name = self.layers.add(l);
                    self.status = format!("added {name}");
                }
                if self.layers.list().len() == 1
                    && let Some(base) = self.layers.base()
                {
                    let c = base.volume.geometry.center_mm();
                    self.views.set_crosshair(c);
                }
                self.error = note;
                self.views.mark_dirty();
                self.auto_bones();
            }
            Ok((layers, note, marks)) => {
                let mut fresh = Self::with_layers(layers);
                fresh.jobs = std::mem::take(&mut self.jobs);
                fresh.jobs.start_over();
                fresh.files = std::mem::take(&mut self.files);
                fresh.files.start_over();
                fresh.screenshot = self.screenshot.take();
                fresh.worklist = self.worklist.take();
                // The models folder is the user's choice, not the images'.
                fresh.models = std::mem::take(&mut self.models);
                fresh.marks = std::mem::take(&mut self.marks);
                let [f, m] = marks;
                // A reader going through cases keeps placing as they were.
                fresh.marks.start_over(f, m);
                fresh.view3d = std::mem::take(&mut self.view3d);
                fresh.pacs = std::mem::take(&mut self.pacs);
                fresh.view3d.set_surfaces(None);
                if let Some(gpu_views) = self.views.gpu() {
                    fresh.views.set_gpu(gpu_views);
                }
                *self = fresh;
                self.error = note;
                if self.worklist.is_some() {
                    self.case_loaded();
                }
                if let Some(s) = session {
                    self.apply_session(s);
                }
                if self.jobs.analyze_on_load() {
                    self.start_analysis();
                }
                self.auto_bones();
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// After a load: the bones for the 3D view when the CT is quick to segment and the
    /// view has none yet.
    fn auto_bones(&mut self) {
        let quick = self
            .layers
            .get("CT")
            .is_some_and(|ct| super::bones::quick_enough(&ct.volume.geometry));
        if quick && self.view3d.surfaces().is_none() && !self.jobs.bones().running() {
            self.start_bones(false);
        }
    }

    /// Starts computing the bone surfaces of the CT layer for the 3D view, in the
    /// background (the pipeline panel shows it and can cancel it); `asked`: by the user
    /// (the status line then says what came).
    pub fn start_bones(&mut self, asked: bool) {
        let Some(ct) = self.layers.volume("CT") else {
            self.error = Some("the bones need a CT layer".into());
            return;
        };
        let models = self.models.dir();
        self.jobs.bones().start(ct, models, asked);
    }

    /// The bones arrived: shown in 3D unless an analysis' coloured surfaces already are.
    fn bones_done(&mut self, outcome: super::bones::BonesResult, asked: bool) {
        match outcome {
            Ok(surfaces) if self.results.is_none() => {
                let triangles = surfaces.mesh.indices.len() / 3;
                self.view3d.set_surfaces(Some(surfaces));
                if !asked {
                    return;
                }
                self.status = format!(
                    "bones in 3D from the segmentation ({triangles} triangles); analyze to colour them by subregion or parameter"
                );
            }
            Ok(_) => {}
            // Bones tried by themselves after a load fail quietly (an image without a
            // knee in it): the 3D view still offers the button, which says why.
            Err(_) if !asked => {}
            Err(e) if e == "cancelled" => self.status = "bones cancelled".into(),
            Err(e) => self.status = e,
        }
    }

    /// A pipeline run ended: its layers, transforms, surfaces and results come in.
    fn job_done(&mut self, out: JobOutput) {
        self.layers.put(out.layers);
        self.marks.add_transforms(out.transforms);
        if out.surfaces.is_some() {
            self.view3d.set_surfaces(out.surfaces);
        }
        if out.results.is_some() {
            self.results = out.results;
            // The maps over the CT are the point now: MR overlays step aside.
            self.layers.hide_mr_overlays();
        }
        self.status = out.status;
        self.views.mark_dirty();
    }

    /// Sets everything a session holds on the layers already loaded.
    pub fn apply_session(&mut self, s: Session) {
        self.layers.apply_states(&s.layers);
        self.views.restore(
            Point3::from(s.crosshair_mm),
            s.zoom,
            s.pan.map(|[x, y]| eframe::egui::vec2(x, y)),
            s.layout,
        );
        self.layers.set_comparison(super::layers::Comparison {
            interpolation: s.interpolation,
            fusion: s.fusion,
            pair: s.pair,
            tile_px: s.tile_px,
            flicker: s.flicker,
        });
        let [f, m] = s.landmarks;
        *self.marks.editor_mut() = super::landmarks::LandmarkEditor::with_sets(f, m);
        self.marks.editor_mut().active = s.landmark_target.min(1);
        self.view3d.settings = s.view3d;
        self.review.set_start(s.registration_start);
        self.views.mark_dirty();
    }

    /// Reads an image in the background and adds it as a layer (the CT or the MR when
    /// that role is still free).
    pub fn open_image(&mut self, path: PathBuf) {
        self.files.recent_mut().push(&path);
        let file = super::jobs::ImageFile {
            name: None,
            path,
            series: None,
        };
        self.jobs.start_loading(vec![file], true, None);
    }

    /// Saves the session to `path`; the outcome goes to the status bar or the error line.
    pub fn save_session(&mut self, path: &Path) {
        match self.session().save(path) {
            Ok(()) => {
                self.files.recent_mut().push(path);
                self.status = format!("session saved to {}", path.display());
            }
            Err(e) => self.error = Some(format!("{e:#}")),
        }
    }

    /// Opens a session: its images are read in the background, then its state applied.
    pub fn open_session(&mut self, path: &Path) {
        match Session::load(path) {
            Ok(s) => {
                self.files.recent_mut().push(path);
                // Each image on the series (or part of a split series) it showed.
                let files = s
                    .files
                    .iter()
                    .map(|(n, p)| {
                        super::jobs::ImageFile::named(n, p.clone()).with_series(s.series_of(n))
                    })
                    .collect();
                self.error = None;
                self.jobs.start_loading(files, false, Some(s));
            }
            Err(e) => self.error = Some(format!("{e:#}")),
        }
    }

    /// Replaces the landmarks of the image chosen in the panel with a file's (undoable).
    pub fn import_landmarks(&mut self, path: &Path) {
        match read_landmarks(path) {
            Ok(list) => {
                let n = list.len();
                let editor = self.marks.editor_mut();
                let set = editor.active;
                editor.replace_set(set, list);
                self.status = format!("{n} landmarks imported from {}", path.display());
                self.views.mark_dirty();
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Writes the landmarks of the image chosen in the panel (format from the name).
    pub fn export_landmarks(&mut self, path: &Path) {
        let editor = self.marks.editor();
        let set = &editor.sets[editor.active];
        match write_landmarks(path, set) {
            Ok(()) => {
                self.status = format!("{} landmarks written to {}", set.len(), path.display())
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Loads a protocol file (or the default knee protocol with None) for the landmark
    /// editor; errors go to the error line.
    pub fn use_protocol(&mut self, path: Option<&Path>) {
        match self.marks.use_protocol(path) {
            Ok(line) => self.status = line,
            Err(e) => self.error = Some(e),
        }
        self.views.mark_dirty();
    }

    /// Does what `action` says with `path`.
    pub fn file_action(&mut self, action: FileAction, path: &Path) {
        match action {
            FileAction::OpenImage => self.open_image(path.to_path_buf()),
            FileAction::OpenSession => self.open_session(path),
            FileAction::SaveSession => self.save_session(path),
            FileAction::ImportLandmarks => self.import_landmarks(path),
            FileAction::ExportLandmarks => self.export_landmarks(path),
            FileAction::ExportDicom => self.export_dicom(path),
            FileAction::OpenProtocol => self.use_protocol(Some(path)),
            FileAction::ChooseModels => self.choose_models(path),
        }
    }

    /// Analyses from now on use the models in `dir` (checked first; the choice is
    /// remembered); the status line says what they were trained on.
    pub fn choose_models(&mut self, dir: &Path) {
        match self.models.choose(dir) {
            Ok(line) => {
                self.status = line;
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Reads another series of a layer's DICOM folder in the background; the layer shows
    /// it when it arrives.
    pub fn switch_series(&mut self, layer_id: u64, series: String) {
        let Some(path) = self
            .layers
            .list()
            .iter()
            .find(|l| l.id == layer_id)
            .and_then(|l| l.source.clone())
        else {
            return;
        };
        self.jobs.dicom().read_series(path, layer_id, series);
        self.status = "reading the series…".into();
    }

    /// Writes the current analysis as DICOM into `dir` (a new or empty folder) in the
    /// background; the status bar says where, or why not.
    pub fn export_dicom(&mut self, dir: &Path) {
        let Some(results) = self.results.clone() else {
            self.status = "DICOM export: run the analysis first".into();
            return;
        };
        let Some(ct) = self.layers.get("CT") else {
            self.status = "DICOM export: no CT layer".into();
            return;
        };
        let maps: Option<Vec<_>> = MAP_LAYERS
            .iter()
            .map(|(name, _)| self.layers.volume(name))
            .collect();
        let Some(maps) = maps else {
            self.status = "DICOM export: a parameter map layer was removed".into();
            return;
        };
        let job = ExportJob {
            results,
            maps,
            geometry: ct.volume.geometry.clone(),
            source: ct.dicom.clone(),
        };
        self.status = format!("writing DICOM into {}…", dir.display());
        self.jobs.dicom().export(job, dir);
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
        match self.marks.fit() {
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

    fn start_registration_from(&mut self, start: Option<(RigidTransform, String)>) {
        let (Some(ct), Some(mr)) = (self.layers.volume("CT"), self.layers.volume("MR")) else {
            self.error = Some("registration needs a CT and an MR layer".into());
            return;
        };
        // The start this registration runs from is the one the analysis will use.
        self.review
            .set_start(start.as_ref().map(|(t, _)| t.clone()));
        self.jobs
            .run(true, move |p| run_registration(&ct, &mr, start, p));
        self.error = None;
    }

    /// Starts the whole SRRD analysis of the CT layer (with the MR layer when there is
    /// one) in the background; parameter maps and subregions arrive as layers and the
    /// results view fills in.
    pub fn start_analysis(&mut self) {
        self.start_analysis_of(None);
    }

    /// [`Self::start_analysis`] of one knee of a bilateral CT (None: the only knee).
    pub fn start_analysis_of(&mut self, side: Option<Side>) {
        let Some(ct) = self.layers.volume("CT") else {
            self.error = Some("the analysis needs a CT layer".into());
            return;
        };
        let mr = self.layers.volume("MR");
        let source = |name: &str| {
            self.layers.get(name).map(|l| {
                l.source
                    .as_ref()
                    .map_or_else(|| format!("{name} layer"), |p| p.display().to_string())
            })
        };
        let sources = super::results::Sources {
            ct: source("CT").unwrap_or_default(),
            mr: source("MR"),
        };
        let start = self.review.start().cloned();
        let models = self.models.dir();
        self.jobs.run(true, move |p| {
            run_analysis(
                &ct,
                mr.as_deref(),
                start.as_ref(),
                side,
                &sources,
                &models,
                p,
            )
        });
        self.error = None;
    }

    /// Adds the review layers: the CT's bone edges (always), and with a registered MR
    /// (rrMR, else crMR) the local similarity, and with a refined field its Jacobian.
    pub fn add_review_layers(&mut self) {
        let Some(ct) = self.layers.volume("CT") else {
            self.error = Some("the review layers need a CT layer".into());
            return;
        };
        let mr = self
            .layers
            .volume("rrMR")
            .or_else(|| self.layers.volume("crMR"));
        let field = match self.marks.transform("refined") {
            Some(srrd_base::volume::Transform::Field(f)) => Some(f.clone()),
            _ => None,
        };
        self.jobs.run(false, move |p| {
            Ok(super::review::review_layers(
                &ct,
                mr.as_deref(),
                field.as_ref(),
                p,
            ))
        });
        self.error = None;
    }

    /// Starts nudging the MR by hand from `t` (fixed -> moving); the MR layer is shown
    /// under it at once.
    pub fn begin_manual(&mut self, t: RigidTransform) {
        self.review.begin(t);
        self.show_manual();
    }

    /// Starts nudging from a rigid fit to the landmark pairs (each pair's residual in
    /// the status bar), or from the identity when there are fewer than three pairs.
    pub fn begin_manual_from_landmarks(&mut self) {
        match self.marks.fit() {
            Ok(fit) => {
                let residuals: Vec<String> = fit
                    .pairs
                    .iter()
                    .map(|p| format!("{} {:.1}", p.label, p.residual_mm))
                    .collect();
                self.status = format!(
                    "start from {} landmark pairs: RMS {:.1} mm (residuals: {} mm)",
                    fit.pairs.len(),
                    fit.rms_mm,
                    residuals.join(", ")
                );
                self.begin_manual(fit.transform);
            }
            Err(e) => self.error = Some(format!("landmark start: {e}")),
        }
    }

    /// Shows the MR layer under the transform being edited (or as read when none).
    pub(super) fn show_manual(&mut self) {
        self.layers.move_mr(self.review.shown());
        self.views.mark_dirty();
    }

    /// Moves the shown MR within view `n`'s plane: `dx`, `dy` mm along the view's right
    /// and down, and `turn_deg` about the view's normal through the crosshair.
    pub fn nudge(&mut self, n: usize, dx: f64, dy: f64, turn_deg: f64) {
        if self
            .review
            .nudge(n, dx, dy, turn_deg, self.views.crosshair())
        {
            self.show_manual();
        }
    }

    /// Runs the coarse and refined steps from the transform being edited; it becomes
    /// the case's corrected start.
    pub fn refine_from_here(&mut self) {
        let Some(m) = self.review.take_manual() else {
            return;
        };
        let (angle, t) = m.summary();
        let how = format!(
            "a corrected start (rotation {angle:.1} degrees, translation {:.1}, {:.1}, {:.1} mm)",
            t.x, t.y, t.z
        );
        self.show_manual();
        self.start_registration_from(Some((m.current, how)));
    }

    /// Opens a study list (manifest CSV or folder of subjects) with `out` as the reader's
    /// folder, and the case the reader was on there.
    pub fn open_worklist(&mut self, list: &Path, out: &Path) -> Result<(), String> {
        let w = WorklistPanel::open_list(list, out)?;
        self.marks.set_blinded(w.list().state.blinded);
        let current = w.open();
        self.worklist = Some(w);
        self.open_case(current);
        Ok(())
    }

    /// Saves the open case and shows case `i` (a case whose files are missing stays in
    /// the list, with the reason, and nothing is loaded); the case after it is read
    /// ahead, so that "next" shows at once.
    pub fn open_case(&mut self, i: usize) {
        self.autosave();
        let Some(w) = &mut self.worklist else {
            return;
        };
        match w.go_to(i) {
            None => {}
            Some(CaseFiles::Missing) => {
                self.jobs.cancel_prefetch();
                self.layers.clear();
                self.results = None;
                self.marks.editor_mut().sets = [Vec::new(), Vec::new()];
                self.views.mark_dirty();
            }
            Some(CaseFiles::Read(files, line)) => {
                self.jobs.load_case(i, files);
                self.status = line;
                self.prefetch_next();
            }
        }
    }

    /// Reads the case after the open one (through the filter) ahead, in the background.
    fn prefetch_next(&mut self) {
        let Some(w) = &self.worklist else {
            return;
        };
        match w.step(1).and_then(|n| Some((n, w.files(n)?))) {
            Some((n, files)) => self.jobs.prefetch(n, files),
            None => self.jobs.cancel_prefetch(),
        }
    }

    /// Once the open case's images are loaded: its saved landmarks, review, corrected
    /// start and status come into the app (the protocol being followed stays).
    fn case_loaded(&mut self) {
        let Some(w) = &mut self.worklist else {
            return;
        };
        let (work, line) = w.case_loaded();
        let editor = self.marks.editor_mut();
        let protocol = editor.protocol.take();
        let [f, m] = work.landmarks;
        *editor = super::landmarks::LandmarkEditor::with_sets(f, m);
        editor.protocol = protocol;
        editor.unplaceable = work.unplaceable;
        self.review.set_start(work.start_mr_from_ct);
        self.status = line;
    }

    /// The open case's work as the app holds it now.
    pub fn case_work(&self) -> Option<CaseWork> {
        let w = self.worklist.as_ref()?;
        let editor = self.marks.editor();
        Some(w.work(
            editor.sets.clone(),
            editor.unplaceable.clone(),
            self.review.start().cloned(),
        ))
    }

    /// Writes the open case when it changed since it was last saved (a case that was
    /// not started becomes in progress with its first change).
    pub fn autosave(&mut self) {
        let loaded = self.worklist.as_ref().is_some_and(|w| w.loaded());
        if !loaded || self.jobs.is_loading() {
            return;
        }
        let Some(work) = self.case_work() else {
            return;
        };
        if let Some(w) = &mut self.worklist {
            w.autosave(work);
        }
    }

    /// Records the reader's verdict on the registration (the status follows it).
    pub fn set_decision(&mut self, d: Decision) {
        if let Some(w) = &mut self.worklist {
            w.set_decision(d);
        }
    }

    /// The next (+1) or previous (-1) case through the filter.
    pub fn step_case(&mut self, step: isize) {
        if let Some(i) = self.worklist.as_ref().and_then(|w| w.step(step)) {
            self.open_case(i);
        }
    }

    /// Writes every case's review into one CSV in the reader's folder.
    pub fn export_reviews(&mut self) {
        self.autosave();
        if let Some(w) = &mut self.worklist {
            w.export_reviews();
        }
    }
}
