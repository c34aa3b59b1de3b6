//! Linear models for small tabular data: per-column standardization and ridge regression
//! (normal equations, unpenalized intercept) with lambda chosen by deterministic k-fold CV.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// Per-column centering and scaling fitted on training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means of the training rows.
    pub means: Vec<f64>,
    /// Column sample SDs (n - 1) of the training rows; 1 for constant columns.
    pub sds: Vec<f64>,
}

impl Standardizer {
    /// Fits means and SDs on `rows`. `None` if there are no rows, rows are ragged, or a value
    /// is not finite. Constant columns (or a single row) get SD 1.
    pub fn fit(rows: &[Vec<f64>]) -> Option<Self> {
        let p = rows.first()?.len();
        if rows.iter().any(|r| r.len() != p) || rows.iter().flatten().any(|v| !v.is_finite()) {
            return None;
        }
        let n = rows.len() as f64;
        let means: Vec<f64> = (0..p)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let sds = (0..p)
            .map(|j| {
                if rows.len() < 2 {
                    return 1.0;
                }
                let ss: f64 = rows.iter().map(|r| (r[j] - means[j]).powi(2)).sum();
                let sd = (ss / (n - 1.0)).sqrt();
                // Constant up to rounding: leave the column centred but unscaled.
                if sd > 1e-12 * means[j].abs().max(f64::MIN_POSITIVE) && sd > 0.0 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Some(Self { means, sds })
    }

    /// Number of columns this standardizer was fitted on.
    pub fn len(&self) -> usize {
        self.means.len()
    }

    /// True if fitted on zero columns.
    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    /// Standardizes one row: (value - mean) / sd per column. Extra values are dropped and
    /// missing ones are not produced, so check the length when it may differ.
    pub fn transform(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(self.means.iter().zip(&self.sds))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }

    /// Standardizes every row.
    pub fn transform_all(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| self.transform(r)).collect()
    }
}

/// Ridge regression y ≈ intercept + coefficients · x; the intercept is not penalized.
/// The penalty acts on the coefficients as given, so standardize features first (see
/// [`Standardizer`]) for it to treat them alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RidgeRegression {
    /// Unpenalized intercept.
    pub intercept: f64,
    /// One coefficient per feature column.
    pub coefficients: Vec<f64>,
    /// The penalty it was fitted with.
    pub lambda: f64,
}

impl RidgeRegression {
    /// Fits by the normal equations on centred data: (XcᵀXc + λI) β = Xcᵀyc, intercept =
    /// ȳ - x̄·β. `None` if shapes disagree, there are no rows, a value is not finite, λ is
    /// negative or not finite, or the system is singular (e.g. λ = 0 with collinear columns).
    pub fn fit(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Option<Self> {
        let n = x.len();
        let p = x.first()?.len();
        if y.len() != n || x.iter().any(|r| r.len() != p) || !(lambda >= 0.0 && lambda.is_finite())
        {
            return None;
        }
        if x.iter().flatten().chain(y).any(|v| !v.is_finite()) {
            return None;
        }
        let nf = n as f64;
        let x_mean: Vec<f64> = (0..p)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / nf)
            .collect();
        let y_mean = y.iter().sum::<f64>() / nf;
        if p == 0 {
            return Some(Self {
                intercept: y_mean,
                coefficients: Vec::new(),
                lambda,
            });
        }
        let xc = DMatrix::from_fn(n, p, |i, j| x[i][j] - x_mean[j]);
        let yc = DVector::from_iterator(n, y.iter().map(|v| v - y_mean));
        let mut gram = xc.transpose() * &xc;
        for j in 0..p {
            gram[(j, j)] += lambda;
        }
        let rhs = xc.transpose() * yc;
        // Cholesky, rejecting numerically singular systems: L_jj² / G_jj is the share of
        // column j's (penalized) sum of squares not explained by earlier columns, so a tiny
        // value means a (near-)exact collinearity whatever the column scales.
        let diag: Vec<f64> = (0..p).map(|j| gram[(j, j)]).collect();
        let chol = gram.cholesky()?;
        if (0..p).any(|j| chol.l_dirty()[(j, j)].powi(2) <= 1e-13 * diag[j]) {
            return None;
        }
        let beta = chol.solve(&rhs);
        if beta.iter().any(|b| !b.is_finite()) {
            return None;
        }
        let coefficients: Vec<f64> = beta.iter().copied().collect();
        let intercept = y_mean
            - coefficients
                .iter()
                .zip(&x_mean)
                .map(|(b, m)| b * m)
                .sum::<f64>();
        Some(Self {
            intercept,
            coefficients,
            lambda,
        })
    }

