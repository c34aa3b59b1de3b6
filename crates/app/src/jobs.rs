//! The jobs part: work on background threads, each with a `Progress` the UI shows and
//! can cancel: reading images (and the next worklist case, read ahead), pipeline runs
//! (registration, analysis, review layers) with their stage log, and DICOM work; what
//! each run adds to the viewer when it ends comes back from [`Jobs::poll`] as events.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui::{self};

use super::actions::Action;
use super::dicom::DicomJobs;
use super::layer::*;
use super::loading::{LoadResult, Loading, Prefetch, load_layers};
use super::session::Session;
use srrd_base::progress::Progress;
use srrd_base::volume::Transform;
use srrd_base::volume::Volume;

/// What a pipeline run adds: layers, a line for the status bar, transforms for the TRE
/// table, and (after an analysis) the results view; or an error.
pub struct JobOutput {
    pub(super) layers: Vec<Layer>,
    pub(super) status: String,
    pub(super) transforms: Vec<(String, Transform)>,
    pub(super) results: Option<super::results::ResultsSummary>,
    /// Bone surfaces for the 3D view (after an analysis).
    pub(super) surfaces: Option<Arc<super::view3d::KneeSurfaces>>,
}
pub type JobResult = Result<JobOutput, String>;

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
pub(super) fn progress_ui(ui: &mut egui::Ui, progress: &Progress) {
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

/// A layer for an image of the registration: MR-like ones as a hot overlay, the sCT in
/// grey with a bone window (hidden at first: it is for checking the synthesis).
pub(super) fn registered_layer(name: &str, v: Volume) -> Layer {
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

pub(super) fn run_registration(
    ct: &Volume,
    mr: &Volume,
    start: Option<(srrd_base::volume::RigidTransform, String)>,
    progress: &Progress,
) -> JobResult {
    use srrd_pipeline::registration::register_knee_from;
    use srrd_synthesis::model::{demo_model_dir, load_model};
    // The demo synthesis model when it is there: coarse -> sCT (a layer to review) ->
    // refined on crMR (the demo sCT is not yet good enough to refine on).
    let model = load_model(&demo_model_dir()).ok();
    let start_mr_from_ct = start.as_ref().map(|(t, _)| t);
    let reg = register_knee_from(
        ct,
        mr,
        model.as_ref(),
        false,
        start_mr_from_ct,
        None,
        progress,
    )
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
        surfaces: None,
    })
}

pub(super) fn run_analysis(
    ct: &Volume,
    mr: Option<&Volume>,
    start: Option<&srrd_base::volume::RigidTransform>,
    side: Option<srrd_segmentation::knees::Side>,
    sources: &super::results::Sources,
    models: &std::path::Path,
    progress: &Progress,
) -> JobResult {
    let (maps, labels, registered, summary) =
        super::results::run_analysis(ct, mr, start, side, sources, models, progress)?;
    // The 3D view's bone surfaces, coloured by subregion or by a parameter map.
    progress.start("bone surfaces for the 3D view", 1);
    let g = &ct.geometry;
    let mut surfaces =
        super::view3d::KneeSurfaces::from_bones(&summary.bones, super::view3d::auto_step(g))
            .with_subregion_labels(&summary.subregions);
    for (n, (name, v)) in maps.iter().enumerate() {
        surfaces = surfaces.with_map(name, v);
        if let Some(m) = surfaces.maps.last_mut() {
            m.range = summary.ranges[n];
        }
    }
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
            "analysis done: {} (P(KOA) = {:.2}); models {}",
            k.class, k.probability, k.provenance
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
        surfaces: Some(Arc::new(surfaces)),
    })
}

pub use super::loading::ImageFile;

/// Images to read as layers.
pub type FileList = Vec<ImageFile>;

/// What ended in the background since the last poll.
pub enum JobEvent {
    /// Images read: the layers (added to those shown when `append`, else replacing
    /// them) and a session to apply once they are there.
    Loaded {
        result: LoadResult,
        append: bool,
        session: Option<Box<Session>>,
    },
    /// A pipeline run ended.
    Done(Box<JobResult>),
    /// DICOM work ended: a series read, or an export's line.
    Dicom(super::dicom::DicomEvent),
    /// The bone surfaces from the segmentation alone arrived (or why not), and whether
    /// the user asked for them.
    Bones(super::bones::BonesResult, bool),
}

