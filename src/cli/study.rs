//! `srrd study --cohort DIR --out DIR`: the whole study on a phantom cohort in one
//! command: registration TRE (Table 2's registration half), the patch store, regression
//! ICC (Table 3), KOA classification (Table 4), each table beside the paper's, and the
//! command line that reproduces each, in `report.md`. Synthesis (Table 2's top half)
//! evaluates a trained model (the demo SPSNet unless told), since training one needs a GPU.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::pipeline::experiments::patches::build_store;
use crate::regression::dataset::PatchSettings;
use crate::regression::nets::NetConfig;
use crate::regression::train::TrainSettings;

const PAPER_TABLE2: &str = "Paper (80 patients): ANTs rigid 13.56 ± 8.41 mm; + SPSNet 8.06 ± 4.98 mm; + refined registration 3.67 ± 2.43 mm.";

const PAPER_TABLE3: &str = "| paper (80 patients) | BV/TV | Tb.Th | Tb.Sp | Tb.N |
|---|---|---|---|---|
| radiomics | 0.548 ± 0.011 | 0.407 ± 0.032 | 0.356 ± 0.017 | 0.326 ± 0.036 |
| CNN | 0.670 ± 0.053 | 0.488 ± 0.038 | 0.523 ± 0.054 | 0.502 ± 0.085 |
| distilled CNN (SRRD) | 0.804 ± 0.037 | 0.773 ± 0.042 | 0.711 ± 0.063 | 0.622 ± 0.133 |";

const PAPER_TABLE4: &str = "| paper (80 patients) | precision | recall | F1 | AUC (95% CI) |
|---|---|---|---|---|
| radiomics (CT) | 0.579 ± 0.090 | 0.703 ± 0.034 | 0.635 ± 0.057 | 0.622 (0.550-0.694) |
| CNN (CT) | 0.625 ± 0.043 | 0.684 ± 0.056 | 0.652 ± 0.039 | 0.658 (0.574-0.742) |
| SRRD (CT) | 0.743 ± 0.072 | 0.793 ± 0.062 | 0.771 ± 0.056 | 0.767 (0.681-0.853) |
| CNN (MR) | 0.786 ± 0.061 | 0.865 ± 0.037 | 0.824 ± 0.044 | 0.812 (0.756-0.868) |";

/// Arguments of `srrd study`.
#[derive(Debug, clap::Args)]
pub struct StudyArgs {
    /// The knees: a study list (a CSV or a folder of subjects, DICOM or NIfTI, KL grades
    /// in its label or kl column) or a phantom cohort folder (`srrd cohort`).
    #[arg(long = "manifest", visible_alias = "cohort", value_name = "STUDY")]
    cohort: PathBuf,
    /// A reader's folder from the reading room, for the registration table (once per
    /// reader; a phantom cohort's true landmarks are used without it).
    #[arg(long = "landmarks", value_name = "READER_DIR")]
    readers: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// Epochs of the MR teacher when it should train longer (default: --epochs).
    #[arg(long)]
    teacher_epochs: Option<usize>,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Knees on which the synthesis model is evaluated ("A..B", "A,B,C" or "all"):
    /// leave out those it was trained on (the demo's: knees 0..24 of cohort32).
    #[arg(long, default_value = "all")]
    synthesis_subjects: String,
    /// Synthesis model folder (default: the demo SPSNet).
    #[arg(long)]
    synthesis: Option<PathBuf>,
}

impl StudyArgs {
    /// Runs `srrd study`.
    pub fn run(self) -> anyhow::Result<()> {
        study(
            &self.cohort,
            &self.out,
            &StudySettings {
                folds: self.folds,
                epochs: self.epochs,
                teacher_epochs: self.teacher_epochs,
                batch: self.batch,
                synthesis_subjects: self.synthesis_subjects,
                synthesis: self.synthesis,
                readers: self.readers,
            },
        )
    }
}

