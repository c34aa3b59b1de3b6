//! The KOA classifier: per-feature standardization, an RBF C-SVC whose (C, gamma) is chosen by
//! inner stratified 3-fold cross-validation on AUC, and Platt scaling fitted on the inner
//! out-of-fold decision values (as LIBSVM does). Also a one-vs-rest multi-class wrapper.
//! Owns model selection and the saved classifier form (JSON via serde).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::platt::Platt;
use super::svm::Svm;
use srrd_stats::{Standardizer, auc};

/// Penalty grid, ascending (ties in CV AUC go to the smaller value).
const C_GRID: [f64; 4] = [0.1, 1.0, 10.0, 100.0];
/// RBF width grid, divided by the number of features, ascending.
const GAMMA_GRID: [f64; 3] = [0.1, 1.0, 10.0];
/// Inner cross-validation folds (fewer when a class has fewer cases).
const FOLDS: usize = 3;

/// SplitMix64 step; deterministic shuffling for the fold assignment.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stratified fold index per case: each class is shuffled and dealt round-robin.
#[cfg(test)]
fn stratified_folds(y: &[bool], folds: usize, seed: u64) -> Vec<usize> {
    let alone: Vec<usize> = (0..y.len()).collect();
    grouped_folds(y, &alone, folds, seed)
}

/// Stratified fold index per case, cases of one group (a patient, numbered from 0) in one
/// fold: the groups of each class (a group's class is its first case's) are shuffled and
/// dealt round-robin. Every case its own group gives the plain stratified folds.
fn grouped_folds(y: &[bool], group: &[usize], folds: usize, seed: u64) -> Vec<usize> {
    let groups = group.iter().max().map_or(0, |g| g + 1);
    let mut first = vec![usize::MAX; groups];
    for (i, &g) in group.iter().enumerate().rev() {
        first[g] = i;
    }
    let mut state = seed;
    let mut fold_of_group = vec![0; groups];
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..groups)
            .filter(|&g| first[g] != usize::MAX && y[first[g]] == class)
            .collect();
        for i in (1..idx.len()).rev() {
            let j = (splitmix(&mut state) % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        for (rank, &g) in idx.iter().enumerate() {
            fold_of_group[g] = rank % folds;
        }
    }
    group.iter().map(|&g| fold_of_group[g]).collect()
}

/// Out-of-fold decision values of an SVM with (c, gamma); `None` if a fold fails to train.
fn out_of_fold(
    z: &[Vec<f64>],
    y: &[bool],
    fold: &[usize],
    folds: usize,
    c: f64,
    gamma: f64,
) -> Option<Vec<f64>> {
    let mut out = vec![0.0; z.len()];
    for k in 0..folds {
        let (train_x, train_y): (Vec<Vec<f64>>, Vec<bool>) = (0..z.len())
            .filter(|&i| fold[i] != k)
            .map(|i| (z[i].clone(), y[i]))
            .unzip();
        let svm = Svm::fit(&train_x, &train_y, c, gamma)?;
        for i in (0..z.len()).filter(|&i| fold[i] == k) {
            out[i] = svm.decision(&z[i]);
        }
    }
    Some(out)
}

/// Standardizer + RBF SVM + Platt sigmoid for a binary KOA decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KoaClassifier {
    standardizer: Standardizer,
    svm: Svm,
    platt: Platt,
    c: f64,
    gamma: f64,
    cv_auc: f64,
}

impl KoaClassifier {
    /// Fits on rows `x` (raw features) and labels `y` (true = KOA). The standardizer sees `x`
    /// only; (C, gamma) is chosen from {0.1, 1, 10, 100} x {0.1, 1, 10}/n_features by
    /// stratified 3-fold CV AUC (ties: smaller C, then smaller gamma; `seed` drives the fold
    /// shuffle); Platt is fitted on those out-of-fold decisions; the SVM is refitted on all
    /// rows. `None` if inputs are ragged, non-finite or mismatched, or a class has fewer than
    /// two cases (with two cases per class the CV uses 2 folds).
    pub fn fit(x: &[Vec<f64>], y: &[bool], seed: u64) -> Option<KoaClassifier> {
        let alone: Vec<usize> = (0..y.len()).collect();
        Self::fit_grouped(x, y, &alone, seed)
    }

