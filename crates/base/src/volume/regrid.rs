//! Moving a volume between its own grid and a grid of another spacing over the same field
//! of view: the analysis works on the spacing the models were trained on, whatever the
//! scanner wrote, and its label maps and parameter maps go back to the scanner's grid.

use rayon::prelude::*;

use super::filter::{blur3, gaussian_kernel};
use super::geometry::Geometry;
use super::image::Volume;
use super::interpolate::Interpolation;
use super::labels::LabelMap;
use super::resample::resample;
use super::transform::AffineTransform;

/// The grid of `spacing_mm` with `g`'s direction and first voxel centre, covering `g`'s
/// extent (the last voxel centre within half a voxel of `g`'s last one).
pub fn grid_with_spacing(g: &Geometry, spacing_mm: [f64; 3]) -> Geometry {
    let extent = g.extent_mm();
    let size: [usize; 3] =
        std::array::from_fn(|a| ((extent[a] / spacing_mm[a]).round() as usize + 1).max(1));
    Geometry {
        size,
        spacing_mm: spacing_mm.into(),
        origin_mm: g.origin_mm,
        direction: g.direction,
    }
}

/// Whether two spacings are the same to 0.5%.
pub fn same_spacing(a: [f64; 3], b: [f64; 3]) -> bool {
    (0..3).all(|n| (a[n] - b[n]).abs() <= 0.005 * b[n])
}

/// `v` on a grid of `spacing_mm` over the same field of view (a copy when the spacing is
/// already that). Going coarser, each axis is first smoothed by a Gaussian whose variance
/// is the difference of the two voxel widths' box variances, `(t^2 - s^2) / 12`, so the
/// result sees what a scanner writing `spacing_mm` voxels would (noise averaged, no
/// aliasing); going finer, trilinear interpolation.
pub fn to_spacing(v: &Volume, spacing_mm: [f64; 3]) -> Volume {
    let g = &v.geometry;
    if same_spacing(g.spacing_mm.into(), spacing_mm) {
        return v.clone();
    }
    let target = grid_with_spacing(g, spacing_mm);
    // The target shares the source's origin and axes: along each axis its voxel n sits at
    // source index n * t / s. One separable pass per axis, each shrinking the data.
    let src = v.data.as_standard_layout();
    let Some(src) = src.as_slice() else {
        return v.clone();
    };
    let taps: Vec<Vec<(Vec<usize>, Vec<f32>)>> = (0..3)
        .map(|a| axis_taps(g.size[a], target.size[a], g.spacing_mm[a], spacing_mm[a]))
        .collect();
    let [ni, nj, nk] = g.size;
    let [mi, mj, mk] = target.size;
    // Along i: [nk][nj][ni] -> [nk][nj][mi].
    let mut x = vec![0f32; nk * nj * mi];
    x.par_chunks_mut(nj * mi).enumerate().for_each(|(k, out)| {
        for j in 0..nj {
            let row = &src[(k * nj + j) * ni..(k * nj + j + 1) * ni];
            for (o, (idx, w)) in out[j * mi..(j + 1) * mi].iter_mut().zip(&taps[0]) {
                *o = idx.iter().zip(w).map(|(n, w)| row[*n] * w).sum();
            }
        }
    });
    // Along j: -> [nk][mj][mi].
    let mut y = vec![0f32; nk * mj * mi];
    y.par_chunks_mut(mj * mi).enumerate().for_each(|(k, out)| {
        let slab = &x[k * nj * mi..(k + 1) * nj * mi];
        for (jo, (idx, w)) in taps[1].iter().enumerate() {
            let o = &mut out[jo * mi..(jo + 1) * mi];
            for (n, w) in idx.iter().zip(w) {
                let r = &slab[n * mi..(n + 1) * mi];
                for (a, b) in o.iter_mut().zip(r) {
                    *a += w * b;
                }
            }
        }
    });
    drop(x);
    // Along k: -> [mk][mj][mi].
    let plane = mj * mi;
    let mut z = vec![0f32; mk * plane];
    z.par_chunks_mut(plane)
        .zip(taps[2].par_iter())
        .for_each(|(o, (idx, w))| {
            for (n, w) in idx.iter().zip(w) {
                let r = &y[n * plane..(n + 1) * plane];
                for (a, b) in o.iter_mut().zip(r) {
                    *a += w * b;
                }
            }
        });
    let data = ndarray::Array3::from_shape_vec(target.shape_kji(), z)
        .unwrap_or_else(|_| ndarray::Array3::zeros(target.shape_kji()));
    Volume {
        geometry: target,
        data,
    }
}

