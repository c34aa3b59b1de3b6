//! `srrd eval-diagnosis`: KOA classification from per-subregion features (the paper's
//! Table 4), on the out-of-fold predictions of `srrd eval-regression`.

use std::path::{Path, PathBuf};

use super::common::with_progress;
use crate::regression::dataset::Manifest;

/// Arguments of `srrd eval-diagnosis`.
#[derive(Debug, clap::Args)]
pub struct EvalDiagnosisArgs {
    /// The patch store the regression was evaluated on.
    #[arg(long)]
    data: PathBuf,
    /// The output folder of `srrd eval-regression` (its oof.csv).
    #[arg(long)]
    regression: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    #[arg(long)]
    json: bool,
}

impl EvalDiagnosisArgs {
    /// Runs `srrd eval-diagnosis`.
    pub fn run(self) -> anyhow::Result<()> {
        eval_diagnosis(
            &self.data,
            &self.regression,
            &self.out,
            self.folds,
            self.json,
        )
    }
}

/// KOA classification on the out-of-fold predictions (the paper's Table 4).
pub fn eval_diagnosis(
    data: &Path,
    regression: &Path,
    out: &Path,
    folds: usize,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let oof = regression.join("oof.csv");
    let report = with_progress(|p| {
        crate::pipeline::experiments::diagnosis_eval::evaluate(&manifest, &oof, folds, out, p)
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            crate::pipeline::experiments::diagnosis_eval::markdown(&report)
        );
        println!("\n(table, JSON and ROC curves in {})", out.display());
    }
    Ok(())
}
