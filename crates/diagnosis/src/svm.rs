//! Binary C-support-vector classifier with an RBF kernel exp(-gamma |x - y|^2), trained by
//! SMO with second-order working-set selection (Fan, Chen & Lin 2005, the LIBSVM scheme) on
//! a fully cached Gram matrix. Owns training, the decision function and the saved model form
//! (support vectors, dual coefficients, bias) that serializes to JSON.

use serde::{Deserialize, Serialize};

/// KKT stopping tolerance on the maximal violating pair.
const EPS: f64 = 1e-3;
/// Floor for non-positive curvature in working-set selection and updates.
const TAU: f64 = 1e-12;

/// A trained binary RBF C-SVC. Only the support vectors (alpha > 0) are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Svm {
    gamma: f64,
    c: f64,
    rho: f64,
    n_features: usize,
    support: Vec<Vec<f64>>,
    /// alpha_i y_i for each support vector.
    coef: Vec<f64>,
}

/// Solution of the C-SVC dual on all training points.
#[derive(Debug, Clone)]
pub(crate) struct DualSolution {
    /// Dual variables, 0 <= alpha_i <= C.
    pub alpha: Vec<f64>,
    /// Bias: decision = sum alpha_i y_i K(x_i, x) - rho.
    pub rho: f64,
}

pub(crate) fn rbf(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
    (-gamma * d2).exp()
}

/// Row-major n x n RBF Gram matrix.
pub(crate) fn gram(x: &[Vec<f64>], gamma: f64) -> Vec<f64> {
    let n = x.len();
    let mut k = vec![0.0; n * n];
    for i in 0..n {
        k[i * n + i] = 1.0;
        for j in 0..i {
            let v = rbf(&x[i], &x[j], gamma);
            k[i * n + j] = v;
            k[j * n + i] = v;
        }
    }
    k
}

/// Solves min 0.5 a'Qa - e'a s.t. 0 <= a <= C, y'a = 0 with Q_ij = y_i y_j K_ij by SMO
/// using WSS2 (second-order working-set selection). `k` is the n x n Gram matrix, `y` is ±1.
pub(crate) fn solve_dual(k: &[f64], y: &[f64], c: f64) -> DualSolution {
    let n = y.len();
    let mut alpha = vec![0.0; n];
    // Gradient of the dual objective, G = Q a - e.
    let mut grad = vec![-1.0; n];
    let in_up = |a: f64, yt: f64| if yt > 0.0 { a < c } else { a > 0.0 };
    let in_low = |a: f64, yt: f64| if yt > 0.0 { a > 0.0 } else { a < c };
    let max_iter = 10_000_000usize.max(100 * n);
    for _ in 0..max_iter {
        // i: maximal -y G over I_up.
        let mut gmax = f64::NEG_INFINITY;
        let mut sel_i = None;
        for t in 0..n {
            if in_up(alpha[t], y[t]) {
                let v = -y[t] * grad[t];
                if v >= gmax {
                    gmax = v;
                    sel_i = Some(t);
                }
            }
        }
        let Some(i) = sel_i else { break };
        // j: over I_low with a violation, the one with the largest second-order decrease.
        let mut gmax2 = f64::NEG_INFINITY;
        let mut best = f64::INFINITY;
        let mut sel_j = None;
        for t in 0..n {
            if in_low(alpha[t], y[t]) {
                let v = y[t] * grad[t];
                gmax2 = gmax2.max(v);
                let b = gmax + v;
                if b > 0.0 {
                    let mut a = k[i * n + i] + k[t * n + t] - 2.0 * k[i * n + t];
                    if a <= 0.0 {
                        a = TAU;
                    }
                    let obj = -b * b / a;
                    if obj <= best {
                        best = obj;
                        sel_j = Some(t);
                    }
                }
            }
        }
        if gmax + gmax2 < EPS {
            break;
        }
        let Some(j) = sel_j else { break };

        // Move along a_i += y_i s, a_j -= y_j s (keeps y'a fixed); the objective's slope in s
        // is -(gmax + y_j G_j) and its curvature K_ii + K_jj - 2 K_ij.
        let quad = (k[i * n + i] + k[j * n + j] - 2.0 * k[i * n + j]).max(TAU);
        let b = gmax + y[j] * grad[j];
        let s_free = b / quad;
        let cap_i = if y[i] > 0.0 { c - alpha[i] } else { alpha[i] };
        let cap_j = if y[j] > 0.0 { alpha[j] } else { c - alpha[j] };
        let s = s_free.min(cap_i).min(cap_j).max(0.0);
        let old_i = alpha[i];
        let old_j = alpha[j];
        alpha[i] = if s >= cap_i {
            if y[i] > 0.0 { c } else { 0.0 }
        } else {
            (old_i + y[i] * s).clamp(0.0, c)
        };
        alpha[j] = if s >= cap_j {
            if y[j] > 0.0 { 0.0 } else { c }
        } else {
            (old_j - y[j] * s).clamp(0.0, c)
        };
        let d_i = alpha[i] - old_i;
        let d_j = alpha[j] - old_j;
        for t in 0..n {
            grad[t] += y[t] * (y[i] * k[t * n + i] * d_i + y[j] * k[t * n + j] * d_j);
        }
    }

    // Bias from free support vectors, else the midpoint of the feasible interval.
    let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut sum_free, mut n_free) = (0.0, 0usize);
    for t in 0..n {
        let yg = y[t] * grad[t];
        let at_upper = alpha[t] >= c;
        let at_lower = alpha[t] <= 0.0;
        if at_upper {
            if y[t] > 0.0 {
                lb = lb.max(yg);
            } else {
                ub = ub.min(yg);
            }
        } else if at_lower {
            if y[t] > 0.0 {
                ub = ub.min(yg);
            } else {
                lb = lb.max(yg);
            }
        } else {
            sum_free += yg;
            n_free += 1;
        }
    }
    let rho = if n_free > 0 {
        sum_free / n_free as f64
    } else {
        (ub + lb) / 2.0
    };
    DualSolution { alpha, rho }
}

