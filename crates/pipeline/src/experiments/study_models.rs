//! The models folder `srrd study` leaves: `regression/` (teacher, student and plain CNN
//! trained on every knee that gave patches), `diagnosis/koa_classifier.json` (fitted on
//! the cross-validation's out-of-fold features), `synthesis/` (the synthesis model the
//! study used), each card naming the study (its name, a hash of its list, the knees used
//! and left out, their labels) and the cross-validated metrics, and `MODEL_CARD.md` for
//! people. `srrd analyze --models DIR` and the workstation load it as they load `assets`.

use std::collections::BTreeMap;
use std::path::Path;

use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_regression::dataset::Manifest;
use srrd_regression::model::{ModelCard, train_bundle, write_card};
use srrd_regression::nets::NetConfig;
use srrd_regression::study_info::StudyInfo;
use srrd_regression::train::TrainSettings;

use super::diagnosis_eval::DiagnosisReport;
use super::regression_eval::CvReport;
use crate::analyze::ClassifierFile;

/// The feature source the shipped classifier uses.
pub const CLASSIFIER_SOURCE: &str = "SRRD-CT (distilled)";

/// A hash of the study's list: the CSV's bytes, a cohort's `manifest.json`, or a folder's
/// sorted listing (names only: the images are identified by their own content ids).
pub fn list_hash(study: &Path) -> Result<String> {
    let bytes = if study.is_file() {
        std::fs::read(study).map_err(|e| Error::io(study, e))?
    } else if study.join("manifest.json").is_file() {
        let m = study.join("manifest.json");
        std::fs::read(&m).map_err(|e| Error::io(&m, e))?
    } else {
        let mut names: Vec<String> = std::fs::read_dir(study)
            .map_err(|e| Error::io(study, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
            .collect();
        names.sort();
        names.join("\n").into_bytes()
    };
    Ok(srrd_base::hash::content_id(&bytes))
}

/// What a store's knee is labelled, as the study's counts name it.
fn label_name(s: &srrd_regression::dataset::SubjectEntry) -> String {
    match (s.kl_grade, &s.grade) {
        (Some(k), _) => format!("KL {k}"),
        (None, Some(g)) => g.clone(),
        (None, None) => "unlabelled".into(),
    }
}

/// The study behind a store: `study` (the list the store was built from), the knees
/// the store holds and those it left out.
pub fn study_info(study: &Path, listed: usize, manifest: &Manifest) -> Result<StudyInfo> {
    let mut label_counts = BTreeMap::new();
    for s in &manifest.subjects {
        *label_counts.entry(label_name(s)).or_insert(0) += 1;
    }
    Ok(StudyInfo {
        name: study.file_name().map_or_else(
            || study.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        ),
        list_hash: list_hash(study)?,
        knees_listed: listed,
        knees_used: manifest.subjects.len(),
        excluded: (manifest.excluded.iter())
            .map(|e| (e.id.clone(), e.reason.clone()))
            .collect(),
        label_counts,
    })
}

/// Trains the regression networks on every knee of the store into `out` (checkpoints
/// there, so an interrupted run resumes), then writes the card with the study, the
/// cross-validated metrics and `provenance`.
#[allow(clippy::too_many_arguments)]
pub fn train_regression(
    store: &Path,
    manifest: &Manifest,
    cfg: &NetConfig,
    settings: &TrainSettings,
    cv: &CvReport,
    study: &StudyInfo,
    provenance: &str,
    out: &Path,
    progress: &Progress,
) -> Result<ModelCard> {
    let all: Vec<usize> = (0..manifest.subjects.len()).collect();
    let bundle = train_bundle(store, manifest, &all, cfg, settings, out, true, progress)?;
    let mut card = bundle.card;
    card.study = Some(study.clone());
    card.provenance = provenance.to_string();
    card.evaluation = Some(serde_json::json!({
        "method": format!("{}-fold cross-validation by subject, ICC(A,1) against the MR ground truth", cv.folds),
        "rows": cv.rows,
    }));
    write_card(out, &card)?;
    Ok(card)
}

/// Fits the KOA classifier on the out-of-fold features in `oof_csv` and writes it to
/// `out/koa_classifier.json` with the study's name and the cross-validated scores of its
/// feature source.
pub fn train_classifier(
    manifest: &Manifest,
    oof_csv: &Path,
    diagnosis: &DiagnosisReport,
    study: &StudyInfo,
    provenance: &str,
    out: &Path,
    progress: &Progress,
) -> Result<ClassifierFile> {
    let mut file = super::diagnosis_eval::train_classifier(
        manifest,
        oof_csv,
        CLASSIFIER_SOURCE,
        provenance,
        progress,
    )?;
    file.trained_on = format!("{}; {}", file.trained_on, study.line());
    let row = diagnosis
        .rows
        .iter()
        .find(|r| r.source == CLASSIFIER_SOURCE);
    file.evaluation = row.map(|r| {
        serde_json::json!({
            "method": format!("{}-fold cross-validation by subject", diagnosis.folds),
            "scores": r,
        })
    });
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let text = serde_json::to_string_pretty(&file).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(&out.join("koa_classifier.json"), |w| {
        w.write_all(text.as_bytes())
    })?;
    Ok(file)
}

/// Copies the synthesis model folder `from` into `to` (through a temporary folder, so
/// `to` is whole or absent).
pub fn copy_model(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        if entry.path().is_file() {
            std::fs::copy(entry.path(), tmp.join(entry.file_name()))
                .map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    let _ = std::fs::remove_dir_all(to);
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))
}

/// `MODEL_CARD.md` of a study's models folder.
pub fn model_card_markdown(
    card: &ModelCard,
    classifier: Option<&ClassifierFile>,
    classifier_missing: Option<&str>,
    synthesis: &str,
    commands: &str,
) -> String {
    let study = card.study.clone().unwrap_or_default();
    let mut s = format!(
        "# Models trained on the study {}\n\n**{}**\n\n",
        study.name, card.provenance
    );
    s += &format!(
        "Study list: `{}` (hash {}). {} of its {} knees trained the networks ({} patches).\n\n",
        card.source, study.list_hash, study.knees_used, study.knees_listed, card.patches
    );
    s += "| label | knees |\n|---|---|\n";
    for (label, n) in &study.label_counts {
        s += &format!("| {label} | {n} |\n");
    }
    if !study.excluded.is_empty() {
        s += "\nLeft out:\n\n| knee | why |\n|---|---|\n";
        for (id, why) in &study.excluded {
            s += &format!("| {id} | {} |\n", why.replace('|', "/"));
        }
    }
    let range = card.trained_range();
    s += &format!(
        "\n## Regression (`regression/`)\n\nTeacher, distilled student and plain CNN ({} configuration, {} epochs), trained on every knee above; CT patches cut on a {:.3} x {:.3} x {:.3} mm grid. CT acquisitions seen: pixels {:.2}-{:.2} mm, slices {:.2}-{:.2} mm ({}); a CT outside that range gets a warning beside its score.\n\n",
        card.config.name,
        card.train.epochs,
        range.spacing_mm[0],
        range.spacing_mm[1],
        range.spacing_mm[2],
        range.pixel_mm[0],
        range.pixel_mm[1],
        range.slice_mm[0],
        range.slice_mm[1],
        range.source
    );
    if let Some(rows) = card.evaluation.as_ref().and_then(|e| e.get("rows")) {
        s += "Cross-validated ICC(A,1) against the MR ground truth (mean ± SD over folds), the same networks trained on the other folds' knees:\n\n| network | parameter | ICC | pooled ICC [95% CI] | r |\n|---|---|---|---|---|\n";
        for r in rows.as_array().into_iter().flatten() {
            let f = |k: &str| r.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            let ci = r.get("icc_pooled_ci95").and_then(|v| v.as_array());
            let ci = |n: usize| {
                ci.and_then(|c| c.get(n))
                    .and_then(|v| v.as_f64())
                    .unwrap_or(f64::NAN)
            };
            let parameter = r.get("parameter").and_then(|v| v.as_str()).unwrap_or("?");
            s += &format!(
                "| {} | {} | {:.3} ± {:.3} | {:.3} [{:.3}, {:.3}] | {:.3} |\n",
                r.get("method").and_then(|v| v.as_str()).unwrap_or("?"),
                field_name(parameter),
                f("icc_mean"),
                f("icc_sd"),
                f("icc_pooled"),
                ci(0),
                ci(1),
                f("pearson_r")
            );
        }
    }
    s += "\n## KOA classifier (`diagnosis/koa_classifier.json`)\n\n";
    match (classifier, classifier_missing) {
        (Some(c), _) => {
            s += &format!("{}.\n\n", c.trained_on);
            if let Some(sc) = c.evaluation.as_ref().and_then(|e| e.get("scores")) {
                let f = |k: &str| sc.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
                let pair = |k: &str, n: usize| {
                    sc.get(k)
                        .and_then(|v| v.as_array())
                        .and_then(|a| a.get(n))
                        .and_then(|v| v.as_f64())
                        .unwrap_or(f64::NAN)
                };
                s += &format!(
                    "Cross-validated (KOA vs normal, out of fold): AUC {:.3} [{:.3}, {:.3}] (DeLong), precision {:.3} ± {:.3}, recall {:.3} ± {:.3}, F1 {:.3} ± {:.3}.\n",
                    f("auc"),
                    pair("auc_ci95", 0),
                    pair("auc_ci95", 1),
                    pair("precision", 0),
                    pair("precision", 1),
                    pair("recall", 0),
                    pair("recall", 1),
                    pair("f1", 0),
                    pair("f1", 1)
                );
            }
        }
        (None, why) => {
            s += &format!(
                "Not trained: {}. `srrd analyze --models` then stops at the parameters.\n",
                why.unwrap_or("no labels")
            );
        }
    }
    s += &format!("\n## Synthesis (`synthesis/`)\n\n{synthesis}\n\n## Commands\n\n{commands}\n");
    s
}

/// A target's name as the field writes it (BV/TV, Tb.Th (mm), ...).
fn field_name(target: &str) -> &str {
    match target {
        "bv_tv" => "BV/TV",
        "tb_th_mm" => "Tb.Th (mm)",
        "tb_sp_mm" => "Tb.Sp (mm)",
        "tb_n_per_mm" => "Tb.N (1/mm)",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_hash_follows_the_list_not_its_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = dir.path().join("a.csv");
        std::fs::write(&a, "subject,ct\nk1,k1.nii.gz\n").expect("write");
        let h1 = list_hash(&a).expect("hash");
        std::fs::write(&a, "subject,ct\nk1,k2.nii.gz\n").expect("write");
        let h2 = list_hash(&a).expect("hash");
        assert_ne!(h1, h2);
        let b = dir.path().join("b.csv");
        std::fs::write(&b, "subject,ct\nk1,k2.nii.gz\n").expect("write");
        assert_eq!(list_hash(&b).expect("hash"), h2);
        // A folder study: its listing.
        let f = dir.path().join("folder");
        std::fs::create_dir_all(f.join("knee-1")).expect("dir");
        let h3 = list_hash(&f).expect("hash");
        std::fs::create_dir_all(f.join("knee-2")).expect("dir");
        assert_ne!(list_hash(&f).expect("hash"), h3);
        assert!(list_hash(&dir.path().join("missing")).is_err());
    }
}
