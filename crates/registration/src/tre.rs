//! Target registration error between paired landmarks (matched by label): what `srrd
//! tre` prints and the viewer's landmark table shows.

use nalgebra::Point3;
use serde::Serialize;

use srrd_base::io::landmarks::{Landmark, pair_by_label};
use srrd_base::volume::PointTransform;

/// One pair's error.
#[derive(Clone, Debug, Serialize)]
pub struct PairTre {
    pub label: String,
    pub tre_mm: f64,
}

/// Errors of every pair and their statistics (mm).
#[derive(Clone, Debug, Serialize)]
pub struct TreReport {
    pub pairs: Vec<PairTre>,
    pub n: usize,
    pub mean_mm: f64,
    pub sd_mm: f64,
    pub median_mm: f64,
    pub max_mm: f64,
}

/// TRE of `t` (fixed -> moving): for each label in both sets, the distance between the
/// mapped fixed point and the moving point. None when no label is shared.
pub fn tre_report(
    fixed: &[Landmark],
    moving: &[Landmark],
    t: &dyn PointTransform,
) -> Option<TreReport> {
    let pairs: Vec<PairTre> = pair_by_label(fixed, moving)
        .iter()
        .map(|(label, pf, pm)| PairTre {
            label: label.to_string(),
            tre_mm: (t.transform_point(&Point3::from(*pf)) - Point3::from(*pm)).norm(),
        })
        .collect();
    let n = pairs.len();
    if n == 0 {
        return None;
    }
    let mean = pairs.iter().map(|e| e.tre_mm).sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (pairs.iter().map(|e| (e.tre_mm - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let mut sorted: Vec<f64> = pairs.iter().map(|e| e.tre_mm).collect();
    sorted.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(TreReport {
        pairs,
        n,
        mean_mm: mean,
        sd_mm: sd,
        median_mm: median,
        max_mm: sorted[n - 1],
    })
}

impl TreReport {
    /// Whether a pair's error is an outlier (above mean + 2 SD, and above 1 mm).
    pub fn is_outlier(&self, tre_mm: f64) -> bool {
        tre_mm > self.mean_mm + 2.0 * self.sd_mm && tre_mm > 1.0
    }
}
