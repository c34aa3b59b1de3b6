//! Registration error (the paper's Table 2, registration half) over a study: TRE of
//! landmark pairs before registration, after the coarse rigid step and after the refined
//! per-bone step. The landmarks are a phantom's truth (its `landmarks_ct.json` and
//! `landmarks_mr.json`, paired in order) or what readers placed in the reading room
//! (`READER_DIR/<subject>/landmarks_ct.json` and `landmarks_mr.json`, paired by name);
//! with two readers or more, the distance between their placements of one landmark is
//! reported beside the TRE: the floor a registration cannot be shown to beat.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nalgebra::Point3;
use serde::Serialize;

use super::study_knees::StudyKnee;
use crate::registration as reg;
use srrd_base::error::Result;
use srrd_base::io::{Landmark, pair_by_label, read_landmarks};
use srrd_base::progress::Progress;
use srrd_base::volume::{AffineTransform, PointTransform, Transform};
use srrd_registration::Metric;

/// The registration stages measured, in order.
pub const STAGES: [&str; 3] = [
    "none (scanner poses)",
    "rigid (coarse, MI)",
    "rigid + refined (per bone, on crMR)",
];

/// One stage's errors over the pairs it was measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub method: String,
    pub pairs: usize,
    pub mean_mm: f64,
    pub sd_mm: f64,
    pub median_mm: f64,
    pub max_mm: f64,
    pub mean_seconds: f64,
}

