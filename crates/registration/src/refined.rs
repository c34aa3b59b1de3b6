//! Refined registration: each bone (femur, tibia) registered rigidly and separately on its
//! own mask, starting from the coarse result, then blended into one displacement field
//! over the fixed grid that follows each bone and changes smoothly between them.
//!
//! Blending: the femur's weight is the ratio of the femur's and tibia's indicators smoothed
//! by a Gaussian (3 mm, or 2 voxels if more): 1 deep in the femur, 0 deep in the tibia,
//! changing over millimetres across the joint so the field does not fold. Far from both
//! bones (smoothed indicators summing under 0.05) it moves smoothly to the distance ratio
//! d_t / (d_f + d_t): a ratio of two Gaussian tails alone would be a step there. the position in the coarse-aligned moving image is
//! w_f T_f(x) + (1 - w_f) T_t(x). The field
//! maps fixed points to moving points: coarse(w_f T_f(x) + w_t T_t(x)) - x. Its folding
//! is checked through the Jacobian determinant of the blended map.

use std::time::Instant;

use nalgebra::{Point3, Vector3};
use ndarray::Array4;
use rayon::prelude::*;
use serde::Serialize;

use super::Metric;
use super::rigid::{LevelReport, RigidOptions, register_rigid};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::volume::{
    AffineTransform, DisplacementField, LabelMap, PointTransform, RigidTransform, Volume,
    voxel_index,
};
use srrd_morphometry::edt::squared_edt;
use srrd_segmentation::bones::{FEMUR, TIBIA};

/// The refined result.
pub struct RefinedResult {
    /// Fixed -> moving transform of each bone (coarse included).
    pub femur: AffineTransform,
    pub tibia: AffineTransform,
    /// The blended field on the fixed grid (fixed -> moving, mm).
    pub field: DisplacementField,
    /// Smallest Jacobian determinant of the blended map (> 0: no folding).
    pub min_jacobian: f64,
    pub reports: Vec<(String, Vec<LevelReport>)>,
    pub seconds: f64,
}

/// A short account for reports.
#[derive(Clone, Debug, Serialize)]
pub struct RefinedSummary {
    pub min_jacobian: f64,
    pub seconds: f64,
}

