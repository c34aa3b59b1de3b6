//! Platt scaling: maps SVM decision values to probabilities P(y=1|f) = 1 / (1 + exp(A f + B)),
//! fitted by the Newton method with backtracking line search of Lin, Lin & Weng (2007) on
//! smoothed targets. Owns the fit and the numerically stable sigmoid evaluation.

use serde::{Deserialize, Serialize};

/// Fitted sigmoid P(y=1|f) = 1 / (1 + exp(a f + b)); a < 0 when larger f means class true.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// Slope A.
    pub a: f64,
    /// Offset B.
    pub b: f64,
}

const MAX_ITER: usize = 100;
const MIN_STEP: f64 = 1e-10;
/// Ridge added to the Hessian diagonal so that it stays positive definite.
const SIGMA: f64 = 1e-12;
const GRAD_EPS: f64 = 1e-5;

/// Negative log-likelihood of targets `t` under (a, b), evaluated without overflow.
fn objective(f: &[f64], t: &[f64], a: f64, b: f64) -> f64 {
    f.iter()
        .zip(t)
        .map(|(&fi, &ti)| {
            let z = a * fi + b;
            if z >= 0.0 {
                ti * z + (-z).exp().ln_1p()
            } else {
                (ti - 1.0) * z + z.exp().ln_1p()
            }
        })
        .sum()
}

/// Stable 1 / (1 + exp(z)) and its complement exp(z) / (1 + exp(z)).
fn sigmoid_pair(z: f64) -> (f64, f64) {
    if z >= 0.0 {
        let e = (-z).exp();
        (e / (1.0 + e), 1.0 / (1.0 + e))
    } else {
        let e = z.exp();
        (1.0 / (1.0 + e), e / (1.0 + e))
    }
}

impl Platt {
    /// Fits A and B on decision values and labels with targets (N+ + 1)/(N+ + 2) for positives
    /// and 1/(N- + 2) for negatives. `None` if lengths differ, the input is empty, or a value
    /// is not finite. Stops after 100 Newton steps or when the line search fails.
    pub fn fit(decisions: &[f64], labels: &[bool]) -> Option<Platt> {
        if decisions.len() != labels.len()
            || decisions.is_empty()
            || decisions.iter().any(|d| !d.is_finite())
        {
            return None;
        }
        let n_pos = labels.iter().filter(|&&l| l).count() as f64;
        let n_neg = labels.len() as f64 - n_pos;
        let hi = (n_pos + 1.0) / (n_pos + 2.0);
        let lo = 1.0 / (n_neg + 2.0);
        let t: Vec<f64> = labels.iter().map(|&l| if l { hi } else { lo }).collect();
        let f = decisions;

        let mut a = 0.0;
        let mut b = ((n_neg + 1.0) / (n_pos + 1.0)).ln();
        let mut fval = objective(f, &t, a, b);
        for _ in 0..MAX_ITER {
            let (mut h11, mut h22, mut h21) = (SIGMA, SIGMA, 0.0);
            let (mut g1, mut g2) = (0.0, 0.0);
            for (&fi, &ti) in f.iter().zip(&t) {
                let (p, q) = sigmoid_pair(a * fi + b);
                let d2 = p * q;
                h11 += fi * fi * d2;
                h22 += d2;
                h21 += fi * d2;
                let d1 = ti - p;
                g1 += fi * d1;
                g2 += d1;
            }
            if g1.abs() < GRAD_EPS && g2.abs() < GRAD_EPS {
                break;
            }
            let det = h11 * h22 - h21 * h21;
            let da = -(h22 * g1 - h21 * g2) / det;
            let db = -(-h21 * g1 + h11 * g2) / det;
            let gd = g1 * da + g2 * db;
            let mut step = 1.0;
            while step >= MIN_STEP {
                let (na, nb) = (a + step * da, b + step * db);
                let nf = objective(f, &t, na, nb);
                if nf < fval + 1e-4 * step * gd {
                    a = na;
                    b = nb;
                    fval = nf;
                    break;
                }
                step /= 2.0;
            }
            if step < MIN_STEP {
                break;
            }
        }
        Some(Platt { a, b })
    }

    /// P(y = 1 | f), stable for large |A f + B|.
    pub fn probability(&self, f: f64) -> f64 {
        sigmoid_pair(self.a * f + self.b).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    #[test]
    fn separated_decisions_give_increasing_probability() {
        let decisions = [
            -3.0, -2.2, -1.5, -1.1, -0.4, 0.3, 0.9, 1.4, 2.0, 2.8, -0.1, 0.2,
        ];
        let labels = [
            false, false, false, false, false, true, true, true, true, true, true, false,
        ];
        let p = Platt::fit(&decisions, &labels).expect("fit");
        assert!(p.a < 0.0, "{p:?}");
        let mut prev = 0.0;
        for i in -40..=40 {
            let q = p.probability(i as f64 / 10.0);
            assert!(q > prev && q < 1.0);
            prev = q;
        }
        assert!(p.probability(3.0) > 0.9 && p.probability(-3.0) < 0.1);
    }

    #[test]
    fn recovers_known_sigmoid() {
        let (a_true, b_true) = (-2.0, 0.5);
        let mut s = 99u64;
        let mut f = Vec::new();
        let mut y = Vec::new();
        for _ in 0..4000 {
            let fi = -3.0 + 6.0 * lcg(&mut s);
            let p = 1.0 / (1.0 + (a_true * fi + b_true).exp());
            f.push(fi);
            y.push(lcg(&mut s) < p);
        }
        let p = Platt::fit(&f, &y).expect("fit");
        assert!((p.a - a_true).abs() < 0.2, "{p:?}");
        assert!((p.b - b_true).abs() < 0.2, "{p:?}");
    }

    #[test]
    fn stable_extremes_and_bad_input() {
        let p = Platt { a: -5.0, b: 0.0 };
        assert_eq!(p.probability(1e6), 1.0);
        assert_eq!(p.probability(-1e6), 0.0);
        assert!((p.probability(0.0) - 0.5).abs() < 1e-15);
        assert!(Platt::fit(&[], &[]).is_none());
        assert!(Platt::fit(&[1.0], &[true, false]).is_none());
        assert!(Platt::fit(&[f64::NAN, 1.0], &[true, false]).is_none());
        // One class only still fits (the smoothed targets keep it finite).
        let one = Platt::fit(&[1.0, 2.0, 3.0], &[true, true, true]).expect("fit");
        assert!(one.a.is_finite() && one.b.is_finite());
    }
}
