//! The paper's Table 3 on a patch store: k-fold cross-validation by subject (never
//! patches of one knee on both sides), ICC(A,1) of predicted vs ground truth per
//! parameter (mean +- SD over folds, and the 95% CI on the pooled predictions), Pearson r,
//! for the radiomics baseline, the plain CNN, the distilled student (SRRD-CT) and the MR
//! teacher; scatter plots like the paper's Figure 5.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use tch::{Kind, Tensor};

use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_regression::dataset::{Manifest, TARGET_NAMES, TARGETS, patient_groups};
use srrd_regression::inputs::{Inputs, load_inputs};
use srrd_regression::model::train_bundle;
use srrd_regression::nets::NetConfig;
use srrd_regression::radiomics::{RadiomicsModel, features};
use srrd_regression::train::{TrainSettings, predict};
use srrd_stats::{Series, bland_altman_png, icc_a1, mean_sd, pearson, scatter_png, with_unit};

/// Header of `oof.csv`: one row per patch and method (the truth as "MR ground truth").
pub const OOF_HEADER: &str =
    "subject,bone,x_mm,y_mm,z_mm,method,bv_tv,tb_th_mm,tb_sp_mm,tb_n_per_mm\n";

/// The `oof.csv` rows of `data`'s patches, one per patch and named series.
pub fn oof_rows(manifest: &Manifest, data: &Inputs, named: &[(&str, &Vec<[f64; 4]>)]) -> String {
    let mut out = String::new();
    for (name, rows) in named {
        for (n, r) in rows.iter().enumerate() {
            let c = data.centre_mm[n];
            out += &format!(
                "{},{},{:.3},{:.3},{:.3},{name},{:.6},{:.6},{:.6},{:.6}\n",
                manifest.subjects[data.subject[n]].id,
                data.bone[n],
                c[0],
                c[1],
                c[2],
                r[0],
                r[1],
                r[2],
                r[3]
            );
        }
    }
    out
}

