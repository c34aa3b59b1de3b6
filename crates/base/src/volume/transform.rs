//! Spatial transforms in world space (LPS mm), in ITK's direction: a registration result
//! maps points of the fixed image to points of the moving image.
//!
//! Rigid and affine transforms carry a centre of rotation `c`, as ITK's
//! `Euler3DTransform` / `AffineTransform`: `y = A (x - c) + c + t`.

use nalgebra::{Matrix3, Point3, Rotation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::field::DisplacementField;

/// Anything that maps a world point to a world point.
pub trait PointTransform: Sync {
    /// Maps one point.
    fn transform_point(&self, p: &Point3<f64>) -> Point3<f64>;
    /// The same transform as an affine one, when it is affine (enables fast resampling).
    fn as_affine(&self) -> Option<AffineTransform> {
        None
    }
}

/// A general 3D affine transform `y = A (x - c) + c + t`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AffineTransform {
    /// The linear part A.
    pub matrix: Matrix3<f64>,
    /// The translation t, in mm.
    pub translation_mm: Vector3<f64>,
    /// The centre of rotation c, in mm (a fixed parameter; it does not change the mapping
    /// once t is chosen, only how the parameters read).
    pub center_mm: Point3<f64>,
}

impl Default for AffineTransform {
    fn default() -> Self {
        Self::identity()
    }
}

impl AffineTransform {
    /// The identity.
    pub fn identity() -> Self {
        AffineTransform {
            matrix: Matrix3::identity(),
            translation_mm: Vector3::zeros(),
            center_mm: Point3::origin(),
        }
    }

    /// A pure translation.
    pub fn translation(t_mm: Vector3<f64>) -> Self {
        AffineTransform {
            translation_mm: t_mm,
            ..Self::identity()
        }
    }

    /// The offset o of the equivalent form `y = A x + o`.
    pub fn offset_mm(&self) -> Vector3<f64> {
        self.translation_mm + self.center_mm.coords - self.matrix * self.center_mm.coords
    }

    /// Builds `y = A x + o` re-expressed about `center_mm`.
    pub fn from_matrix_offset(
        matrix: Matrix3<f64>,
        offset_mm: Vector3<f64>,
        center_mm: Point3<f64>,
    ) -> Self {
        let translation_mm = offset_mm - center_mm.coords + matrix * center_mm.coords;
        AffineTransform {
            matrix,
            translation_mm,
            center_mm,
        }
    }

    /// `self` followed by `next`: `next(self(x))`. Keeps `self`'s centre.
    pub fn then(&self, next: &AffineTransform) -> AffineTransform {
        let matrix = next.matrix * self.matrix;
        let offset = next.matrix * self.offset_mm() + next.offset_mm();
        AffineTransform::from_matrix_offset(matrix, offset, self.center_mm)
    }

    /// The inverse mapping, or None when A is singular.
    pub fn inverse(&self) -> Option<AffineTransform> {
        let inv = self.matrix.try_inverse()?;
        let offset = -(inv * self.offset_mm());
        Some(AffineTransform::from_matrix_offset(
            inv,
            offset,
            self.center_mm,
        ))
    }
}

impl PointTransform for AffineTransform {
    fn transform_point(&self, p: &Point3<f64>) -> Point3<f64> {
        Point3::from(self.matrix * p.coords + self.offset_mm())
    }
    fn as_affine(&self) -> Option<AffineTransform> {
        Some(self.clone())
    }
}

/// A rigid transform: rotation (a versor) about a centre, then translation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RigidTransform {
    /// The rotation.
    pub rotation: UnitQuaternion<f64>,
    /// The translation t, in mm.
    pub translation_mm: Vector3<f64>,
    /// The centre of rotation, in mm.
    pub center_mm: Point3<f64>,
}

impl Default for RigidTransform {
    fn default() -> Self {
        RigidTransform {
            rotation: UnitQuaternion::identity(),
            translation_mm: Vector3::zeros(),
            center_mm: Point3::origin(),
        }
    }
}

