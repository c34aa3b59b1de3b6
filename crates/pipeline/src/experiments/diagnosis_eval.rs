//! The paper's Table 4 on a phantom cohort: KOA (KL >= 1) vs normal from per-subregion
//! features, by k-fold cross-validation over subjects (stratified by grade). Features come
//! from the regression's out-of-fold patch predictions (`oof.csv` of
//! `srrd eval-regression`), so no subject is scored by a network that saw it. For each
//! feature source: precision, recall, F1 (threshold 0.5, mean +- SD over folds) and AUC
//! with its DeLong 95% CI on the pooled out-of-fold probabilities; DeLong's paired test of
//! SRRD-CT against the plain CNN; the three-group task (normal / mild / advanced, macro
//! averages); ROC curves as PNG. Beyond the paper, the same folds also score each source
//! with the attention aggregator over patch-level predictions (`attention.rs`), with
//! DeLong's paired test against the SVM.

use std::collections::HashMap;
use std::path::Path;

use nalgebra::Point3;
use serde::Serialize;

use crate::experiments::regression_eval::deal_groups;
use crate::experiments::study_knees::study_knees;
use crate::knee::{knee, prepare_at};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_diagnosis::attention::{AttentionClassifier, AttentionSettings, Bag};
use srrd_diagnosis::classifier::{KoaClassifier, MultiClassifier};
use srrd_diagnosis::features::subregion_features;
use srrd_regression::dataset::{Manifest, patient_groups};
use srrd_regression::dataset::{TARGET_NAMES, TARGETS};
use srrd_stats::{
    BoxPanel, RocCurve, binary_metrics, box_panels_png, delong, delong_paired, macro_metrics,
    mean_sd, roc_png, with_unit,
};

/// Feature sources in table order.
pub const SOURCES: [&str; 5] = [
    "radiomics",
    "plain CNN",
    "SRRD-CT (distilled)",
    "MR teacher",
    "MR ground truth",
];

/// Binary-task scores of one classifier on one source: precision, recall and F1 (mean,
/// SD over folds) at probability 0.5, and the pooled AUC with its DeLong 95% CI.
#[derive(Clone, Debug, Serialize)]
pub struct BinaryScores {
    pub precision: (f64, f64),
    pub recall: (f64, f64),
    pub f1: (f64, f64),
    pub auc: f64,
    pub auc_ci95: (f64, f64),
}

impl BinaryScores {
    /// Per-fold (precision, recall, F1) and the pooled out-of-fold probabilities.
    fn new(folds: &[(f64, f64, f64)], probs: &[f64], koa: &[bool]) -> Self {
        let col = |pick: fn(&(f64, f64, f64)) -> f64| {
            mean_sd(&folds.iter().map(pick).collect::<Vec<_>>())
        };
        let d = delong(probs, koa);
        BinaryScores {
            precision: col(|m| m.0),
            recall: col(|m| m.1),
            f1: col(|m| m.2),
            auc: d.as_ref().map_or(f64::NAN, |d| d.auc),
            auc_ci95: d.map_or((f64::NAN, f64::NAN), |d| d.ci95),
        }
    }