    /// Predicts one row; NaN if its length differs from the number of coefficients.
    pub fn predict(&self, row: &[f64]) -> f64 {
        if row.len() != self.coefficients.len() {
            return f64::NAN;
        }
        self.intercept
            + self
                .coefficients
                .iter()
                .zip(row)
                .map(|(b, v)| b * v)
                .sum::<f64>()
    }
}

/// Fits ridge regression with λ chosen from `lambdas` by k-fold cross-validated MSE, then
/// refits on all rows with that λ. Folds are deterministic (row i is held out in fold
/// i mod k); `folds` is clamped to 2..=n. Ties go to the earlier λ in `lambdas`; λ values
/// whose fits fail are skipped. Returns the model and the chosen λ, or `None` if there are
/// fewer than 2 rows, no usable λ, or the inputs are invalid.
pub fn fit_ridge_cv(
    x: &[Vec<f64>],
    y: &[f64],
    lambdas: &[f64],
    folds: usize,
) -> Option<(RidgeRegression, f64)> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let k = folds.clamp(2, n);
    let mut best: Option<(f64, f64)> = None; // (mse, lambda)
    for &lambda in lambdas {
        let Some(mse) = cv_mse(x, y, lambda, k) else {
            continue;
        };
        if best.is_none_or(|(b, _)| mse < b) {
            best = Some((mse, lambda));
        }
    }
    let (_, lambda) = best?;
    let model = RidgeRegression::fit(x, y, lambda)?;
    Some((model, lambda))
}