impl RigidTransform {
    /// From ITK `Euler3DTransform` parameters (angles about x, y, z in radians, ITK's
    /// default order `R = Rz Rx Ry`), a translation and a centre.
    pub fn from_euler_zxy(
        angles_rad: [f64; 3],
        translation_mm: Vector3<f64>,
        center_mm: Point3<f64>,
    ) -> Self {
        let rotation = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(
            euler_zxy_matrix(angles_rad),
        ));
        RigidTransform {
            rotation,
            translation_mm,
            center_mm,
        }
    }

    /// From a versor (the vector part of a unit quaternion, as ITK's
    /// `VersorRigid3DTransform` parameters), a translation and a centre.
    pub fn from_versor(
        versor: Vector3<f64>,
        translation_mm: Vector3<f64>,
        center_mm: Point3<f64>,
    ) -> Self {
        let n2 = versor.norm_squared().min(1.0);
        let w = (1.0 - n2).sqrt();
        let q = nalgebra::Quaternion::new(w, versor.x, versor.y, versor.z);
        RigidTransform {
            rotation: UnitQuaternion::from_quaternion(q),
            translation_mm,
            center_mm,
        }
    }

    /// Euler angles (x, y, z) in radians in ITK's `R = Rz Rx Ry` convention.
    pub fn euler_zxy(&self) -> [f64; 3] {
        let m = self.rotation.to_rotation_matrix().into_inner();
        // R = Rz Rx Ry: m[(2,1)] = sin(ax).
        let ax = m[(2, 1)].clamp(-1.0, 1.0).asin();
        let (ay, az) = if ax.cos().abs() > 1e-12 {
            ((-m[(2, 0)]).atan2(m[(2, 2)]), (-m[(0, 1)]).atan2(m[(1, 1)]))
        } else {
            // Gimbal lock: fold the y rotation into z.
            (0.0, m[(1, 0)].atan2(m[(0, 0)]))
        };
        [ax, ay, az]
    }

    /// The versor (vector part of the unit quaternion with non-negative scalar part).
    pub fn versor(&self) -> Vector3<f64> {
        let q = self.rotation.quaternion();
        if q.w < 0.0 { -q.imag() } else { q.imag() }
    }

    /// The equivalent affine transform.
    pub fn to_affine(&self) -> AffineTransform {
        AffineTransform {
            matrix: self.rotation.to_rotation_matrix().into_inner(),
            translation_mm: self.translation_mm,
            center_mm: self.center_mm,
        }
    }

    /// `self` followed by `next`, keeping `self`'s centre.
    pub fn then(&self, next: &RigidTransform) -> RigidTransform {
        let a = self.to_affine().then(&next.to_affine());
        RigidTransform {
            rotation: next.rotation * self.rotation,
            translation_mm: a.translation_mm,
            center_mm: a.center_mm,
        }
    }

    /// The inverse rigid transform (same centre).
    pub fn inverse(&self) -> RigidTransform {
        let inv_rot = self.rotation.inverse();
        let a = self.to_affine();
        let offset = -(inv_rot * a.offset_mm());
        let m = inv_rot.to_rotation_matrix().into_inner();
        let t = offset - self.center_mm.coords + m * self.center_mm.coords;
        RigidTransform {
            rotation: inv_rot,
            translation_mm: t,
            center_mm: self.center_mm,
        }
    }
}

impl PointTransform for RigidTransform {
    fn transform_point(&self, p: &Point3<f64>) -> Point3<f64> {
        self.center_mm + self.rotation * (p - self.center_mm) + self.translation_mm
    }
    fn as_affine(&self) -> Option<AffineTransform> {
        Some(self.to_affine())
    }
}

/// ITK's Euler3D rotation matrix `Rz Rx Ry` for angles (x, y, z) in radians.
pub fn euler_zxy_matrix(angles_rad: [f64; 3]) -> Matrix3<f64> {
    let [ax, ay, az] = angles_rad;
    let (sx, cx) = ax.sin_cos();
    let (sy, cy) = ay.sin_cos();
    let (sz, cz) = az.sin_cos();
    let rx = Matrix3::new(1.0, 0.0, 0.0, 0.0, cx, -sx, 0.0, sx, cx);
    let ry = Matrix3::new(cy, 0.0, sy, 0.0, 1.0, 0.0, -sy, 0.0, cy);
    let rz = Matrix3::new(cz, -sz, 0.0, sz, cz, 0.0, 0.0, 0.0, 1.0);
    rz * rx * ry
}

/// Any transform the project composes: affine, dense field, or a chain of them.
#[derive(Clone, Debug)]
pub enum Transform {
    /// Affine (rigid ones included).
    Affine(AffineTransform),
    /// A dense displacement field.
    Field(DisplacementField),
    /// A chain applied first to last: `y = tn(...t1(t0(x)))`.
    Chain(Vec<Transform>),
}

impl Transform {
    /// The transform as a rigid one, when it is an affine transform whose matrix is a
    /// rotation (orthonormal, determinant 1, within 1e-6).
    pub fn as_rigid(&self) -> Option<RigidTransform> {
        let a = match self {
            Transform::Affine(a) => a,
            Transform::Chain(list) if list.len() == 1 => return list[0].as_rigid(),
            _ => return None,
        };
        let m = a.matrix;
        let orthonormal = (m.transpose() * m - Matrix3::identity()).abs().max() < 1e-6;
        if !orthonormal || (m.determinant() - 1.0).abs() > 1e-6 {
            return None;
        }
        Some(RigidTransform {
            rotation: UnitQuaternion::from_matrix(&m),
            translation_mm: a.translation_mm,
            center_mm: a.center_mm,
        })
    }
}

