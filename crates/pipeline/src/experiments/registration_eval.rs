//! Registration error (the paper's Table 2, registration half) over a study: TRE of
//! landmark pairs at each stage, in [`STAGES`] order: before registration, after the
//! coarse rigid step, after the coarse step and a rigid registration of the sCT (the
//! paper's "+ SPSNet"; measured when a synthesis model is given) and after the refined
//! per-bone step (the pipeline's own: on crMR, from the coarse result). The landmarks come
//! from [`super::registration_landmarks`]: readers' folders, the study list's landmark
//! columns, or a phantom's truth. With two readers or more, the distance between their
//! placements of one landmark is reported beside the TRE: the floor a registration cannot
//! be shown to beat.

use std::path::PathBuf;
use std::time::Instant;

use nalgebra::Point3;
use serde::Serialize;

use super::registration_landmarks::{Pairs, Source, knee_pairs, sources};
use super::study_knees::StudyKnee;
use crate::registration as reg;
use srrd_base::error::Result;
use srrd_base::progress::Progress;
use srrd_base::volume::{AffineTransform, PointTransform, Transform};
use srrd_registration::Metric;
use srrd_synthesis::model::{load_model, synthesize};

/// Number of stages.
pub const N_STAGES: usize = 4;

/// The registration stages measured, in order.
pub const STAGES: [&str; N_STAGES] = [
    "none (scanner poses)",
    "rigid (coarse, MI)",
    "rigid + sCT (rigid, sCT vs CT, MI)",
    "rigid + refined (per bone, on crMR)",
];

/// Short keys of the stages (JSON's `stage`), in [`STAGES`] order.
pub const STAGE_KEYS: [&str; N_STAGES] = ["none", "coarse", "coarse_sct", "refined"];

/// Index of the sCT stage in [`STAGES`].
pub const SCT_STAGE: usize = 2;

/// The metric of the sCT stage. Mattes MI: on 8 small-preset phantoms NCC on the demo
/// model's sCT (whose marrow and cortex are not CT's intensities) gave 6.0 mm against MI's
/// 3.2 mm (coarse alone: 2.1 mm); MI asks only that the intensities map consistently.
const SCT_METRIC: Metric = Metric::MattesMi { bins: 32 };

/// One stage's errors over the pairs it was measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The stage's key ([`STAGE_KEYS`]).
    pub stage: String,
    pub method: String,
    pub pairs: usize,
    pub mean_mm: f64,
    pub sd_mm: f64,
    pub median_mm: f64,
    pub max_mm: f64,
    /// Seconds per knee of the steps the stage needs (coarse included).
    pub mean_seconds: f64,
}