    /// Precision, recall, F1 (mean ± SD) and AUC [95% CI] as four Markdown cells.
    fn cells(&self) -> String {
        let (p, r, f, ci) = (self.precision, self.recall, self.f1, self.auc_ci95);
        format!(
            "{:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} [{:.3}, {:.3}]",
            p.0, p.1, r.0, r.1, f.0, f.1, self.auc, ci.0, ci.1
        )
    }
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosisRow {
    pub source: String,
    #[serde(flatten)]
    pub binary: BinaryScores,
    /// Three-group task: macro F1 (mean, SD over folds) and pooled accuracy.
    pub three_group_f1: (f64, f64),
    pub three_group_accuracy: f64,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosisReport {
    pub folds: usize,
    pub subjects: usize,
    pub koa: usize,
    pub normal: usize,
    /// Knees of the store left out for want of a label (they trained the regression).
    pub unlabelled: Vec<String>,
    pub rows: Vec<DiagnosisRow>,
    /// DeLong's paired test, SRRD-CT vs plain CNN: (z, p).
    pub srrd_vs_plain: Option<(f64, f64)>,
    /// The attention aggregator over patch-level predictions, per source (binary task).
    pub attention: Vec<AttentionRow>,
    /// DeLong's paired test, SRRD-CT vs plain CNN, both with the attention aggregator.
    pub attention_srrd_vs_plain: Option<(f64, f64)>,
}

/// One line of the attention aggregator's table.
#[derive(Clone, Debug, Serialize)]
pub struct AttentionRow {
    pub source: String,
    #[serde(flatten)]
    pub binary: BinaryScores,
    /// DeLong's paired test, attention vs the SVM on the same source: (z, p).
    pub vs_svm: Option<(f64, f64)>,
}

/// Out-of-fold patch predictions by (subject, source): centre (mm) and parameters.
/// Out-of-fold predictions per (subject, network): (centre mm, parameters) in order.
pub type Oof = HashMap<(String, String), Vec<([f64; 3], [f64; 4])>>;

/// Reads `oof.csv`: per (subject, network) the patch centres and predictions, in order.
pub fn read_oof(path: &Path) -> Result<Oof> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out: Oof = HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| -> Result<f64> {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::file(path, format!("line {}: bad number", n + 1)))
        };
        if f.len() != 10 {
            return Err(Error::file(
                path,
                format!("line {}: expected 10 fields", n + 1),
            ));
        }
        out.entry((f[0].to_string(), f[5].to_string()))
            .or_default()
            .push((
                [num(2)?, num(3)?, num(4)?],
                [num(6)?, num(7)?, num(8)?, num(9)?],
            ));
    }
    Ok(out)
}

/// Group of a KL grade, as the paper groups its cohort: 0 normal (KL 0-1), 1 mild
/// (KL 2), 2 advanced (KL 3-4).
pub fn group_of(kl: u32) -> usize {
    match kl {
        0 | 1 => 0,
        2 => 1,
        _ => 2,
    }
}

/// Whether a KL grade is KOA (KL >= 2, as in the paper).
pub fn is_koa(kl: u32) -> bool {
    kl >= 2
}

/// A knee's KL grade for the classifier: its grade, or for a group label without one
/// (normal, mild, advanced) the group's lowest grade, which puts it in the same class and
/// group. None when the store has neither (the knee is left out of the classifier).
fn classifier_grade(s: &srrd_regression::dataset::SubjectEntry) -> Option<u32> {
    s.kl_grade.or(match s.grade.as_deref() {
        Some("normal") => Some(0),
        Some("mild") => Some(2),
        Some("advanced") => Some(3),
        _ => None,
    })
}

/// Per-subject features of every source, with the subjects' KL grades.
pub struct SubjectFeatures {
    pub ids: Vec<String>,
    /// Each subject's patient as a group number (see `patient_groups`): folds keep a
    /// patient's knees together.
    pub patients: Vec<usize>,
    pub kl: Vec<u32>,
    /// `x[source][subject]`: the 96 features, sources in [`SOURCES`] order.
    pub x: Vec<Vec<Vec<f64>>>,
    /// `bags[source][subject]`: every patch with its subregion, for the aggregator.
    pub bags: Vec<Vec<Bag>>,
    /// Knees of the store without a KL grade or group: left out of the classifier (they
    /// still trained the regression).
    pub unlabelled: Vec<String>,
}

