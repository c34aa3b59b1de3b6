//! `srrd synth-data`: the crMR/CT store of a study or a phantom cohort (the synthesis networks'
//! training data).

use std::path::{Path, PathBuf};

use super::common::with_progress;
use crate::pipeline::experiments::synthesis_data::build_data;

/// Arguments of `srrd synth-data`.
#[derive(Debug, clap::Args)]
pub struct SynthDataArgs {
    /// The knees: a study list (a CSV or a folder of subjects, DICOM or NIfTI, as
    /// `analyze --manifest` reads it; knees without an MR are left out) or a phantom
    /// cohort folder (`srrd cohort`).
    #[arg(long = "manifest", visible_alias = "cohort", value_name = "STUDY")]
    cohort: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long)]
    json: bool,
}

impl SynthDataArgs {
    /// Runs `srrd synth-data`.
    pub fn run(self) -> anyhow::Result<()> {
        synth_data(&self.cohort, &self.out, self.limit, self.json)
    }
}

/// `srrd synth-data --manifest STUDY --out DIR`.
pub fn synth_data(
    cohort: &Path,
    out: &Path,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = with_progress(|p| {
        build_data(cohort, out, limit, p, |line| {
            if !json {
                eprintln!("  {line}");
            }
        })
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        println!(
            "crMR and CT of {} subjects in {} (coarse registration, Mattes MI)",
            manifest.subjects.len(),
            out.display()
        );
    }
    Ok(())
}
