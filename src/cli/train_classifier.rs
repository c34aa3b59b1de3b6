//! `srrd train-classifier`: the demo KOA classifier on the distilled student's
//! out-of-fold features.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::regression::dataset::Manifest;

/// Arguments of `srrd train-classifier`.
#[derive(Debug, clap::Args)]
pub struct TrainClassifierArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    regression: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

impl TrainClassifierArgs {
    /// Runs `srrd train-classifier`.
    pub fn run(self) -> anyhow::Result<()> {
        train_classifier(&self.data, &self.regression, &self.out)
    }
}

/// Fits the classifier on the distilled student's out-of-fold features of every subject.
pub fn train_classifier(data: &Path, regression: &Path, out: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let oof = regression.join("oof.csv");
    let file = with_progress(|p| {
        crate::pipeline::experiments::diagnosis_eval::train_classifier(
            &manifest,
            &oof,
            "SRRD-CT (distilled)",
            crate::regression::model::PROVENANCE,
            p,
        )
    })?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let text = serde_json::to_string_pretty(&file)?;
    let path = out.join("koa_classifier.json");
    crate::io::atomic_write(&path, |w| w.write_all(text.as_bytes()))?;
    let (c, g) = file.binary.chosen();
    println!(
        "{} written: C {c}, gamma {g:.4}, inner-CV AUC {:.3}; {}",
        path.display(),
        file.binary.cv_auc(),
        file.trained_on
    );
    Ok(())
}
