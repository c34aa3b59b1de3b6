//! The `srrd` command line (clap). Subcommands print one JSON object on stdout with
//! `--json`; errors are one line on stderr and exit code 1. Each command's arguments and
//! what it runs are in its own file (`info.rs` for `srrd info`, ...); `common.rs` holds
//! what several commands share.

mod acquisition;
pub mod analyze;
mod batch;
pub mod cohort;
pub mod cohort_report;
mod common;
pub mod convert;
pub mod eval_diagnosis;
pub mod eval_registration;
pub mod eval_regression;
pub mod eval_robustness;
pub mod eval_synthesis;
pub mod info;
pub mod manifest;
pub mod morph;
pub mod pacs;
pub mod patches;
pub mod phantom;
pub mod predict;
pub mod register;
pub mod resample;
pub mod roc;
pub mod series;
pub mod serve;
pub mod study;
pub mod synth_data;
pub mod synthesize;
pub mod train_classifier;
pub mod train_edges;
pub mod train_regression;
pub mod train_synthesis;
mod training;
pub mod tre;
pub mod view;

use clap::{Parser, Subcommand};

/// SRRD workstation: knee CT/MR subchondral trabecular bone analysis (research use only).
#[derive(Debug, Parser)]
#[command(name = "srrd", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands, in the order `srrd --help` lists them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the workstation (the demo volume when no image is given).
    View(view::ViewArgs),
    /// Size, spacing, origin, direction (LPS), pixel type and range of an image.
    Info(info::InfoArgs),
    /// List the DICOM series in a folder, largest first; a series that mixes orientations,
    /// sizes or repeated positions is listed as its parts (UID#1, UID#2, ...).
    Series(series::SeriesArgs),
    /// Convert an image (NIfTI or DICOM) to NIfTI (.nii or .nii.gz), float32 by default.
    Convert(convert::ConvertArgs),
    /// Trabecular parameters (BV/TV, Tb.Th, Tb.Sp, Tb.N) of a binary or grey image.
    Morph(morph::MorphArgs),
    /// ROC AUC with DeLong's 95% CI per score column of a CSV (`label,score1,...`), and
    /// DeLong's paired test of each score against the first.
    Roc(roc::RocArgs),
    /// Target registration error between landmarks of the fixed and moving images.
    Tre(tre::TreArgs),
    /// Register an MR (moving) to a CT (fixed): coarse rigid, mutual information.
    Register(register::RegisterArgs),
    /// TRE of coarse and refined registration over a phantom cohort (the paper's Table 2).
    EvalRegistration(eval_registration::EvalRegistrationArgs),
    /// CT-only analysis of a cohort's knees under every acquisition of the robustness
    /// matrix (pixels 0.3-1 mm x slices 0.5-3 mm, left, bilateral, turned leg, feet
    /// first, short scan, 4 mm slices), against each knee's reference acquisition.
    EvalRobustness(eval_robustness::EvalRobustnessArgs),
    /// Write a synthetic knee (CT, MR, labels, landmarks, true transforms, truth.json).
    Phantom(phantom::PhantomArgs),
    /// Write N synthetic knees with the paper's group mix (30/25/25 per 80) and a manifest.
    Cohort(cohort::CohortArgs),
    /// Resample an image onto another image's grid (world coordinates kept), as
    /// SimpleITK's Resample with an identity transform.
    /// crMR and CT of every subject of a phantom cohort (coarse registration), the
    /// synthesis networks' training data.
    SynthData(synth_data::SynthDataArgs),
    /// Trains the HED-style edge network on a synthesis store (tissue boundaries).
    TrainEdges(train_edges::TrainEdgesArgs),
    /// Trains SPSNet (or the plain CycleGAN baseline) on a synthesis store.
    TrainSynthesis(train_synthesis::TrainSynthesisArgs),
    /// sCT of one knee: from a crMR already on the CT grid (--crmr, --out FILE), or from
    /// a CT and an MR (coarse registration first; --out DIR gets crmr and sct).
    Synthesize(synthesize::SynthesizeArgs),
    /// Synthesis on held-out phantoms (the paper's Table 2, top half): structure
    /// preservation against the CT in the MR's pose, and refined-registration TRE.
    EvalSynthesis(eval_synthesis::EvalSynthesisArgs),
    /// Paired CT/MR patches of a phantom cohort, registered and measured (the regression
    /// stage's training data).
    Patches(patches::PatchesArgs),
    /// Trains the MR teacher, the distilled CT student and the plain CNN on a patch store.
    TrainRegression(train_regression::TrainRegressionArgs),
    /// Cross-validated regression (the paper's Table 3) on a patch store.
    EvalRegression(eval_regression::EvalRegressionArgs),
    /// CT-only trabecular parameter maps of a knee CT with the student network.
    Predict(predict::PredictArgs),
    /// KOA classification from per-subregion features (the paper's Table 4), on the
    /// out-of-fold predictions of `srrd eval-regression`.
    EvalDiagnosis(eval_diagnosis::EvalDiagnosisArgs),
    /// The whole method for one knee: CT (and MR) in, per-subregion trabecular parameters,
    /// maps and a KOA score out. With no --ct, the demo knee.
    Analyze(analyze::AnalyzeArgs),
    /// The cohort table (CSV, one row per knee) and report (HTML) from the reports of
    /// `srrd analyze --manifest` (or the workflow): parameters, P(KOA), quality checks,
    /// failures with their logs, ROC with its DeLong CI when the manifest has labels.
    CohortReport(cohort_report::CohortReportArgs),
    /// Checks a study manifest (CSV or folder) and lists its knees: wrong columns,
    /// duplicated ids and bad sides are refused with the row; missing files are listed.
    Manifest(manifest::ManifestArgs),
    /// Fits the demo KOA classifier on the distilled student's out-of-fold features.
    TrainClassifier(train_classifier::TrainClassifierArgs),
    /// The whole study on a phantom cohort (registration, synthesis, regression and
    /// diagnosis tables beside the paper's) in one Markdown report.
    Study(study::StudyArgs),
    /// The workstation as a DICOM node: echo, find, get and send against the nodes of
    /// nodes.toml ($SRRD_CONFIG_DIR, default ~/.config/srrd).
    Pacs(pacs::PacsArgs),
    /// The analysis service: a storage SCP that analyzes knee CT series as they arrive
    /// and sends SEG, parametric maps and SR back (`srrd serve status` for its queue).
    Serve(serve::ServeArgs),
    // No help line today: the doc comment above `SynthData` starts with resample's.
    #[command(about = None, long_about = None)]
    Resample(resample::ResampleArgs),
}