/// What `srrd study` runs.
pub struct StudySettings {
    pub folds: usize,
    pub epochs: usize,
    pub teacher_epochs: Option<usize>,
    pub batch: usize,
    /// Knees the synthesis model is evaluated on ("all", "A..B", "A,B,C").
    pub synthesis_subjects: String,
    /// Synthesis model folder; `None`: the demo SPSNet.
    pub synthesis: Option<PathBuf>,
    /// Readers' landmark folders for the registration table.
    pub readers: Vec<PathBuf>,
}

/// Runs every evaluation and writes `out/report.md`.
pub fn study(cohort: &Path, out: &Path, s: &StudySettings) -> anyhow::Result<()> {
    let (folds, epochs, teacher_epochs, batch) = (s.folds, s.epochs, s.teacher_epochs, s.batch);
    // Bad input fails now, not after the long stages that come before its use.
    let model = synthesis_model(s);
    crate::synthesis::model::load_model(&model)
        .with_context(|| format!("--synthesis {}", model.display()))?;
    std::fs::create_dir_all(out)?;
    let c = cohort.display();
    let o = out.display();
    let reg_md = out.join("registration.md");
    // A phantom cohort carries its truth (true landmarks, the CT in the MR's pose); a
    // clinic's study list has only what readers placed, and no truth for the synthesis.
    let phantom = cohort.join("manifest.json").exists();
    if phantom || !s.readers.is_empty() {
        super::eval_registration::eval_registration(
            cohort,
            &s.readers,
            Some(&reg_md),
            None,
            false,
        )?;
    } else {
        let why = "Not measured: a study list has no true landmarks; give the readers' folders from the reading room with `--landmarks READER_DIR` (once per reader).\n";
        crate::io::atomic_write(&reg_md, |w| w.write_all(why.as_bytes()))?;
    }
    let synthesis = if phantom {
        synthesis_section(cohort, out, s)?
    } else {
        "Not measured on a study list: it compares the sCT with the knee's CT in the MR's pose, which only a phantom has.\n".to_string()
    };
    let store = out.join("store");
    let settings = PatchSettings::default();
    let manifest =
        with_progress(|p| build_store(cohort, &store, &settings, None, None, p, |_| {}))?;
    let cfg = NetConfig::small();
    let train = TrainSettings {
        epochs,
        teacher_epochs,
        batch,
        ..Default::default()
    };
    let cv = out.join("regression");
    let reg = with_progress(|p| {
        crate::pipeline::experiments::regression_eval::cross_validate(
            &store,
            &manifest,
            folds,
            &cfg,
            &train,
            &cv,
            p,
            |l| eprintln!("  {l}"),
        )
    })?;
    let dx = out.join("diagnosis");
    // Too few knees of a class for the folds is a finding of this cohort, not a reason to
    // lose the other tables: the report says why the diagnosis table is missing.
    let diag = match with_progress(|p| {
        crate::pipeline::experiments::diagnosis_eval::evaluate(
            &manifest,
            &cv.join("oof.csv"),
            folds,
            &dx,
            p,
        )
    }) {
        Ok(d) => crate::pipeline::experiments::diagnosis_eval::markdown(&d),
        Err(e) => {
            eprintln!("diagnosis not evaluated: {e}");
            format!("Not evaluated on this cohort: {e}\n")
        }
    };
    let registration = std::fs::read_to_string(&reg_md).unwrap_or_default();
    // Every knee of the study is accounted for: those the store left out, with why.
    let exclusions = if manifest.excluded.is_empty() {
        "None: every knee of the study gave patches.\n".to_string()
    } else {
        let rows: String = (manifest.excluded.iter())
            .map(|e| format!("| {} | {} |\n", e.id, e.reason.replace('|', "/")))
            .collect();
        format!("| knee | why it is left out |\n|---|---|\n{rows}")
    };
    let teacher = teacher_epochs
        .map(|t| format!(" --teacher-epochs {t}"))
        .unwrap_or_default();
    let report = format!(
        "# SRRD on {}\n\nCohort: `{c}` ({} knees). Everything below is out-of-sample: registration never sees the true transforms; regression and classification are {folds}-fold cross-validated by subject; the synthesis section says which knees its model saw.\n\n## Registration (Table 2, registration half)\n\n`srrd eval-registration --cohort {c}`\n\n{registration}\n{PAPER_TABLE2}\n\n## Synthesis (Table 2, synthesis half)\n\n{synthesis}\n## Regression (Table 3)\n\n`srrd patches --cohort {c} --out {o}/store`, then `srrd eval-regression --data {o}/store --out {o}/regression --folds {folds} --epochs {epochs}{teacher} --batch {batch}`\n\n{}\n{PAPER_TABLE3}\n\nScatter plots (Figure 5, ICC and r on each panel): `{o}/regression/scatter_*.png`; Bland-Altman plots: `{o}/regression/bland_altman_*.png`.\n\n## Diagnosis (Table 4)\n\n`srrd eval-diagnosis --data {o}/store --regression {o}/regression --out {o}/diagnosis --folds {folds}`\n\n{}\n{PAPER_TABLE4}\n\nROC curves: `{o}/diagnosis/roc.png`; box plots of P(KOA) and the predicted parameters by KL grade: `{o}/diagnosis/boxes_*.png` (every figure also as SVG beside its PNG).\n\n## Knees left out of training\n\n{exclusions}\n## Not in this report\n\nTraining synthesis networks (it needs a GPU to give a useful model: `scripts/gpu/synthesis_runs.sh`; docs/results.md has the table of SPSNet against CycleGAN and the commands).\n",
        if phantom {
            "a phantom cohort"
        } else {
            "a study"
        },
        manifest.subjects.len(),
        crate::pipeline::experiments::regression_eval::markdown(&reg),
        diag,
    );
    crate::io::atomic_write(&out.join("report.md"), |w| w.write_all(report.as_bytes()))?;
    println!("{}", out.join("report.md").display());
    Ok(())
}

