//! A trained model folder's networks on a patch store's knees it was not trained on: the
//! same ICC(A,1) against the MR ground truth as the cross-validation gives, for weights
//! already made (the demo weights on knees scanned another way, say). The knees its card
//! lists as training subjects are left out, matched by id, so the store must come from a
//! cohort whose ids name the same knees (the same cohort seed).

use std::path::Path;

use serde::Serialize;

use crate::experiments::regression_eval::{OOF_HEADER, oof_rows, rows_of};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_regression::dataset::{Manifest, TARGETS};
use srrd_regression::inputs::load_inputs;
use srrd_regression::model::{load_student, load_teacher};
use srrd_regression::train::predict;
use srrd_stats::{icc_a1, pearson};

/// The networks, in table order (names as `oof.csv` and the acquisition groups use them).
pub const NETWORKS: [&str; 3] = ["plain CNN", "SRRD-CT (distilled)", "MR teacher"];

/// One network and parameter.
#[derive(Clone, Debug, Serialize)]
pub struct HeldOutRow {
    pub network: String,
    pub parameter: String,
    pub icc: f64,
    pub icc_ci95: (f64, f64),
    pub pearson_r: f64,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct HeldOutReport {
    pub models: String,
    /// The knees evaluated (the store's, less the model's training subjects).
    pub subjects: Vec<String>,
    /// How many of the store's knees were left out as training subjects.
    pub left_out: usize,
    pub patches: usize,
    pub ground_truth: String,
    pub rows: Vec<HeldOutRow>,
}

/// Evaluates the networks of `model_dir` on the knees of `store` not in its training
/// subjects; writes `out/oof.csv` (as the cross-validation does, radiomics left out),
/// `held_out.json` and `table.md`.
pub fn evaluate_held_out(
    store: &Path,
    manifest: &Manifest,
    model_dir: &Path,
    out: &Path,
    progress: &Progress,
) -> Result<HeldOutReport> {
    let (student, card) = load_student(model_dir, false)?;
    let (plain, _) = load_student(model_dir, true)?;
    let teacher = load_teacher(model_dir)?;
    let test: Vec<usize> = (0..manifest.subjects.len())
        .filter(|&s| !card.trained_on(&manifest.subjects[s], &manifest.source))
        .collect();
    if test.is_empty() {
        return Err(Error::invalid(format!(
            "every knee of {} is one {} was trained on: nothing held out to evaluate",
            store.display(),
            model_dir.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    progress.start("predicting the held-out patches", 1);
    let data = load_inputs(store, manifest, &test, card.train.mr_scaling)?;
    let norm = &card.normalization;
    let truth = rows_of(&data.target);
    let preds = [
        rows_of(&predict(&plain, &data.ct, norm, 64)),
        rows_of(&predict(&student, &data.ct, norm, 64)),
        rows_of(&predict(&teacher, &data.mr, norm, 64)),
    ];
    let mut rows = Vec::new();
    for (net, pred) in NETWORKS.iter().zip(&preds) {
        for (a, (name, _)) in TARGETS.iter().enumerate() {
            let xs: Vec<f64> = pred.iter().map(|r| r[a]).collect();
            let ys: Vec<f64> = truth.iter().map(|r| r[a]).collect();
            let icc = icc_a1(&xs, &ys);
            rows.push(HeldOutRow {
                network: net.to_string(),
                parameter: name.to_string(),
                icc: icc.as_ref().map_or(f64::NAN, |i| i.value),
                icc_ci95: icc.map_or((f64::NAN, f64::NAN), |i| i.ci95),
                pearson_r: pearson(&xs, &ys).unwrap_or(f64::NAN),
            });
        }
    }
    let named: Vec<(&str, &Vec<[f64; 4]>)> = std::iter::once(("MR ground truth", &truth))
        .chain(NETWORKS.iter().copied().zip(preds.iter()))
        .collect();
    let oof = format!("{OOF_HEADER}{}", oof_rows(manifest, &data, &named));
    srrd_base::io::atomic_write(&out.join("oof.csv"), |w| w.write_all(oof.as_bytes()))?;
    let report = HeldOutReport {
        models: model_dir.display().to_string(),
        subjects: test
            .iter()
            .map(|&s| manifest.subjects[s].id.clone())
            .collect(),
        left_out: manifest.subjects.len() - test.len(),
        patches: truth.len(),
        ground_truth: manifest.settings.method.clone(),
        rows,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(&out.join("held_out.json"), |w| w.write_all(json.as_bytes()))?;
    let md = markdown(&report);
    srrd_base::io::atomic_write(&out.join("table.md"), |w| w.write_all(md.as_bytes()))?;
    Ok(report)
}

/// The table as Markdown: ICC(A,1) [95% CI] and Pearson r per network and parameter.
pub fn markdown(report: &HeldOutReport) -> String {
    let mut s = format!(
        "ICC(A,1) of predicted vs ground truth: the networks of {} on {} knees they were not trained on ({} patches; {} training knees left out; ground truth: {} morphometry of the MR patches)\n\n",
        report.models,
        report.subjects.len(),
        report.patches,
        report.left_out,
        report.ground_truth
    );
    s += "| network | BV/TV | Tb.Th | Tb.Sp | Tb.N |\n|---|---|---|---|---|\n";
    for net in NETWORKS {
        s += &format!("| {net} |");
        for r in report.rows.iter().filter(|r| r.network == net) {
            s += &format!(
                " {:.3} [{:.3}, {:.3}], r {:.3} |",
                r.icc, r.icc_ci95.0, r.icc_ci95.1, r.pearson_r
            );
        }
        s += "\n";
    }
    s
}