/// Features of every subject of the store from the out-of-fold predictions: each patch
/// centre is placed in the subregions computed on the subject's CT.
pub fn subject_features(
    manifest: &Manifest,
    oof_csv: &Path,
    progress: &Progress,
) -> Result<SubjectFeatures> {
    let oof = read_oof(oof_csv)?;
    let cohort = study_knees(Path::new(&manifest.source))?;
    // Per subject: subregion label of every patch centre, and the grade.
    let mut ids = Vec::new();
    let mut patient_keys = Vec::new();
    let mut kl = Vec::new();
    let mut label_of: HashMap<(String, [i64; 3]), u8> = HashMap::new();
    let mut unlabelled = Vec::new();
    progress.start("subregions of every CT", manifest.subjects.len() as u64);
    for s in &manifest.subjects {
        progress.check()?;
        let Some(k) = classifier_grade(s) else {
            unlabelled.push(s.id.clone());
            progress.advance(1);
            continue;
        };
        let c = cohort.iter().find(|c| c.id == s.id).ok_or_else(|| {
            Error::invalid(format!("subject {} is not in {}", s.id, manifest.source))
        })?;
        // The knee as the patch store cut it (and `analyze` sees it).
        let ct_path = &c.ct;
        let ct = c.read_ct()?;
        let spacing = manifest
            .ct_spacing_mm
            .unwrap_or(ct.geometry.spacing_mm.into());
        let prepared = prepare_at(&ct, spacing, progress).map_err(|e| e.in_file(ct_path))?;
        let knee = knee(&prepared, c.knee, progress).map_err(|e| e.in_file(ct_path))?;
        let (labels, g) = (&knee.subregions, &knee.ct.geometry);
        let [ni, nj, nk] = g.size;
        for ((id, _), patches) in oof.iter().filter(|((id, _), _)| *id == s.id) {
            for (centre, _) in patches {
                let idx = g.world_to_index(&Point3::new(centre[0], centre[1], centre[2]));
                let (i, j, kk) = (idx.x.round(), idx.y.round(), idx.z.round());
                let inside = i >= 0.0
                    && j >= 0.0
                    && kk >= 0.0
                    && (i as usize) < ni
                    && (j as usize) < nj
                    && (kk as usize) < nk;
                let l = if inside {
                    labels.at(i as usize, j as usize, kk as usize)
                } else {
                    0
                };
                label_of.insert((id.clone(), key(centre)), l);
            }
        }
        ids.push(s.id.clone());
        patient_keys.push(s.patient_key().to_string());
        kl.push(k);
        progress.advance(1);
    }
    let mut x_all = Vec::new();
    let mut bags_all = Vec::new();
    for source in SOURCES {
        let bags: Vec<Bag> = ids
            .iter()
            .map(|id| {
                let patches = oof
                    .get(&(id.clone(), source.to_string()))
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                patches
                    .iter()
                    .map(|(c, p)| (*label_of.get(&(id.clone(), key(c))).unwrap_or(&0), *p))
                    .collect()
            })
            .collect();
        x_all.push(bags.iter().map(|b| subregion_features(b).0).collect());
        bags_all.push(bags);
    }
    Ok(SubjectFeatures {
        ids,
        patients: patient_groups(patient_keys.iter().map(String::as_str)),
        kl,
        x: x_all,
        bags: bags_all,
        unlabelled,
    })
}

/// How the box plots group the knees: by KL grade when every knee has one, else by the
/// paper's three groups.
#[derive(Clone, Debug, PartialEq)]
pub struct KneeGroups {
    /// "KL grade" or "group", for titles.
    pub by: &'static str,
    /// Group names in order ("KL 0".."KL 4", or normal / mild / advanced), only those
    /// with knees.
    pub names: Vec<String>,
    /// Each knee's index into `names`.
    pub of: Vec<usize>,
}

/// The knees `ids` (with their classifier grades `kl`) grouped by the store's KL grade
/// when every one carries a `kl_grade`, else by group (normal KL 0-1, mild KL 2,
/// advanced KL 3-4).
pub fn knee_groups(manifest: &Manifest, ids: &[String], kl: &[u32]) -> KneeGroups {
    let grades: Option<Vec<u32>> = ids
        .iter()
        .map(|id| {
            manifest
                .subjects
                .iter()
                .find(|s| s.id == *id)
                .and_then(|s| s.kl_grade)
        })
        .collect();
    let (by, key, name): (_, Vec<usize>, fn(usize) -> String) = match grades {
        Some(g) if !g.is_empty() => ("KL grade", g.iter().map(|k| *k as usize).collect(), |k| {
            format!("KL {k}")
        }),
        _ => ("group", kl.iter().map(|k| group_of(*k)).collect(), |g| {
            ["normal", "mild", "advanced"]
                .get(g)
                .unwrap_or(&"?")
                .to_string()
        }),
    };
    let mut present: Vec<usize> = key.clone();
    present.sort_unstable();
    present.dedup();
    KneeGroups {
        by,
        names: present.iter().map(|k| name(*k)).collect(),
        of: key
            .iter()
            .map(|k| present.iter().position(|p| p == k).unwrap_or(0))
            .collect(),
    }
}

