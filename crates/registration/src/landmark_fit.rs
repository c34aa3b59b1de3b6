//! A rigid transform from paired landmarks: the least-squares rotation and translation
//! (Kabsch / Horn, through the SVD of the cross-covariance) mapping fixed points onto
//! moving points, in ITK's direction (fixed -> moving), with each pair's residual. It is
//! the manual start of a registration that went wrong: three or more pairs that are not
//! on one line.

use nalgebra::{Matrix3, Point3, UnitQuaternion, Vector3};
use serde::Serialize;

use srrd_base::error::{Error, Result};
use srrd_base::volume::RigidTransform;
use srrd_base::volume::transform::PointTransform;

/// One pair's residual after the fit.
#[derive(Clone, Debug, Serialize)]
pub struct PairResidual {
    pub label: String,
    /// |T(fixed) - moving|, mm.
    pub residual_mm: f64,
}

/// The fitted transform and how well each pair agrees with it.
#[derive(Clone, Debug, Serialize)]
pub struct LandmarkFit {
    /// Fixed -> moving, rotation about the fixed points' centroid.
    #[serde(skip)]
    pub transform: RigidTransform,
    pub pairs: Vec<PairResidual>,
    /// Root mean square of the residuals, mm.
    pub rms_mm: f64,
    /// The rotation's angle, degrees.
    pub angle_deg: f64,
}

/// Fits the rigid transform taking each fixed point to its moving partner (same index):
/// `pairs` holds (label, fixed, moving). Refused with a message for fewer than three pairs
/// or points (nearly) on one line, where a rotation about that line is not determined.
pub fn fit_rigid(pairs: &[(String, Point3<f64>, Point3<f64>)]) -> Result<LandmarkFit> {
    let n = pairs.len();
    if n < 3 {
        return Err(Error::invalid(format!(
            "a rigid start needs at least 3 landmark pairs, found {n}"
        )));
    }
    let cf = pairs.iter().map(|p| p.1.coords).sum::<Vector3<f64>>() / n as f64;
    let cm = pairs.iter().map(|p| p.2.coords).sum::<Vector3<f64>>() / n as f64;
    let mut h = Matrix3::zeros();
    let mut spread = Matrix3::zeros();
    for (_, f, m) in pairs {
        let (a, b) = (f.coords - cf, m.coords - cm);
        h += a * b.transpose();
        spread += a * a.transpose();
    }
    // Collinear (or coincident) fixed points: the second principal spread vanishes.
    let s = spread.symmetric_eigenvalues();
    let mut s: Vec<f64> = s.iter().map(|v| v.max(0.0).sqrt()).collect();
    s.sort_by(|a, b| b.total_cmp(a));
    if s[0] < 1e-6 || s[1] < 0.02 * s[0] {
        return Err(Error::invalid(format!(
            "the {n} fixed landmarks lie (nearly) on one line (spread {:.2} mm across it, {:.2} mm along it): a rotation about that line cannot be found; add a landmark off the line",
            s[1], s[0]
        )));
    }
    let svd = h.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return Err(Error::invalid("landmark fit: SVD failed"));
    };
    // R = V diag(1, 1, det(V U^T)) U^T maps centred fixed onto centred moving.
    let d = (v_t.transpose() * u.transpose()).determinant().signum();
    let r = v_t.transpose() * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, d)) * u.transpose();
    let rotation = UnitQuaternion::from_matrix(&r);
    let transform = RigidTransform {
        rotation,
        // About centre c: x -> R (x - c) + c + t; c = cf, so t = cm - cf.
        translation_mm: cm - cf,
        center_mm: Point3::from(cf),
    };
    let residuals: Vec<PairResidual> = pairs
        .iter()
        .map(|(label, f, m)| PairResidual {
            label: label.clone(),
            residual_mm: (transform.transform_point(f) - m).norm(),
        })
        .collect();
    let rms_mm = (residuals.iter().map(|p| p.residual_mm.powi(2)).sum::<f64>() / n as f64).sqrt();
    Ok(LandmarkFit {
        transform,
        pairs: residuals,
        rms_mm,
        angle_deg: rotation.angle().to_degrees(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> RigidTransform {
        RigidTransform {
            rotation: UnitQuaternion::from_euler_angles(0.3, -0.2, 2.9),
            translation_mm: Vector3::new(12.0, -7.5, 30.0),
            center_mm: Point3::new(5.0, 5.0, 5.0),
        }
    }

    #[test]
    fn recovers_a_known_transform_from_four_noisy_pairs() {
        let t = known();
        let fixed = [
            Point3::new(-40.0, 10.0, 0.0),
            Point3::new(35.0, 12.0, 5.0),
            Point3::new(0.0, -30.0, -20.0),
            Point3::new(5.0, 25.0, 45.0),
        ];
        // 1 mm of noise on each moving point (a fixed pattern: unit vectors).
        let noise = [
            Vector3::new(1.0, 0.0, 0.0),
            Vector3::new(0.0, -1.0, 0.0),
            Vector3::new(0.0, 0.0, 1.0),
            Vector3::new(-0.577, 0.577, -0.577),
        ];
        let pairs: Vec<_> = fixed
            .iter()
            .zip(noise)
            .enumerate()
            .map(|(k, (f, e))| (format!("p{k}"), *f, t.transform_point(f) + e))
            .collect();
        let fit = fit_rigid(&pairs).expect("fit");
        // TRE at targets away from the landmarks, inside the knee's extent.
        let mut worst: f64 = 0.0;
        for target in [
            Point3::new(0.0, 0.0, 0.0),
            Point3::new(20.0, -10.0, 30.0),
            Point3::new(-25.0, 15.0, -15.0),
        ] {
            worst = worst
                .max((fit.transform.transform_point(&target) - t.transform_point(&target)).norm());
        }
        assert!(worst < 1.0, "TRE {worst:.3} mm");
        assert_eq!(fit.pairs.len(), 4);
        assert!(fit.rms_mm > 0.3 && fit.rms_mm < 1.0, "rms {}", fit.rms_mm);
        // Without noise: exact.
        let exact: Vec<_> = fixed
            .iter()
            .map(|f| ("x".to_string(), *f, t.transform_point(f)))
            .collect();
        let fit = fit_rigid(&exact).expect("fit");
        assert!(fit.rms_mm < 1e-9);
        assert!((fit.angle_deg - t.rotation.angle().to_degrees()).abs() < 1e-6);
    }

    #[test]
    fn refuses_too_few_or_collinear_points() {
        let p = |x: f64| Point3::new(x, 2.0 * x, -x);
        let two = vec![("a".into(), p(0.0), p(0.0)), ("b".into(), p(1.0), p(1.0))];
        let err = fit_rigid(&two).expect_err("two pairs").to_string();
        assert!(err.contains("at least 3"), "{err}");
        let line: Vec<_> = [0.0, 10.0, 25.0, 40.0]
            .iter()
            .map(|x| (format!("{x}"), p(*x), p(*x)))
            .collect();
        let err = fit_rigid(&line).expect_err("collinear").to_string();
        assert!(err.contains("one line"), "{err}");
    }
}
