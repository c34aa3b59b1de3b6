//! Per-subregion features for the KOA classifier: for each of the 12 subregions, the mean
//! and SD of each of the 4 regressed parameters over the patches centred in it
//! (12 x 4 x 2 = 96 features, ordered subregion, parameter, then mean before SD).
//! A subregion without patches takes its bone's mean and an SD of 0 (and says so in
//! its `patches` count); one with a single patch has SD 0.

use serde::Serialize;

use super::subregions::{NAMES, bone_of};
use srrd_regression::dataset::TARGETS;

/// Number of features.
pub const N_FEATURES: usize = 96;

/// Summary of one subregion.
#[derive(Clone, Debug, Serialize)]
pub struct SubregionStats {
    pub label: u8,
    pub name: String,
    pub patches: usize,
    /// BV/TV (1), Tb.Th (mm), Tb.Sp (mm), Tb.N (1/mm).
    pub mean: [f64; 4],
    pub sd: [f64; 4],
}

/// Feature names in vector order ("femur MA bv_tv mean", ...).
pub fn feature_names() -> Vec<String> {
    let mut out = Vec::with_capacity(N_FEATURES);
    for name in NAMES {
        for (p, _) in TARGETS {
            out.push(format!("{name} {p} mean"));
            out.push(format!("{name} {p} sd"));
        }
    }
    out
}

fn mean_sd(values: &[[f64; 4]], a: usize) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|v| v[a]).sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v[a] - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}

/// The 96 features and the per-subregion summary from patches given as
/// (subregion label 1-12, parameters); patches with label 0 are ignored.
pub fn subregion_features(patches: &[(u8, [f64; 4])]) -> (Vec<f64>, Vec<SubregionStats>) {
    let mut features = Vec::with_capacity(N_FEATURES);
    let mut stats = Vec::with_capacity(12);
    for label in 1..=12u8 {
        let own: Vec<[f64; 4]> = patches
            .iter()
            .filter(|(l, _)| *l == label)
            .map(|(_, p)| *p)
            .collect();
        let bone: Vec<[f64; 4]> = patches
            .iter()
            .filter(|(l, _)| *l > 0 && bone_of(*l) == bone_of(label))
            .map(|(_, p)| *p)
            .collect();
        let mut mean = [0.0; 4];
        let mut sd = [0.0; 4];
        for a in 0..4 {
            (mean[a], sd[a]) = if !own.is_empty() {
                mean_sd(&own, a)
            } else if !bone.is_empty() {
                (mean_sd(&bone, a).0, 0.0)
            } else {
                (0.0, 0.0)
            };
            features.push(mean[a]);
            features.push(sd[a]);
        }
        stats.push(SubregionStats {
            label,
            name: NAMES[label as usize - 1].to_string(),
            patches: own.len(),
            mean,
            sd,
        });
    }
    (features, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_means_and_sds_in_order() {
        let patches = vec![
            (1u8, [0.2, 0.3, 0.8, 0.9]),
            (1, [0.4, 0.5, 0.6, 0.9]),
            (8, [0.5, 0.1, 0.1, 4.0]),
            (0, [9.0, 9.0, 9.0, 9.0]),
        ];
        let (f, stats) = subregion_features(&patches);
        assert_eq!(f.len(), N_FEATURES);
        assert_eq!(feature_names().len(), N_FEATURES);
        assert!((f[0] - 0.3).abs() < 1e-12, "femur MA BV/TV mean");
        assert!((f[1] - (0.02f64).sqrt()).abs() < 1e-12, "femur MA BV/TV SD");
        // Femur MC has no patch: its bone's mean, SD 0.
        assert!((f[8] - 0.3).abs() < 1e-12 && f[9] == 0.0);
        assert_eq!(stats[1].patches, 0);
        // Tibia MC (label 8) has one patch: SD 0.
        let tmc = 7 * 8;
        assert_eq!(f[tmc + 6], 4.0);
        assert_eq!(f[tmc + 7], 0.0);
        assert_eq!(feature_names()[tmc + 6], "tibia MC tb_n_per_mm mean");
    }
}
