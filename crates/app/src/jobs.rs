//! Pipeline runs in the background (registration, analysis): starting them, their
//! stage log and progress, and what they add to the viewer when they end.

use std::sync::Arc;
use std::sync::mpsc::channel;

use eframe::egui::{self};

use super::layer::*;
use super::viewer::*;
use srrd_base::progress::Progress;
use srrd_base::volume::Transform;
use srrd_base::volume::Volume;

/// What a pipeline run adds: layers, a line for the status bar, transforms for the TRE
/// table, and (after an analysis) the results view; or an error.
pub(super) struct JobOutput {
    pub(super) layers: Vec<Layer>,
    pub(super) status: String,
    pub(super) transforms: Vec<(String, Transform)>,
    pub(super) results: Option<super::results::ResultsSummary>,
    /// Bone surfaces for the 3D view (after an analysis).
    pub(super) surfaces: Option<Arc<super::view3d::KneeSurfaces>>,
}
pub(super) type JobResult = Result<JobOutput, String>;

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
    let initial = start.as_ref().map(|(t, _)| t);
    let reg = register_knee_from(ct, mr, model.as_ref(), false, initial, None, progress)
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
    progress: &Progress,
) -> JobResult {
    let (maps, labels, registered, summary) =
        super::results::run_analysis(ct, mr, start, side, sources, progress)?;
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
        surfaces: Some(Arc::new(surfaces)),
    })
}

impl ViewerApp {
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
        match self.landmark_fit() {
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

    pub(super) fn start_registration_from(
        &mut self,
        start: Option<(srrd_base::volume::RigidTransform, String)>,
    ) {
        let find = |name: &str| self.layer_volume(name);
        let (Some(ct), Some(mr)) = (find("CT"), find("MR")) else {
            self.error = Some("registration needs a CT and an MR layer".into());
            return;
        };
        // The start this registration runs from is the one the analysis will use.
        self.registration_start = start.as_ref().map(|(t, _)| t.clone());
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
    pub fn start_analysis_of(&mut self, side: Option<srrd_segmentation::knees::Side>) {
        let find = |name: &str| self.layer_volume(name);
        let Some(ct) = find("CT") else {
            self.error = Some("the analysis needs a CT layer".into());
            return;
        };
        let mr = find("MR");
        let source = |name: &str| {
            self.layers.iter().find(|l| l.name == name).map(|l| {
                l.source
                    .as_ref()
                    .map_or_else(|| format!("{name} layer"), |p| p.display().to_string())
            })
        };
        let sources = super::results::Sources {
            ct: source("CT").unwrap_or_default(),
            mr: source("MR"),
        };
        let start = self.registration_start.clone();
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(run_analysis(
                &ct,
                mr.as_deref(),
                start.as_ref(),
                side,
                &sources,
                &worker,
            ));
        });
        self.error = None;
        self.stage_log = StageLog::default();
        self.job = Some((rx, progress));
    }

    pub(super) fn poll_job(&mut self) {
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
                    if out.surfaces.is_some() {
                        self.surfaces3d = out.surfaces;
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
}