/// Source indices and weights of each of `m` output samples along one axis, from `n`
/// source samples of spacing `s` to spacing `t` (same first sample): a Gaussian of the
/// box-variance difference `(t^2 - s^2) / 12` going coarser, linear interpolation going
/// finer; indices clamped at the ends (the edge voxel repeats).
fn axis_taps(n: usize, m: usize, s: f64, t: f64) -> Vec<(Vec<usize>, Vec<f32>)> {
    let sigma = ((t * t - s * s).max(0.0) / 12.0).sqrt() / s;
    let clamp = |q: i64| q.clamp(0, n as i64 - 1) as usize;
    (0..m)
        .map(|o| {
            let x = o as f64 * t / s;
            let (mut idx, mut w) = (Vec::new(), Vec::new());
            if sigma < 0.05 {
                let f = x.floor();
                let frac = x - f;
                idx.push(clamp(f as i64));
                w.push((1.0 - frac) as f32);
                idx.push(clamp(f as i64 + 1));
                w.push(frac as f32);
            } else {
                let r = (3.0 * sigma).ceil() as i64;
                let c = x.floor() as i64;
                let mut sum = 0.0;
                for q in c - r..=c + r + 1 {
                    let d = q as f64 - x;
                    let weight = (-d * d / (2.0 * sigma * sigma)).exp();
                    idx.push(clamp(q));
                    w.push(weight as f32);
                    sum += weight;
                }
                for v in &mut w {
                    *v /= sum as f32;
                }
            }
            (idx, w)
        })
        .collect()
}

/// Labels (or any piecewise-constant map) of `from` carried onto `to` by nearest
/// neighbour (see [`map_onto`]).
pub fn labels_onto(labels: &LabelMap, to: &Geometry) -> LabelMap {
    let from = labels.geometry();
    if from == to {
        return labels.clone();
    }
    let moved = nearest_onto(labels.labels(), from, to);
    LabelMap::filled_by(to.clone(), moved)
}

/// A piecewise-constant map (parameter maps: constant per patch) carried onto `to` by
/// nearest neighbour (ties up, as ITK); 0 more than one voxel of `v` outside it (within
/// one voxel, the edge voxel: the two grids' fields of view differ by a fraction of a
/// voxel at their ends).
pub fn map_onto(v: &Volume, to: &Geometry) -> Volume {
    if &v.geometry == to {
        return v.clone();
    }
    let src = v.data.as_standard_layout();
    let data = nearest_onto(src.as_slice().unwrap_or(&[]), &v.geometry, to);
    Volume {
        geometry: to.clone(),
        data: ndarray::Array3::from_shape_vec(to.shape_kji(), data)
            .unwrap_or_else(|_| ndarray::Array3::zeros(to.shape_kji())),
    }
}