/// Table 2's synthesis half for the study: the cohort's crMR (`out/synth`), then the model's
/// sCT against the CT in the MR's pose, and the refined registration on it.
fn synthesis_section(cohort: &Path, out: &Path, s: &StudySettings) -> anyhow::Result<String> {
    let data = out.join("synth");
    super::synth_data::synth_data(cohort, &data, None, false)?;
    let model = synthesis_model(s);
    let card = crate::synthesis::model::SynthCard::read(&model)?;
    let eval = out.join("synthesis");
    let models = format!("{}={}", card.method, model.display());
    super::eval_synthesis::eval_synthesis(
        &data,
        cohort,
        &models,
        &s.synthesis_subjects,
        &eval,
        false,
    )?;
    let table = std::fs::read_to_string(eval.join("table.md"))
        .with_context(|| format!("reading {}", eval.join("table.md").display()))?;
    // The commands are given above; the table's own "Command:" line would name `study`.
    let table: String = table
        .lines()
        .filter(|l| !l.starts_with("Command:"))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(format!(
        "`srrd synth-data --cohort {c} --out {d}`, then `srrd eval-synthesis --data {d} --cohort {c} --models {models} --subjects {subj} --out {e}`\n\nModel: {method}, {iters} iterations, trained on {trained}. {held}\n\n{table}\nPaper: SPSNet's sCT gives a refined TRE of 2.93 mm against 6.70 mm for CycleGAN's.\n",
        c = cohort.display(),
        d = data.display(),
        e = eval.display(),
        subj = s.synthesis_subjects,
        method = card.method,
        iters = card.settings.iterations,
        trained = card.trained_on,
        held = if s.synthesis_subjects == "all" {
            "Every knee of this cohort is evaluated: if the model was trained on some of them, \
             rerun with `--synthesis-subjects` naming the others."
        } else {
            "Evaluated on the knees named above only."
        },
    ))
}

/// The synthesis model the study evaluates: `--synthesis`, or the demo SPSNet.
fn synthesis_model(s: &StudySettings) -> PathBuf {
    s.synthesis
        .clone()
        .unwrap_or_else(crate::synthesis::model::demo_model_dir)
}
