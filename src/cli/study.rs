//! `srrd study --manifest STUDY --out DIR`: the whole method on a study (a clinic's study
//! list or a phantom cohort) in one command: registration TRE (Table 2's registration
//! half, from the readers' landmarks or a phantom's truth), the patch store, regression
//! ICC (Table 3), KOA classification (Table 4), each table beside the paper's with the
//! command line that reproduces it, in `report.md`, and `DIR/models/`: the networks and
//! the classifier trained on every knee, with cards naming the study, for
//! `srrd analyze --models`. Synthesis (Table 2's top half) evaluates a trained model (the
//! demo SPSNet unless told), since training one needs a GPU. Every step resumes: the
//! store per knee, the cross-validation per fold, the final training from its
//! checkpoints, the registration and synthesis tables when written.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::pipeline::experiments::diagnosis_eval::DiagnosisReport;
use crate::pipeline::experiments::patches::build_store;
use crate::pipeline::experiments::regression_eval::CvReport;
use crate::pipeline::experiments::study_knees::{StudyKnee, study_knees};
use crate::regression::dataset::{Manifest, PatchSettings};
use crate::regression::model::ModelCard;
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
    /// Synthesis model folder (default: the demo SPSNet); it is copied into the models
    /// folder.
    #[arg(long)]
    synthesis: Option<PathBuf>,
    /// Patches per knee (a seeded subset of the lattice).
    #[arg(long, default_value_t = 160)]
    per_knee: usize,
    /// The CT grid patches are cut from and the trained student runs on, in mm (i,j,k).
    #[arg(long, value_delimiter = ',', default_value = "0.977,0.977,1.0")]
    ct_spacing_mm: Vec<f64>,
    /// What the models' cards say beside every score (default: trained on this study, for
    /// research use, not clinically validated; a phantom cohort's: phantoms only).
    #[arg(long)]
    provenance: Option<String>,
    /// Prepare only this knee (registration, patches and their MR morphometry into
    /// DIR/store) and stop: the cohort workflow's per-knee job. A later full run finds it
    /// done.
    #[arg(long, value_name = "SUBJECT")]
    knee: Option<String>,
}

impl StudyArgs {
    /// Runs `srrd study`.
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(id) = &self.knee {
            let spacing = super::common::spacing_arg("--ct-spacing-mm", Some(&self.ct_spacing_mm))?
                .unwrap_or(crate::regression::model::PAPER_CT_SPACING_MM);
            return prepare_one(&self.cohort, &self.out, id, self.per_knee, spacing);
        }
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
                per_knee: self.per_knee,
                ct_spacing_mm: super::common::spacing_arg(
                    "--ct-spacing-mm",
                    Some(&self.ct_spacing_mm),
                )?
                .unwrap_or(crate::regression::model::PAPER_CT_SPACING_MM),
                provenance: self.provenance,
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
    /// Patches per knee.
    pub per_knee: usize,
    /// The CT grid of the patches (mm).
    pub ct_spacing_mm: [f64; 3],
    /// The models' provenance line (None: said from the study).
    pub provenance: Option<String>,
}