/// The nearest-neighbour gather behind [`map_onto`]. When each axis of `from` runs along
/// one axis of `to` (grids on world axes, in any order or sign: every grid the analysis
/// makes), the source index is read from three small per-axis tables; otherwise it is
/// computed per voxel.
fn nearest_onto<T: Copy + Default + Send + Sync>(
    src: &[T],
    from: &Geometry,
    to: &Geometry,
) -> Vec<T> {
    let m = from.world_to_index_matrix() * to.index_to_world_matrix();
    let [si, sj, sk] = from.size;
    let [ti, tj, tk] = to.size;
    let mut out = vec![T::default(); ti * tj * tk];
    if src.len() != si * sj * sk {
        return out;
    }
    let pick = |x: f64, len: usize| -> Option<usize> {
        let r = (x + 0.5).floor();
        (r >= -1.0 && r <= len as f64).then(|| r.clamp(0.0, len as f64 - 1.0) as usize)
    };
    // For each source axis a: the one target axis it follows, if it follows one.
    let follows: Option<Vec<usize>> = (0..3)
        .map(|a| {
            let nz: Vec<usize> = (0..3).filter(|&b| m[(a, b)].abs() > 1e-9).collect();
            (nz.len() == 1).then(|| nz[0])
        })
        .collect();
    let len = [si, sj, sk];
    match follows {
        Some(b) => {
            let tables: Vec<Vec<Option<usize>>> = (0..3)
                .map(|a| {
                    (0..to.size[b[a]])
                        .map(|t| pick(m[(a, b[a])] * t as f64 + m[(a, 3)], len[a]))
                        .collect()
                })
                .collect();
            out.par_chunks_mut(ti * tj)
                .enumerate()
                .for_each(|(k, slab)| {
                    for j in 0..tj {
                        for i in 0..ti {
                            let t = [i, j, k];
                            let (Some(x), Some(y), Some(z)) =
                                (tables[0][t[b[0]]], tables[1][t[b[1]]], tables[2][t[b[2]]])
                            else {
                                continue;
                            };
                            slab[j * ti + i] = src[(z * sj + y) * si + x];
                        }
                    }
                });
        }
        None => {
            out.par_chunks_mut(ti * tj)
                .enumerate()
                .for_each(|(k, slab)| {
                    for j in 0..tj {
                        for i in 0..ti {
                            let idx = m * nalgebra::Vector4::new(i as f64, j as f64, k as f64, 1.0);
                            if let (Some(x), Some(y), Some(z)) =
                                (pick(idx[0], si), pick(idx[1], sj), pick(idx[2], sk))
                            {
                                slab[j * ti + i] = src[(z * sj + y) * si + x];
                            }
                        }
                    }
                });
        }
    }
    out
}

/// `v` on the models' working grid: axes along world (LPS) x, y, z, spacing `spacing_mm`.
/// A CT whose axes are world axes up to order and sign (feet first, a sagittal
/// reconstruction) is reordered exactly first; an oblique one (gantry tilt) is resampled
/// onto the world-aligned box around it. Then [`to_spacing`].
pub fn to_working_grid(v: &Volume, spacing_mm: [f64; 3]) -> Volume {
    if v.geometry.direction == nalgebra::Matrix3::identity() {
        return to_spacing(v, spacing_mm); // no reordering copy of a large CT
    }
    match axis_aligned(v) {
        Some(aligned) => to_spacing(&aligned, spacing_mm),
        None => {
            // Smooth as `to_spacing` does, along the source axes, then sample the box.
            let g = &v.geometry;
            let mut lo = [f64::INFINITY; 3];
            let mut hi = [f64::NEG_INFINITY; 3];
            for c in 0..8 {
                let idx = nalgebra::Vector3::from_fn(|a, _| {
                    if c >> a & 1 == 1 {
                        (g.size[a] - 1) as f64
                    } else {
                        0.0
                    }
                });
                let w = g.index_to_world(idx);
                for a in 0..3 {
                    lo[a] = lo[a].min(w[a]);
                    hi[a] = hi[a].max(w[a]);
                }
            }
            let size: [usize; 3] =
                std::array::from_fn(|a| ((hi[a] - lo[a]) / spacing_mm[a]).round() as usize + 1);
            let target = Geometry::new(size, spacing_mm, lo);
            let smoothed = to_spacing_smoothed(v, spacing_mm);
            resample(
                &smoothed,
                &target,
                &AffineTransform::identity(),
                Interpolation::Linear,
                edge_value(v),
            )
        }
    }
}

