//! Maps that help a reader judge a registration, each a volume on the fixed image's grid
//! (NaN where there is nothing to show): the CT's bone edges (to lay over the MR), the
//! local similarity of the CT and the registered MR (|local NCC|), and the refined
//! field's Jacobian determinant (below 0: the field folds).

use rayon::prelude::*;

use srrd_base::volume::{DisplacementField, Volume};

/// 1 on the boundary of the CT's bone (voxels at or above `threshold_hu` with a
/// 6-neighbour below it), NaN elsewhere: a thin outline to lay over the MR.
pub fn bone_edges(ct: &Volume, threshold_hu: f32) -> Volume {
    let g = ct.geometry.clone();
    let [ni, nj, nk] = g.size;
    let at = |i: usize, j: usize, k: usize| ct.get(i, j, k).unwrap_or(f32::NAN);
    Volume::from_fn(g, |i, j, k| {
        if at(i, j, k) < threshold_hu || at(i, j, k).is_nan() {
            return f32::NAN;
        }
        let mut below = false;
        for (di, dj, dk) in [
            (1i64, 0i64, 0i64),
            (-1, 0, 0),
            (0, 1, 0),
            (0, -1, 0),
            (0, 0, 1),
            (0, 0, -1),
        ] {
            let (x, y, z) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
            if x < 0 || y < 0 || z < 0 || x >= ni as i64 || y >= nj as i64 || z >= nk as i64 {
                continue;
            }
            below |= at(x as usize, y as usize, z as usize) < threshold_hu;
        }
        if below { 1.0 } else { f32::NAN }
    })
}

/// Sums of `v` over a box of `r[a]` voxels either side along each axis (clipped at the
/// grid's faces), by running sums along each axis in turn.
fn box_sum(v: &[f64], size: [usize; 3], r: [usize; 3]) -> Vec<f64> {
    let [ni, nj, nk] = size;
    let stride = [1, ni, ni * nj];
    let mut cur = v.to_vec();
    for a in 0..3 {
        let n = size[a];
        let lines: Vec<usize> = (0..ni * nj * nk)
            .filter(|&x| (x / stride[a]) % n == 0)
            .collect();
        let mut out = vec![0.0; cur.len()];
        let results: Vec<(usize, Vec<f64>)> = lines
            .par_iter()
            .map(|&start| {
                let mut prefix = vec![0.0; n + 1];
                for t in 0..n {
                    prefix[t + 1] = prefix[t] + cur[start + t * stride[a]];
                }
                let sums = (0..n)
                    .map(|t| {
                        let lo = t.saturating_sub(r[a]);
                        let hi = (t + r[a] + 1).min(n);
                        prefix[hi] - prefix[lo]
                    })
                    .collect();
                (start, sums)
            })
            .collect();
        for (start, sums) in results {
            for (t, s) in sums.into_iter().enumerate() {
                out[start + t * stride[a]] = s;
            }
        }
        cur = out;
    }
    cur
}

