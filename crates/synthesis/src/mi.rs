//! Mutual information between two images with differentiable soft histograms (Gaussian
//! kernels on fixed bin centres), the loss SPSNet uses to keep the anatomy of its input;
//! and the plain hard-histogram MI it is checked against.

use tch::{Kind, Tensor};

/// Soft-histogram settings: `bins` centres evenly over [lo, hi], Gaussian kernels of
/// standard deviation `sigma_bins` bin widths.
#[derive(Clone, Copy, Debug)]
pub struct SoftHistogram {
    pub bins: i64,
    pub lo: f64,
    pub hi: f64,
    pub sigma_bins: f64,
}

impl Default for SoftHistogram {
    /// The paper's 16 bins over the networks' value range (-1, 1), half a bin wide.
    fn default() -> Self {
        SoftHistogram {
            bins: 16,
            lo: -1.0,
            hi: 1.0,
            sigma_bins: 0.5,
        }
    }
}

impl SoftHistogram {
    fn width(&self) -> f64 {
        (self.hi - self.lo) / (self.bins - 1) as f64
    }

    /// Bin weights of every value: `[N, P]` to `[N, P, bins]`, each row summing to 1.
    fn weights(&self, x: &Tensor) -> Tensor {
        let centres = Tensor::linspace(self.lo, self.hi, self.bins, (Kind::Float, x.device()));
        let sigma = self.sigma_bins * self.width();
        let d = x.unsqueeze(-1) - centres.view([1, 1, self.bins]);
        let w = (d.square() * (-0.5 / (sigma * sigma))).exp();
        &w / (w.sum_dim_intlist(-1, true, Kind::Float) + 1e-10)
    }

    /// MI (nats) of each of the N image pairs, `[N]`. `a` and `b` are `[N, ...]` of the
    /// same shape; every value counts.
    pub fn mutual_information(&self, a: &Tensor, b: &Tensor) -> Tensor {
        let n = a.size()[0];
        let wa = self.weights(&a.reshape([n, -1]));
        let wb = self.weights(&b.reshape([n, -1]));
        let pixels = wa.size()[1] as f64;
        let joint = wa.transpose(1, 2).matmul(&wb) / pixels; // [N, bins, bins]
        let pa = joint.sum_dim_intlist(2, true, Kind::Float);
        let pb = joint.sum_dim_intlist(1, true, Kind::Float);
        let eps = 1e-10;
        let ratio = (&joint + eps).log() - (&pa + eps).log() - (&pb + eps).log();
        (joint * ratio).sum_dim_intlist([1, 2].as_slice(), false, Kind::Float)
    }
}

/// Hard-histogram MI (nats) of two equal-length samples: values binned to the nearest of
/// `bins` centres over [lo, hi] (clamped), as the soft histogram's limit of narrow kernels.
pub fn histogram_mi(a: &[f32], b: &[f32], bins: usize, lo: f64, hi: f64) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 || bins < 2 {
        return 0.0;
    }
    let width = (hi - lo) / (bins - 1) as f64;
    let bin = |v: f32| {
        (((v as f64 - lo) / width)
            .round()
            .clamp(0.0, (bins - 1) as f64)) as usize
    };
    let mut joint = vec![0.0f64; bins * bins];
    for (x, y) in a.iter().zip(b).take(n) {
        joint[bin(*x) * bins + bin(*y)] += 1.0 / n as f64;
    }
    let pa: Vec<f64> = (0..bins)
        .map(|i| (0..bins).map(|j| joint[i * bins + j]).sum())
        .collect();
    let pb: Vec<f64> = (0..bins)
        .map(|j| (0..bins).map(|i| joint[i * bins + j]).sum())
        .collect();
    let mut mi = 0.0;
    for i in 0..bins {
        for j in 0..bins {
            let p = joint[i * bins + j];
            if p > 0.0 {
                mi += p * (p / (pa[i] * pb[j])).ln();
            }
        }
    }
    mi
}

#[cfg(test)]
mod tests {
    use super::*;
    use srrd_base::rng::Rng;