/// Checks shapes and values; returns ±1 labels.
fn validate(x: &[Vec<f64>], y: &[bool], c: f64, gamma: f64) -> Option<Vec<f64>> {
    let p = x.first()?.len();
    let finite_pos = |v: f64| v.is_finite() && v > 0.0;
    if x.len() != y.len()
        || p == 0
        || !finite_pos(c)
        || !finite_pos(gamma)
        || x.iter()
            .any(|r| r.len() != p || r.iter().any(|v| !v.is_finite()))
        || !y.iter().any(|&l| l)
        || y.iter().all(|&l| l)
    {
        return None;
    }
    Some(y.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect())
}

impl Svm {
    /// Trains on rows `x` with labels `y` (true = positive class), penalty `c` > 0 and RBF
    /// width `gamma` > 0. `None` if a class is missing, rows are ragged or empty, lengths
    /// differ, or a value is not finite.
    pub fn fit(x: &[Vec<f64>], y: &[bool], c: f64, gamma: f64) -> Option<Svm> {
        let ys = validate(x, y, c, gamma)?;
        let k = gram(x, gamma);
        let sol = solve_dual(&k, &ys, c);
        let (support, coef) = x
            .iter()
            .zip(sol.alpha.iter().zip(&ys))
            .filter(|(_, (a, _))| **a > 0.0)
            .map(|(row, (a, yy))| (row.clone(), a * yy))
            .unzip();
        Some(Svm {
            gamma,
            c,
            rho: sol.rho,
            n_features: x[0].len(),
            support,
            coef,
        })
    }

    /// Decision value sum_i alpha_i y_i K(sv_i, x) - rho; positive means class true.
    /// NaN if `x` does not have the training number of features.
    pub fn decision(&self, x: &[f64]) -> f64 {
        if x.len() != self.n_features {
            return f64::NAN;
        }
        self.support
            .iter()
            .zip(&self.coef)
            .map(|(sv, c)| c * rbf(sv, x, self.gamma))
            .sum::<f64>()
            - self.rho
    }

    /// RBF width gamma.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// Penalty C.
    pub fn c(&self) -> f64 {
        self.c
    }

    /// Bias rho (subtracted in the decision function).
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// Support vectors (training rows with alpha > 0).
    pub fn support_vectors(&self) -> &[Vec<f64>] {
        &self.support
    }