    /// [`fit`](Self::fit) where the cases come in groups (a patient's knees, numbered
    /// from 0: see `patient_groups`), which the inner cross-validation keeps in one fold.
    /// The folds need two groups of each class (a group's class is its first case's).
    pub fn fit_grouped(
        x: &[Vec<f64>],
        y: &[bool],
        group: &[usize],
        seed: u64,
    ) -> Option<KoaClassifier> {
        if x.len() != y.len() || group.len() != y.len() {
            return None;
        }
        let standardizer = Standardizer::fit(x)?;
        let p = standardizer.len();
        if p == 0 {
            return None;
        }
        // Groups per class, each counted once (at its first case).
        let firsts: Vec<usize> = (0..y.len())
            .filter(|&i| !group[..i].contains(&group[i]))
            .collect();
        let n_pos = firsts.iter().filter(|&&i| y[i]).count();
        let folds = FOLDS.min(n_pos).min(firsts.len() - n_pos);
        if folds < 2 {
            return None;
        }
        let z = standardizer.transform_all(x);
        let fold = grouped_folds(y, group, folds, seed);

        let grid: Vec<(f64, f64)> = C_GRID
            .iter()
            .flat_map(|&c| GAMMA_GRID.iter().map(move |&g| (c, g / p as f64)))
            .collect();
        let results: Vec<Option<(f64, Vec<f64>)>> = grid
            .par_iter()
            .map(|&(c, gamma)| {
                let oof = out_of_fold(&z, y, &fold, folds, c, gamma)?;
                let a = auc(&oof, y)?;
                Some((a, oof))
            })
            .collect();
        // Grid order is C ascending then gamma ascending, so a strict improvement rule keeps
        // the smaller C, then the smaller gamma, on ties.
        let mut best: Option<(usize, f64)> = None;
        for (k, r) in results.iter().enumerate() {
            if let Some((a, _)) = r
                && best.is_none_or(|(_, b)| *a > b)
            {
                best = Some((k, *a));
            }
        }
        let (k, cv_auc) = best?;
        let (c, gamma) = grid[k];
        let oof = &results[k].as_ref()?.1;
        let platt = Platt::fit(oof, y)?;
        let svm = Svm::fit(&z, y, c, gamma)?;
        Some(KoaClassifier {
            standardizer,
            svm,
            platt,
            c,
            gamma,
            cv_auc,
        })
    }

    /// SVM decision value for raw features `x` (positive = KOA); NaN on a length mismatch.
    pub fn decision(&self, x: &[f64]) -> f64 {
        if x.len() != self.standardizer.len() {
            return f64::NAN;
        }
        self.svm.decision(&self.standardizer.transform(x))
    }

    /// Calibrated probability of KOA for raw features `x`; NaN on a length mismatch.
    pub fn probability(&self, x: &[f64]) -> f64 {
        self.platt.probability(self.decision(x))
    }

    /// The chosen (C, gamma), gamma already divided by the number of features.
    pub fn chosen(&self) -> (f64, f64) {
        (self.c, self.gamma)
    }

    /// Inner cross-validated AUC of the chosen (C, gamma).
    pub fn cv_auc(&self) -> f64 {
        self.cv_auc
    }

    /// The fitted Platt sigmoid.
    pub fn platt(&self) -> Platt {
        self.platt
    }
}

/// One-vs-rest KOA classifiers over K classes (e.g. KL grades).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiClassifier {
    models: Vec<KoaClassifier>,
}

impl MultiClassifier {
    /// Fits one [`KoaClassifier`] per class (class k versus the rest, seed + k). `None` if
    /// `classes` < 2, a label is out of range, a class has fewer than two cases (or all but
    /// one case), or a binary fit fails.
    pub fn fit(x: &[Vec<f64>], y: &[usize], classes: usize, seed: u64) -> Option<MultiClassifier> {
        let alone: Vec<usize> = (0..y.len()).collect();
        Self::fit_grouped(x, y, &alone, classes, seed)
    }