/// The background work of the viewer.
#[derive(Default)]
pub struct Jobs {
    loading: Option<Loading>,
    /// The next worklist case, read ahead.
    prefetch: Option<Prefetch>,
    /// How many reads were started for the images shown (reads ahead not counted).
    loads_started: usize,
    /// A pipeline run (registration, analysis, review layers), with its progress.
    job: Option<(Receiver<JobResult>, Arc<Progress>)>,
    /// The stages of the current (or last) pipeline run.
    stage_log: StageLog,
    dicom: DicomJobs,
    /// The bone surfaces for the 3D view, from the segmentation alone.
    bones: super::bones::Bones,
    /// Start the analysis as soon as the images are loaded (`srrd view --analyze`).
    analyze_on_load: bool,
}

impl Jobs {
    /// Reads `files` in the background (none: the demo knee); `append` adds them to the
    /// layers shown, else they replace them; `session` is applied once they are loaded.
    pub fn start_loading(&mut self, files: FileList, append: bool, session: Option<Session>) {
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(load_layers(files, &worker, false));
        });
        self.loads_started += 1;
        self.loading = Some(Loading {
            rx,
            progress,
            append,
            session,
        });
    }

    /// Shows worklist case `case` (its `files`): the read ahead of it when there is one
    /// for the same files (done or still running), else a new read. A read ahead of
    /// another case is cancelled.
    pub fn load_case(&mut self, case: usize, files: FileList) {
        match self.prefetch.take() {
            Some(p) if p.case == case && p.files == files => {
                self.loading = Some(Loading {
                    rx: p.rx,
                    progress: p.progress,
                    append: false,
                    session: None,
                });
            }
            other => {
                if let Some(p) = other {
                    p.progress.cancel();
                }
                self.start_loading(files, false, None);
            }
        }
    }

    /// Reads worklist case `case` ahead, in the background (a read ahead of another case
    /// is cancelled; the same one goes on).
    pub fn prefetch(&mut self, case: usize, files: FileList) {
        if let Some(p) = &self.prefetch {
            if p.case == case && p.files == files {
                return;
            }
            p.progress.cancel();
        }
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        let read = files.clone();
        std::thread::spawn(move || {
            let _ = tx.send(load_layers(read, &worker, true));
        });
        self.prefetch = Some(Prefetch {
            case,
            files,
            rx,
            progress,
        });
    }

    /// A fresh start on new images: pipeline runs, their log and DICOM work are
    /// forgotten; the read ahead and "analyse on load" stay.
    pub fn start_over(&mut self) {
        self.loading = None;
        self.job = None;
        self.stage_log = StageLog::default();
        self.dicom = DicomJobs::default();
        self.bones.cancel();
    }

    /// Cancels and forgets the read ahead.
    pub fn cancel_prefetch(&mut self) {
        if let Some(p) = self.prefetch.take() {
            p.progress.cancel();
        }
    }

    /// The worklist case being read ahead, and whether its read is done.
    pub fn prefetched(&mut self) -> Option<(usize, bool)> {
        let p = self.prefetch.as_mut()?;
        Some((p.case, p.ready()))
    }

    /// The stages of the current (or last) pipeline run.
    pub fn stage_log(&self) -> &StageLog {
        &self.stage_log
    }

    /// How many reads were started for the images shown (reads ahead not counted).
    pub fn loads_started(&self) -> usize {
        self.loads_started
    }

    /// Whether a read of the images shown is running.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Whether a pipeline run is running.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }

    /// Whether a pipeline run, DICOM work or the bones are running.
    pub fn busy(&self) -> bool {
        self.job.is_some() || self.dicom.busy() || self.bones.running()
    }

    /// The bone surfaces from the segmentation alone.
    pub fn bones(&mut self) -> &mut super::bones::Bones {
        &mut self.bones
    }

    /// Whether the analysis starts once the images are loaded.
    pub fn analyze_on_load(&self) -> bool {
        self.analyze_on_load
    }

    /// Starts the analysis once the images are loaded (`srrd view --analyze`).
    pub fn set_analyze_on_load(&mut self, on: bool) {
        self.analyze_on_load = on;
    }

    /// The DICOM work.
    pub fn dicom(&mut self) -> &mut DicomJobs {
        &mut self.dicom
    }

    /// Runs `work` on a worker thread with a fresh `Progress`; `new_log` starts the stage
    /// log again.
    pub fn run(
        &mut self,
        new_log: bool,
        work: impl FnOnce(&Progress) -> JobResult + Send + 'static,
    ) {
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(work(&worker));
        });
        if new_log {
            self.stage_log = StageLog::default();
        }
        self.job = Some((rx, progress));
    }

    /// What ended since the last call.
    pub fn poll(&mut self) -> Vec<JobEvent> {
        let mut events = Vec::new();
        if let Some(l) = &self.loading
            && let Ok(result) = l.rx.try_recv()
            && let Some(Loading {
                append, session, ..
            }) = self.loading.take()
        {
            events.push(JobEvent::Loaded {
                result,
                append,
                session: session.map(Box::new),
            });
        }
        if let Some((rx, progress)) = &self.job
            && let Ok(result) = rx.try_recv()
        {
            self.stage_log.observe(progress);
            self.job = None;
            self.stage_log.finish();
            events.push(JobEvent::Done(Box::new(result)));
        }
        events.extend(self.dicom.poll().into_iter().map(JobEvent::Dicom));
        events.extend(
            self.bones
                .poll()
                .map(|(r, asked)| JobEvent::Bones(r, asked)),
        );
        events
    }

    /// The read's progress (stage, bar, Cancel), while one runs.
    pub fn loading_ui(&self, ui: &mut egui::Ui) {
        if let Some(l) = &self.loading {
            progress_ui(ui, &l.progress);
        }
    }
}