    /// alpha_i y_i per support vector.
    pub fn dual_coefficients(&self) -> &[f64] {
        &self.coef
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use srrd_base::rng::Rng;

    /// Gaussian clusters at `centers` with spread `sd`, `per` points each.
    fn clusters(
        rng: &mut Rng,
        centers: &[([f64; 2], bool)],
        per: usize,
        sd: f64,
    ) -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for _ in 0..per {
            for (c, l) in centers {
                x.push(vec![c[0] + sd * rng.normal(), c[1] + sd * rng.normal()]);
                y.push(*l);
            }
        }
        (x, y)
    }

    fn accuracy(svm: &Svm, x: &[Vec<f64>], y: &[bool]) -> f64 {
        let ok = x
            .iter()
            .zip(y)
            .filter(|(r, l)| (svm.decision(r) > 0.0) == **l)
            .count();
        ok as f64 / x.len() as f64
    }

    #[test]
    fn separable_data_classified_perfectly() {
        let mut rng = Rng::new(7, "test");
        let centers = [([-2.0, -1.0], false), ([2.0, 1.5], true)];
        let (x, y) = clusters(&mut rng, &centers, 30, 0.5);
        let svm = Svm::fit(&x, &y, 1000.0, 0.5).expect("fit");
        assert_eq!(accuracy(&svm, &x, &y), 1.0);
        let (xt, yt) = clusters(&mut rng, &centers, 50, 0.5);
        assert_eq!(accuracy(&svm, &xt, &yt), 1.0);
        assert!(svm.support_vectors().len() < x.len());
    }

    #[test]
    fn xor_needs_rbf_width() {
        let mut rng = Rng::new(11, "test");
        let centers = [
            ([1.0, 1.0], true),
            ([-1.0, -1.0], true),
            ([1.0, -1.0], false),
            ([-1.0, 1.0], false),
        ];
        let (x, y) = clusters(&mut rng, &centers, 25, 0.25);
        let (xt, yt) = clusters(&mut rng, &centers, 25, 0.25);
        let rbf = Svm::fit(&x, &y, 10.0, 1.0).expect("fit");
        assert!(accuracy(&rbf, &x, &y) >= 0.99);
        assert!(accuracy(&rbf, &xt, &yt) >= 0.97);
        let flat = Svm::fit(&x, &y, 1.0, 1e-4).expect("fit");
        assert!(
            accuracy(&flat, &xt, &yt) < 0.8,
            "{}",
            accuracy(&flat, &xt, &yt)
        );
    }

    #[test]
    fn kkt_conditions_hold() {
        let mut rng = Rng::new(3, "test");
        // Overlapping clusters so that some alphas sit at C and some are free.
        let centers = [
            ([0.0, 0.0], false),
            ([1.2, 0.8], true),
            ([2.5, -1.0], false),
        ];
        let (x, y) = clusters(&mut rng, &centers, 20, 0.7);
        let ys: Vec<f64> = y.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect();
        let c = 2.0;
        let k = gram(&x, 0.8);
        let sol = solve_dual(&k, &ys, c);
        let n = x.len();
        assert!(sol.alpha.iter().all(|&a| (0.0..=c).contains(&a)));
        let balance: f64 = sol.alpha.iter().zip(&ys).map(|(a, y)| a * y).sum();
        assert!(balance.abs() < 1e-6, "sum alpha y = {balance}");
        let (mut at_c, mut free) = (0, 0);
        for t in 0..n {
            let f: f64 = (0..n)
                .map(|s| sol.alpha[s] * ys[s] * k[t * n + s])
                .sum::<f64>()
                - sol.rho;
            let margin = ys[t] * f;
            let a = sol.alpha[t];
            let tol = 1.01 * EPS;
            if margin < 1.0 - tol {
                assert_eq!(a, c, "violation {margin} with alpha {a}");
            }
            if a == 0.0 {
                assert!(margin >= 1.0 - tol);
            } else if a == c {
                at_c += 1;
                assert!(margin <= 1.0 + tol);
            } else {
                free += 1;
                assert!((margin - 1.0).abs() <= tol, "free margin {margin}");
            }
        }
        assert!(at_c > 0 && free > 0, "at C {at_c}, free {free}");
        // The model keeps exactly the nonzero alphas and reproduces the decision values.
        let svm = Svm::fit(&x, &y, c, 0.8).expect("fit");
        assert_eq!(
            svm.support_vectors().len(),
            sol.alpha.iter().filter(|&&a| a > 0.0).count()
        );
    }

