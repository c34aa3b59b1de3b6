//! Agreement between predicted and reference values: ICC(A,1) with its 95% confidence
//! interval, Pearson correlation, mean and sample SD, and the F-distribution quantile the
//! interval needs (regularized incomplete beta function inverted by bisection).

use serde::{Deserialize, Serialize};

/// An intraclass correlation coefficient and its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Icc {
    /// Point estimate.
    pub value: f64,
    /// 95% confidence interval (lower, upper); NaN where the interval is undefined.
    pub ci95: (f64, f64),
}

/// ICC(A,1) between two raters, e.g. prediction `x` and truth `y` for the same subjects:
/// two-way model, absolute agreement, single measurement (McGraw & Wong 1996, case A,1;
/// Shrout & Fleiss ICC(2,1)). `None` if lengths differ, n < 3, a value is not finite, or
/// all values are identical.
pub fn icc_a1(x: &[f64], y: &[f64]) -> Option<Icc> {
    if x.len() != y.len() {
        return None;
    }
    let rows: Vec<Vec<f64>> = x.iter().zip(y).map(|(&a, &b)| vec![a, b]).collect();
    icc_a1_k(&rows)
}

/// ICC(A,1) for k >= 2 raters; `ratings[i][j]` is rater j's value for subject i. The 95%
/// interval is McGraw & Wong's F-based one, as reported by R `irr::icc(model = "twoway",
/// type = "agreement", unit = "single")`. `None` if n < 3, k < 2, rows are ragged, a value is
/// not finite, or all values are identical.
pub fn icc_a1_k(ratings: &[Vec<f64>]) -> Option<Icc> {
    let n = ratings.len();
    let k = ratings.first()?.len();
    if n < 3 || k < 2 || ratings.iter().any(|r| r.len() != k) {
        return None;
    }
    if ratings.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let (nf, kf) = (n as f64, k as f64);
    let grand = ratings.iter().flatten().sum::<f64>() / (nf * kf);
    let row_means: Vec<f64> = ratings.iter().map(|r| r.iter().sum::<f64>() / kf).collect();
    let col_means: Vec<f64> = (0..k)
        .map(|j| ratings.iter().map(|r| r[j]).sum::<f64>() / nf)
        .collect();
    let ss_rows = kf * row_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_cols = nf * col_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    // Residual sum of squares computed directly (no cancellation from SST - SSR - SSC).
    let ss_err: f64 = ratings
        .iter()
        .zip(&row_means)
        .map(|(r, rm)| {
            r.iter()
                .zip(&col_means)
                .map(|(v, cm)| (v - rm - cm + grand).powi(2))
                .sum::<f64>()
        })
        .sum();
    let msr = ss_rows / (nf - 1.0);
    let msc = ss_cols / (kf - 1.0);
    let mse = ss_err / ((nf - 1.0) * (kf - 1.0));
    let total = ss_rows + ss_cols + ss_err;
    let scale: f64 = ratings.iter().flatten().map(|v| v * v).sum();
    if total <= 1e-20 * scale {
        return None; // no variance at all (up to rounding)
    }
    let denom = msr + (kf - 1.0) * mse + kf / nf * (msc - mse);
    if denom <= 0.0 {
        return None;
    }
    let value = (msr - mse) / denom;
    // Perfect agreement (no rater or residual variance): the interval collapses.
    if ss_err + ss_cols <= 1e-12 * total {
        return Some(Icc {
            value: 1.0,
            ci95: (1.0, 1.0),
        });
    }
    Some(Icc {
        value,
        ci95: icc_a1_ci(value, msr, msc, mse, nf, kf, 0.05),
    })
}