    fn soft_mi(a: &[f32], b: &[f32], sigma_bins: f64) -> f64 {
        let h = SoftHistogram {
            sigma_bins,
            ..Default::default()
        };
        let ta = Tensor::from_slice(a).view([1, -1]);
        let tb = Tensor::from_slice(b).view([1, -1]);
        h.mutual_information(&ta, &tb).double_value(&[0])
    }

    /// Values on bin centres, drawn from 5 of the 16 bins with unequal weights.
    fn on_centres(rng: &mut Rng, n: usize) -> Vec<f32> {
        let width = 2.0 / 15.0;
        (0..n)
            .map(|_| {
                let u = rng.uniform();
                let bin = if u < 0.4 {
                    2
                } else if u < 0.6 {
                    5
                } else if u < 0.75 {
                    9
                } else if u < 0.9 {
                    11
                } else {
                    14
                };
                (-1.0 + bin as f64 * width) as f32
            })
            .collect()
    }

    #[test]
    fn identical_images_give_their_entropy() {
        let mut rng = Rng::new(1, "mi");
        let a = on_centres(&mut rng, 20_000);
        // Entropy of the sample's own histogram.
        let mut counts = std::collections::BTreeMap::new();
        for v in &a {
            *counts.entry(v.to_bits()).or_insert(0usize) += 1;
        }
        let entropy: f64 = counts
            .values()
            .map(|c| {
                let p = *c as f64 / a.len() as f64;
                -p * p.ln()
            })
            .sum();
        let hard = histogram_mi(&a, &a, 16, -1.0, 1.0);
        assert!((hard - entropy).abs() < 1e-9, "{hard} vs {entropy}");
        // Narrow kernels: the soft MI is the hard one.
        let soft = soft_mi(&a, &a, 0.1);
        assert!((soft - entropy).abs() < 1e-3, "{soft} vs {entropy}");
        // The default half-bin kernels blur: less, but most of it.
        let blurred = soft_mi(&a, &a, 0.5);
        assert!(blurred < entropy && blurred > 0.6 * entropy, "{blurred}");
    }

    #[test]
    fn independent_images_give_about_zero() {
        let mut rng = Rng::new(2, "mi");
        let a: Vec<f32> = (0..40_000).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let b: Vec<f32> = (0..40_000).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let soft = soft_mi(&a, &b, 0.5);
        let hard = histogram_mi(&a, &b, 16, -1.0, 1.0);
        // Bias of a 16x16 histogram of 40,000 samples: ~ (15*15)/(2*40000) = 0.003.
        assert!(soft.abs() < 0.01, "{soft}");
        assert!(hard.abs() < 0.01, "{hard}");
        // A deterministic relation is found again: b = -a (a monotone map).
        let c: Vec<f32> = a.iter().map(|v| -v).collect();
        assert!(soft_mi(&a, &c, 0.5) > 1.0);
    }

    #[test]
    fn soft_mi_matches_hard_mi_on_a_nonlinear_relation() {
        let mut rng = Rng::new(3, "mi");
        let a = on_centres(&mut rng, 20_000);
        // b: a non-monotone map of a (plus occasional swaps), still on centres.
        let width = 2.0 / 15.0;
        let b: Vec<f32> = a
            .iter()
            .map(|v| {
                let bin = ((*v as f64 + 1.0) / width).round() as i64;
                let mapped = if rng.uniform() < 0.2 {
                    7
                } else {
                    (bin * 7) % 16
                };
                (-1.0 + mapped as f64 * width) as f32
            })
            .collect();
        let hard = histogram_mi(&a, &b, 16, -1.0, 1.0);
        let soft = soft_mi(&a, &b, 0.1);
        assert!(hard > 0.3);
        assert!((soft - hard).abs() < 1e-3, "{soft} vs {hard}");
    }

    #[test]
    fn gradient_flows_to_both_images() {
        let a = Tensor::rand([2, 256], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let b = (&a * 0.5 + 0.1).detach().set_requires_grad(true);
        let h = SoftHistogram::default();
        let mi = h.mutual_information(&a, &b).sum(Kind::Float);
        mi.backward();
        assert!(a.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(b.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