/// Runs the command line; the binary's `main` reports the error.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => crate::app::run(crate::app::RunOptions::default()),
        Some(Command::View(a)) => a.run(),
        Some(Command::Info(a)) => a.run(),
        Some(Command::Series(a)) => a.run(),
        Some(Command::Convert(a)) => a.run(),
        Some(Command::Morph(a)) => a.run(),
        Some(Command::Roc(a)) => a.run(),
        Some(Command::Tre(a)) => a.run(),
        Some(Command::Register(a)) => a.run(),
        Some(Command::EvalRegistration(a)) => a.run(),
        Some(Command::EvalRobustness(a)) => a.run(),
        Some(Command::Phantom(a)) => a.run(),
        Some(Command::Cohort(a)) => a.run(),
        Some(Command::SynthData(a)) => a.run(),
        Some(Command::TrainEdges(a)) => a.run(),
        Some(Command::TrainSynthesis(a)) => a.run(),
        Some(Command::Synthesize(a)) => a.run(),
        Some(Command::EvalSynthesis(a)) => a.run(),
        Some(Command::Patches(a)) => a.run(),
        Some(Command::TrainRegression(a)) => a.run(),
        Some(Command::EvalRegression(a)) => a.run(),
        Some(Command::Predict(a)) => a.run(),
        Some(Command::EvalDiagnosis(a)) => a.run(),
        Some(Command::Analyze(a)) => a.run(),
        Some(Command::CohortReport(a)) => a.run(),
        Some(Command::Manifest(a)) => a.run(),
        Some(Command::TrainClassifier(a)) => a.run(),
        Some(Command::Study(a)) => a.run(),
        Some(Command::Resample(a)) => a.run(),
        Some(Command::Pacs(a)) => a.run(),
        Some(Command::Serve(a)) => a.run(),
    }
}