/// What the pipeline section needs to know of the rest of the viewer.
pub struct PipelineContext {
    /// A CT and an MR are loaded.
    pub ready: bool,
    /// A CT is loaded.
    pub has_ct: bool,
    /// CT-MR landmark pairs.
    pub pairs: usize,
}

/// The pipeline section of the left panel: the run in progress with its stages, or the
/// last run's stages and the buttons that start one.
pub fn pipeline_ui(ui: &mut egui::Ui, jobs: &mut Jobs, cx: PipelineContext) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.label("Pipeline");
    jobs.bones.ui(ui);
    if let Some((_, progress)) = &jobs.job {
        jobs.stage_log.observe(progress);
        jobs.stage_log.ui(ui);
        progress_ui(ui, progress);
        return actions;
    }
    // The stages of the last run stay listed, with their times.
    jobs.stage_log.ui(ui);
    if ui
        .add_enabled(cx.ready, egui::Button::new("Register MR to CT"))
        .on_hover_text("coarse rigid (mutual information), sCT from crMR (SPSNet, when its model is present), then femur and tibia separately on crMR: adds crMR, sCT and rrMR")
        .clicked()
    {
        actions.push(Action::Register);
    }
    let pairs = cx.pairs;
    if ui
        .add_enabled(
            cx.ready && pairs >= 3,
            egui::Button::new(format!("Register from {pairs} landmark pairs")),
        )
        .on_hover_text("when the automatic registration lands far off: a rigid start fitted to the CT-MR landmark pairs (same labels, 3 or more, not on one line), then the coarse and refined steps from there")
        .clicked()
    {
        actions.push(Action::RegisterFromLandmarks);
    }
    if ui
        .add_enabled(
            cx.has_ct && !jobs.bones.running(),
            egui::Button::new("Bones (3D)"),
        )
        .on_hover_text("femur, tibia, patella and fibula surfaces in the 3D view from the segmentation alone, before an analysis (done by itself after loading a CT of up to 8 M voxels on a 0.8 mm grid)")
        .clicked()
    {
        actions.push(Action::Bones);
    }
    if ui
        .add_enabled(cx.has_ct, egui::Button::new("Analyze (SRRD)"))
        .on_hover_text("bones, subchondral subregions, CT-only trabecular parameters, KOA score (with the MR: registration and MR-measured parameters for comparison)")
        .clicked()
    {
        actions.push(Action::Analyze(None));
    }
    actions
}
