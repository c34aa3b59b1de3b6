//! `srrd train-regression`: the MR teacher, the distilled CT student and the plain CNN on
//! a patch store, written as a model folder.

use std::path::{Path, PathBuf};

use super::common::{NetConfigArg, with_progress};
use super::training::TrainArgs;
use crate::regression::dataset::Manifest;
use crate::regression::model::{ModelBundle, train_bundle};
use crate::regression::nets::NetConfig;
use crate::regression::train::TrainSettings;

/// Arguments of `srrd train-regression`.
#[derive(Debug, clap::Args)]
pub struct TrainRegressionArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// small (CPU), small-hr (small with a teacher that sees the MR at full resolution
    /// first) or paper (ResNet-50, for a GPU).
    #[arg(long, value_enum, default_value = "small")]
    config: NetConfigArg,
    #[command(flatten)]
    training: TrainArgs,
    /// Continue from the checkpoints in --out.
    #[arg(long)]
    resume: bool,
    #[arg(long)]
    json: bool,
}

impl TrainRegressionArgs {
    /// Runs `srrd train-regression`.
    pub fn run(self) -> anyhow::Result<()> {
        train(
            &self.data,
            &self.out,
            self.config.config(),
            &self.training.settings()?,
            self.resume,
            self.json,
        )
    }
}

/// Trains the networks and writes the model folder.
pub fn train(
    data: &Path,
    out: &Path,
    cfg: NetConfig,
    settings: &TrainSettings,
    resume: bool,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let all: Vec<usize> = (0..manifest.subjects.len()).collect();
    let bundle: ModelBundle =
        with_progress(|p| train_bundle(data, &manifest, &all, &cfg, settings, out, resume, p))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&bundle.card)?);
    } else {
        println!("models written to {}", out.display());
        for line in bundle.card.summary_lines() {
            println!("  {line}");
        }
    }
    Ok(())
}