/// |local normalized cross-correlation| of `fixed` and `moving` (the registered image,
/// on the fixed grid) over a box of about `radius_mm` either side: near 1 where the two
/// images' structures line up (of either contrast sign, as bone is bright on CT and dark
/// on MR), near 0 where they do not; NaN where either image is flat or missing. A
/// `moving` on another grid is an error.
pub fn local_similarity(
    fixed: &Volume,
    moving: &Volume,
    radius_mm: f64,
) -> srrd_base::error::Result<Volume> {
    let g = &fixed.geometry;
    if moving.geometry.size != g.size {
        return Err(srrd_base::error::Error::invalid(format!(
            "the similarity map needs the registered image on the fixed grid ({:?}, got {:?})",
            g.size, moving.geometry.size
        )));
    }
    let r = [0, 1, 2].map(|a| ((radius_mm / g.spacing_mm[a]).round() as usize).max(1));
    let a_std = fixed.data.as_standard_layout();
    let b_std = moving.data.as_standard_layout();
    let (a, b) = (
        a_std.as_slice().unwrap_or(&[]),
        b_std.as_slice().unwrap_or(&[]),
    );
    let valid: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            if x.is_finite() && y.is_finite() {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let clean = |v: &[f32]| -> Vec<f64> {
        v.iter()
            .zip(&valid)
            .map(|(x, ok)| if *ok > 0.0 { *x as f64 } else { 0.0 })
            .collect()
    };
    let (x, y) = (clean(a), clean(b));
    let prod = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(u, v)| u * v).collect::<Vec<f64>>();
    let n = box_sum(&valid, g.size, r);
    let sx = box_sum(&x, g.size, r);
    let sy = box_sum(&y, g.size, r);
    let sxx = box_sum(&prod(&x, &x), g.size, r);
    let syy = box_sum(&prod(&y, &y), g.size, r);
    let sxy = box_sum(&prod(&x, &y), g.size, r);
    Ok(Volume::from_fn(g.clone(), |i, j, k| {
        let m = g.index(i, j, k);
        if valid[m] == 0.0 || n[m] < 8.0 {
            return f32::NAN;
        }
        let cov = sxy[m] - sx[m] * sy[m] / n[m];
        let vx = sxx[m] - sx[m] * sx[m] / n[m];
        let vy = syy[m] - sy[m] * sy[m] / n[m];
        // Flat neighbourhoods (relative to the values' size) say nothing.
        let scale = |s2: f64| 1e-6 * (s2 / n[m]).max(1e-12) * n[m];
        if vx <= scale(sxx[m]) || vy <= scale(syy[m]) {
            return f32::NAN;
        }
        (cov / (vx * vy).sqrt()).abs() as f32
    }))
}