    /// Euclidean projection onto {0 <= a <= C, y'a = 0} by bisection on the multiplier.
    fn project(v: &[f64], y: &[f64], c: f64) -> Vec<f64> {
        let at = |mu: f64| -> Vec<f64> {
            v.iter()
                .zip(y)
                .map(|(vi, yi)| (vi - mu * yi).clamp(0.0, c))
                .collect()
        };
        let g = |a: &[f64]| a.iter().zip(y).map(|(a, y)| a * y).sum::<f64>();
        let big = v.iter().fold(0.0f64, |m, x| m.max(x.abs())) + c + 1.0;
        let (mut lo, mut hi) = (-big, big);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if g(&at(mid)) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        at(0.5 * (lo + hi))
    }

    #[test]
    fn agrees_with_projected_gradient() {
        let mut rng = Rng::new(2024, "test");
        let centers = [([0.0, 0.0], false), ([1.0, 1.0], true)];
        let (x, y) = clusters(&mut rng, &centers, 10, 0.6);
        let (c, gamma) = (1.0, 0.7);
        let n = x.len();
        let ys: Vec<f64> = y.iter().map(|&l| if l { 1.0 } else { -1.0 }).collect();
        let k = gram(&x, gamma);
        let q = |i: usize, j: usize| ys[i] * ys[j] * k[i * n + j];
        // Accelerated projected gradient (FISTA) with step 1/L, L a Gershgorin bound.
        let l = (0..n)
            .map(|i| (0..n).map(|j| q(i, j).abs()).sum::<f64>())
            .fold(0.0, f64::max);
        let mut a = vec![0.0; n];
        let mut z = a.clone();
        let mut t = 1.0f64;
        for _ in 0..100_000 {
            let g: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| q(i, j) * z[j]).sum::<f64>() - 1.0)
                .collect();
            let step: Vec<f64> = z.iter().zip(&g).map(|(zi, gi)| zi - gi / l).collect();
            let a_next = project(&step, &ys, c);
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            z = a_next
                .iter()
                .zip(&a)
                .map(|(an, ao)| an + (t - 1.0) / t_next * (an - ao))
                .collect();
            a = a_next;
            t = t_next;
        }
        // Bias from the free alphas: y_t f(x_t) = 1 there.
        let f0 = |xt: &[f64]| -> f64 { (0..n).map(|s| a[s] * ys[s] * rbf(&x[s], xt, gamma)).sum() };
        let free: Vec<usize> = (0..n)
            .filter(|&t| a[t] > 1e-4 * c && a[t] < c * (1.0 - 1e-4))
            .collect();
        assert!(!free.is_empty());
        let rho = free.iter().map(|&t| f0(&x[t]) - ys[t]).sum::<f64>() / free.len() as f64;

        let svm = Svm::fit(&x, &y, c, gamma).expect("fit");
        let (xt, _) = clusters(&mut rng, &centers, 20, 1.0);
        for p in x.iter().chain(&xt) {
            let reference = f0(p) - rho;
            let got = svm.decision(p);
            assert!((got - reference).abs() < 1e-2, "{got} vs {reference}");
        }
    }

    #[test]
    fn rejects_bad_input_and_roundtrips_json() {
        let x = vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![2.0, 2.0]];
        assert!(Svm::fit(&x, &[true, true, true], 1.0, 1.0).is_none());
        assert!(Svm::fit(&x, &[true, false], 1.0, 1.0).is_none());
        let ragged = vec![vec![0.0, 1.0], vec![1.0]];
        assert!(Svm::fit(&ragged, &[true, false], 1.0, 1.0).is_none());
        let nan = vec![vec![0.0, f64::NAN], vec![1.0, 0.0]];
        assert!(Svm::fit(&nan, &[true, false], 1.0, 1.0).is_none());
        assert!(Svm::fit(&x, &[true, false, true], 0.0, 1.0).is_none());

        let svm = Svm::fit(&x, &[true, false, true], 1.0, 1.0).expect("fit");
        let json = serde_json::to_string(&svm).expect("serialize");
        let back: Svm = serde_json::from_str(&json).expect("deserialize");
        // serde_json may round the last bit of a float, so compare with a tolerance.
        assert_eq!(back.support_vectors().len(), svm.support_vectors().len());
        assert!((back.decision(&[0.5, 0.5]) - svm.decision(&[0.5, 0.5])).abs() < 1e-12);
        assert!(svm.decision(&[0.5]).is_nan());
    }
}