impl Row {
    /// Summary of `errors` (mm) and the stage's `seconds` per knee; NaN (null in JSON)
    /// when there are no errors.
    pub fn of(method: &str, errors: &[f64], seconds: &[f64]) -> Row {
        let nan_if_empty = |v: f64| if errors.is_empty() { f64::NAN } else { v };
        let n = errors.len().max(1) as f64;
        let mean = errors.iter().sum::<f64>() / n;
        let sd =
            (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        let mut s = errors.to_vec();
        s.sort_by(f64::total_cmp);
        let median = if s.is_empty() { 0.0 } else { s[s.len() / 2] };
        Row {
            stage: STAGES
                .iter()
                .position(|m| *m == method)
                .map(|i| STAGE_KEYS[i].to_string())
                .unwrap_or_else(|| method.to_string()),
            method: method.into(),
            pairs: errors.len(),
            mean_mm: nan_if_empty(mean),
            sd_mm: nan_if_empty(sd),
            median_mm: nan_if_empty(median),
            max_mm: nan_if_empty(s.last().copied().unwrap_or(0.0)),
            mean_seconds: seconds.iter().sum::<f64>() / seconds.len().max(1) as f64,
        }
    }
}

/// One knee's mean TRE per stage.
#[derive(Clone, Debug, Serialize)]
pub struct KneeRow {
    pub subject: String,
    pub pairs: usize,
    /// Mean TRE (mm) per stage, in [`STAGES`] order (NaN, null in JSON: not measured).
    pub mean_mm: [f64; N_STAGES],
}

/// What the evaluation runs.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Readers' folders (`READER_DIR/<subject>/landmarks_ct.json`, ...).
    pub readers: Vec<PathBuf>,
    /// The synthesis model folder of the sCT stage; None: that stage is not measured.
    pub synthesis: Option<PathBuf>,
    /// Only the first N knees.
    pub limit: Option<usize>,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct RegistrationEval {
    /// Where the landmarks came from: the phantom truth, the reader folders, the study list.
    pub landmarks: String,
    /// The synthesis model of the sCT stage (its folder and method), or why none.
    pub synthesis: String,
    /// Pooled over every knee (and reader), one row per stage in [`STAGES`] order.
    pub rows: Vec<Row>,
    pub knees: Vec<KneeRow>,
    /// With two readers or more: distance (mm) between readers' placements of the same
    /// landmark, CT and MR points together.
    pub inter_reader: Option<Row>,
    /// Knees not measured, with the reason (no MR, no landmarks, files that do not read).
    pub skipped: Vec<(String, String)>,
    /// Landmark files not used for a knee that was measured with other readers' (the
    /// knee, the file and its problem), and reader folders' unmatched cases.
    pub problems: Vec<String>,
}

/// Distances between readers' placements of each landmark both placed (CT and MR).
fn inter_reader_mm(readers: &[Pairs]) -> Vec<f64> {
    let mut out = Vec::new();
    for (a, ra) in readers.iter().enumerate() {
        for rb in &readers[a + 1..] {
            for (label, ca, ma) in ra {
                if let Some((_, cb, mb)) = rb.iter().find(|(l, _, _)| l == label) {
                    let d =
                        |p: &[f64; 3], q: &[f64; 3]| (Point3::from(*p) - Point3::from(*q)).norm();
                    out.push(d(ca, cb));
                    out.push(d(ma, mb));
                }
            }
        }
    }
    out
}

/// Every source's pairs for a knee, and the problems of the sources that could not give
/// theirs.
fn knee_sets(knee: &StudyKnee, sources: &[Source]) -> (Vec<Pairs>, Vec<String>) {
    let (mut sets, mut problems) = (Vec::new(), Vec::new());
    for s in sources {
        match knee_pairs(knee, s) {
            Ok(Some(p)) => sets.push(p),
            Ok(None) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    (sets, problems)
}

/// One knee's transforms (`mr_from_ct` per stage; None: not measured) and the cumulative
/// seconds each needed.
struct KneeRun {
    transforms: [Option<Transform>; N_STAGES],
    seconds: [f64; N_STAGES],
}

fn register(
    ct: &srrd_base::volume::Volume,
    mr: &srrd_base::volume::Volume,
    synthesis: Option<&srrd_synthesis::model::SynthModel>,
    progress: &Progress,
) -> Result<KneeRun> {
    let metric = Metric::MattesMi { bins: 32 };
    // A standardized MR shifted so its air is 0, as the synthesis network expects (mutual
    // information does not care).
    let shifted = reg::with_air_at_zero(mr);
    let mr = shifted.as_ref().unwrap_or(mr);
    let t0 = Instant::now();
    let c = reg::coarse(ct, mr, metric, false, progress)?;
    let t_coarse = t0.elapsed().as_secs_f64();
    let (sct_stage, t_sct) = match synthesis {
        Some(model) => {
            let t = Instant::now();
            let sct = synthesize(model, &c.cr_mr, progress)?;
            let mr_from_ct = reg::rigid_on_sct(&c, &sct, SCT_METRIC, progress)?;
            (
                Some(Transform::Affine(mr_from_ct)),
                t_coarse + t.elapsed().as_secs_f64(),
            )
        }
        None => (None, f64::NAN),
    };
    let t = Instant::now();
    let r = reg::refined(ct, mr, &c, metric, progress)?;
    let t_refined = t_coarse + t.elapsed().as_secs_f64();
    Ok(KneeRun {
        transforms: [
            Some(Transform::Affine(AffineTransform::identity())),
            Some(Transform::Affine(c.result.final_transform())),
            sct_stage,
            Some(Transform::Field(r.result.field)),
        ],
        seconds: [0.0, t_coarse, t_sct, t_refined],
    })
}

/// Registers every knee with an MR and landmarks (the first `limit`) and measures the TRE
/// of each stage against every source's pairs. `log` gets the warnings and a line per knee.
pub fn evaluate(
    knees: &[StudyKnee],
    settings: &Settings,
    progress: &Progress,
    mut log: impl FnMut(&str),
) -> Result<RegistrationEval> {
    let found = sources(knees, &settings.readers)?;
    for w in &found.warnings {
        log(w);
    }
    let mut problems = found.warnings.clone();
    // Loaded here, on the worker thread (tch modules are not Sync).
    let model = match &settings.synthesis {
        Some(dir) => Some(load_model(dir)?),
        None => None,
    };
    let synthesis = match (&settings.synthesis, &model) {
        (Some(dir), Some(m)) => format!("{} ({})", dir.display(), m.card.method),
        _ => "not measured (no synthesis model was given)".to_string(),
    };
    let mut err: [Vec<f64>; N_STAGES] = Default::default();
    let mut secs: [Vec<f64>; N_STAGES] = Default::default();
    let (mut rows_by_knee, mut skipped, mut between) = (Vec::new(), Vec::new(), Vec::new());
    for k in knees.iter().take(settings.limit.unwrap_or(usize::MAX)) {
        progress.check()?;
        let (sets, knee_problems) = knee_sets(k, &found.sources);
        for p in &knee_problems {
            log(&format!("{}: landmarks not used: {p}", k.id));
        }
        if sets.is_empty() {
            let why = match knee_problems.is_empty() {
                true => "no landmarks".to_string(),
                false => knee_problems.join("; "),
            };
            skipped.push((k.id.clone(), why));
            continue;
        }
        problems.extend(knee_problems.iter().map(|p| format!("{}: {p}", k.id)));
        if k.mr.is_none() {
            skipped.push((k.id.clone(), "no MR".to_string()));
            continue;
        }
        let Some((ct, mr)) = k.read_pair(&mut log)? else {
            skipped.push((k.id.clone(), "no MR series".to_string()));
            continue;
        };
        let run = register(&ct, &mr, model.as_ref(), progress)?;
        let mut knee_err: [Vec<f64>; N_STAGES] = Default::default();
        for pairs in &sets {
            for (m, t) in run.transforms.iter().enumerate() {
                let Some(t) = t else { continue };
                for (_, c, mm) in pairs {
                    let p = t.transform_point(&Point3::from(*c));
                    knee_err[m].push((p - Point3::from(*mm)).norm());
                }
            }
        }
        let mean = |v: &[f64]| {
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        rows_by_knee.push(KneeRow {
            subject: k.id.clone(),
            pairs: knee_err[0].len(),
            mean_mm: std::array::from_fn(|m| mean(&knee_err[m])),
        });
        for m in 0..N_STAGES {
            err[m].extend_from_slice(&knee_err[m]);
            if run.transforms[m].is_some() {
                secs[m].push(run.seconds[m]);
            }
        }
        between.extend(inter_reader_mm(&sets));
        let s = run.seconds;
        log(&format!(
            "{}: rigid {:.2} s, + sCT {}, + refined {:.2} s",
            k.id,
            s[1],
            if s[SCT_STAGE].is_nan() {
                "not measured".to_string()
            } else {
                format!("{:.2} s", s[SCT_STAGE])
            },
            s[3]
        ));
    }
    let names: Vec<String> = found.sources.iter().map(Source::name).collect();
    let n_readers = found
        .sources
        .iter()
        .filter(|s| **s != Source::Truth)
        .count();
    Ok(RegistrationEval {
        landmarks: match found.sources.as_slice() {
            [Source::Truth] => names.join(""),
            _ => format!("readers' landmarks ({})", names.join(", ")),
        },
        synthesis,
        rows: (0..N_STAGES)
            .map(|m| Row::of(STAGES[m], &err[m], &secs[m]))
            .collect(),
        knees: rows_by_knee,
        inter_reader: (n_readers >= 2 && !between.is_empty())
            .then(|| Row::of("between readers", &between, &[])),
        skipped,
        problems,
    })
}

/// A number for a table, "-" when not measured.
fn mm(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "-".into()
    }
}

impl RegistrationEval {
    /// The pooled table (as the paper's Table 2), then the inter-reader distance, the
    /// per-knee means, the knees skipped and the landmark files not used.
    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "| method | pairs | TRE mean +- SD (mm) | median | max | time per knee (s) |\n|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            if r.pairs == 0 {
                md.push_str(&format!("| {} | 0 | not measured | | | |\n", r.method));
                continue;
            }
            md.push_str(&format!(
                "| {} | {} | {} +- {} | {} | {} | {:.2} |\n",
                r.method,
                r.pairs,
                mm(r.mean_mm),
                mm(r.sd_mm),
                mm(r.median_mm),
                mm(r.max_mm),
                r.mean_seconds
            ));
        }
        if self.rows.get(SCT_STAGE).is_some_and(|r| r.pairs > 0) {
            md.push_str(&format!(
                "\nrigid + sCT: crMR synthesized into an sCT ({}), registered rigidly to the \
                 CT (Mattes MI) from the coarse result (the paper's \"+ SPSNet\"). The refined \
                 row starts from the coarse result, as the pipeline does, not from the sCT row.\n",
                self.synthesis
            ));
        } else {
            md.push_str(&format!("\nrigid + sCT: {}.\n", self.synthesis));
        }
        if let Some(r) = &self.inter_reader {
            md.push_str(&format!(
                "\nBetween readers (the same landmark placed by two readers, CT and MR points): {:.2} +- {:.2} mm over {} placements (median {:.2}, max {:.2}).\n",
                r.mean_mm, r.sd_mm, r.pairs, r.median_mm, r.max_mm
            ));
        }
        if !self.skipped.is_empty() || self.knees.len() > 1 {
            md.push_str(&format!("\nLandmarks: {}.\n", self.landmarks));
        }
        if self.knees.len() > 1 {
            md.push_str(
                "\n| knee | pairs | none | rigid | rigid + sCT | rigid + refined |\n|---|---|---|---|---|---|\n",
            );
            for k in &self.knees {
                let m: Vec<String> = k.mean_mm.iter().map(|v| mm(*v)).collect();
                md.push_str(&format!(
                    "| {} | {} | {} |\n",
                    k.subject,
                    k.pairs,
                    m.join(" | ")
                ));
            }
        }
        if !self.skipped.is_empty() {
            let list: Vec<String> = (self.skipped.iter())
                .map(|(s, why)| format!("{s} ({why})"))
                .collect();
            md.push_str(&format!("\nNot measured: {}.\n", list.join(", ")));
        }
        if !self.problems.is_empty() {
            md.push_str("\nLandmarks not used:\n");
            for p in &self.problems {
                md.push_str(&format!("- {p}\n"));
            }
        }
        md
    }
}

/// The synthesis model of the sCT stage when none is named: the demo model, when its
/// folder is there.
pub fn default_synthesis() -> Option<PathBuf> {
    let dir = srrd_synthesis::model::demo_model_dir();
    dir.join("model.json").is_file().then_some(dir)
}