/// `v` with its voxels reordered so its axes are world x, y, z (identity direction), when
/// its direction is a signed permutation; the same voxels, values and world positions.
/// None for an oblique direction.
pub fn axis_aligned(v: &Volume) -> Option<Volume> {
    let g = &v.geometry;
    if g.direction == nalgebra::Matrix3::identity() {
        return Some(v.clone());
    }
    // For each world axis a: the source axis b along it and its sign.
    let mut from = [(0usize, 1.0f64); 3];
    for (a, slot) in from.iter_mut().enumerate() {
        let mut found = None;
        for b in 0..3 {
            let d = g.direction[(a, b)];
            if (d.abs() - 1.0).abs() < 1e-6 {
                found = Some((b, d.signum()));
            } else if d.abs() > 1e-6 {
                return None;
            }
        }
        *slot = found?;
    }
    let size: [usize; 3] = std::array::from_fn(|a| g.size[from[a].0]);
    let spacing: [f64; 3] = std::array::from_fn(|a| g.spacing_mm[from[a].0]);
    // The new first voxel: each source axis at its end nearest -world.
    let first = nalgebra::Vector3::from_fn(|b, _| {
        let a = (0..3).find(|&a| from[a].0 == b).unwrap_or(b);
        if from[a].1 < 0.0 {
            (g.size[b] - 1) as f64
        } else {
            0.0
        }
    });
    let origin = g.index_to_world(first);
    let out_g = Geometry::new(size, spacing, origin.coords.into());
    let src = v.data.as_standard_layout();
    let src = src.as_slice()?;
    let [si, sj, _] = g.size;
    Some(Volume::from_fn(out_g, |x, y, z| {
        let mut idx = [0usize; 3];
        for (a, n) in [x, y, z].into_iter().enumerate() {
            let (b, sign) = from[a];
            idx[b] = if sign < 0.0 { g.size[b] - 1 - n } else { n };
        }
        src[(idx[2] * sj + idx[1]) * si + idx[0]]
    }))
}

/// `v` smoothed (not resampled) as `to_spacing` smooths before going to `spacing_mm`.
fn to_spacing_smoothed(v: &Volume, spacing_mm: [f64; 3]) -> Volume {
    let g = &v.geometry;
    let kernels: Vec<Vec<f32>> = (0..3)
        .map(|a| {
            let (s, t) = (g.spacing_mm[a], spacing_mm[a]);
            gaussian_kernel(((t * t - s * s).max(0.0) / 12.0).sqrt() / s)
        })
        .collect();
    let mut smoothed = v.data.as_standard_layout().to_owned();
    if let Some(s) = smoothed.as_slice_mut() {
        blur3(s, g.size, &kernels);
    }
    Volume {
        geometry: g.clone(),
        data: smoothed,
    }
}