impl Row {
    /// Summary of `errors` (mm) and the stage's `seconds` per knee.
    pub fn of(method: &str, errors: &[f64], seconds: &[f64]) -> Row {
        let n = errors.len().max(1) as f64;
        let mean = errors.iter().sum::<f64>() / n;
        let sd =
            (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        let mut s = errors.to_vec();
        s.sort_by(f64::total_cmp);
        let median = if s.is_empty() { 0.0 } else { s[s.len() / 2] };
        Row {
            method: method.into(),
            pairs: errors.len(),
            mean_mm: mean,
            sd_mm: sd,
            median_mm: median,
            max_mm: s.last().copied().unwrap_or(0.0),
            mean_seconds: seconds.iter().sum::<f64>() / seconds.len().max(1) as f64,
        }
    }
}

/// One knee's mean TRE per stage.
#[derive(Clone, Debug, Serialize)]
pub struct KneeRow {
    pub subject: String,
    pub pairs: usize,
    /// Mean TRE (mm) per stage, in [`STAGES`] order.
    pub mean_mm: [f64; 3],
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct RegistrationEval {
    /// Where the landmarks came from: the phantom truth, or the reader folders.
    pub landmarks: String,
    /// Pooled over every knee (and reader).
    pub rows: Vec<Row>,
    pub knees: Vec<KneeRow>,
    /// With two readers or more: distance (mm) between readers' placements of the same
    /// landmark, CT and MR points together.
    pub inter_reader: Option<Row>,
    /// Knees not measured, with the reason (no MR, no landmarks).
    pub skipped: Vec<(String, String)>,
}

/// One reader's pairs for a knee (CT point, MR point), by landmark name.
type Pairs = Vec<(String, [f64; 3], [f64; 3])>;

/// A reader's landmarks of a knee, paired by name; None when the reader has none.
fn reader_pairs(reader: &Path, subject: &str) -> Result<Option<Pairs>> {
    let dir = reader.join(subject);
    let (ct, mr) = (dir.join("landmarks_ct.json"), dir.join("landmarks_mr.json"));
    if !ct.exists() || !mr.exists() {
        return Ok(None);
    }
    let (ct, mr) = (read_landmarks(&ct)?, read_landmarks(&mr)?);
    let pairs: Pairs = pair_by_label(&ct, &mr)
        .into_iter()
        .map(|(l, c, m)| (l.to_string(), c, m))
        .collect();
    Ok((!pairs.is_empty()).then_some(pairs))
}

/// A phantom's true landmarks, paired in order.
fn truth_pairs(dir: &Path) -> Result<Pairs> {
    let ct: Vec<Landmark> = read_landmarks(&dir.join("landmarks_ct.json"))?;
    let mr: Vec<Landmark> = read_landmarks(&dir.join("landmarks_mr.json"))?;
    Ok(ct
        .into_iter()
        .zip(mr)
        .map(|(c, m)| (c.label, c.position_mm, m.position_mm))
        .collect())
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

/// Registers every knee with an MR and landmarks (the first `limit`), and measures the
/// TRE of each stage against every reader's pairs (the phantom truth when `readers` is
/// empty). `log` gets a line per knee.
pub fn evaluate(
    knees: &[StudyKnee],
    readers: &[PathBuf],
    limit: Option<usize>,
    progress: &Progress,
    mut log: impl FnMut(&str),
) -> Result<RegistrationEval> {
    let mut err = [Vec::new(), Vec::new(), Vec::new()];
    let mut secs = [Vec::new(), Vec::new(), Vec::new()];
    let (mut rows_by_knee, mut skipped, mut between) = (Vec::new(), Vec::new(), Vec::new());
    for k in knees.iter().take(limit.unwrap_or(usize::MAX)) {
        progress.check()?;
        let sets: Vec<Pairs> = if readers.is_empty() {
            match &k.truth_dir {
                Some(d) => vec![truth_pairs(d)?],
                None => Vec::new(),
            }
        } else {
            let mut sets = Vec::new();
            for r in readers {
                sets.extend(reader_pairs(r, &k.id)?);
            }
            sets
        };
        if sets.is_empty() {
            skipped.push((k.id.clone(), "no landmarks".to_string()));
            continue;
        }
        if k.mr.is_none() {
            skipped.push((k.id.clone(), "no MR".to_string()));
            continue;
        }
        let Some((ct, mr)) = k.read_pair(&mut log)? else {
            skipped.push((k.id.clone(), "no MR series".to_string()));
            continue;
        };
        let t0 = Instant::now();
        let metric = Metric::MattesMi { bins: 32 };
        let c = reg::coarse(&ct, &mr, metric, false, progress)?;
        let t1 = t0.elapsed().as_secs_f64();
        let r = reg::refined(&ct, &mr, &c, metric, progress)?;
        let t2 = t0.elapsed().as_secs_f64();
        let (coarse, refined) = (c.result.final_transform(), Transform::Field(r.result.field));
        let identity = AffineTransform::identity();
        let transforms: [&dyn PointTransform; 3] = [&identity, &coarse, &refined];
        let mut knee_err = [Vec::new(), Vec::new(), Vec::new()];
        for pairs in &sets {
            for (m, t) in transforms.iter().enumerate() {
                for (_, c, mm) in pairs {
                    let p = t.transform_point(&Point3::from(*c));
                    knee_err[m].push((p - Point3::from(*mm)).norm());
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        rows_by_knee.push(KneeRow {
            subject: k.id.clone(),
            pairs: knee_err[0].len(),
            mean_mm: std::array::from_fn(|m| mean(&knee_err[m])),
        });
        for m in 0..3 {
            err[m].extend_from_slice(&knee_err[m]);
        }
        secs[0].push(0.0);
        secs[1].push(t1);
        secs[2].push(t2);
        between.extend(inter_reader_mm(&sets));
        log(&format!("{}: rigid {t1:.2} s, + refined {t2:.2} s", k.id));
    }
    Ok(RegistrationEval {
        landmarks: if readers.is_empty() {
            "the phantoms' true landmarks".to_string()
        } else {
            let names: Vec<String> = readers.iter().map(|r| r.display().to_string()).collect();
            format!("readers' landmarks ({})", names.join(", "))
        },
        rows: (0..3)
            .map(|m| Row::of(STAGES[m], &err[m], &secs[m]))
            .collect(),
        knees: rows_by_knee,
        inter_reader: (readers.len() >= 2 && !between.is_empty())
            .then(|| Row::of("between readers", &between, &[])),
        skipped,
    })
}

impl RegistrationEval {
    /// The pooled table (as the paper's Table 2), then the inter-reader distance, the
    /// per-knee means and the knees skipped.
    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "| method | pairs | TRE mean +- SD (mm) | median | max | time per knee (s) |\n|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            md.push_str(&format!(
                "| {} | {} | {:.2} +- {:.2} | {:.2} | {:.2} | {:.2} |\n",
                r.method, r.pairs, r.mean_mm, r.sd_mm, r.median_mm, r.max_mm, r.mean_seconds
            ));
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
                "\n| knee | pairs | none | rigid | rigid + refined |\n|---|---|---|---|---|\n",
            );
            for k in &self.knees {
                md.push_str(&format!(
                    "| {} | {} | {:.2} | {:.2} | {:.2} |\n",
                    k.subject, k.pairs, k.mean_mm[0], k.mean_mm[1], k.mean_mm[2]
                ));
            }
        }
        if !self.skipped.is_empty() {
            let list: Vec<String> = (self.skipped.iter())
                .map(|(s, why)| format!("{s} ({why})"))
                .collect();
            md.push_str(&format!("\nNot measured: {}.\n", list.join(", ")));
        }
        md
    }
}
