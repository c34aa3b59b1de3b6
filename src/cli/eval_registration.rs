//! `srrd eval-registration`: the paper's Table 2 on a phantom cohort: TRE of the
//! landmarks before registration, after the coarse rigid step, and after the refined
//! per-bone step, with timings.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::pipeline::experiments::registration_eval::evaluate;
use crate::pipeline::experiments::study_knees::study_knees;

/// Arguments of `srrd eval-registration`.
#[derive(Debug, clap::Args)]
pub struct EvalRegistrationArgs {
    /// The knees: a study list (a CSV or a folder of subjects, DICOM or NIfTI) or a
    /// phantom cohort folder (`srrd cohort`, whose true landmarks are used when no
    /// `--landmarks` is given).
    #[arg(long = "manifest", visible_alias = "cohort", value_name = "STUDY")]
    cohort: PathBuf,
    /// A reader's folder from the reading room (`READER_DIR/<subject>/landmarks_ct.json`
    /// and `landmarks_mr.json`, paired by name); once per reader. With two or more, the
    /// distance between readers is reported beside the TRE.
    #[arg(long = "landmarks", value_name = "READER_DIR")]
    readers: Vec<PathBuf>,
    /// Also write the table (Markdown) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only the first N subjects.
    #[arg(long)]
    limit: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl EvalRegistrationArgs {
    /// Runs `srrd eval-registration`.
    pub fn run(self) -> anyhow::Result<()> {
        eval_registration(
            &self.cohort,
            &self.readers,
            self.out.as_deref(),
            self.limit,
            self.json,
        )
    }
}

/// Registers every knee of a study with an MR and landmarks and writes the TRE table.
pub fn eval_registration(
    study: &Path,
    readers: &[PathBuf],
    out: Option<&Path>,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    for r in readers {
        anyhow::ensure!(r.is_dir(), "{}: no such reader folder", r.display());
    }
    let knees = study_knees(study)?;
    let eval = with_progress(|p| evaluate(&knees, readers, limit, p, |line| eprintln!("  {line}")))
        .with_context(|| format!("registering the knees of {}", study.display()))?;
    if eval.knees.is_empty() {
        anyhow::bail!(
            "{}: no knee has both an MR and landmarks{}; give the reading room's folders with \
             --landmarks READER_DIR (or use a phantom cohort, whose truth has them)",
            study.display(),
            if readers.is_empty() {
                " (a study list has no true landmarks)"
            } else {
                ""
            }
        );
    }
    let md = eval.markdown();
    if let Some(o) = out {
        crate::io::atomic_write(o, |w| w.write_all(md.as_bytes()))?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "cohort": study, "rows": eval.rows, "knees": eval.knees,
                "inter_reader": eval.inter_reader, "skipped": eval.skipped,
                "landmarks": eval.landmarks })
        );
    } else {
        print!("{md}");
    }
    Ok(())
}
