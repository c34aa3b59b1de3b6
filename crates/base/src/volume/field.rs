//! Dense displacement fields: a vector per voxel, in LPS mm, mapping `x -> x + u(x)`.

use nalgebra::{Point3, Vector3};
use ndarray::Array4;
use rayon::prelude::*;

use super::geometry::Geometry;
use super::interpolate::linear_stencil;
use super::transform::PointTransform;
use crate::error::{Error, Result};

/// A displacement field on a grid; outside the grid the displacement is zero.
#[derive(Clone, Debug)]
pub struct DisplacementField {
    /// Where the vectors are.
    pub geometry: Geometry,
    /// Vectors in world mm, shape `[nk, nj, ni, 3]`.
    pub vectors_mm: Array4<f32>,
}

impl DisplacementField {
    /// A zero field on a grid.
    pub fn zeros(geometry: Geometry) -> Self {
        let [nk, nj, ni] = geometry.shape_kji();
        DisplacementField {
            geometry,
            vectors_mm: Array4::zeros((nk, nj, ni, 3)),
        }
    }

    /// Wraps vectors, checking their shape.
    pub fn from_data(geometry: Geometry, vectors_mm: Array4<f32>) -> Result<Self> {
        let [nk, nj, ni] = geometry.shape_kji();
        if vectors_mm.shape() != [nk, nj, ni, 3] {
            return Err(Error::invalid(format!(
                "displacement array of shape {:?} does not match grid {:?}",
                vectors_mm.shape(),
                geometry.size
            )));
        }
        Ok(DisplacementField {
            geometry,
            vectors_mm,
        })
    }

    /// Samples any transform on a grid as the field `u(x) = T(x) - x`.
    pub fn from_transform(geometry: Geometry, transform: &dyn PointTransform) -> Self {
        let [nk, nj, ni] = geometry.shape_kji();
        let mut v = vec![0f32; nk * nj * ni * 3];
        v.par_chunks_mut(nj * ni * 3)
            .enumerate()
            .for_each(|(k, slab)| {
                for j in 0..nj {
                    for i in 0..ni {
                        let p = geometry.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                        let d = transform.transform_point(&p) - p;
                        let o = (j * ni + i) * 3;
                        slab[o] = d.x as f32;
                        slab[o + 1] = d.y as f32;
                        slab[o + 2] = d.z as f32;
                    }
                }
            });
        let vectors_mm = Array4::from_shape_vec((nk, nj, ni, 3), v).expect("shape matches");
        DisplacementField {
            geometry,
            vectors_mm,
        }
    }

    /// Trilinearly interpolated displacement at a world point (zero outside the grid).
    pub fn displacement_at(&self, p: &Point3<f64>) -> Vector3<f64> {
        let idx = self.geometry.world_to_index(p);
        let Some((offsets, weights)) = linear_stencil(self.geometry.size, idx) else {
            return Vector3::zeros();
        };
        let flat = self.vectors_mm.as_slice().expect("fields are contiguous");
        let mut d = [0f32; 3];
        for n in 0..8 {
            let o = offsets[n] * 3;
            for c in 0..3 {
                d[c] += weights[n] * flat[o + c];
            }
        }
        Vector3::new(d[0] as f64, d[1] as f64, d[2] as f64)
    }

    /// The inverse field on the same grid by fixed-point iteration
    /// (`v(x) = -u(x + v(x))`), as ITK's `InvertDisplacementFieldImageFilter` does.
    /// Converges for smooth fields whose Jacobian stays positive.
    pub fn inverse(&self, iterations: usize) -> DisplacementField {
        let mut inv = DisplacementField::zeros(self.geometry.clone());
        let g = &self.geometry;
        let [_, nj, ni] = g.shape_kji();
        for _ in 0..iterations {
            let prev = inv.clone();
            inv.vectors_mm
                .as_slice_mut()
                .expect("contiguous")
                .par_chunks_mut(nj * ni * 3)
                .enumerate()
                .for_each(|(k, slab)| {
                    for j in 0..nj {
                        for i in 0..ni {
                            let x = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                            let o = (j * ni + i) * 3;
                            let v = prev.vectors_mm.as_slice().expect("contiguous");
                            let base = (k * nj * ni) * 3 + o;
                            let vx = Vector3::new(
                                v[base] as f64,
                                v[base + 1] as f64,
                                v[base + 2] as f64,
                            );
                            let u = self.displacement_at(&(x + vx));
                            slab[o] = -u.x as f32;
                            slab[o + 1] = -u.y as f32;
                            slab[o + 2] = -u.z as f32;
                        }
                    }
                });
        }
        inv
    }
}

impl PointTransform for DisplacementField {
    fn transform_point(&self, p: &Point3<f64>) -> Point3<f64> {
        p + self.displacement_at(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::transform::AffineTransform;

    fn grid() -> Geometry {
        Geometry::new([20, 18, 16], [1.0, 1.5, 2.0], [-10.0, -12.0, -15.0])
    }

    #[test]
    fn field_from_translation_reproduces_it() {
        let t = AffineTransform::translation(Vector3::new(1.5, -2.0, 0.25));
        let f = DisplacementField::from_transform(grid(), &t);
        let p = Point3::new(0.3, 1.7, -2.2);
        assert!((f.transform_point(&p) - t.transform_point(&p)).norm() < 1e-5);
        // Outside the grid the displacement is zero.
        let far = Point3::new(500.0, 0.0, 0.0);
        assert_eq!(f.transform_point(&far), far);
    }

    #[test]
    fn inverse_of_smooth_field() {
        let g = grid();
        let mut f = DisplacementField::zeros(g.clone());
        let [nk, nj, ni] = g.shape_kji();
        for k in 0..nk {
            for j in 0..nj {
                for i in 0..ni {
                    let x = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                    f.vectors_mm[[k, j, i, 0]] = (0.8 * (x.y / 6.0).sin()) as f32;
                    f.vectors_mm[[k, j, i, 1]] = (0.5 * (x.z / 7.0).cos()) as f32;
                    f.vectors_mm[[k, j, i, 2]] = (0.3 * (x.x / 5.0).sin()) as f32;
                }
            }
        }
        let inv = f.inverse(20);
        let p = Point3::new(1.0, -2.0, 3.0);
        let back = f.transform_point(&inv.transform_point(&p));
        assert!((back - p).norm() < 0.05, "{}", (back - p).norm());
    }
}
