//! `srrd eval-regression`: the paper's Table 3 on a patch store, by cross-validation or
//! with trained networks on the knees they were not trained on.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::{NetConfigArg, with_progress};
use super::training::TrainArgs;
use crate::regression::dataset::Manifest;
use crate::regression::nets::NetConfig;
use crate::regression::train::TrainSettings;

/// Arguments of `srrd eval-regression`.
#[derive(Debug, clap::Args)]
pub struct EvalRegressionArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    #[arg(long, value_enum, default_value = "small")]
    config: NetConfigArg,
    #[command(flatten)]
    training: TrainArgs,
    /// Evaluate the networks of this model folder (`demo`: the demo weights) on the
    /// store's knees they were not trained on, instead of cross-validating: no
    /// training; --folds and the training options do not apply.
    #[arg(long)]
    models: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

impl EvalRegressionArgs {
    /// Runs `srrd eval-regression`.
    pub fn run(self) -> anyhow::Result<()> {
        match &self.models {
            Some(models) => evaluate_held_out(&self.data, models, &self.out, self.json),
            None => evaluate(
                &self.data,
                &self.out,
                self.folds,
                self.config.config(),
                &self.training.settings()?,
                self.json,
            ),
        }
    }
}

/// `srrd eval-regression --data DIR --out DIR`: the paper's Table 3 by cross-validation.
pub fn evaluate(
    data: &Path,
    out: &Path,
    folds: usize,
    cfg: NetConfig,
    settings: &TrainSettings,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let report = with_progress(|p| {
        crate::pipeline::experiments::regression_eval::cross_validate(
            data,
            &manifest,
            folds,
            &cfg,
            settings,
            out,
            p,
            |line| {
                if !json {
                    eprintln!("  {line}");
                }
            },
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            crate::pipeline::experiments::regression_eval::markdown(&report)
        );
        println!("\n(table, JSON and scatter plots in {})", out.display());
    }
    by_acquisition(&manifest, out, json)
}

/// `srrd eval-regression --data DIR --models DIR --out DIR`: trained networks on the
/// store's knees they were not trained on.
pub fn evaluate_held_out(data: &Path, models: &Path, out: &Path, json: bool) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let models = if models == Path::new("demo") {
        crate::regression::model::demo_model_dir()
    } else {
        models.to_path_buf()
    };
    let report = with_progress(|p| {
        crate::pipeline::experiments::regression_held_out::evaluate_held_out(
            data, &manifest, &models, out, p,
        )
    })
    .with_context(|| format!("evaluating {} on {}", models.display(), data.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            crate::pipeline::experiments::regression_held_out::markdown(&report)
        );
        println!(
            "\n(table, JSON and per-patch predictions in {})",
            out.display()
        );
    }
    by_acquisition(&manifest, out, json)
}

/// When the store's cohort drew acquisitions (`srrd cohort --acquisitions clinical`), the
/// ICC per acquisition group, in `by_acquisition.md` and `.json`.
fn by_acquisition(manifest: &Manifest, out: &Path, json: bool) -> anyhow::Result<()> {
    use crate::pipeline::experiments::by_acquisition as ba;
    let cohort = Path::new(&manifest.source);
    let drew = crate::pipeline::experiments::study_knees::study_knees(cohort)
        .map(|s| s.iter().any(|c| c.acquisition.is_some()))
        .unwrap_or(false);
    if !drew {
        return Ok(());
    }
    let rows = ba::icc_by_acquisition(manifest, &out.join("oof.csv"))?;
    let md = ba::markdown(&rows);
    crate::io::atomic_write(&out.join("by_acquisition.md"), |w| {
        w.write_all(md.as_bytes())
    })?;
    let text = serde_json::to_string_pretty(&rows)?;
    crate::io::atomic_write(&out.join("by_acquisition.json"), |w| {
        w.write_all(text.as_bytes())
    })?;
    if !json {
        println!("\n{md}");
    }
    Ok(())
}
