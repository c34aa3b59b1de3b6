//! `srrd phantom`: one synthetic knee with known truth.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::acquisition::AcquisitionArgs;
use super::common::{PresetArg, with_progress};
use crate::phantom::{self, Acquisition, Config, Grade, Preset};

/// Arguments of `srrd phantom`.
#[derive(Debug, clap::Args)]
pub struct PhantomArgs {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// normal (KL 0), mild (KL 1-2) or advanced (KL 3-4).
    // A string, not a ValueEnum: a bad grade is refused with exit code 1 (tests/cli.rs).
    #[arg(long, default_value = "normal")]
    grade: String,
    /// paper (the paper's image sizes) or small (same physics, fewer voxels).
    #[arg(long, value_enum, default_value = "paper")]
    preset: PresetArg,
    /// CT point-spread function SD in mm, in-plane (the reconstruction kernel: 0.25
    /// sharp to 0.8 soft; default the preset's 0.4).
    #[arg(long)]
    ct_psf_mm: Option<f64>,
    #[command(flatten)]
    acquisition: AcquisitionArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl PhantomArgs {
    /// Runs `srrd phantom`.
    pub fn run(self) -> anyhow::Result<()> {
        let acquisition = self.acquisition.acquisition(self.ct_psf_mm)?;
        phantom(
            &self.out,
            self.seed,
            &self.grade,
            self.preset.preset(),
            &acquisition,
            self.json,
        )
    }
}

/// Writes one phantom knee.
pub fn phantom(
    out: &Path,
    seed: u64,
    grade: &str,
    preset: Preset,
    acquisition: &Acquisition,
    json: bool,
) -> anyhow::Result<()> {
    let config = Config {
        seed,
        grade: Grade::parse(grade)?,
        preset,
    };
    // Fail before the work if the folder cannot be made.
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let p = with_progress(|progress| {
        let p = if acquisition.is_default() {
            phantom::generate(config, progress)?
        } else {
            phantom::acquisition::generate_acquired(
                config,
                phantom::CohortCt::default(),
                acquisition,
                progress,
            )?
        };
        p.write(out, progress)?;
        Ok(p)
    })
    .with_context(|| format!("writing the phantom to {}", out.display()))?;
    let timings: Vec<String> = p
        .timings_s
        .iter()
        .map(|(n, t)| format!("{n} {t:.2} s"))
        .collect();
    eprintln!(
        "phantom seed {} ({}, KL {}, preset {}) written to {} [{}]",
        seed,
        config.grade.name(),
        p.truth.kl_grade,
        config.preset.name(),
        out.display(),
        timings.join(", ")
    );
    if json {
        println!(
            "{}",
            serde_json::json!({
                "out": out,
                "seed": seed,
                "grade": config.grade.name(),
                "kl_grade": p.truth.kl_grade,
                "preset": config.preset.name(),
                "ct": out.join("ct.nii.gz"),
                "mr": out.join("mr.nii.gz"),
                "truth": out.join("truth.json"),
                "flexion_deg": p.truth.flexion_deg,
                "trabecular": p.truth.trabecular.subregions,
            })
        );
    } else {
        println!("subregion                   BV/TV   Tb.Th mm  Tb.Sp mm  Tb.N /mm");
        for s in &p.truth.trabecular.subregions {
            println!(
                "{:<27} {:.3}   {:.3}     {:.3}     {:.3}",
                format!("{} {}", s.bone, s.subregion),
                s.bv_tv,
                s.tb_th_mm,
                s.tb_sp_mm,
                s.tb_n_per_mm
            );
        }
    }
    Ok(())
}
