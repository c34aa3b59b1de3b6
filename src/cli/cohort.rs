//! `srrd cohort`: N synthetic knees with the paper's group mix, and a manifest.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::acquisition::AcquisitionArgs;
use super::common::{PresetArg, with_progress};
use crate::phantom::{self, Acquisitions, Preset};

/// Arguments of `srrd cohort`.
#[derive(Debug, clap::Args)]
pub struct CohortArgs {
    /// Output folder (sub-000, sub-001, ..., manifest.json).
    #[arg(long)]
    out: PathBuf,
    /// Number of subjects.
    #[arg(long, default_value_t = 80)]
    n: usize,
    /// Cohort seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// paper or small.
    #[arg(long, value_enum, default_value = "small")]
    preset: PresetArg,
    /// CT point-spread function, SD in mm along every axis (default: the preset's,
    /// 0.4 / 0.4 / 0.45 mm): larger blurs the trabeculae more.
    #[arg(long)]
    ct_psf_mm: Option<f64>,
    /// CT marrow HU varies between knees and smoothly within each bone with this SD
    /// (red vs yellow marrow; default 0: a fixed -20 HU).
    #[arg(long, default_value_t = 0.0)]
    ct_marrow_hu_sd: f32,
    /// CT trabecular tissue HU varies between knees with this SD (mineralization;
    /// default 0: a fixed 1150 HU).
    #[arg(long, default_value_t = 0.0)]
    ct_bone_hu_sd: f32,
    /// clinical: draw each knee's acquisition as clinics scan (see the README); of
    /// the acquisition options below only --mr-protocol then applies (every knee's MR).
    #[arg(long, value_enum)]
    acquisitions: Option<AcquisitionsArg>,
    #[command(flatten)]
    acquisition: AcquisitionArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// `--acquisitions`: the drawn sets of acquisitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AcquisitionsArg {
    Clinical,
}

impl CohortArgs {
    /// Runs `srrd cohort`.
    pub fn run(self) -> anyhow::Result<()> {
        let ct = phantom::CohortCt {
            psf_sd_mm: self.ct_psf_mm,
            marrow_hu_sd: self.ct_marrow_hu_sd,
            bone_hu_sd: self.ct_bone_hu_sd,
        };
        // The PSF option is the cohort's CT change (kept in CohortCt, as before).
        let fixed = self.acquisition.acquisition(None)?;
        let plan = match self.acquisitions {
            Some(AcquisitionsArg::Clinical) => {
                let mut other = fixed.clone();
                other.mr = Default::default();
                if !other.is_default() {
                    anyhow::bail!(
                        "--acquisitions clinical draws the CT of every knee: of the acquisition options only --mr-protocol applies"
                    );
                }
                Acquisitions::Clinical(self.acquisition.mr_protocol.is_some().then_some(fixed.mr))
            }
            None if fixed.is_default() => Acquisitions::Preset,
            None => Acquisitions::Fixed(fixed),
        };
        cohort(
            &self.out,
            self.n,
            self.seed,
            self.preset.preset(),
            ct,
            &plan,
            self.json,
        )
    }
}

/// Writes the cohort's knees and manifest.
pub fn cohort(
    out: &Path,
    n: usize,
    seed: u64,
    preset: Preset,
    ct: phantom::CohortCt,
    acquisitions: &Acquisitions,
    json: bool,
) -> anyhow::Result<()> {
    if n == 0 {
        anyhow::bail!("--n must be at least 1");
    }
    if let Some(sd) = ct.psf_sd_mm
        && !(0.0..=5.0).contains(&sd)
    {
        anyhow::bail!("--ct-psf-mm {sd}: expected a standard deviation from 0 to 5 mm");
    }
    for (flag, sd) in [
        ("--ct-marrow-hu-sd", ct.marrow_hu_sd),
        ("--ct-bone-hu-sd", ct.bone_hu_sd),
    ] {
        if !(0.0..=500.0).contains(&sd) {
            anyhow::bail!("{flag} {sd}: expected a standard deviation from 0 to 500 HU");
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let entries = with_progress(|progress| {
        phantom::write_cohort(
            out,
            n,
            seed,
            preset,
            ct,
            acquisitions,
            progress,
            |e, reused| {
                eprintln!(
                    "  {}: {} (KL {}){}",
                    e.id,
                    e.grade,
                    e.kl_grade,
                    if reused { ", already written" } else { "" }
                );
            },
        )
    })
    .with_context(|| format!("writing the cohort to {}", out.display()))?;
    eprintln!(
        "{} subjects and manifest.json written to {}",
        entries.len(),
        out.display()
    );
    if json {
        println!(
            "{}",
            serde_json::json!({ "out": out, "manifest": out.join("manifest.json"), "count": entries.len() })
        );
    }
    Ok(())
}