    /// [`fit`](Self::fit) with grouped cases (see [`KoaClassifier::fit_grouped`]).
    pub fn fit_grouped(
        x: &[Vec<f64>],
        y: &[usize],
        group: &[usize],
        classes: usize,
        seed: u64,
    ) -> Option<MultiClassifier> {
        if classes < 2 || y.iter().any(|&l| l >= classes) {
            return None;
        }
        let models = (0..classes)
            .map(|k| {
                let bin: Vec<bool> = y.iter().map(|&l| l == k).collect();
                KoaClassifier::fit_grouped(x, &bin, group, seed.wrapping_add(k as u64))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(MultiClassifier { models })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.models.len()
    }

    /// Per-class one-vs-rest probabilities normalized to sum 1 (uniform if all are 0);
    /// all NaN on a feature-length mismatch.
    pub fn probabilities(&self, x: &[f64]) -> Vec<f64> {
        let p: Vec<f64> = self.models.iter().map(|m| m.probability(x)).collect();
        if p.iter().any(|v| v.is_nan()) {
            return vec![f64::NAN; p.len()];
        }
        let sum: f64 = p.iter().sum();
        if sum > 0.0 {
            p.iter().map(|v| v / sum).collect()
        } else {
            vec![1.0 / p.len() as f64; p.len()]
        }
    }

    /// Class with the largest probability (the first on ties; 0 on a length mismatch).
    pub fn predict(&self, x: &[f64]) -> usize {
        let p = self.probabilities(x);
        let mut best = 0;
        for (k, v) in p.iter().enumerate() {
            if *v > p[best] {
                best = k;
            }
        }
        best
    }

    /// The per-class binary models, class order.
    pub fn models(&self) -> &[KoaClassifier] {
        &self.models
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use srrd_base::rng::Rng;

    /// A point drawn from a unit Gaussian around `center`.
    fn around(rng: &mut Rng, center: &[f64]) -> Vec<f64> {
        center.iter().map(|c| c + rng.normal()).collect()
    }

    #[test]
    fn two_blobs_in_ten_dimensions() {
        let mut rng = Rng::new(42, "test");
        let pos = [0.5; 10];
        let neg = [-0.5; 10];
        let mut sample = |n: usize| {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for _ in 0..n {
                x.push(around(&mut rng, &pos));
                y.push(true);
                x.push(around(&mut rng, &neg));
                y.push(false);
            }
            (x, y)
        };
        let (x, y) = sample(60);
        // Scale and shift one feature so the standardizer matters.
        let warp = |rows: &mut Vec<Vec<f64>>| {
            for r in rows.iter_mut() {
                r[3] = 1000.0 * r[3] + 50.0;
            }
        };
        let mut x = x;
        warp(&mut x);
        let (mut xt, yt) = sample(100);
        warp(&mut xt);
        let model = KoaClassifier::fit(&x, &y, 1).expect("fit");
        let (c, g) = model.chosen();
        assert!(C_GRID.contains(&c) && GAMMA_GRID.iter().any(|v| (v / 10.0 - g).abs() < 1e-15));
        let probs: Vec<f64> = xt.iter().map(|r| model.probability(r)).collect();
        let held_out = auc(&probs, &yt).expect("auc");
        assert!(held_out > 0.95, "held-out AUC {held_out}");
        let mean_pos = probs
            .iter()
            .zip(&yt)
            .filter(|p| *p.1)
            .map(|p| p.0)
            .sum::<f64>()
            / 100.0;
        let mean_neg = probs
            .iter()
            .zip(&yt)
            .filter(|p| !*p.1)
            .map(|p| p.0)
            .sum::<f64>()
            / 100.0;
        assert!(mean_pos > 0.7, "mean positive probability {mean_pos}");
        assert!(mean_neg < 0.3, "mean negative probability {mean_neg}");
        assert!(model.platt().a < 0.0);

        let json = serde_json::to_string(&model).expect("serialize");
        let back: KoaClassifier = serde_json::from_str(&json).expect("deserialize");
        // serde_json may round the last bit of a float, so compare with a tolerance.
        for r in &xt[..10] {
            assert!((back.probability(r) - model.probability(r)).abs() < 1e-12);
        }
        assert_eq!(back.chosen(), model.chosen());
        assert!(model.probability(&[0.0; 3]).is_nan());
        // Same seed, same model.
        assert_eq!(KoaClassifier::fit(&x, &y, 1).expect("refit"), model);
    }

    #[test]
    fn three_class_blobs() {
        let mut rng = Rng::new(7, "test");
        let centers: Vec<Vec<f64>> = (0..3)
            .map(|k| (0..5).map(|d| if d == k { 3.0 } else { 0.0 }).collect())
            .collect();
        let mut sample = |n: usize| {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for _ in 0..n {
                for (k, c) in centers.iter().enumerate() {
                    x.push(around(&mut rng, c));
                    y.push(k);
                }
            }
            (x, y)
        };
        let (x, y) = sample(40);
        let (xt, yt) = sample(60);
        let model = MultiClassifier::fit(&x, &y, 3, 5).expect("fit");
        assert_eq!(model.classes(), 3);
        let mut correct = 0;
        for (r, &l) in xt.iter().zip(&yt) {
            let p = model.probabilities(r);
            assert_eq!(p.len(), 3);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
            if model.predict(r) == l {
                correct += 1;
            }
        }
        let acc = correct as f64 / xt.len() as f64;
        assert!(acc > 0.8, "held-out accuracy {acc}");

        let json = serde_json::to_string(&model).expect("serialize");
        let back: MultiClassifier = serde_json::from_str(&json).expect("deserialize");
        for (u, v) in back
            .probabilities(&xt[0])
            .iter()
            .zip(model.probabilities(&xt[0]))
        {
            assert!((u - v).abs() < 1e-12);
        }
    }

    #[test]
    fn rejects_degenerate_input() {
        let x: Vec<Vec<f64>> = (0..6).map(|i| vec![i as f64, 1.0]).collect();
        assert!(KoaClassifier::fit(&x, &[true; 6], 0).is_none());
        assert!(KoaClassifier::fit(&x, &[true, false, false, false, false, false], 0).is_none());
        assert!(KoaClassifier::fit(&x, &[true, false], 0).is_none());
        assert!(MultiClassifier::fit(&x, &[0, 1, 2, 0, 1, 3], 3, 0).is_none());
        assert!(MultiClassifier::fit(&x, &[0; 6], 1, 0).is_none());
        // Two per class is enough (2-fold inner CV).
        let y = [false, true, false, true, false, false];
        assert!(KoaClassifier::fit(&x, &y, 0).is_some());
    }

    /// A patient's cases share an inner fold, and every case its own group gives the
    /// stratified folds.
    #[test]
    fn grouped_folds_keep_a_patient_together() {
        // 12 patients, two scans each (cases 2p and 2p+1), every third patient KOA.
        let y: Vec<bool> = (0..24).map(|i| (i / 2) % 3 == 0).collect();
        let group: Vec<usize> = (0..24).map(|i| i / 2).collect();
        let fold = grouped_folds(&y, &group, 3, 5);
        for p in 0..12 {
            assert_eq!(fold[2 * p], fold[2 * p + 1], "patient {p}: {fold:?}");
        }
        for k in 0..3 {
            let pos = (0..24).filter(|&i| fold[i] == k && y[i]).count();
            assert!(
                (2..=4).contains(&pos),
                "fold {k}: {pos} KOA scans: {fold:?}"
            );
        }
        let x: Vec<Vec<f64>> = (0..24)
            .map(|i| {
                vec![
                    f64::from(u8::from(y[i])) + 0.1 * (i % 5) as f64,
                    (i % 7) as f64,
                ]
            })
            .collect();
        assert!(KoaClassifier::fit_grouped(&x, &y, &group, 1).is_some());
        // One KOA patient scanned many times is one group: too few for the folds.
        let y1: Vec<bool> = (0..24).map(|i| i < 6).collect();
        let g1: Vec<usize> = (0..24).map(|i| if i < 6 { 0 } else { i }).collect();
        assert!(KoaClassifier::fit_grouped(&x, &y1, &g1, 1).is_none());
    }

    #[test]
    fn folds_are_stratified() {
        let y: Vec<bool> = (0..31).map(|i| i % 3 == 0).collect();
        let fold = stratified_folds(&y, 3, 9);
        for k in 0..3 {
            let pos = (0..y.len()).filter(|&i| fold[i] == k && y[i]).count();
            let neg = (0..y.len()).filter(|&i| fold[i] == k && !y[i]).count();
            assert!(
                (3..=4).contains(&pos) && (6..=7).contains(&neg),
                "{pos} {neg}"
            );
        }
    }
}