/// Methods in table order.
pub const METHODS: [&str; 4] = [
    "radiomics",
    "plain CNN",
    "SRRD-CT (distilled)",
    "MR teacher",
];

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct CvRow {
    pub method: String,
    pub parameter: String,
    pub icc_mean: f64,
    pub icc_sd: f64,
    /// ICC(A,1) and its 95% CI on the pooled out-of-fold predictions.
    pub icc_pooled: f64,
    pub icc_pooled_ci95: (f64, f64),
    pub pearson_r: f64,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct CvReport {
    pub folds: usize,
    pub subjects: usize,
    pub patches: usize,
    pub config: String,
    pub epochs: usize,
    /// Epochs of the teacher when it trained longer than the students.
    #[serde(default)]
    pub teacher_epochs: Option<usize>,
    pub ground_truth: String,
    pub rows: Vec<CvRow>,
    pub seconds: f64,
}

/// Subject folds, stratified by grade: patients (a knee without one is its own) sorted by
/// (their first knee's grade, first index), dealt round robin, each with all its knees.
pub fn subject_folds(manifest: &Manifest, folds: usize) -> Vec<Vec<usize>> {
    let subjects = &manifest.subjects;
    let group = patient_groups(subjects.iter().map(|s| s.patient_key()));
    let grades: Vec<u32> = subjects.iter().map(|s| s.kl_grade.unwrap_or(0)).collect();
    deal_groups(&group, &grades, folds)
}

/// Items in folds, stratified: the groups (numbered by first appearance) sorted by (the
/// key of their first item, first index) and dealt round robin, each with all its items.
pub(crate) fn deal_groups<K: Ord + Copy>(
    group: &[usize],
    key: &[K],
    folds: usize,
) -> Vec<Vec<usize>> {
    let folds = folds.max(1);
    let groups = group.iter().max().map_or(0, |g| g + 1);
    let mut first = vec![usize::MAX; groups];
    for (item, &g) in group.iter().enumerate().rev() {
        first[g] = item;
    }
    let mut order: Vec<usize> = (0..groups).collect();
    order.sort_by_key(|&g| (key[first[g]], first[g]));
    // Each fold lists its items in dealing order (as before groups existed).
    let mut out = vec![Vec::new(); folds];
    for (n, g) in order.into_iter().enumerate() {
        out[n % folds].extend((0..group.len()).filter(|&item| group[item] == g));
    }
    out
}

pub(super) fn rows_of(t: &Tensor) -> Vec<[f64; 4]> {
    let v = Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap_or_default();
    v.chunks(4)
        .map(|c| std::array::from_fn(|a| c.get(a).copied().unwrap_or(f32::NAN) as f64))
        .collect()
}

fn radiomics_rows(data: &Inputs) -> Vec<Vec<f64>> {
    let n = data.subject.len();
    let edge = data.ct.size()[2] as usize;
    let hu = Vec::<f32>::try_from((data.ct.select(1, 0) * 600.0 + 400.0).flatten(0, -1))
        .unwrap_or_default();
    let mask = Vec::<f32>::try_from(data.ct.select(1, 1).flatten(0, -1)).unwrap_or_default();
    let len = edge * edge * edge;
    (0..n)
        .map(|p| {
            features(
                &hu[p * len..(p + 1) * len],
                &mask[p * len..(p + 1) * len],
                edge,
            )
        })
        .collect()
}

/// Runs the cross-validation; fold models and checkpoints go to `out/fold-N` (so an
/// interrupted run resumes), the table, JSON and plots to `out`.
#[allow(clippy::too_many_arguments)]
pub fn cross_validate(
    store: &Path,
    manifest: &Manifest,
    folds: usize,
    cfg: &NetConfig,
    settings: &TrainSettings,
    out: &Path,
    progress: &Progress,
    mut log: impl FnMut(&str),
) -> Result<CvReport> {
    let t0 = Instant::now();
    if manifest.subjects.len() < folds || folds < 2 {
        return Err(Error::invalid(format!(
            "{} subjects cannot make {folds} folds (need at least as many subjects, and 2 folds)",
            manifest.subjects.len()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let split = subject_folds(manifest, folds);
    // Pooled truth and predictions per method; per-fold ICCs per method and parameter.
    let mut truth: Vec<[f64; 4]> = Vec::new();
    let mut oof = String::from(OOF_HEADER);
    let mut pooled: Vec<Vec<[f64; 4]>> = vec![Vec::new(); METHODS.len()];
    let mut fold_icc: Vec<[Vec<f64>; 4]> = vec![Default::default(); METHODS.len()];
    for (f, test) in split.iter().enumerate() {
        let train: Vec<usize> = split
            .iter()
            .enumerate()
            .filter(|(g, _)| *g != f)
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let dir = out.join(format!("fold-{}", f + 1));
        let bundle = train_bundle(store, manifest, &train, cfg, settings, &dir, true, progress)?;
        let norm = &bundle.card.normalization;
        let test_data = load_inputs(store, manifest, test, settings.mr_scaling)?;
        let train_data =
            load_inputs(store, manifest, &train, settings.mr_scaling)?.for_training(settings);
        progress.start(&format!("fold {}: radiomics", f + 1), 1);
        let train_targets = rows_of(&train_data.target);
        let radiomics = RadiomicsModel::fit(&radiomics_rows(&train_data), &train_targets)
            .ok_or_else(|| Error::invalid("radiomics regression could not be fitted"))?;
        let y = rows_of(&test_data.target);
        let preds: Vec<Vec<[f64; 4]>> = vec![
            radiomics_rows(&test_data)
                .iter()
                .map(|r| radiomics.predict(r))
                .collect(),
            rows_of(&predict(&bundle.plain, &test_data.ct, norm, 64)),
            rows_of(&predict(&bundle.student, &test_data.ct, norm, 64)),
            rows_of(&predict(&bundle.teacher, &test_data.mr, norm, 64)),
        ];
        let mut line = format!("fold {}/{folds} ({} test patches): ICC", f + 1, y.len());
        for (m, p) in preds.iter().enumerate() {
            for a in 0..4 {
                let xs: Vec<f64> = p.iter().map(|r| r[a]).collect();
                let ys: Vec<f64> = y.iter().map(|r| r[a]).collect();
                let icc = icc_a1(&xs, &ys).map(|i| i.value).unwrap_or(f64::NAN);
                fold_icc[m][a].push(icc);
            }
            line += &format!(
                " {}={:.2}",
                METHODS[m],
                fold_icc[m].iter().map(|v| v[f]).sum::<f64>() / 4.0
            );
            pooled[m].extend(p.iter().copied());
        }
        log(&line);
        // Out-of-fold predictions per patch, for the diagnosis stage.
        let named: Vec<(&str, &Vec<[f64; 4]>)> = std::iter::once(("MR ground truth", &y))
            .chain(METHODS.iter().copied().zip(preds.iter()))
            .collect();
        oof += &oof_rows(manifest, &test_data, &named);
        truth.extend(y);
    }
    let mut rows = Vec::new();
    for (m, method) in METHODS.iter().enumerate() {
        for (a, (name, _)) in TARGETS.iter().enumerate() {
            let xs: Vec<f64> = pooled[m].iter().map(|r| r[a]).collect();
            let ys: Vec<f64> = truth.iter().map(|r| r[a]).collect();
            let (icc_mean, icc_sd) = mean_sd(&fold_icc[m][a]);
            let pooled_icc = icc_a1(&xs, &ys);
            rows.push(CvRow {
                method: method.to_string(),
                parameter: name.to_string(),
                icc_mean,
                icc_sd,
                icc_pooled: pooled_icc.as_ref().map(|i| i.value).unwrap_or(f64::NAN),
                icc_pooled_ci95: pooled_icc.map(|i| i.ci95).unwrap_or((f64::NAN, f64::NAN)),
                pearson_r: pearson(&xs, &ys).unwrap_or(f64::NAN),
            });
        }
    }
    figures(out, &truth, &pooled)?;
    let report = CvReport {
        folds,
        subjects: manifest.subjects.len(),
        patches: truth.len(),
        config: cfg.name.clone(),
        epochs: settings.epochs,
        teacher_epochs: settings.teacher_epochs,
        ground_truth: manifest.settings.method.clone(),
        rows,
        seconds: t0.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(&out.join("cv.json"), |w| w.write_all(json.as_bytes()))?;
    srrd_base::io::atomic_write(&out.join("oof.csv"), |w| w.write_all(oof.as_bytes()))?;
    let md = markdown(&report);
    srrd_base::io::atomic_write(&out.join("table.md"), |w| w.write_all(md.as_bytes()))?;
    Ok(report)
}

/// The paper's Figure 5 and the Bland-Altman plots from the pooled out-of-fold predictions
/// (`pooled` in [`METHODS`] order, rows beside `truth`'s): per parameter
/// `scatter_<field>.png`, the MR teacher and SRRD-CT against the MR ground truth with
/// each one's ICC(A,1) and Pearson r, and `bland_altman_<field>.png` of SRRD-CT; each
/// with its SVG beside it.
pub fn figures(out: &Path, truth: &[[f64; 4]], pooled: &[Vec<[f64; 4]>]) -> Result<()> {
    for (a, ((field, unit), name)) in TARGETS.iter().zip(TARGET_NAMES).enumerate() {
        let series = |m: usize, label: &str, color: [u8; 3]| Series {
            name: label.to_string(),
            points: pooled
                .get(m)
                .map(|p| p.iter().zip(truth).map(|(p, t)| (t[a], p[a])).collect())
                .unwrap_or_default(),
            color,
        };
        let path = out.join(format!("scatter_{field}.png"));
        scatter_png(
            &path,
            &format!("{name}: predicted vs MR ground truth"),
            &with_unit(&format!("MR ground truth {name}"), unit),
            &with_unit(&format!("predicted {name}"), unit),
            &[
                series(3, "MR teacher (from MR)", [230, 120, 20]),
                series(2, "SRRD-CT (from CT)", [30, 90, 200]),
            ],
        )
        .map_err(|e| Error::io(&path, e))?;
        // Agreement of the student with the truth: difference against mean.
        let pairs: Vec<(f64, f64)> = pooled
            .get(2)
            .map(|p| p.iter().zip(truth).map(|(p, t)| (p[a], t[a])).collect())
            .unwrap_or_default();
        let path = out.join(format!("bland_altman_{field}.png"));
        bland_altman_png(
            &path,
            &format!("{name}: SRRD-CT against MR ground truth"),
            ("SRRD-CT", "MR ground truth"),
            unit,
            &pairs,
            [30, 90, 200],
        )
        .map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// The table as Markdown: ICC mean +- SD over folds per method and parameter, then the
/// pooled ICC with its CI and Pearson r.
pub fn markdown(report: &CvReport) -> String {
    let mut s = format!(
        "ICC(A,1) of predicted vs ground truth ({}-fold cross-validation by subject, {} subjects, {} patches, {} configuration, {} epochs{}; ground truth: {} morphometry of the MR patches)\n\n",
        report.folds,
        report.subjects,
        report.patches,
        report.config,
        report.epochs,
        report
            .teacher_epochs
            .map(|t| format!(" ({t} for the teacher)"))
            .unwrap_or_default(),
        report.ground_truth
    );
    s += "| method | BV/TV | Tb.Th | Tb.Sp | Tb.N |\n|---|---|---|---|---|\n";
    for method in METHODS {
        s += &format!("| {method} |");
        for r in report.rows.iter().filter(|r| r.method == method) {
            s += &format!(" {:.3} ± {:.3} |", r.icc_mean, r.icc_sd);
        }
        s += "\n";
    }
    s += "\nPooled out-of-fold predictions: ICC(A,1) [95% CI], Pearson r\n\n";
    s += "| method | BV/TV | Tb.Th | Tb.Sp | Tb.N |\n|---|---|---|---|---|\n";
    for method in METHODS {
        s += &format!("| {method} |");
        for r in report.rows.iter().filter(|r| r.method == method) {
            s += &format!(
                " {:.3} [{:.3}, {:.3}], r {:.3} |",
                r.icc_pooled, r.icc_pooled_ci95.0, r.icc_pooled_ci95.1, r.pearson_r
            );
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use srrd_regression::dataset::{FORMAT, PatchSettings, SubjectEntry};

    /// Figure 5's panels name the parameter with its unit and carry the ICC and r that the
    /// table computes; each PNG has its SVG.
    #[test]
    fn figures_name_the_parameters_and_carry_the_tables_icc_and_r() {
        let truth: Vec<[f64; 4]> = (0..40)
            .map(|n| {
                let t = f64::from(n) / 40.0;
                [0.2 + 0.1 * t, 0.6 + 0.3 * t, 1.0 + t, 1.2 - 0.4 * t]
            })
            .collect();
        let wobble = |k: f64| -> Vec<[f64; 4]> {
            truth
                .iter()
                .enumerate()
                .map(|(n, r)| r.map(|v| v * (1.0 + k * ((n * 7 % 11) as f64 - 5.0) / 50.0)))
                .collect()
        };
        let pooled = vec![wobble(1.0), wobble(0.8), wobble(0.5), wobble(0.3)];
        let dir = tempfile::tempdir().expect("tmp");
        figures(dir.path(), &truth, &pooled).expect("figures");
        for (a, ((field, _), name)) in TARGETS.iter().zip(TARGET_NAMES).enumerate() {
            let png = dir.path().join(format!("scatter_{field}.png"));
            assert!(png.is_file(), "{}", png.display());
            let svg = std::fs::read_to_string(png.with_extension("svg")).expect("svg beside");
            let ys: Vec<f64> = truth.iter().map(|r| r[a]).collect();
            for (m, label) in [(3, "MR teacher (from MR)"), (2, "SRRD-CT (from CT)")] {
                // As the table computes them: predicted first.
                let xs: Vec<f64> = pooled[m].iter().map(|r| r[a]).collect();
                let icc = icc_a1(&xs, &ys).expect("icc").value;
                let r = pearson(&xs, &ys).expect("r");
                let want = format!("{label}: ICC {icc:.3}, r = {r:.3}");
                assert!(svg.contains(&want), "{want} in scatter_{field}.svg");
            }
            assert!(!svg.contains(field), "no field name {field} on the figure");
            let axis = match name {
                "BV/TV" => "MR ground truth BV/TV".to_string(),
                "Tb.N" => "MR ground truth Tb.N (1/mm)".to_string(),
                n => format!("MR ground truth {n} (mm)"),
            };
            assert!(svg.contains(&axis), "{axis} in scatter_{field}.svg");
            let ba = dir.path().join(format!("bland_altman_{field}.png"));
            assert!(ba.is_file() && ba.with_extension("svg").is_file());
        }
    }

    /// Knees of one patient (both knees, or one knee scanned twice) share a fold; a study
    /// without patients gets the folds it had before.
    #[test]
    fn a_patients_knees_share_a_fold() {
        let group = patient_groups(["a", "b", "a", "c", "d", "b", "e"]);
        assert_eq!(group, vec![0, 1, 0, 2, 3, 1, 4]);
        let grades = [1, 0, 1, 2, 0, 0, 3];
        let folds = deal_groups(&group, &grades, 3);
        let fold_of = |item: usize| folds.iter().position(|f| f.contains(&item)).expect("dealt");
        assert_eq!(fold_of(0), fold_of(2), "{folds:?}");
        assert_eq!(fold_of(1), fold_of(5), "{folds:?}");
        assert_eq!(folds.iter().map(Vec::len).sum::<usize>(), 7);
        // Five groups in three folds: no fold empty, none with more than two groups.
        assert!(
            folds.iter().all(|f| !f.is_empty() && f.len() <= 4),
            "{folds:?}"
        );
        // Singletons: sorted by (grade, index) and dealt, as subject_folds always did.
        let alone: Vec<usize> = (0..7).collect();
        let before = {
            let mut order: Vec<usize> = (0..7).collect();
            order.sort_by_key(|&s| (grades[s], s));
            let mut out = vec![Vec::new(); 3];
            for (n, s) in order.into_iter().enumerate() {
                out[n % 3].push(s);
            }
            out
        };
        assert_eq!(deal_groups(&alone, &grades, 3), before);
    }

    #[test]
    fn folds_partition_the_subjects_and_stratify_by_grade() {
        let subjects = (0..23)
            .map(|n| SubjectEntry {
                id: format!("s{n}"),
                file: String::new(),
                patches: 1,
                grade: None,
                kl_grade: Some((n % 5) as u32),
                ct_acquired_mm: None,
                content_id: None,
                patient: None,
            })
            .collect();
        let m = Manifest {
            format: FORMAT.into(),
            settings: PatchSettings::default(),
            targets: Vec::new(),
            target_min: [0.0; 4],
            target_max: [1.0; 4],
            subjects,
            source: String::new(),
            ct_spacing_mm: None,
            excluded: Vec::new(),
        };
        let folds = subject_folds(&m, 5);
        let mut all: Vec<usize> = folds.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..23).collect::<Vec<_>>(),
            "every subject in exactly one fold"
        );
        for f in &folds {
            // A test fold and its training folds share no subject (patches follow subjects).
            let train: Vec<usize> = folds
                .iter()
                .filter(|g| *g != f)
                .flatten()
                .copied()
                .collect();
            assert!(f.iter().all(|s| !train.contains(s)));
            // Stratified: at most 5 knees per grade over 5 folds, so at most one per fold.
            for kl in 0..5u32 {
                let n = f
                    .iter()
                    .filter(|s| m.subjects[**s].kl_grade == Some(kl))
                    .count();
                assert!(n <= 1, "grade {kl} spread over the folds: {n}");
            }
        }
    }
}
