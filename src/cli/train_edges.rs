//! `srrd train-edges`: the HED-style edge network on a synthesis store.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::{SynthConfigArg, parse_subjects, with_progress};
use crate::synthesis::data::{DataManifest, load_data};
use crate::synthesis::nets::SynthConfig;
use crate::synthesis::train::train_edges as fit_edges;

/// Arguments of `srrd train-edges`.
#[derive(Debug, clap::Args)]
pub struct TrainEdgesArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// small (CPU) or paper.
    #[arg(long, value_enum, default_value = "small")]
    config: SynthConfigArg,
    /// Training subjects: "A..B", "A,B,C" or "all".
    #[arg(long, default_value = "all")]
    subjects: String,
    #[arg(long, default_value_t = 400)]
    iterations: usize,
    #[arg(long, default_value_t = 8)]
    batch: i64,
}

impl TrainEdgesArgs {
    /// Runs `srrd train-edges`.
    pub fn run(self) -> anyhow::Result<()> {
        train_edges(
            &self.data,
            &self.out,
            self.config.config(),
            &self.subjects,
            self.iterations,
            self.batch,
        )
    }
}

/// `srrd train-edges --data DIR --out DIR`: the HED-style edge network.
pub fn train_edges(
    data: &Path,
    out: &Path,
    cfg: SynthConfig,
    subjects: &str,
    iterations: usize,
    batch: i64,
) -> anyhow::Result<()> {
    let manifest = DataManifest::read(data)?;
    let subjects = parse_subjects(subjects, manifest.subjects.len())?;
    let clock = std::time::Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let log = with_progress(|p| {
        let slices = load_data(data, &manifest, &subjects)?;
        let trained = fit_edges(&slices, &cfg, iterations, batch, 1, p)?;
        crate::regression::train::save_weights(&trained.vs, &out.join("hed.safetensors"))?;
        Ok(trained.log)
    })?;
    let info = serde_json::json!({
        "config": cfg,
        "iterations": iterations,
        "batch": batch,
        "subjects": subjects,
        "data": data.display().to_string(),
        "seconds": clock.elapsed().as_secs_f64(),
        "log_balanced_bce": log,
    });
    std::fs::write(out.join("hed.json"), serde_json::to_string_pretty(&info)?)
        .with_context(|| format!("writing {}", out.join("hed.json").display()))?;
    let last = log.last().map(|l| l.1).unwrap_or(f64::NAN);
    println!(
        "edge network: {iterations} iterations in {:.0} s, balanced BCE {last:.3}, in {}",
        clock.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