/// The Jacobian determinant of the map `x -> x + u(x)` of a displacement field, per
/// voxel (central differences; NaN on the grid's faces). 1: volume kept, above 1: the
/// moving image is stretched, at or below 0: the field folds there.
pub fn jacobian_map(field: &DisplacementField) -> Volume {
    let g = field.geometry.clone();
    let [ni, nj, nk] = g.size;
    let u = &field.vectors_mm;
    let sign = g.direction.determinant().signum();
    let dir = g.direction;
    let sp = g.spacing_mm;
    Volume::from_fn(g, move |i, j, k| {
        if i == 0 || j == 0 || k == 0 || i + 1 >= ni || j + 1 >= nj || k + 1 >= nk {
            return f32::NAN;
        }
        let vec = |i: usize, j: usize, k: usize| {
            nalgebra::Vector3::new(
                u[[k, j, i, 0]] as f64,
                u[[k, j, i, 1]] as f64,
                u[[k, j, i, 2]] as f64,
            )
        };
        let du = [
            (vec(i + 1, j, k) - vec(i - 1, j, k)) / (2.0 * sp[0]),
            (vec(i, j + 1, k) - vec(i, j - 1, k)) / (2.0 * sp[1]),
            (vec(i, j, k + 1) - vec(i, j, k - 1)) / (2.0 * sp[2]),
        ];
        // Column a: the map's derivative along grid axis a (a unit world direction).
        let cols = [0, 1, 2].map(|a| dir.column(a).into_owned() + du[a]);
        (nalgebra::Matrix3::from_columns(&cols).determinant() * sign) as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Matrix3, Point3, Vector3};
    use srrd_base::volume::{AffineTransform, Geometry};

    fn oblique(size: [usize; 3], spacing: [f64; 3]) -> Geometry {
        let mut g = Geometry::new(size, spacing, [-20.0, -15.0, -10.0]);
        let r = nalgebra::Rotation3::from_euler_angles(0.2, -0.1, 0.3);
        g.direction = r.into_inner();
        g
    }

    #[test]
    fn the_jacobian_of_a_scaling_is_its_volume_change() {
        let g = oblique([20, 18, 16], [1.0, 1.2, 1.5]);
        let scale = AffineTransform::from_matrix_offset(
            Matrix3::from_diagonal(&Vector3::new(1.1, 1.0, 0.9)),
            Vector3::new(2.0, 0.0, -1.0),
            Point3::origin(),
        );
        let field = DisplacementField::from_transform(g, &scale);
        let j = jacobian_map(&field);
        let inside: Vec<f32> = j.data.iter().copied().filter(|v| v.is_finite()).collect();
        assert_eq!(inside.len(), 18 * 16 * 14);
        for v in inside {
            assert!((v - 0.99).abs() < 1e-4, "{v}");
        }
        // A reflection folds: negative everywhere.
        let flip = AffineTransform::from_matrix_offset(
            Matrix3::from_diagonal(&Vector3::new(-1.0, 1.0, 1.0)),
            Vector3::zeros(),
            Point3::origin(),
        );
        let j = jacobian_map(&DisplacementField::from_transform(
            field.geometry.clone(),
            &flip,
        ));
        assert!(
            j.data
                .iter()
                .filter(|v| v.is_finite())
                .all(|v| (*v + 1.0).abs() < 1e-4)
        );
    }

    #[test]
    fn similarity_is_one_for_the_same_structure_and_low_for_unrelated_noise() {
        let g = oblique([24, 24, 24], [1.0, 1.0, 2.0]);
        let c = g.center_mm();
        let ball = |p: Point3<f64>| if (p - c).norm() < 12.0 { 1000.0 } else { 0.0 };
        let ct = Volume::from_fn(g.clone(), |i, j, k| {
            ball(g.index_to_world(Vector3::new(i as f64, j as f64, k as f64)))
        });
        // The MR shows the same ball dark on bright: |NCC| = 1 at the ball's edge.
        let mr = Volume::from_fn(g.clone(), |i, j, k| {
            200.0 - 0.1 * ball(g.index_to_world(Vector3::new(i as f64, j as f64, k as f64)))
        });
        let s = local_similarity(&ct, &mr, 3.0).expect("map");
        let edge: Vec<f32> = s.data.iter().copied().filter(|v| v.is_finite()).collect();
        assert!(!edge.is_empty());
        assert!(
            edge.iter().all(|v| (*v - 1.0).abs() < 1e-3),
            "{:?}",
            &edge[..5]
        );
        // Unrelated noise: low on average.
        let mut seed = 7u64;
        let noise = Volume::from_fn(g.clone(), |i, j, k| {
            let mut h = (i * 7919 + j * 104729 + k * 1299709) as u64 ^ seed;
            h = h
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((h >> 33) % 1000) as f32
        });
        seed += 1;
        let _ = seed;
        let s = local_similarity(&ct, &noise, 3.0).expect("map");
        let vals: Vec<f32> = s.data.iter().copied().filter(|v| v.is_finite()).collect();
        let mean = vals.iter().sum::<f32>() / vals.len() as f32;
        assert!(mean < 0.3, "{mean}");
        // Another grid is refused.
        let small = Volume::from_fn(Geometry::new([4, 4, 4], [1.0; 3], [0.0; 3]), |_, _, _| 0.0);
        assert!(local_similarity(&ct, &small, 3.0).is_err());
    }

    #[test]
    fn bone_edges_lie_on_the_surface() {
        let g = oblique([40, 40, 30], [0.8, 0.8, 1.1]);
        let c = g.center_mm();
        let r = 10.0;
        let ct = Volume::from_fn(g.clone(), |i, j, k| {
            let p = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
            if (p - c).norm() < r { 800.0 } else { -50.0 }
        });
        let e = bone_edges(&ct, 250.0);
        let mut count = 0;
        for (n, v) in e.data.iter().enumerate() {
            if v.is_finite() {
                count += 1;
                let d = (g.voxel_world(n) - c).norm();
                assert!(d < r && d > r - 1.2, "{d}");
            }
        }
        assert!(count > 500, "{count}");
    }
}