/// Runs every evaluation, trains the models folder and writes `out/report.md`.
pub fn study(cohort: &Path, out: &Path, s: &StudySettings) -> anyhow::Result<()> {
    let (folds, epochs, teacher_epochs, batch) = (s.folds, s.epochs, s.teacher_epochs, s.batch);
    // Bad input fails now, not after the long stages that come before its use.
    let model = synthesis_model(s);
    crate::synthesis::model::load_model(&model)
        .with_context(|| format!("--synthesis {}", model.display()))?;
    let knees = study_knees(cohort)?;
    check_classes(cohort, &knees, folds)?;
    std::fs::create_dir_all(out)?;
    let c = cohort.display();
    let o = out.display();
    let reg_md = out.join("registration.md");
    // A phantom cohort carries its truth (true landmarks, the CT in the MR's pose); a
    // clinic's study list has only what readers placed, and no truth for the synthesis.
    let phantom = cohort.join("manifest.json").exists();
    if reg_md.exists() {
        eprintln!(
            "registration: {} is there (delete it to measure again)",
            reg_md.display()
        );
    } else if phantom || !s.readers.is_empty() || knees.iter().any(|k| k.ct_landmarks.is_some()) {
        super::eval_registration::eval_registration_with(
            cohort,
            &s.readers,
            Some(&model),
            Some(&reg_md),
            None,
            false,
        )?;
    } else {
        let why = "Not measured: a study list has no true landmarks; give the readers' folders from the reading room with `--landmarks READER_DIR` (once per reader), or name each knee's landmark files in the list's `ct_landmarks` and `mr_landmarks` columns.\n";
        crate::io::atomic_write(&reg_md, |w| w.write_all(why.as_bytes()))?;
    }
    let synthesis = if phantom {
        synthesis_section(cohort, out, s)?
    } else {
        "Not measured on a study list: it compares the sCT with the knee's CT in the MR's pose, which only a phantom has.\n".to_string()
    };
    let store = out.join("store");
    let settings = PatchSettings {
        per_subject: s.per_knee,
        ..Default::default()
    };
    let manifest = with_progress(|p| {
        build_store(
            cohort,
            &store,
            &settings,
            Some(s.ct_spacing_mm),
            None,
            p,
            |l| eprintln!("  {l}"),
        )
    })?;
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
    // Too few knees of a class for the folds (after the exclusions) is a finding of this
    // study, not a reason to lose the other tables: the report says why it is missing.
    let diagnosis = with_progress(|p| {
        crate::pipeline::experiments::diagnosis_eval::evaluate(
            &manifest,
            &cv.join("oof.csv"),
            folds,
            &dx,
            p,
        )
    })
    .map_err(|e| e.to_string());
    let diag = match &diagnosis {
        Ok(d) => crate::pipeline::experiments::diagnosis_eval::markdown(d),
        Err(e) => {
            eprintln!("diagnosis not evaluated: {e}");
            format!("Not evaluated on this study: {e}\n")
        }
    };
    let models = out.join("models");
    let card = train_models(
        cohort,
        knees.len(),
        &store,
        &manifest,
        &reg,
        &cv.join("oof.csv"),
        &diagnosis,
        s,
        &models,
    )?;
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
    let readers: String = s
        .readers
        .iter()
        .map(|r| format!(" --landmarks {}", r.display()))
        .collect();
    let [si, sj, sk] = s.ct_spacing_mm;
    let report = format!(
        "# SRRD on {}\n\nStudy: `{c}` ({} knees listed, {} trained; list hash {}). Everything below is out-of-sample: registration never sees the true transforms; regression and classification are {folds}-fold cross-validated by subject; the synthesis section says which knees its model saw.\n\n## Registration (Table 2, registration half)\n\n`srrd eval-registration --manifest {c}{readers}`\n\n{registration}\n{PAPER_TABLE2}\n\n## Synthesis (Table 2, synthesis half)\n\n{synthesis}\n## Regression (Table 3)\n\n`srrd patches --manifest {c} --out {o}/store --per-subject {} --ct-spacing-mm {si},{sj},{sk}`, then `srrd eval-regression --data {o}/store --out {o}/regression --folds {folds} --epochs {epochs}{teacher} --batch {batch}`\n\n{}\n{PAPER_TABLE3}\n\nScatter plots (Figure 5, ICC and r on each panel): `{o}/regression/scatter_*.png`; Bland-Altman plots: `{o}/regression/bland_altman_*.png`.\n\n## Diagnosis (Table 4)\n\n`srrd eval-diagnosis --data {o}/store --regression {o}/regression --out {o}/diagnosis --folds {folds}`\n\n{}\n{PAPER_TABLE4}\n\nROC curves: `{o}/diagnosis/roc.png`; box plots of P(KOA) and the predicted parameters by KL grade: `{o}/diagnosis/boxes_*.png` (every figure also as SVG beside its PNG).\n\n## Knees left out of training\n\n{exclusions}\n## Models\n\n`{o}/models`: the networks trained on every knee that gave patches, the classifier on the cross-validation's out-of-fold features, the synthesis model used; `{o}/models/MODEL_CARD.md` says what they saw and how they scored. Use them with `srrd analyze --models {o}/models` or the workstation's File > Models folder. They say: {}\n\n## Not in this report\n\nTraining synthesis networks (it needs a GPU to give a useful model: `scripts/gpu/synthesis_runs.sh`; docs/results.md has the table of SPSNet against CycleGAN and the commands).\n",
        if phantom {
            "a phantom cohort"
        } else {
            "a study"
        },
        knees.len(),
        manifest.subjects.len(),
        card.study.as_ref().map_or("-", |st| st.list_hash.as_str()),
        s.per_knee,
        crate::pipeline::experiments::regression_eval::markdown(&reg),
        diag,
        card.provenance,
    );
    crate::io::atomic_write(&out.join("report.md"), |w| w.write_all(report.as_bytes()))?;
    println!("{}", out.join("report.md").display());
    Ok(())
}

