//! The rigid transform being optimized: ITK's Euler3D (R = Rz Rx Ry, angles in radians)
//! about a fixed centre, mapping fixed points to moving points: y = R (x - c) + c + t.

use nalgebra::{Matrix3, Point3, Vector3};

use srrd_base::volume::transform::euler_zxy_matrix;
use srrd_base::volume::{AffineTransform, RigidTransform};

/// Euler3D parameters about a centre.
#[derive(Clone, Debug, PartialEq)]
pub struct EulerRigid {
    pub angles: [f64; 3],
    pub translation: [f64; 3],
    pub center: Point3<f64>,
}

impl EulerRigid {
    /// Parameter `p` (0-2 angles, 3-5 translation) plus `delta`.
    pub fn add(&mut self, p: usize, delta: f64) {
        if p < 3 {
            self.angles[p] += delta;
        } else {
            self.translation[p - 3] += delta;
        }
    }

    /// The rotation and its derivatives with respect to the three angles.
    pub fn rotation_and_derivatives(&self) -> (Matrix3<f64>, [Matrix3<f64>; 3]) {
        let [ax, ay, az] = self.angles;
        let (sx, cx) = ax.sin_cos();
        let (sy, cy) = ay.sin_cos();
        let (sz, cz) = az.sin_cos();
        let rx = Matrix3::new(1.0, 0.0, 0.0, 0.0, cx, -sx, 0.0, sx, cx);
        let ry = Matrix3::new(cy, 0.0, sy, 0.0, 1.0, 0.0, -sy, 0.0, cy);
        let rz = Matrix3::new(cz, -sz, 0.0, sz, cz, 0.0, 0.0, 0.0, 1.0);
        let drx = Matrix3::new(0.0, 0.0, 0.0, 0.0, -sx, -cx, 0.0, cx, -sx);
        let dry = Matrix3::new(-sy, 0.0, cy, 0.0, 0.0, 0.0, -cy, 0.0, -sy);
        let drz = Matrix3::new(-sz, -cz, 0.0, cz, -sz, 0.0, 0.0, 0.0, 0.0);
        (rz * rx * ry, [rz * drx * ry, rz * rx * dry, drz * rx * ry])
    }

    /// As the project's rigid transform.
    pub fn to_rigid(&self) -> RigidTransform {
        RigidTransform::from_euler_zxy(self.angles, Vector3::from(self.translation), self.center)
    }

    /// From any rigid transform, re-expressed about `center`.
    pub fn from_rigid(t: &RigidTransform, center: Point3<f64>) -> Self {
        let r = t.rotation.to_rotation_matrix().into_inner();
        // y = R (x - c0) + c0 + t0 = R (x - c) + c + t  =>  t = R c - R c0 + c0 + t0 - c.
        let tr = r * center.coords - r * t.center_mm.coords + t.center_mm.coords + t.translation_mm
            - center.coords;
        let angles = t.euler_zxy();
        debug_assert!((euler_zxy_matrix(angles) - r).abs().max() < 1e-9);
        EulerRigid {
            angles,
            translation: tr.into(),
            center,
        }
    }
}

/// The most parameters a model has (affine).
pub const MAX_PARAMS: usize = 12;

/// The transform model being optimized, about a centre c: rigid (Euler3D, 6 parameters:
/// 3 angles, 3 translations) or affine (12: the matrix row by row, then the translation),
/// y = A (x - c) + c + t.
#[derive(Clone, Debug, PartialEq)]
pub enum Params {
    Rigid(EulerRigid),
    Affine {
        matrix: Matrix3<f64>,
        translation: [f64; 3],
        center: Point3<f64>,
    },
}

impl Params {
    /// Number of parameters.
    pub fn n(&self) -> usize {
        match self {
            Params::Rigid(_) => 6,
            Params::Affine { .. } => 12,
        }
    }

    /// Parameter `p` plus `delta` (ignored beyond `n`).
    pub fn add(&mut self, p: usize, delta: f64) {
        match self {
            Params::Rigid(r) if p < 6 => r.add(p, delta),
            Params::Affine {
                matrix,
                translation,
                ..
            } if p < 12 => {
                if p < 9 {
                    matrix[(p / 3, p % 3)] += delta;
                } else {
                    translation[p - 9] += delta;
                }
            }
            _ => {}
        }
    }

    /// Which parameters are linear-part entries (rotations or matrix), the rest being
    /// translations: their scale is the samples' radius.
    pub fn is_linear(&self, p: usize) -> bool {
        match self {
            Params::Rigid(_) => p < 3,
            Params::Affine { .. } => p < 9,
        }
    }

    /// The same transform as an affine one.
    pub fn to_affine(&self) -> AffineTransform {
        match self {
            Params::Rigid(r) => r.to_rigid().to_affine(),
            Params::Affine {
                matrix,
                translation,
                center,
            } => AffineTransform {
                matrix: *matrix,
                translation_mm: Vector3::from(*translation),
                center_mm: *center,
            },
        }
    }

    /// An affine model starting where this one is.
    pub fn to_affine_params(&self) -> Params {
        match self {
            Params::Rigid(r) => {
                let (m, _) = r.rotation_and_derivatives();
                Params::Affine {
                    matrix: m,
                    translation: r.translation,
                    center: r.center,
                }
            }
            a => a.clone(),
        }
    }
}