/// Box plots by KL grade (or group) of the knees' out-of-fold P(KOA) from SRRD-CT's
/// features (`boxes_p_koa.png`) and of the parameters SRRD-CT predicted, each knee the
/// mean of its patches (`boxes_parameters.png`); each with its SVG beside it.
pub fn box_plots(out: &Path, groups: &KneeGroups, p_koa: &[f64], bags: &[Bag]) -> Result<()> {
    let split = |value: &dyn Fn(usize) -> f64| -> Vec<(String, Vec<f64>)> {
        groups
            .names
            .iter()
            .enumerate()
            .map(|(g, name)| {
                let v = (0..groups.of.len())
                    .filter(|k| groups.of[*k] == g)
                    .map(value)
                    .filter(|v| v.is_finite())
                    .collect();
                (name.clone(), v)
            })
            .collect()
    };
    let path = out.join("boxes_p_koa.png");
    let panel = BoxPanel {
        title: format!("P(KOA) by {} (out-of-fold)", groups.by),
        y_label: "P(KOA), SRRD-CT features".into(),
        groups: split(&|k| p_koa.get(k).copied().unwrap_or(f64::NAN)),
        limits: Some((0.0, 1.0)),
    };
    box_panels_png(&path, "", &[panel], 1).map_err(|e| Error::io(&path, e))?;
    let panels: Vec<BoxPanel> = TARGETS
        .iter()
        .zip(TARGET_NAMES)
        .enumerate()
        .map(|(a, ((_, unit), name))| BoxPanel {
            title: with_unit(name, unit),
            y_label: String::new(),
            groups: split(&|k| {
                let bag = bags.get(k).map(Vec::as_slice).unwrap_or(&[]);
                bag.iter().map(|(_, p)| p[a]).sum::<f64>() / bag.len() as f64
            }),
            limits: None,
        })
        .collect();
    let path = out.join("boxes_parameters.png");
    box_panels_png(
        &path,
        &format!(
            "Predicted by SRRD-CT (out-of-fold), knee means by {}",
            groups.by
        ),
        &panels,
        2,
    )
    .map_err(|e| Error::io(&path, e))
}