/// The per-knee step of the study alone, for one knee: its patches (or its exclusion)
/// into `out/store`, as the full run would make them.
fn prepare_one(
    study: &Path,
    out: &Path,
    id: &str,
    per_knee: usize,
    spacing: [f64; 3],
) -> anyhow::Result<()> {
    let knees = study_knees(study)?;
    let Some(knee) = knees.iter().find(|k| k.id == id) else {
        anyhow::bail!(
            "{}: no knee '{id}' (it has {})",
            study.display(),
            knees
                .iter()
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let store = out.join("store");
    std::fs::create_dir_all(&store)?;
    let settings = PatchSettings {
        per_subject: per_knee,
        ..Default::default()
    };
    let outcome = with_progress(|p| {
        crate::pipeline::experiments::patches::prepare_knee(
            knee,
            &store,
            &settings,
            spacing,
            p,
            &mut |l: &str| eprintln!("  {l}"),
        )
    })?;
    println!(
        "{}",
        crate::pipeline::experiments::patches::entry_path(&store, id).display()
    );
    if outcome.is_none() {
        eprintln!("{id}: not part of this store (its MR protocol)");
    }
    Ok(())
}

/// Refuses up front a study whose labelled knees (with an MR: the others cannot train)
/// are too few in a class for the folds, with the counts. A study without labels trains
/// the regression only.
fn check_classes(study: &Path, knees: &[StudyKnee], folds: usize) -> anyhow::Result<()> {
    // Folds deal patients (a knee without one is its own), each counted by its first knee.
    let mut seen = std::collections::HashSet::new();
    let labelled: Vec<bool> = knees
        .iter()
        .filter(|k| k.mr.is_some())
        .filter_map(|k| {
            let l = k.label.filter(|l| l.group().is_some())?;
            seen.insert(k.patient.as_deref().unwrap_or(&k.id))
                .then(|| l.is_koa())
        })
        .collect();
    let koa = labelled.iter().filter(|k| **k).count();
    let normal = labelled.len() - koa;
    let unit = if knees.iter().any(|k| k.patient.is_some()) {
        "patients"
    } else {
        "knees"
    };
    if labelled.is_empty() || class_fits(koa, folds) && class_fits(normal, folds) {
        return Ok(());
    }
    let fewer = (2..folds)
        .rev()
        .find(|&f| class_fits(koa, f) && class_fits(normal, f))
        .map_or_else(
            || "too few for any cross-validation".to_string(),
            |f| format!("use --folds {f}"),
        );
    anyhow::bail!(
        "{}: {koa} KOA and {normal} normal {unit} with an MR and a KL grade or group; {folds}-fold cross-validation needs at least {} of each, so that every fold has one and every training split two ({fewer}, or leave the labels out to train the regression only)",
        study.display(),
        (folds..).find(|&n| class_fits(n, folds)).unwrap_or(folds)
    )
}

/// Whether `n` knees of a class fill `folds` stratified folds: one in each test fold, two
/// in each training split (the classifier needs two of a class to fit).
fn class_fits(n: usize, folds: usize) -> bool {
    n >= folds && n - n.div_ceil(folds) >= 2
}

/// `out` (the models folder): the regression networks trained on every knee, the
/// classifier on the out-of-fold features (when the diagnosis could be evaluated), the
/// synthesis model the study used, and `MODEL_CARD.md`. Returns the regression card.
#[allow(clippy::too_many_arguments)]
fn train_models(
    study: &Path,
    listed: usize,
    store: &Path,
    manifest: &Manifest,
    cv: &CvReport,
    oof: &Path,
    diagnosis: &Result<DiagnosisReport, String>,
    s: &StudySettings,
    out: &Path,
) -> anyhow::Result<ModelCard> {
    use crate::pipeline::experiments::study_models as sm;
    let info = sm::study_info(study, listed, manifest)?;
    let provenance = s.provenance.clone().unwrap_or_else(|| {
        if study.join("manifest.json").exists() {
            crate::regression::model::PROVENANCE.to_string()
        } else {
            format!(
                "trained on the study {} ({} knees); for research use, not clinically validated",
                info.name, info.knees_used
            )
        }
    });
    let train = TrainSettings {
        epochs: s.epochs,
        teacher_epochs: s.teacher_epochs,
        batch: s.batch,
        ..Default::default()
    };
    let card = with_progress(|p| {
        sm::train_regression(
            store,
            manifest,
            &NetConfig::small(),
            &train,
            cv,
            &info,
            &provenance,
            &out.join("regression"),
            p,
        )
    })?;
    let (classifier, missing) = match diagnosis {
        Ok(d) => {
            let c = with_progress(|p| {
                sm::train_classifier(
                    manifest,
                    oof,
                    d,
                    &info,
                    &provenance,
                    &out.join("diagnosis"),
                    p,
                )
            })?;
            (Some(c), None)
        }
        Err(e) => {
            // A classifier of an earlier run would not match these networks.
            let _ = std::fs::remove_file(out.join("diagnosis/koa_classifier.json"));
            (None, Some(e.clone()))
        }
    };
    let synthesis = synthesis_model(s);
    sm::copy_model(&synthesis, &out.join("synthesis"))?;
    let synth_card = crate::synthesis::model::SynthCard::read(&synthesis)?;
    let synthesis_text = format!(
        "A copy of `{}` ({}, trained on {}): the refined registration of an analysis with an MR runs on its sCT. Not trained on this study (training one needs a GPU: `scripts/gpu/synthesis_runs.sh`).",
        synthesis.display(),
        synth_card.method,
        synth_card.trained_on
    );
    let commands = format!(
        "Made by `srrd study --manifest {} --out {} --folds {} --epochs {}` (see `{}/report.md` for each step's command); the regression networks alone: `srrd train-regression --data {}/store --out DIR --epochs {}`.",
        study.display(),
        out.parent().unwrap_or(out).display(),
        s.folds,
        s.epochs,
        out.parent().unwrap_or(out).display(),
        out.parent().unwrap_or(out).display(),
        s.epochs
    );
    let md = sm::model_card_markdown(
        &card,
        classifier.as_ref(),
        missing.as_deref(),
        &synthesis_text,
        &commands,
    );
    crate::io::atomic_write(&out.join("MODEL_CARD.md"), |w| w.write_all(md.as_bytes()))?;
    Ok(card)
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
    if eval.join("table.md").exists() {
        eprintln!(
            "synthesis: {} is there (delete it to measure again)",
            eval.join("table.md").display()
        );
    } else {
        super::eval_synthesis::eval_synthesis(
            &data,
            cohort,
            &models,
            &s.synthesis_subjects,
            &eval,
            false,
        )?;
    }
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

#[cfg(test)]
mod tests {
    use super::class_fits;

    #[test]
    fn a_class_fits_the_folds_when_every_training_split_has_two() {
        // 5 folds: 5 knees leave 4 to train on in every fold; 4 knees cannot fill 5 folds.
        assert!(class_fits(5, 5) && !class_fits(4, 5));
        // 2 folds: 3 knees leave one fold with a single training knee.
        assert!(!class_fits(3, 2) && class_fits(4, 2));
        assert!(class_fits(3, 3) && !class_fits(2, 3));
    }
}
