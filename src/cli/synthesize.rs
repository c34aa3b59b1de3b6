//! `srrd synthesize`: the sCT of one knee.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::io::nifti::{WriteDtype, write_nifti};
use crate::io::read_image;
use crate::synthesis::model::{
    PROVENANCE, demo_model_dir, load_model, synthesize as run_synthesis,
};

/// Arguments of `srrd synthesize`.
#[derive(Debug, clap::Args)]
pub struct SynthesizeArgs {
    #[arg(long)]
    crmr: Option<PathBuf>,
    #[arg(long)]
    ct: Option<PathBuf>,
    #[arg(long)]
    mr: Option<PathBuf>,
    /// Model folder (default: the demo SPSNet in assets/synthesis).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

impl SynthesizeArgs {
    /// Runs `srrd synthesize`.
    pub fn run(self) -> anyhow::Result<()> {
        synthesize(
            self.crmr.as_deref(),
            self.ct.as_deref(),
            self.mr.as_deref(),
            self.model.as_deref(),
            &self.out,
        )
    }
}

/// `srrd synthesize --crmr FILE --out FILE` or `--ct CT --mr MR --out DIR`.
pub fn synthesize(
    crmr: Option<&Path>,
    ct: Option<&Path>,
    mr: Option<&Path>,
    model: Option<&Path>,
    out: &Path,
) -> anyhow::Result<()> {
    let dir = model.map(Path::to_path_buf).unwrap_or_else(demo_model_dir);
    // Loaded here to fail early; loaded again on the worker (tch tensors stay on one thread).
    let card = load_model(&dir)
        .with_context(|| format!("loading the synthesis model in {}", dir.display()))?
        .card;
    let (cr_mr, sct_path) = match (crmr, ct, mr) {
        (Some(p), None, None) => (read_image(p, None)?.volume, out.to_path_buf()),
        (None, Some(ct), Some(mr)) => {
            let ct = read_image(ct, None)?.volume;
            let mr = read_image(mr, None)?.volume;
            let coarse = with_progress(|p| {
                crate::pipeline::registration::coarse(
                    &ct,
                    &mr,
                    crate::registration::Metric::MattesMi { bins: 32 },
                    false,
                    p,
                )
            })?;
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            write_nifti(&out.join("crmr.nii.gz"), &coarse.cr_mr, WriteDtype::F32)?;
            (coarse.cr_mr, out.join("sct.nii.gz"))
        }
        _ => anyhow::bail!("give --crmr FILE (an MR already on the CT grid), or --ct and --mr"),
    };
    let clock = std::time::Instant::now();
    let sct = with_progress(|p| run_synthesis(&load_model(&dir)?, &cr_mr, p))?;
    write_nifti(&sct_path, &sct, WriteDtype::I16)?;
    println!(
        "sCT ({}, {} slices) in {:.1} s: {}\n{}",
        card.method,
        sct.geometry.size[2],
        clock.elapsed().as_secs_f64(),
        sct_path.display(),
        PROVENANCE
    );
    Ok(())
}