/// The value to pad with beyond the field of view: the volume's lowest (air on a CT).
fn edge_value(v: &Volume) -> f32 {
    v.min_max().map_or(0.0, |(lo, _)| lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_spacing_keeps_the_field_of_view_and_a_linear_ramp() {
        let g = Geometry::new([41, 31, 21], [0.5, 0.5, 1.5], [-10.0, 3.0, 7.0]);
        // A ramp along x survives smoothing (symmetric kernel) and linear interpolation,
        // away from the clamped edges.
        let v = Volume::from_fn(g.clone(), |i, j, k| (i as f32) * 0.5 + (j + k) as f32 * 0.0);
        let w = to_spacing(&v, [1.0, 1.0, 1.0]);
        assert_eq!(w.geometry.size, [21, 16, 31]);
        assert_eq!(w.geometry.origin_mm, g.origin_mm);
        for i in 3..18 {
            let x = w.get(i, 8, 15).unwrap_or(f32::NAN);
            assert!((x - i as f32).abs() < 1e-3, "x {i}: {x}");
        }
        let same = to_spacing(&v, [0.5, 0.5, 1.5]);
        assert_eq!(same.data, v.data);
    }

    #[test]
    fn coarser_spacing_smooths_by_the_difference_of_the_voxel_widths() {
        // White noise of SD 1 on 0.5 mm voxels, taken to 1 mm: the Gaussian of SD
        // sqrt((1 - 0.25) / 12) mm = 0.5 voxel per axis, sampled on the source voxel
        // centres, leaves an SD of the product over the axes of sqrt(sum of w^2).
        let g = Geometry::new([64, 64, 64], [0.5; 3], [0.0; 3]);
        let v = Volume::from_fn(g, |i, j, k| {
            let mut h = ((i as u64) << 40) ^ ((j as u64) << 20) ^ k as u64;
            for _ in 0..3 {
                h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                h ^= h >> 29;
            }
            ((h % 10_000) as f32 / 10_000.0 - 0.5) * 12f32.sqrt()
        });
        let w = to_spacing(&v, [1.0; 3]);
        let inner: Vec<f32> = w
            .data
            .slice(ndarray::s![4..28, 4..28, 4..28])
            .iter()
            .copied()
            .collect();
        let mean = inner.iter().sum::<f32>() / inner.len() as f32;
        let sd =
            (inner.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / inner.len() as f32).sqrt();
        let w = gaussian_kernel(0.5);
        let per_axis: f32 = w.iter().map(|x| x * x).sum::<f32>().sqrt();
        let expected = per_axis.powi(3);
        assert!((sd - expected).abs() < 0.03, "sd {sd}, expected {expected}");
        assert!(sd < 0.6, "the noise is averaged: {sd}");
    }

    #[test]
    fn a_feet_first_grid_is_reordered_exactly_onto_world_axes() {
        let d = nalgebra::Matrix3::from_diagonal(&nalgebra::Vector3::new(-1.0, 1.0, -1.0));
        let g = Geometry::new([5, 4, 3], [0.5, 0.7, 2.0], [10.0, -3.0, 8.0]).with_direction(d);
        let v = Volume::from_fn(g.clone(), |i, j, k| (i + 10 * j + 100 * k) as f32);
        let a = axis_aligned(&v).expect("a signed permutation");
        assert_eq!(a.geometry.direction, nalgebra::Matrix3::identity());
        for k in 0..3 {
            for j in 0..4 {
                for i in 0..5 {
                    let w = g.index_to_world(nalgebra::Vector3::new(i as f64, j as f64, k as f64));
                    let idx = a.geometry.world_to_index(&w).map(|x| x.round() as usize);
                    assert_eq!(a.get(idx.x, idx.y, idx.z), v.get(i, j, k));
                }
            }
        }
        let oblique =
            g.with_direction(nalgebra::Rotation3::from_euler_angles(0.2, 0.0, 0.0).into_inner());
        assert!(axis_aligned(&Volume::filled(oblique, 0.0)).is_none());
    }

    #[test]
    fn labels_go_back_onto_the_original_grid() {
        let g = Geometry::new([20, 20, 10], [0.5, 0.5, 2.0], [0.0; 3]);
        let labels = LabelMap::from_fn(g.clone(), |i, _, _| if i < 10 { 1 } else { 2 });
        let w = grid_with_spacing(&g, [1.0; 3]);
        let there = labels_onto(&labels, &w);
        assert_eq!(there.geometry(), &w);
        let back = labels_onto(&there, &g);
        let agree = (back.labels().iter().zip(labels.labels()))
            .filter(|(a, b)| a == b)
            .count();
        assert!(agree as f64 >= 0.9 * g.num_voxels() as f64, "{agree}");
    }
}
