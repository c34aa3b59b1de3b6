//! `srrd patches`: a patch store from a study or a phantom cohort (paired CT/MR patches, registered
//! and measured: the regression stage's training data).

use std::path::{Path, PathBuf};

use super::common::{MethodArg, spacing_arg, with_progress};
use crate::pipeline::experiments::patches::build_store;
use crate::regression::dataset::PatchSettings;

/// Arguments of `srrd patches`.
#[derive(Debug, clap::Args)]
pub struct PatchesArgs {
    /// The knees: a study list (a CSV or a folder of subjects, DICOM or NIfTI, as
    /// `analyze --manifest` reads it; knees without an MR are left out) or a phantom
    /// cohort folder (`srrd cohort`).
    #[arg(long = "manifest", visible_alias = "cohort", value_name = "STUDY")]
    cohort: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Patches per subject (a seeded subset of the lattice).
    #[arg(long, default_value_t = 160)]
    per_subject: usize,
    /// Ground-truth morphometry on the MR patches: bonej or paper.
    #[arg(long, value_enum, default_value = "bonej")]
    method: MethodArg,
    /// The CT grid patches are cut from, in mm (i,j,k, e.g. 0.977,0.977,1.0): every CT
    /// is resampled to it first, so patches are the same size in mm whatever the
    /// acquisition (default: the first subject's CT spacing).
    #[arg(long, value_delimiter = ',')]
    ct_spacing_mm: Option<Vec<f64>>,
    /// Only knees whose MR used these protocols (comma-separated: sagittal, thick2d,
    /// coronal, axial; default: all). The ground truth's apparent parameters depend on
    /// the MR protocol, so a store teaches one target only with one kind of MR.
    // A list kept as typed: the store's manifest records these names.
    #[arg(long, value_delimiter = ',')]
    mr_protocols: Option<Vec<String>>,
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long)]
    json: bool,
}

impl PatchesArgs {
    /// Runs `srrd patches`.
    pub fn run(self) -> anyhow::Result<()> {
        let spacing = spacing_arg("--ct-spacing-mm", self.ct_spacing_mm.as_deref())?;
        patches(
            &self.cohort,
            &self.out,
            self.per_subject,
            self.method,
            spacing,
            self.mr_protocols,
            self.limit,
            self.json,
        )
    }
}

/// Builds the patch store.
#[allow(clippy::too_many_arguments)]
pub fn patches(
    cohort: &Path,
    out: &Path,
    per_subject: usize,
    method: MethodArg,
    ct_spacing_mm: Option<[f64; 3]>,
    mr_protocols: Option<Vec<String>>,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    for p in mr_protocols.iter().flatten() {
        crate::phantom::acquisition::MrProtocol::parse(p)
            .map_err(|e| anyhow::anyhow!("--mr-protocols: {e}"))?;
    }
    let settings = PatchSettings {
        per_subject,
        method: method.name().to_string(),
        mr_protocols,
        ..Default::default()
    };
    let manifest = with_progress(|p| {
        build_store(cohort, out, &settings, ct_spacing_mm, limit, p, |line| {
            if !json {
                eprintln!("  {line}");
            }
        })
    })?;
    let total: usize = manifest.subjects.iter().map(|s| s.patches).sum();
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        println!(
            "{} patches from {} subjects in {} (ground truth: {} on the MR patches)",
            total,
            manifest.subjects.len(),
            out.display(),
            manifest.settings.method
        );
        for (a, (name, unit)) in manifest.targets.iter().enumerate() {
            println!(
                "  {name:<12} {:>8.3} .. {:<8.3} {unit}",
                manifest.target_min[a], manifest.target_max[a]
            );
        }
    }
    Ok(())
}
