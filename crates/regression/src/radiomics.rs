//! The radiomics baseline: first-order and texture features of a CT patch inside its mask,
//! regressed onto each parameter by ridge regression (lambda chosen by inner
//! cross-validation on the training patches only).
//!
//! Features (22): mask fraction; mean, SD, skewness, kurtosis, minimum, 10th, 50th and
//! 90th percentiles, maximum, mean square and entropy (32 bins over -200..1800 HU) of the
//! HU values; mean and SD of the gradient magnitude (central differences); and the grey
//! level co-occurrence matrix (16 levels over -200..1800 HU, offsets of one voxel along
//! i, j and k, symmetric, averaged): contrast, homogeneity, energy, correlation, entropy,
//! dissimilarity, cluster shade, cluster prominence.

use srrd_base::volume::voxel_index;
use srrd_stats::{RidgeRegression, Standardizer, fit_ridge_cv};

const HU_LO: f64 = -200.0;
const HU_HI: f64 = 1800.0;

/// Number of features per patch.
pub const N_FEATURES: usize = 22;

/// Features of one cubic patch (`edge`^3 values in `[k][j][i]` order) inside `mask`.
pub fn features(values: &[f32], mask: &[f32], edge: usize) -> Vec<f64> {
    let inside: Vec<f64> = values
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m > 0.5)
        .map(|(v, _)| *v as f64)
        .collect();
    let n = inside.len().max(1) as f64;
    let fraction = inside.len() as f64 / values.len().max(1) as f64;
    let mean = inside.iter().sum::<f64>() / n;
    let var = inside.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    let (skew, kurt) = if sd > 0.0 {
        (
            inside
                .iter()
                .map(|v| ((v - mean) / sd).powi(3))
                .sum::<f64>()
                / n,
            inside
                .iter()
                .map(|v| ((v - mean) / sd).powi(4))
                .sum::<f64>()
                / n
                - 3.0,
        )
    } else {
        (0.0, 0.0)
    };
    let mut sorted = inside.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if sorted.is_empty() {
            0.0
        } else {
            sorted[((sorted.len() - 1) as f64 * p).round() as usize]
        }
    };
    let mean_sq = inside.iter().map(|v| v * v).sum::<f64>() / n / 1e6;
    let bin = |v: f64, bins: usize| {
        (((v - HU_LO) / (HU_HI - HU_LO) * bins as f64).floor() as i64).clamp(0, bins as i64 - 1)
            as usize
    };
    let mut hist = [0f64; 32];
    for v in &inside {
        hist[bin(*v, 32)] += 1.0;
    }
    let entropy = hist
        .iter()
        .filter(|h| **h > 0.0)
        .map(|h| {
            let p = h / n;
            -p * p.log2()
        })
        .sum::<f64>();
    // Gradient magnitude (central differences, interior voxels inside the mask).
    let at = |i: usize, j: usize, k: usize| values[voxel_index([edge; 3], i, j, k)] as f64;
    let mut grads = Vec::new();
    for k in 1..edge.saturating_sub(1) {
        for j in 1..edge - 1 {
            for i in 1..edge - 1 {
                if mask[voxel_index([edge; 3], i, j, k)] > 0.5 {
                    let gi = at(i + 1, j, k) - at(i - 1, j, k);
                    let gj = at(i, j + 1, k) - at(i, j - 1, k);
                    let gk = at(i, j, k + 1) - at(i, j, k - 1);
                    grads.push(0.5 * (gi * gi + gj * gj + gk * gk).sqrt());
                }
            }
        }
    }
    let gn = grads.len().max(1) as f64;
    let g_mean = grads.iter().sum::<f64>() / gn;
    let g_sd = (grads.iter().map(|g| (g - g_mean).powi(2)).sum::<f64>() / gn).sqrt();
    // GLCM, 16 levels, offsets (1,0,0), (0,1,0), (0,0,1), symmetric.
    const L: usize = 16;
    let mut glcm = [[0f64; L]; L];
    let level = |i: usize, j: usize, k: usize| bin(at(i, j, k), L);
    let inm = |i: usize, j: usize, k: usize| mask[voxel_index([edge; 3], i, j, k)] > 0.5;
    for k in 0..edge {
        for j in 0..edge {
            for i in 0..edge {
                if !inm(i, j, k) {
                    continue;
                }
                let a = level(i, j, k);
                for (di, dj, dk) in [(1, 0, 0), (0, 1, 0), (0, 0, 1)] {
                    let (x, y, z) = (i + di, j + dj, k + dk);
                    if x < edge && y < edge && z < edge && inm(x, y, z) {
                        let b = level(x, y, z);
                        glcm[a][b] += 1.0;
                        glcm[b][a] += 1.0;
                    }
                }
            }
        }
    }
    let total: f64 = glcm.iter().flatten().sum::<f64>().max(1.0);
    let (mut mu_i, mut mu_j) = (0.0, 0.0);
    for (a, row) in glcm.iter().enumerate() {
        for (b, c) in row.iter().enumerate() {
            let p = c / total;
            mu_i += a as f64 * p;
            mu_j += b as f64 * p;
        }
    }
    let (mut s_i, mut s_j) = (0.0, 0.0);
    let (mut contrast, mut homog, mut energy, mut cov, mut g_ent, mut dissim, mut shade, mut prom) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (a, row) in glcm.iter().enumerate() {
        for (b, c) in row.iter().enumerate() {
            let p = c / total;
            let (x, y) = (a as f64, b as f64);
            let d = x - y;
            contrast += d * d * p;
            dissim += d.abs() * p;
            homog += p / (1.0 + d * d);
            energy += p * p;
            cov += (x - mu_i) * (y - mu_j) * p;
            s_i += (x - mu_i).powi(2) * p;
            s_j += (y - mu_j).powi(2) * p;
            if p > 0.0 {
                g_ent -= p * p.log2();
            }
            shade += (x + y - mu_i - mu_j).powi(3) * p;
            prom += (x + y - mu_i - mu_j).powi(4) * p;
        }
    }
    let corr = if s_i > 0.0 && s_j > 0.0 {
        cov / (s_i * s_j).sqrt()
    } else {
        0.0
    };
    vec![
        fraction,
        mean / 1000.0,
        sd / 1000.0,
        skew,
        kurt,
        q(0.0) / 1000.0,
        q(0.1) / 1000.0,
        q(0.5) / 1000.0,
        q(0.9) / 1000.0,
        q(1.0) / 1000.0,
        mean_sq,
        entropy,
        g_mean / 1000.0,
        g_sd / 1000.0,
        contrast,
        homog,
        energy,
        corr,
        g_ent,
        dissim,
        shade / 100.0,
        prom / 1000.0,
    ]
}