/// Refines `coarse` (fixed -> moving) per bone. `moving_on_fixed` is the moving image
/// already resampled on the fixed grid through `coarse` (crMR, or sCT later); `bones` are
/// the fixed image's bone labels.
pub fn register_refined(
    fixed: &Volume,
    moving_on_fixed: &Volume,
    bones: &LabelMap,
    coarse: &AffineTransform,
    metric: Metric,
    progress: &Progress,
) -> Result<RefinedResult> {
    let clock = Instant::now();
    let g = &fixed.geometry;
    if bones.geometry() != g || moving_on_fixed.geometry != *g {
        return Err(Error::invalid(
            "refined registration: bones and moving image must be on the fixed grid",
        ));
    }
    let spacing: [f64; 3] = g.spacing_mm.into();
    let radius: [usize; 3] = std::array::from_fn(|a| (3.0 / spacing[a]).round().max(1.0) as usize);
    let options = RigidOptions {
        metric,
        levels_mm: vec![2.0, 1.0],
        multistart_deg: None,
        ..Default::default()
    };
    let identity = RigidTransform {
        center_mm: g.center_mm(),
        ..Default::default()
    };
    let mut per_bone = Vec::new();
    let mut reports = Vec::new();
    for (label, name) in [(FEMUR, "femur"), (TIBIA, "tibia")] {
        let bone = bones.mask(label);
        if bone.count() == 0 {
            return Err(Error::invalid(format!(
                "refined registration: no {name} in the bone labels"
            )));
        }
        let mask = bone.dilate(radius);
        let r = register_rigid(
            fixed,
            moving_on_fixed,
            Some(&mask),
            Some(&identity),
            &options,
            progress,
        )?;
        reports.push((name.to_string(), r.levels.clone()));
        per_bone.push((bone.into_inside(), r.transform));
    }
    progress.start("refined: blending the bones", 1);
    let dist = |bone: &[bool]| -> Vec<f32> {
        let outside: Vec<bool> = bone.iter().map(|b| !*b).collect();
        squared_edt(&outside, g.size, spacing)
            .into_iter()
            .map(|d| d.sqrt() as f32)
            .collect()
    };
    let (df, dt) = (dist(&per_bone[0].0), dist(&per_bone[1].0));
    // Smoothed indicators (Gaussian, 3 mm or 2 voxels if more): their ratio is the femur's weight near the
    // bones, so the weight changes over millimetres, not across one voxel of joint space
    // (which would fold the field); far from both, the distance ratio takes over.
    let sigma_mm = 3.0f64.max(2.0 * g.spacing_mm.max());
    let smooth_indicator = |bone: &[bool]| -> Vec<f32> {
        let data: Vec<f32> = bone.iter().map(|b| *b as u8 as f32).collect();
        let [ni, nj, nk] = g.size;
        let v = ndarray::Array3::from_shape_vec((nk, nj, ni), data).map(|a| Volume {
            geometry: g.clone(),
            data: a,
        });
        match v {
            Ok(v) => srrd_base::volume::filter::smooth(&v, sigma_mm)
                .data
                .iter()
                .copied()
                .collect(),
            Err(_) => vec![0.0; bone.len()],
        }
    };
    let (sf, st) = (
        smooth_indicator(&per_bone[0].0),
        smooth_indicator(&per_bone[1].0),
    );
    let weight = |n: usize| -> f64 {
        let (a, b) = (df[n] as f64, dt[n] as f64);
        let far = if a + b > 0.0 { b / (a + b) } else { 0.5 };
        let eps = 0.05;
        (sf[n] as f64 + eps * far) / (sf[n] as f64 + st[n] as f64 + eps)
    };
    let (tf, tt) = (&per_bone[0].1, &per_bone[1].1);
    let [ni, nj, nk] = g.size;
    // Blended position in the coarse-aligned image, per voxel.
    let mut blended = vec![[0.0f64; 3]; ni * nj * nk];
    blended
        .par_chunks_mut(ni * nj)
        .enumerate()
        .for_each(|(k, plane)| {
            for j in 0..nj {
                for i in 0..ni {
                    let n = g.index(i, j, k);
                    let x = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                    let wf = weight(n);
                    let p = tf.transform_point(&x).coords * wf
                        + tt.transform_point(&x).coords * (1.0 - wf);
                    plane[j * ni + i] = p.into();
                }
            }
        });
    let min_jacobian = min_jacobian(&blended, g.size, spacing) * g.direction.determinant().signum();
    let mut v = vec![0.0f32; ni * nj * nk * 3];
    v.par_chunks_mut(3).enumerate().for_each(|(n, out)| {
        let x = g.voxel_world(n);
        let y = coarse.transform_point(&Point3::from(blended[n]));
        let d = y - x;
        out.copy_from_slice(&[d.x as f32, d.y as f32, d.z as f32]);
    });
    let vectors =
        Array4::from_shape_vec((nk, nj, ni, 3), v).map_err(|e| Error::invalid(e.to_string()))?;
    let field = DisplacementField::from_data(g.clone(), vectors)?;
    Ok(RefinedResult {
        femur: tf.to_affine().then(coarse),
        tibia: tt.to_affine().then(coarse),
        field,
        min_jacobian,
        reports,
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// Smallest determinant of the map's Jacobian (central differences inside the grid).
fn min_jacobian(map: &[[f64; 3]], size: [usize; 3], spacing: [f64; 3]) -> f64 {
    let [ni, nj, nk] = size;
    if ni < 3 || nj < 3 || nk < 3 {
        return 1.0;
    }
    (1..nk - 1)
        .into_par_iter()
        .map(|k| {
            let mut m = f64::MAX;
            for j in 1..nj - 1 {
                for i in 1..ni - 1 {
                    let at = |i: usize, j: usize, k: usize| {
                        Vector3::from(map[voxel_index(size, i, j, k)])
                    };
                    let di = (at(i + 1, j, k) - at(i - 1, j, k)) / (2.0 * spacing[0]);
                    let dj = (at(i, j + 1, k) - at(i, j - 1, k)) / (2.0 * spacing[1]);
                    let dk = (at(i, j, k + 1) - at(i, j, k - 1)) / (2.0 * spacing[2]);
                    // Columns: derivatives along the grid axes (an orthonormal frame, so the
                    // determinant is the same as in world axes).
                    let jac = nalgebra::Matrix3::from_columns(&[di, dj, dk]);
                    m = m.min(jac.determinant());
                }
            }
            m
        })
        .reduce(|| f64::MAX, f64::min)
}