/// McGraw & Wong (1996) confidence interval for ICC(A,1) at level 1 - `alpha`.
fn icc_a1_ci(icc: f64, msr: f64, msc: f64, mse: f64, n: f64, k: f64, alpha: f64) -> (f64, f64) {
    let nan = (f64::NAN, f64::NAN);
    let a = k * icc / (n * (1.0 - icc));
    let b = 1.0 + k * icc * (n - 1.0) / (n * (1.0 - icc));
    let v = (a * msc + b * mse).powi(2)
        / ((a * msc).powi(2) / (k - 1.0) + (b * mse).powi(2) / ((n - 1.0) * (k - 1.0)));
    if !(v.is_finite() && v > 0.0) {
        return nan;
    }
    let (Some(fl), Some(fu)) = (
        f_quantile(1.0 - alpha / 2.0, n - 1.0, v),
        f_quantile(1.0 - alpha / 2.0, v, n - 1.0),
    ) else {
        return nan;
    };
    let c = k * msc + (k * n - k - n) * mse;
    let lower = n * (msr - fl * mse) / (fl * c + n * msr);
    let upper = n * (fu * msr - mse) / (c + n * fu * msr);
    (lower, upper)
}

/// Pearson correlation coefficient. `None` if lengths differ, n < 2, a value is not finite,
/// or either variable has zero variance.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Mean and sample standard deviation (divisor n - 1). Empty input gives (NaN, NaN); a
/// single value gives (value, NaN).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::NAN);
    }
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (mean, (ss / (n as f64 - 1.0)).sqrt())
}

/// Quantile of the F distribution with (`d1`, `d2`) degrees of freedom (non-integer allowed):
/// the f with P(F <= f) = `p`. `None` unless 0 < p < 1 and both df are finite and positive.
pub fn f_quantile(p: f64, d1: f64, d2: f64) -> Option<f64> {
    let valid = p > 0.0 && p < 1.0 && d1 > 0.0 && d2 > 0.0 && d1.is_finite() && d2.is_finite();
    if !valid {
        return None;
    }
    // Bisection on ln f: the CDF is monotone, and working in ln f keeps relative precision
    // for both tiny and huge quantiles.
    let (mut lo, mut hi) = (-1.0f64, 1.0f64);
    while f_cdf(lo.exp(), d1, d2) > p {
        lo *= 2.0;
        if lo < -1400.0 {
            return Some(0.0);
        }
    }
    while f_cdf(hi.exp(), d1, d2) < p {
        hi *= 2.0;
        if hi > 1400.0 {
            return Some(f64::INFINITY);
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f_cdf(mid.exp(), d1, d2) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some((0.5 * (lo + hi)).exp())
}

/// CDF of the F distribution with (`d1`, `d2`) degrees of freedom at `f`:
/// I_x(d1/2, d2/2) with x = d1 f / (d1 f + d2).
pub fn f_cdf(f: f64, d1: f64, d2: f64) -> f64 {
    if f <= 0.0 {
        return 0.0;
    }
    if f.is_infinite() {
        return 1.0;
    }
    let s = d1 * f + d2;
    // Pass both x and 1 - x computed without cancellation.
    reg_inc_beta_xy(d1 / 2.0, d2 / 2.0, d1 * f / s, d2 / s)
}

/// Regularized incomplete beta function I_x(a, b) for a, b > 0; x <= 0 gives 0 and x >= 1
/// gives 1.
pub fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    reg_inc_beta_xy(a, b, x, 1.0 - x)
}

/// I_x(a, b) given both x and y = 1 - x (so callers can avoid cancellation in y).
fn reg_inc_beta_xy(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let ln_front = a * x.ln() + b * y.ln() - ln_beta(a, b);
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2); otherwise use
    // the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0) {
        (ln_front.exp() * beta_cf(a, b, x) / a).clamp(0.0, 1.0)
    } else {
        (1.0 - ln_front.exp() * beta_cf(b, a, y) / b).clamp(0.0, 1.0)
    }
}

/// Continued fraction for the incomplete beta function, evaluated by the modified Lentz
/// method: I_x(a,b) = x^a (1-x)^b / (a B(a,b)) * 1/(1+ d1/(1+ d2/(1+ ...))).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-15;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    for m in 1..=10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
        let num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 / guard(1.0 + num * d);
        c = guard(1.0 + num / c);
        h *= d * c;
        // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        let num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 / guard(1.0 + num * d);
        c = guard(1.0 + num / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b).
fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln Γ(x) for x > 0 by the Lanczos approximation (g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(π x).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Shrout & Fleiss (1979) Table 2: 6 targets rated by 4 judges.
    fn shrout_fleiss() -> Vec<Vec<f64>> {
        vec![
            vec![9.0, 2.0, 5.0, 8.0],
            vec![6.0, 1.0, 3.0, 2.0],
            vec![8.0, 4.0, 6.0, 8.0],
            vec![7.0, 1.0, 2.0, 6.0],
            vec![10.0, 5.0, 6.0, 9.0],
            vec![6.0, 2.0, 4.0, 7.0],
        ]
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut fact = 1.0f64;
        for n in 1..20 {
            fact *= n as f64;
            // Γ(n + 1) = n!
            assert!(close(ln_gamma(n as f64 + 1.0), fact.ln(), 1e-10), "n = {n}");
        }
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
    }

    #[test]
    fn incomplete_beta_known_values() {
        // Reference values from mpmath.betainc(regularized=True).
        assert!(close(reg_inc_beta(2.0, 3.0, 0.5), 0.6875, 1e-12));
        assert!(close(
            reg_inc_beta(0.5, 0.5, 0.3),
            0.369_010_119_565_545_4,
            1e-10
        ));
        assert!(close(
            reg_inc_beta(10.0, 20.0, 0.4),
            0.785_318_389_762_826_2,
            1e-10
        ));
        assert_eq!(reg_inc_beta(2.0, 3.0, 0.0), 0.0);
        assert_eq!(reg_inc_beta(2.0, 3.0, 1.0), 1.0);
    }

    #[test]
    fn f_quantile_matches_tables() {
        let q = |p, a, b| f_quantile(p, a, b).expect("valid arguments");
        assert!(close(q(0.95, 5.0, 10.0), 3.325_834_53, 1e-6));
        assert!(close(q(0.975, 3.0, 20.0), 3.858_698_666, 1e-6));
        // F_{0.05}(4, 12) = 1 / F_{0.95}(12, 4).
        assert!(close(q(0.05, 4.0, 12.0), 0.169_155_247_4, 1e-7));
        // Non-integer and extreme cases (mpmath references).
        assert!(close(q(0.975, 5.0, 2.5), 21.803_366_8, 1e-4));
        assert!(close(q(0.01, 1.0, 1.0), 2.467_807_028e-4, 1e-10));
        assert!(close(q(0.999, 2.0, 50.0), 7.956_418_464, 1e-6));
        assert!(f_quantile(0.0, 1.0, 1.0).is_none());
        assert!(f_quantile(0.5, 0.0, 1.0).is_none());
    }

    #[test]
    fn icc_shrout_fleiss_table() {
        let icc = icc_a1_k(&shrout_fleiss()).expect("icc defined");
        // Shrout & Fleiss (1979): ICC(2,1) = .29; psych::ICC / irr::icc: CI 0.019 .. 0.76.
        // Exact (mpmath, same formula): 0.2897638, (0.0187865, 0.7610844).
        assert!(close(icc.value, 0.289_763_779_5, 1e-9), "{icc:?}");
        assert!(close(icc.ci95.0, 0.018_786_513, 1e-6), "{icc:?}");
        assert!(close(icc.ci95.1, 0.761_084_370, 1e-6), "{icc:?}");
        assert!(icc.ci95.0 < icc.value && icc.value < icc.ci95.1);
    }

    #[test]
    fn icc_two_raters_reference() {
        let truth = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let pred = [1.5, 2.2, 2.7, 4.6, 4.8, 6.5, 6.6];
        let icc = icc_a1(&pred, &truth).expect("icc defined");
        // mpmath reference with the same formula: 0.9807620, (0.9038460, 0.9966047).
        let rows: Vec<Vec<f64>> = truth.iter().zip(&pred).map(|(&t, &p)| vec![t, p]).collect();
        let swapped = icc_a1(&truth, &pred).expect("icc defined");
        assert!(close(icc.value, 0.980_761_976_6, 1e-9), "{icc:?}");
        assert!(close(icc.ci95.0, 0.903_845_954_5, 1e-6), "{icc:?}");
        assert!(close(icc.ci95.1, 0.996_604_657_9, 1e-6), "{icc:?}");
        assert!(close(swapped.value, icc.value, 1e-12));
        let k = icc_a1_k(&rows).expect("icc defined");
        assert!(close(k.value, icc.value, 1e-12));
    }

    #[test]
    fn icc_perfect_agreement_is_one() {
        let x = [1.0, 4.0, 2.0, 8.0, 5.0];
        let icc = icc_a1(&x, &x).expect("icc defined");
        assert_eq!(icc.value, 1.0);
        assert_eq!(icc.ci95, (1.0, 1.0));
    }

    #[test]
    fn bias_lowers_icc_but_not_pearson() {
        let truth = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let pred = [1.1, 1.8, 3.2, 4.1, 4.9, 6.2, 6.8, 8.1];
        let biased: Vec<f64> = pred.iter().map(|p| p + 2.0).collect();
        let icc = icc_a1(&pred, &truth).expect("icc").value;
        let icc_biased = icc_a1(&biased, &truth).expect("icc").value;
        assert!(icc_biased < icc - 0.1, "{icc} vs {icc_biased}");
        let r = pearson(&pred, &truth).expect("r");
        let r_biased = pearson(&biased, &truth).expect("r");
        assert!(close(r, r_biased, 1e-12));
    }

    #[test]
    fn icc_degenerate_inputs() {
        assert!(icc_a1(&[1.0, 2.0], &[1.0, 2.0]).is_none());
        assert!(icc_a1(&[1.0, 2.0, 3.0], &[1.0, 2.0]).is_none());
        assert!(icc_a1(&[3.0; 5], &[3.0; 5]).is_none());
        assert!(icc_a1(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]).is_none());
        assert!(icc_a1_k(&[vec![1.0, 2.0], vec![1.0], vec![2.0, 3.0]]).is_none());
        assert!(icc_a1_k(&[]).is_none());
    }

    #[test]
    fn pearson_and_mean_sd() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!(close(
            pearson(&x, &[2.0, 4.0, 6.0, 8.0]).expect("r"),
            1.0,
            1e-12
        ));
        assert!(close(
            pearson(&x, &[8.0, 6.0, 4.0, 2.0]).expect("r"),
            -1.0,
            1e-12
        ));
        assert!(pearson(&x, &[1.0; 4]).is_none());
        assert!(pearson(&[1.0], &[1.0]).is_none());
        let (m, sd) = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!(close(m, 5.0, 1e-12));
        assert!(close(sd, (32.0f64 / 7.0).sqrt(), 1e-12));
        assert!(mean_sd(&[]).0.is_nan());
        assert!(mean_sd(&[3.0]).1.is_nan());
    }

    /// Against pingouin 0.7.0 (`intraclass_corr`, row "ICC(A,1)"), an independent
    /// implementation, on 12 Tb.Th patches of one phantom knee (MR truth, distilled student,
    /// plain CNN, mm). pingouin rounds its interval to two decimals.
    #[test]
    fn icc_a1_matches_pingouin() {
        let truth = [
            0.823034, 0.66346, 0.816397, 0.719536, 0.627714, 0.625099, 0.663255, 0.704212,
            0.663584, 0.655371, 0.661819, 0.665871,
        ];
        let distilled = [
            0.80173, 0.65243, 0.717968, 0.748994, 0.659219, 0.649414, 0.670732, 0.68733, 0.658797,
            0.668015, 0.660168, 0.655284,
        ];
        let plain = [
            0.833394, 0.650339, 0.742787, 0.76433, 0.642005, 0.630409, 0.671471, 0.664068,
            0.646908, 0.670052, 0.644181, 0.643021,
        ];
        let two = icc_a1(&truth, &distilled).expect("icc");
        assert!(
            (two.value - 0.8280297300126946).abs() < 1e-12,
            "{}",
            two.value
        );
        assert!((two.ci95.0 - 0.51).abs() <= 0.005 && (two.ci95.1 - 0.95).abs() <= 0.005);
        let rows: Vec<Vec<f64>> = (0..12)
            .map(|i| vec![truth[i], distilled[i], plain[i]])
            .collect();
        let three = icc_a1_k(&rows).expect("icc");
        assert!(
            (three.value - 0.8885014621625518).abs() < 1e-12,
            "{}",
            three.value
        );
        assert!((three.ci95.0 - 0.74).abs() <= 0.005 && (three.ci95.1 - 0.96).abs() <= 0.005);
    }
}