/// One ridge regression per parameter over standardized features.
pub struct RadiomicsModel {
    standardizer: Standardizer,
    per_target: Vec<RidgeRegression>,
    /// The lambda chosen for each target.
    pub lambdas: Vec<f64>,
}

impl RadiomicsModel {
    /// Fits on feature rows and raw targets (`targets[n]` holds the 4 parameters).
    pub fn fit(rows: &[Vec<f64>], targets: &[[f64; 4]]) -> Option<Self> {
        let standardizer = Standardizer::fit(rows)?;
        let x = standardizer.transform_all(rows);
        let lambdas = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0];
        let mut per_target = Vec::new();
        let mut chosen = Vec::new();
        for a in 0..4 {
            let y: Vec<f64> = targets.iter().map(|t| t[a]).collect();
            let (model, lambda) = fit_ridge_cv(&x, &y, &lambdas, 5)?;
            per_target.push(model);
            chosen.push(lambda);
        }
        Some(RadiomicsModel {
            standardizer,
            per_target,
            lambdas: chosen,
        })
    }

    /// The four parameters predicted from one feature row.
    pub fn predict(&self, row: &[f64]) -> [f64; 4] {
        let x = self.standardizer.transform(row);
        std::array::from_fn(|a| self.per_target[a].predict(&x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_follow_the_bone_fraction() {
        let edge = 12;
        // Plates of 1200 HU in 0 HU marrow: thicker plates raise the mean and the 90th
        // percentile, and a uniform patch has no texture contrast.
        let plates = |t: usize| -> Vec<f32> {
            (0..edge * edge * edge)
                .map(|n| if (n % edge) % 6 < t { 1200.0 } else { 0.0 })
                .collect()
        };
        let mask = vec![1f32; edge * edge * edge];
        let thin = features(&plates(1), &mask, edge);
        let thick = features(&plates(3), &mask, edge);
        assert_eq!(thin.len(), N_FEATURES);
        assert!(thick[1] > thin[1], "mean HU");
        assert!((thin[0] - 1.0).abs() < 1e-12, "mask fraction");
        let uniform = features(&vec![300.0; edge * edge * edge], &mask, edge);
        assert_eq!(uniform[14], 0.0, "GLCM contrast of a uniform patch");
        assert!(thin[14] > 0.0);
    }
}