/// Pooled held-out MSE over `k` deterministic folds; `None` if any fold's fit fails.
fn cv_mse(x: &[Vec<f64>], y: &[f64], lambda: f64, k: usize) -> Option<f64> {
    let n = x.len();
    let mut sse = 0.0;
    for fold in 0..k {
        let (mut tx, mut ty) = (Vec::new(), Vec::new());
        for i in (0..n).filter(|i| i % k != fold) {
            tx.push(x[i].clone());
            ty.push(y[i]);
        }
        let model = RidgeRegression::fit(&tx, &ty, lambda)?;
        for i in (fold..n).step_by(k) {
            sse += (model.predict(&x[i]) - y[i]).powi(2);
        }
    }
    let mse = sse / n as f64;
    mse.is_finite().then_some(mse)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [-1, 1) (64-bit LCG).
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn linear_data(n: usize, noise: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut seed = 42;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let row = vec![
                lcg(&mut seed) * 3.0,
                lcg(&mut seed) * 10.0 + 5.0,
                lcg(&mut seed),
            ];
            y.push(1.5 + 2.0 * row[0] - 0.5 * row[1] + 3.0 * row[2] + noise * lcg(&mut seed));
            x.push(row);
        }
        (x, y)
    }

    #[test]
    fn standardizer_fits_and_transforms() {
        let rows = vec![vec![1.0, 5.0], vec![2.0, 5.0], vec![3.0, 5.0]];
        let s = Standardizer::fit(&rows).expect("fit");
        assert_eq!(s.means, vec![2.0, 5.0]);
        assert!((s.sds[0] - 1.0).abs() < 1e-12);
        assert_eq!(s.sds[1], 1.0); // constant column
        assert_eq!(s.transform(&[3.0, 7.0]), vec![1.0, 2.0]);
        assert_eq!(s.len(), 2);
        assert!(Standardizer::fit(&[]).is_none());
        assert!(Standardizer::fit(&[vec![1.0], vec![1.0, 2.0]]).is_none());
    }

    #[test]
    fn recovers_noiseless_coefficients() {
        let (x, y) = linear_data(40, 0.0);
        let m = RidgeRegression::fit(&x, &y, 1e-10).expect("fit");
        assert!((m.intercept - 1.5).abs() < 1e-6, "{m:?}");
        for (b, t) in m.coefficients.iter().zip([2.0, -0.5, 3.0]) {
            assert!((b - t).abs() < 1e-6, "{m:?}");
        }
        let row = [0.3, 4.0, -0.2];
        assert!((m.predict(&row) - (1.5 + 0.6 - 2.0 - 0.6)).abs() < 1e-6);
        assert!(m.predict(&[1.0]).is_nan());
    }

    #[test]
    fn larger_lambda_shrinks_but_keeps_intercept_free() {
        let (x, y) = linear_data(40, 0.1);
        let norm = |m: &RidgeRegression| m.coefficients.iter().map(|b| b * b).sum::<f64>();
        let mut last = f64::INFINITY;
        for lambda in [0.0, 1.0, 10.0, 100.0, 1e4] {
            let m = RidgeRegression::fit(&x, &y, lambda).expect("fit");
            assert!(norm(&m) < last, "lambda {lambda}");
            last = norm(&m);
        }
        // Huge penalty: coefficients vanish, the intercept tends to the mean of y.
        let m = RidgeRegression::fit(&x, &y, 1e12).expect("fit");
        let y_mean = y.iter().sum::<f64>() / y.len() as f64;
        assert!(norm(&m) < 1e-12);
        assert!((m.intercept - y_mean).abs() < 1e-4);
    }

    #[test]
    fn singularity_check_is_scale_free() {
        // Wildly different column scales are not mistaken for collinearity.
        let (x, y) = linear_data(30, 0.0);
        let scaled: Vec<Vec<f64>> = x
            .iter()
            .map(|r| vec![r[0] * 1e6, r[1] * 1e-6, r[2]])
            .collect();
        let m = RidgeRegression::fit(&scaled, &y, 0.0).expect("fit");
        assert!((m.coefficients[0] * 1e6 - 2.0).abs() < 1e-6, "{m:?}");
        assert!((m.coefficients[1] * 1e-6 + 0.5).abs() < 1e-6, "{m:?}");
    }

    #[test]
    fn rejects_bad_input() {
        let (x, y) = linear_data(10, 0.0);
        assert!(RidgeRegression::fit(&x, &y[..9], 1.0).is_none());
        assert!(RidgeRegression::fit(&x, &y, -1.0).is_none());
        assert!(RidgeRegression::fit(&[], &[], 1.0).is_none());
        // Duplicated column with no penalty: singular.
        let dup: Vec<Vec<f64>> = x.iter().map(|r| vec![r[0], r[0]]).collect();
        assert!(RidgeRegression::fit(&dup, &y, 0.0).is_none());
        assert!(RidgeRegression::fit(&dup, &y, 1.0).is_some());
    }

    #[test]
    fn cv_picks_small_lambda_for_clean_data() {
        let (x, y) = linear_data(60, 0.05);
        let lambdas = [1e-3, 1.0, 100.0, 1e4];
        let (m, lambda) = fit_ridge_cv(&x, &y, &lambdas, 5).expect("cv");
        assert_eq!(lambda, 1e-3);
        assert_eq!(m.lambda, lambda);
        assert!((m.coefficients[0] - 2.0).abs() < 0.05, "{m:?}");
        // Deterministic: same answer twice.
        let (m2, l2) = fit_ridge_cv(&x, &y, &lambdas, 5).expect("cv");
        assert_eq!((m, lambda), (m2, l2));
    }

    #[test]
    fn cv_prefers_shrinkage_for_pure_noise() {
        // y unrelated to x: the best predictor is the mean, i.e. a large lambda.
        let mut seed = 7;
        let x: Vec<Vec<f64>> = (0..30)
            .map(|_| (0..8).map(|_| lcg(&mut seed)).collect())
            .collect();
        let y: Vec<f64> = (0..30).map(|_| lcg(&mut seed)).collect();
        let (_, lambda) = fit_ridge_cv(&x, &y, &[1e-6, 1e6], 5).expect("cv");
        assert_eq!(lambda, 1e6);
        assert!(fit_ridge_cv(&x, &y, &[], 5).is_none());
        assert!(fit_ridge_cv(&x[..1], &y[..1], &[1.0], 5).is_none());
    }
}
