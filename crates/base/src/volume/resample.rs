//! Resampling one volume onto another grid through a transform (ITK's
//! `ResampleImageFilter`): for each output voxel x, the value of `moving` at `T(x)`.

use nalgebra::{Matrix4, Vector3, Vector4};
use rayon::prelude::*;

use super::geometry::Geometry;
use super::image::Volume;
use super::interpolate::{Interpolation, sample};
use super::transform::PointTransform;

/// Resamples `moving` onto `reference` through `reference_to_moving` (ITK direction:
/// it maps output points to input points). Points that fall outside `moving` get `fill`.
pub fn resample(
    moving: &Volume,
    reference: &Geometry,
    reference_to_moving: &dyn PointTransform,
    interpolation: Interpolation,
    fill: f32,
) -> Volume {
    let [ni, nj, nk] = reference.size;
    let mut out = vec![fill; ni * nj * nk];
    let src = moving.data.as_standard_layout();
    let src = src.as_slice().expect("standard layout is contiguous");
    let msize = moving.geometry.size;
    match reference_to_moving.as_affine() {
        Some(affine) => {
            // One 4x4 matrix from output index to input index; step along rows.
            let world_to_world: Matrix4<f64> = {
                let mut m = affine.matrix.to_homogeneous();
                m.fixed_view_mut::<3, 1>(0, 3)
                    .copy_from(&affine.offset_mm());
                m
            };
            let idx_map = moving.geometry.world_to_index_matrix()
                * world_to_world
                * reference.index_to_world_matrix();
            let step: Vector3<f64> = idx_map.fixed_view::<3, 1>(0, 0).into();
            out.par_chunks_mut(ni * nj)
                .enumerate()
                .for_each(|(k, slab)| {
                    for j in 0..nj {
                        let start = (idx_map * Vector4::new(0.0, j as f64, k as f64, 1.0)).xyz();
                        let row = &mut slab[j * ni..(j + 1) * ni];
                        for (i, v) in row.iter_mut().enumerate() {
                            let idx = start + step * i as f64;
                            if let Some(s) = sample(src, msize, idx, interpolation) {
                                *v = s;
                            }
                        }
                    }
                });
        }
        None => {
            out.par_chunks_mut(ni * nj)
                .enumerate()
                .for_each(|(k, slab)| {
                    for j in 0..nj {
                        for i in 0..ni {
                            let p = reference
                                .index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                            let q = reference_to_moving.transform_point(&p);
                            let idx = moving.geometry.world_to_index(&q);
                            if let Some(s) = sample(src, msize, idx, interpolation) {
                                slab[j * ni + i] = s;
                            }
                        }
                    }
                });
        }
    }
    let data = ndarray::Array3::from_shape_vec((nk, nj, ni), out).expect("shape matches");
    Volume {
        geometry: reference.clone(),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::field::DisplacementField;
    use crate::volume::transform::{AffineTransform, RigidTransform};
    use nalgebra::Rotation3;

    fn ramp() -> Volume {
        let rot = Rotation3::from_euler_angles(0.2, 0.1, -0.3).into_inner();
        let g = Geometry::new([16, 12, 10], [1.0, 1.2, 2.0], [3.0, -4.0, 5.0]).with_direction(rot);
        Volume::from_fn(g, |i, j, k| {
            (i * 3 + j * 7 + k * 11) as f32 + ((i * j + k) % 5) as f32
        })
    }

    #[test]
    fn identity_gives_same_volume() {
        let v = ramp();
        for how in [Interpolation::Nearest, Interpolation::Linear] {
            let r = resample(&v, &v.geometry, &AffineTransform::identity(), how, -1.0);
            let maxdiff = (&r.data - &v.data)
                .mapv(f32::abs)
                .fold(0f32, |a, &b| a.max(b));
            assert!(maxdiff < 1e-3, "{how:?}: {maxdiff}");
        }
    }

    #[test]
    fn shift_by_one_voxel_shifts_data() {
        let v = ramp();
        // Output x samples the input at x + one voxel along i.
        let step = v.geometry.direction.column(0) * v.geometry.spacing_mm[0];
        let t = AffineTransform::translation(step);
        let r = resample(&v, &v.geometry, &t, Interpolation::Linear, -1.0);
        let [ni, nj, nk] = v.geometry.size;
        for k in 0..nk {
            for j in 0..nj {
                for i in 0..ni - 1 {
                    assert!((r.data[[k, j, i]] - v.data[[k, j, i + 1]]).abs() < 1e-3);
                }
                assert_eq!(
                    r.data[[k, j, ni - 1]],
                    -1.0,
                    "beyond the edge gets the fill value"
                );
            }
        }
    }

    #[test]
    fn affine_fast_path_equals_generic_path() {
        let v = ramp();
        let rt = RigidTransform::from_euler_zxy(
            [0.05, -0.1, 0.2],
            Vector3::new(0.7, -0.3, 1.1),
            v.geometry.center_mm(),
        );
        let field = DisplacementField::from_transform(
            Geometry::new([90, 90, 90], [1.0, 1.0, 1.0], [-45.0, -45.0, -45.0]),
            &rt,
        );
        let out_grid = Geometry::new([14, 10, 8], [1.1, 1.3, 1.9], [2.0, -3.0, 6.0]);
        let fast = resample(&v, &out_grid, &rt, Interpolation::Linear, 0.0);
        let generic = resample(&v, &out_grid, &field, Interpolation::Linear, 0.0);
        // A rigid map is linear, so its trilinearly interpolated field reproduces it.
        let mut n = 0;
        for (a, b) in fast.data.iter().zip(generic.data.iter()) {
            if *a != 0.0 && *b != 0.0 {
                assert!((a - b).abs() < 1e-2, "{a} vs {b}");
                n += 1;
            }
        }
        assert!(n > 100);
    }
}