impl PointTransform for Transform {
    fn transform_point(&self, p: &Point3<f64>) -> Point3<f64> {
        match self {
            Transform::Affine(a) => a.transform_point(p),
            Transform::Field(f) => f.transform_point(p),
            Transform::Chain(list) => list.iter().fold(*p, |q, t| t.transform_point(&q)),
        }
    }
    fn as_affine(&self) -> Option<AffineTransform> {
        match self {
            Transform::Affine(a) => Some(a.clone()),
            Transform::Field(_) => None,
            Transform::Chain(list) => {
                list.iter().try_fold(AffineTransform::identity(), |acc, t| {
                    t.as_affine().map(|a| acc.then(&a))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_points() -> Vec<Point3<f64>> {
        vec![
            Point3::new(0.0, 0.0, 0.0),
            Point3::new(10.0, -4.0, 7.5),
            Point3::new(-30.0, 22.0, -1.0),
        ]
    }

    #[test]
    fn euler_matches_itk_order_and_round_trips() {
        let angles = [0.1, -0.25, 0.4];
        let m = euler_zxy_matrix(angles);
        // Rz Rx Ry applied to e_x: first Ry rotates x towards -z.
        let rt = RigidTransform::from_euler_zxy(angles, Vector3::zeros(), Point3::origin());
        let back = rt.euler_zxy();
        for a in 0..3 {
            assert!((back[a] - angles[a]).abs() < 1e-12, "{back:?}");
        }
        let r = rt.rotation.to_rotation_matrix().into_inner();
        assert!((r - m).norm() < 1e-12);
        // A pure z rotation by 90 degrees maps x to y.
        let z90 = RigidTransform::from_euler_zxy(
            [0.0, 0.0, std::f64::consts::FRAC_PI_2],
            Vector3::zeros(),
            Point3::origin(),
        );
        let p = z90.transform_point(&Point3::new(1.0, 0.0, 0.0));
        assert!((p - Point3::new(0.0, 1.0, 0.0)).norm() < 1e-12);
    }

    #[test]
    fn centre_is_a_fixed_point_without_translation() {
        let c = Point3::new(5.0, 6.0, 7.0);
        let rt = RigidTransform::from_euler_zxy([0.3, 0.2, 0.1], Vector3::zeros(), c);
        assert!((rt.transform_point(&c) - c).norm() < 1e-12);
        let a = rt.to_affine();
        assert!((a.transform_point(&c) - c).norm() < 1e-12);
    }

    #[test]
    fn inverse_and_composition() {
        let r1 = RigidTransform::from_euler_zxy(
            [0.3, -0.2, 0.5],
            Vector3::new(1.0, 2.0, 3.0),
            Point3::new(4.0, -2.0, 1.0),
        );
        let r2 = RigidTransform::from_versor(
            Vector3::new(0.1, 0.05, -0.2),
            Vector3::new(-3.0, 0.5, 2.0),
            Point3::new(0.0, 1.0, 0.0),
        );
        let a = AffineTransform {
            matrix: Matrix3::new(1.1, 0.1, 0.0, -0.05, 0.9, 0.2, 0.0, 0.1, 1.3),
            translation_mm: Vector3::new(2.0, -1.0, 0.5),
            center_mm: Point3::new(1.0, 1.0, 1.0),
        };
        for p in sample_points() {
            let q = r1.inverse().transform_point(&r1.transform_point(&p));
            assert!((q - p).norm() < 1e-10);
            let composed = r1.then(&r2).transform_point(&p);
            let stepwise = r2.transform_point(&r1.transform_point(&p));
            assert!((composed - stepwise).norm() < 1e-10);
            let ai = a.inverse().expect("invertible");
            assert!((ai.transform_point(&a.transform_point(&p)) - p).norm() < 1e-10);
            let ca = a.then(&r2.to_affine()).transform_point(&p);
            assert!((ca - r2.transform_point(&a.transform_point(&p))).norm() < 1e-10);
            let chain = Transform::Chain(vec![
                Transform::Affine(a.clone()),
                Transform::Affine(r1.to_affine()),
            ]);
            let direct = r1.transform_point(&a.transform_point(&p));
            assert!((chain.transform_point(&p) - direct).norm() < 1e-10);
            let flat = chain.as_affine().expect("affine chain");
            assert!((flat.transform_point(&p) - direct).norm() < 1e-10);
        }
    }

    #[test]
    fn versor_round_trip() {
        let v = Vector3::new(0.1, -0.2, 0.05);
        let r = RigidTransform::from_versor(v, Vector3::zeros(), Point3::origin());
        assert!((r.versor() - v).norm() < 1e-12);
    }
}