/// Runs the evaluation; writes `table.md`, `diagnosis.json`, `roc.png` and the box plots
/// by KL grade or group (`boxes_p_koa.png`, `boxes_parameters.png`), each figure with its
/// SVG, to `out`.
pub fn evaluate(
    manifest: &Manifest,
    oof_csv: &Path,
    folds: usize,
    out: &Path,
    progress: &Progress,
) -> Result<DiagnosisReport> {
    let SubjectFeatures {
        ids,
        patients,
        kl,
        x: x_all,
        bags,
        unlabelled,
    } = subject_features(manifest, oof_csv, progress)?;
    let koa: Vec<bool> = kl.iter().map(|k| is_koa(*k)).collect();
    let group: Vec<usize> = kl.iter().map(|k| group_of(*k)).collect();
    // Stratified folds: patients sorted by their first knee's group, dealt round robin.
    let mut fold_of = vec![0usize; ids.len()];
    for (f, items) in deal_groups(&patients, &group, folds.max(2))
        .iter()
        .enumerate()
    {
        for &s in items {
            fold_of[s] = f;
        }
    }
    let mut rows = Vec::new();
    let mut attention = Vec::new();
    let mut pooled_probs: Vec<Vec<f64>> = Vec::new();
    let mut pooled_attention: Vec<Vec<f64>> = Vec::new();
    let mut curves = Vec::new();
    let colors = [
        [120, 120, 120],
        [200, 60, 60],
        [30, 90, 200],
        [230, 120, 20],
        [40, 160, 80],
    ];
    for (m, source) in SOURCES.iter().enumerate() {
        progress.start(&format!("classifying from {source}"), folds as u64);
        let x = &x_all[m];
        let mut probs = vec![f64::NAN; ids.len()];
        let mut probs_att = vec![f64::NAN; ids.len()];
        let mut three = vec![usize::MAX; ids.len()];
        let (mut svm_folds, mut att_folds, mut f1_3) = (Vec::new(), Vec::new(), Vec::new());
        for f in 0..folds {
            progress.check()?;
            let train: Vec<usize> = (0..ids.len()).filter(|s| fold_of[*s] != f).collect();
            let test: Vec<usize> = (0..ids.len()).filter(|s| fold_of[*s] == f).collect();
            let tx: Vec<Vec<f64>> = train.iter().map(|s| x[*s].clone()).collect();
            let ty: Vec<bool> = train.iter().map(|s| koa[*s]).collect();
            let tg: Vec<usize> = train.iter().map(|s| group[*s]).collect();
            let tp: Vec<usize> = train.iter().map(|s| patients[*s]).collect();
            let clf = KoaClassifier::fit_grouped(&tx, &ty, &tp, 7 + f as u64).ok_or_else(|| {
                let pos = ty.iter().filter(|y| **y).count();
                Error::invalid(format!(
                    "fold {}: the classifier could not be fitted: its training subjects are {pos} KOA and {} normal (each class needs at least 2; use more subjects or fewer folds)",
                    f + 1,
                    ty.len() - pos
                ))
            })?;
            let multi = MultiClassifier::fit_grouped(&tx, &tg, &tp, 3, 7 + f as u64);
            let train_bags: Vec<Bag> = train.iter().map(|s| bags[m][*s].clone()).collect();
            let settings = AttentionSettings {
                seed: 7 + f as i64,
                ..Default::default()
            };
            let att = AttentionClassifier::fit(&train_bags, &ty, &settings);
            for &s in &test {
                probs[s] = clf.probability(&x[s]);
                if let Some(mc) = &multi {
                    three[s] = mc.predict(&x[s]);
                }
                probs_att[s] = att.as_ref().map_or(0.5, |a| a.probability(&bags[m][s]));
            }
            let pred_att: Vec<bool> = test.iter().map(|s| probs_att[*s] >= 0.5).collect();
            let pred: Vec<bool> = test.iter().map(|s| probs[*s] >= 0.5).collect();
            let truth: Vec<bool> = test.iter().map(|s| koa[*s]).collect();
            let bm = binary_metrics(&pred, &truth);
            svm_folds.push((bm.precision, bm.recall, bm.f1));
            let ba = binary_metrics(&pred_att, &truth);
            att_folds.push((ba.precision, ba.recall, ba.f1));
            let tp: Vec<usize> = test.iter().map(|s| three[*s]).collect();
            let tt: Vec<usize> = test.iter().map(|s| group[*s]).collect();
            f1_3.push(macro_metrics(&tp, &tt, 3).f1);
            progress.advance(1);
        }
        let acc3 = three.iter().zip(&group).filter(|(a, b)| a == b).count() as f64
            / ids.len().max(1) as f64;
        rows.push(DiagnosisRow {
            source: source.to_string(),
            binary: BinaryScores::new(&svm_folds, &probs, &koa),
            three_group_f1: mean_sd(&f1_3),
            three_group_accuracy: acc3,
        });
        attention.push(AttentionRow {
            source: source.to_string(),
            binary: BinaryScores::new(&att_folds, &probs_att, &koa),
            vs_svm: delong_paired(&probs_att, &probs, &koa).map(|t| (t.z, t.p_value)),
        });
        // The legend carries each curve's AUC with its DeLong 95% interval.
        curves.push(RocCurve {
            name: source.to_string(),
            scores: probs.clone(),
            positive: koa.clone(),
            color: colors[m],
        });
        pooled_probs.push(probs);
        pooled_attention.push(probs_att);
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    roc_png(
        &out.join("roc.png"),
        "KOA vs normal (out-of-fold, SVM)",
        &curves,
    )
    .map_err(|e| Error::io(out.join("roc.png"), e))?;
    let srrd = SOURCES
        .iter()
        .position(|s| *s == "SRRD-CT (distilled)")
        .unwrap_or(2);
    box_plots(
        out,
        &knee_groups(manifest, &ids, &kl),
        &pooled_probs[srrd],
        &bags[srrd],
    )?;
    let srrd_vs_plain =
        delong_paired(&pooled_probs[2], &pooled_probs[1], &koa).map(|t| (t.z, t.p_value));
    let report = DiagnosisReport {
        folds,
        subjects: ids.len(),
        koa: koa.iter().filter(|k| **k).count(),
        normal: koa.iter().filter(|k| !**k).count(),
        unlabelled,
        rows,
        srrd_vs_plain,
        attention,
        attention_srrd_vs_plain: delong_paired(&pooled_attention[2], &pooled_attention[1], &koa)
            .map(|t| (t.z, t.p_value)),
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(&out.join("diagnosis.json"), |w| {
        w.write_all(json.as_bytes())
    })?;
    let md = markdown(&report);
    srrd_base::io::atomic_write(&out.join("table.md"), |w| w.write_all(md.as_bytes()))?;
    Ok(report)
}

fn key(c: &[f64; 3]) -> [i64; 3] {
    c.map(|v| (v * 100.0).round() as i64)
}

/// The table as Markdown.
pub fn markdown(r: &DiagnosisReport) -> String {
    let mut s = format!(
        "KOA vs normal ({}-fold cross-validation by subject; {} subjects: {} KOA, {} normal). Precision, recall, F1 at probability 0.5: mean ± SD over folds; AUC [95% CI, DeLong] on the pooled out-of-fold probabilities. Three groups: macro F1 (mean ± SD) and accuracy.\n\n",
        r.folds, r.subjects, r.koa, r.normal
    );
    if !r.unlabelled.is_empty() {
        s += &format!(
            "Left out of the classifier for want of a KL grade or group (they trained the regression): {}.\n\n",
            r.unlabelled.join(", ")
        );
    }
    s += "| features from | precision | recall | F1 | AUC [95% CI] | 3-group F1 | 3-group accuracy |\n|---|---|---|---|---|---|---|\n";
    for row in &r.rows {
        s += &format!(
            "| {} | {} | {:.3} ± {:.3} | {:.3} |\n",
            row.source,
            row.binary.cells(),
            row.three_group_f1.0,
            row.three_group_f1.1,
            row.three_group_accuracy
        );
    }
    if let Some((z, p)) = r.srrd_vs_plain {
        s += &format!("\nDeLong paired test, SRRD-CT vs plain CNN: z = {z:.2}, p = {p:.3}\n");
    }
    if !r.attention.is_empty() {
        s += "\nBeyond the paper: the attention aggregator over every patch's predictions (same folds, binary task). Last column: DeLong's paired test against the SVM row above on the same features.\n\n";
        s += "| patches from | precision | recall | F1 | AUC [95% CI] | vs SVM: z, p |\n|---|---|---|---|---|---|\n";
        for row in &r.attention {
            let vs = row
                .vs_svm
                .map_or("-".to_string(), |(z, p)| format!("{z:.2}, {p:.3}"));
            s += &format!("| {} | {} | {vs} |\n", row.source, row.binary.cells());
        }
        if let Some((z, p)) = r.attention_srrd_vs_plain {
            s += &format!(
                "\nDeLong paired test with the aggregator, SRRD-CT vs plain CNN: z = {z:.2}, p = {p:.3}\n"
            );
        }
    }
    s
}

/// The demo classifier: binary and three-group models fitted on every subject's features
/// from `source` (out-of-fold predictions, so their spread is that of unseen knees).
pub fn train_classifier(
    manifest: &Manifest,
    oof_csv: &Path,
    source: &str,
    provenance: &str,
    progress: &Progress,
) -> Result<crate::analyze::ClassifierFile> {
    let m = SOURCES
        .iter()
        .position(|s| *s == source)
        .ok_or_else(|| Error::invalid(format!("unknown feature source '{source}'")))?;
    let f = subject_features(manifest, oof_csv, progress)?;
    let koa: Vec<bool> = f.kl.iter().map(|k| is_koa(*k)).collect();
    let group: Vec<usize> = f.kl.iter().map(|k| group_of(*k)).collect();
    let binary = KoaClassifier::fit_grouped(&f.x[m], &koa, &f.patients, 7)
        .ok_or_else(|| Error::invalid("the KOA classifier could not be fitted"))?;
    let three_group = MultiClassifier::fit_grouped(&f.x[m], &group, &f.patients, 3, 7);
    Ok(crate::analyze::ClassifierFile {
        format: crate::analyze::CLASSIFIER_FORMAT.into(),
        binary,
        three_group,
        trained_on: format!(
            "{} knees of {} ({} KOA, {} normal), features from {source} out-of-fold patch predictions",
            f.ids.len(),
            manifest.source,
            koa.iter().filter(|k| **k).count(),
            koa.iter().filter(|k| !**k).count()
        ),
        provenance: provenance.into(),
        evaluation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use srrd_regression::dataset::{FORMAT, PatchSettings, SubjectEntry};

    fn manifest(grades: &[(Option<u32>, Option<&str>)]) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            settings: PatchSettings::default(),
            targets: Vec::new(),
            target_min: [0.0; 4],
            target_max: [1.0; 4],
            subjects: grades
                .iter()
                .enumerate()
                .map(|(n, (kl, grade))| SubjectEntry {
                    id: format!("s{n}"),
                    file: String::new(),
                    patches: 1,
                    grade: grade.map(str::to_string),
                    kl_grade: *kl,
                    ct_acquired_mm: None,
                    content_id: None,
                    patient: None,
                })
                .collect(),
            source: String::new(),
            ct_spacing_mm: None,
            excluded: Vec::new(),
        }
    }

    #[test]
    fn knees_group_by_kl_grade_when_all_have_one_else_by_group() {
        let ids: Vec<String> = (0..4).map(|n| format!("s{n}")).collect();
        let m = manifest(&[
            (Some(3), None),
            (Some(0), None),
            (Some(3), None),
            (Some(1), None),
        ]);
        let g = knee_groups(&m, &ids, &[3, 0, 3, 1]);
        assert_eq!(g.by, "KL grade");
        assert_eq!(g.names, ["KL 0", "KL 1", "KL 3"]);
        assert_eq!(g.of, [2, 0, 2, 1]);
        // One knee with a group only: every knee by group.
        let m = manifest(&[
            (Some(3), None),
            (None, Some("normal")),
            (Some(2), None),
            (Some(1), None),
        ]);
        let g = knee_groups(&m, &ids, &[3, 0, 2, 1]);
        assert_eq!(g.by, "group");
        assert_eq!(g.names, ["normal", "mild", "advanced"]);
        assert_eq!(g.of, [2, 0, 1, 0]);
    }

    #[test]
    fn box_plots_by_kl_grade_name_the_parameters_with_units() {
        let groups = KneeGroups {
            by: "KL grade",
            names: vec!["KL 0".into(), "KL 2".into()],
            of: vec![0, 0, 1, 1, 1],
        };
        let p = [0.1, 0.3, 0.6, 0.8, 0.9];
        let bags: Vec<Bag> = (0..5)
            .map(|k| {
                let v = f64::from(k);
                vec![
                    (1, [0.2 + 0.01 * v, 0.6, 1.0, 1.3]),
                    (2, [0.25, 0.7, 1.1, 1.2]),
                ]
            })
            .collect();
        let dir = tempfile::tempdir().expect("tmp");
        box_plots(dir.path(), &groups, &p, &bags).expect("box plots");
        for name in ["boxes_p_koa", "boxes_parameters"] {
            assert!(
                dir.path().join(format!("{name}.png")).is_file(),
                "{name}.png"
            );
        }
        let svg = std::fs::read_to_string(dir.path().join("boxes_parameters.svg")).expect("svg");
        for want in [
            "BV/TV",
            "Tb.Th (mm)",
            "Tb.Sp (mm)",
            "Tb.N (1/mm)",
            "KL 2",
            "n = 3",
        ] {
            assert!(svg.contains(want), "{want} in boxes_parameters.svg");
        }
        assert!(!svg.contains("tb_th_mm"));
        let svg = std::fs::read_to_string(dir.path().join("boxes_p_koa.svg")).expect("svg");
        assert!(svg.contains("P(KOA) by KL grade") && svg.contains("n = 2"));
    }
}
