//! `srrd eval-registration`: the paper's Table 2 (registration half) on a study: TRE of
//! the landmarks before registration, after the coarse rigid step, after the coarse step
//! and a rigid registration of the sCT (the paper's "+ SPSNet"), and after the refined
//! per-bone step, with timings. The landmarks are readers' (`--landmarks`, the study
//! list's `ct_landmarks`/`mr_landmarks` columns) or a phantom cohort's truth.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::pipeline::experiments::registration_eval::{Settings, default_synthesis, evaluate};
use crate::pipeline::experiments::study_knees::study_knees;

/// Arguments of `srrd eval-registration`.
#[derive(Debug, clap::Args)]
pub struct EvalRegistrationArgs {
    /// The knees: a study list (a CSV or a folder of subjects, DICOM or NIfTI; its
    /// `ct_landmarks` and `mr_landmarks` columns, when present, are one more reader) or a
    /// phantom cohort folder (`srrd cohort`, whose true landmarks are used when no other
    /// landmarks are given).
    #[arg(long = "manifest", visible_alias = "cohort", value_name = "STUDY")]
    cohort: PathBuf,
    /// A reader's folder from the reading room (`READER_DIR/<subject>/landmarks_ct.json`
    /// and `landmarks_mr.json`, paired by name); once per reader. With two or more, the
    /// distance between readers is reported beside the TRE.
    #[arg(long = "landmarks", value_name = "READER_DIR")]
    readers: Vec<PathBuf>,
    /// The synthesis model of the "rigid + sCT" stage: a model folder, `demo` (the
    /// bundled SPSNet, the default) or `none` (the stage is not measured, and the
    /// evaluation runs several times faster: 8 small-preset knees took 13 s without it and
    /// 54-78 s with it on 2 busy cores, most of it the synthesis).
    #[arg(long, value_name = "DIR|demo|none", default_value = "demo")]
    synthesis: String,
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
        let synthesis = synthesis_choice(&self.synthesis)?;
        eval_registration_with(
            &self.cohort,
            &self.readers,
            synthesis.as_deref(),
            self.out.as_deref(),
            self.limit,
            self.json,
        )
    }
}

/// `--synthesis`: `none`, `demo` (the bundled model; None with a warning when it is not
/// installed) or a model folder (which must hold a model card).
pub fn synthesis_choice(arg: &str) -> anyhow::Result<Option<PathBuf>> {
    match arg {
        "none" => Ok(None),
        "demo" => {
            let dir = default_synthesis();
            if dir.is_none() {
                eprintln!(
                    "warning: the demo synthesis model ({}) is not installed; the rigid + sCT \
                     stage is not measured",
                    crate::synthesis::model::demo_model_dir().display()
                );
            }
            Ok(dir)
        }
        dir => {
            let dir = PathBuf::from(dir);
            anyhow::ensure!(
                dir.join("model.json").is_file(),
                "--synthesis {}: not a synthesis model folder (no model.json); give a folder \
                 `srrd train-synthesis` wrote, demo or none",
                dir.display()
            );
            Ok(Some(dir))
        }
    }
}

/// [`eval_registration_with`] with the demo synthesis model when it is installed.
pub fn eval_registration(
    study: &Path,
    readers: &[PathBuf],
    out: Option<&Path>,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    eval_registration_with(
        study,
        readers,
        default_synthesis().as_deref(),
        out,
        limit,
        json,
    )
}

/// Registers every knee of a study with an MR and landmarks and writes the TRE table; the
/// sCT stage with `synthesis` (a model folder), not measured when None.
pub fn eval_registration_with(
    study: &Path,
    readers: &[PathBuf],
    synthesis: Option<&Path>,
    out: Option<&Path>,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    for r in readers {
        anyhow::ensure!(r.is_dir(), "{}: no such reader folder", r.display());
    }
    let knees = study_knees(study)?;
    let settings = Settings {
        readers: readers.to_vec(),
        synthesis: synthesis.map(Path::to_path_buf),
        limit,
    };
    let eval = with_progress(|p| evaluate(&knees, &settings, p, |line| eprintln!("  {line}")))
        .with_context(|| format!("registering the knees of {}", study.display()))?;
    if eval.knees.is_empty() {
        let skipped: Vec<String> = (eval.skipped.iter())
            .map(|(s, why)| format!("{s} ({why})"))
            .collect();
        anyhow::bail!(
            "{}: no knee has both an MR and landmarks{}; give the reading room's folders with \
             --landmarks READER_DIR, or name each knee's files in the list's ct_landmarks and \
             mr_landmarks columns (a phantom cohort's truth has them){}",
            study.display(),
            if readers.is_empty() {
                " (a study list has no true landmarks)"
            } else {
                ""
            },
            if skipped.is_empty() {
                String::new()
            } else {
                format!(". Skipped: {}", skipped.join(", "))
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
                "landmarks": eval.landmarks, "synthesis": eval.synthesis,
                "problems": eval.problems })
        );
    } else {
        print!("{md}");
    }
    Ok(())
}
