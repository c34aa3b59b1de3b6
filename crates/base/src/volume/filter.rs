//! Separable Gaussian smoothing and shrinking (block averaging) of volumes: the image
//! pyramid of registration and the point-spread function of the phantom's CT.

use rayon::prelude::*;

use super::{Geometry, Volume};

/// Normalized Gaussian kernel of `sigma` samples (a delta when sigma is tiny).
pub fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    if sigma < 0.05 {
        return vec![1.0];
    }
    let r = (3.0 * sigma).ceil() as i32;
    let w: Vec<f64> = (-r..=r)
        .map(|x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| (v / s) as f32).collect()
}

/// Separable convolution of a `[k][j][i]` grid along i, j, k with clamped edges.
pub fn blur3(v: &mut [f32], size: [usize; 3], kernels: &[Vec<f32>]) {
    let [ni, nj, _] = size;
    let plane = ni * nj;
    let strides = [1usize, ni, plane];
    for axis in 0..3 {
        let k = &kernels[axis];
        if k.len() == 1 {
            continue;
        }
        let r = (k.len() / 2) as isize;
        let src = v.to_vec();
        let (len, stride) = (size[axis] as isize, strides[axis]);
        v.par_chunks_mut(plane).enumerate().for_each(|(kk, out)| {
            for j in 0..nj {
                for i in 0..ni {
                    let idx = kk * plane + j * ni + i;
                    let pos = [i, j, kk][axis] as isize;
                    let base = idx - pos as usize * stride;
                    let mut s = 0.0f32;
                    for (t, w) in k.iter().enumerate() {
                        let q = (pos + t as isize - r).clamp(0, len - 1) as usize;
                        s += w * src[base + q * stride];
                    }
                    out[j * ni + i] = s;
                }
            }
        });
    }
}

/// Gaussian smoothing with `sigma_mm` (same in every direction, in mm).
pub fn smooth(v: &Volume, sigma_mm: f64) -> Volume {
    let g = &v.geometry;
    let kernels: Vec<Vec<f32>> = (0..3)
        .map(|a| gaussian_kernel(sigma_mm / g.spacing_mm[a]))
        .collect();
    let mut data = v.data.as_standard_layout().to_owned();
    if let Some(s) = data.as_slice_mut() {
        blur3(s, g.size, &kernels);
    }
    Volume {
        geometry: g.clone(),
        data,
    }
}

/// Block factors that bring `g`'s spacing closest to `target_mm` without going finer.
pub fn shrink_factors(g: &Geometry, target_mm: f64) -> [usize; 3] {
    std::array::from_fn(|a| {
        ((target_mm / g.spacing_mm[a]).round() as usize)
            .max(1)
            .min(g.size[a].max(1))
    })
}

/// The grid of `g` shrunk by block factors `f` (each block's centre becomes a voxel).
pub fn shrunk_geometry(g: &Geometry, f: [usize; 3]) -> Geometry {
    let size: [usize; 3] = std::array::from_fn(|a| (g.size[a] / f[a]).max(1));
    let spacing: [f64; 3] = std::array::from_fn(|a| g.spacing_mm[a] * f[a] as f64);
    let shift = nalgebra::Vector3::from_fn(|a, _| g.spacing_mm[a] * (f[a] as f64 - 1.0) / 2.0);
    let origin = g.origin_mm + g.direction * shift;
    Geometry::new(size, spacing, origin.coords.into()).with_direction(g.direction)
}

/// Block-averages towards `target_mm`, then smooths (sigma = half the target spacing,
/// less what the block average already did): the block mean is the anti-aliasing filter,
/// so a 640x640x120 MR is never smoothed at full size.
pub fn smooth_and_shrink(v: &Volume, target_mm: f64) -> Volume {
    let f = shrink_factors(&v.geometry, target_mm);
    if f.iter().all(|x| *x == 1) {
        return v.clone();
    }
    let b = block_mean(v, f);
    // A box of width w has variance w^2 / 12; top up to (target / 2)^2 per axis.
    let g = &b.geometry;
    let kernels: Vec<Vec<f32>> = (0..3)
        .map(|a| {
            let want = (0.5 * target_mm).powi(2);
            let have = g.spacing_mm[a].powi(2) / 12.0;
            gaussian_kernel((want - have).max(0.0).sqrt() / g.spacing_mm[a])
        })
        .collect();
    let mut data = b.data;
    if let Some(s) = data.as_slice_mut() {
        blur3(s, g.size, &kernels);
    }
    Volume {
        geometry: b.geometry,
        data,
    }
}

/// Block average by factors `f`.
pub fn block_mean(v: &Volume, f: [usize; 3]) -> Volume {
    if f.iter().all(|x| *x == 1) {
        return v.clone();
    }
    let g = shrunk_geometry(&v.geometry, f);
    let [ni, nj, _] = v.geometry.size;
    let src = v.data.as_standard_layout();
    let src = src.as_slice().unwrap_or(&[]);
    let [mi, mj, mk] = g.size;
    let mut out = vec![0.0f32; mi * mj * mk];
    let norm = 1.0 / (f[0] * f[1] * f[2]) as f32;
    out.par_chunks_mut(mi * mj)
        .enumerate()
        .for_each(|(k, plane)| {
            for j in 0..mj {
                for i in 0..mi {
                    let mut s = 0.0f32;
                    for c in 0..f[2] {
                        for b in 0..f[1] {
                            let row = ((k * f[2] + c) * nj + j * f[1] + b) * ni + i * f[0];
                            s += src[row..row + f[0]].iter().sum::<f32>();
                        }
                    }
                    plane[j * mi + i] = s * norm;
                }
            }
        });
    let data = ndarray::Array3::from_shape_vec((mk, mj, mi), out)
        .unwrap_or_else(|_| ndarray::Array3::zeros((mk, mj, mi)));
    Volume { geometry: g, data }
}

/// The sub-volume of index range `lo..=hi` (per axis), world positions kept.
pub fn crop(v: &Volume, lo: [usize; 3], hi: [usize; 3]) -> Volume {
    let g = &v.geometry;
    let hi: [usize; 3] = std::array::from_fn(|a| hi[a].min(g.size[a] - 1).max(lo[a]));
    let size: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a] + 1);
    let origin = g.index_to_world(nalgebra::Vector3::new(
        lo[0] as f64,
        lo[1] as f64,
        lo[2] as f64,
    ));
    let geometry =
        Geometry::new(size, g.spacing_mm.into(), origin.coords.into()).with_direction(g.direction);
    let data = v
        .data
        .slice(ndarray::s![lo[2]..=hi[2], lo[1]..=hi[1], lo[0]..=hi[0]])
        .to_owned();
    Volume { geometry, data }
}

/// Index bounding box (lo, hi inclusive) of a `[k][j][i]` mask, grown by `margin` voxels
/// per axis and clipped to the grid; None for an empty mask.
pub fn bounding_box(
    mask: &[bool],
    size: [usize; 3],
    margin: [usize; 3],
) -> Option<([usize; 3], [usize; 3])> {
    let [ni, nj, _] = size;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for (n, m) in mask.iter().enumerate() {
        if *m {
            let idx = [n % ni, (n / ni) % nj, n / (ni * nj)];
            for a in 0..3 {
                lo[a] = lo[a].min(idx[a]);
                hi[a] = hi[a].max(idx[a]);
            }
        }
    }
    if lo[0] == usize::MAX {
        return None;
    }
    Some((
        std::array::from_fn(|a| lo[a].saturating_sub(margin[a])),
        std::array::from_fn(|a| (hi[a] + margin[a]).min(size[a] - 1)),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn crop_keeps_world_positions() {
        let g = Geometry::new([6, 5, 4], [0.5, 1.0, 2.0], [1.0, 2.0, 3.0]);
        let v = Volume::from_fn(g.clone(), |i, j, k| (i + 10 * j + 100 * k) as f32);
        let mut mask = vec![false; 120];
        mask[(2 * 5 + 3) * 6 + 4] = true;
        let (lo, hi) = bounding_box(&mask, g.size, [1, 1, 0]).expect("box");
        assert_eq!((lo, hi), ([3, 2, 2], [5, 4, 2]));
        let c = crop(&v, lo, hi);
        assert_eq!(c.geometry.size, [3, 3, 1]);
        let p = c
            .geometry
            .index_to_world(nalgebra::Vector3::new(1.0, 1.0, 0.0));
        let q = g.index_to_world(nalgebra::Vector3::new(4.0, 3.0, 2.0));
        assert!((p - q).norm() < 1e-12);
        assert_eq!(c.data[[0, 1, 1]], v.data[[2, 3, 4]]);
        assert!(bounding_box(&[false; 4], [2, 2, 1], [0; 3]).is_none());
    }

    use super::*;

    #[test]
    fn blur_keeps_constants_and_mass() {
        let k = gaussian_kernel(0.8);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let size = [9, 8, 7];
        let mut v = vec![5.0f32; 9 * 8 * 7];
        blur3(&mut v, size, &[k.clone(), k.clone(), k.clone()]);
        assert!(v.iter().all(|x| (x - 5.0).abs() < 1e-4));
        let mut d = vec![0.0f32; 9 * 8 * 7];
        d[(3 * 8 + 4) * 9 + 4] = 1.0;
        blur3(&mut d, size, &[k.clone(), k.clone(), k]);
        assert!((d.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(d[(3 * 8 + 4) * 9 + 4] < 0.5);
    }

    #[test]
    fn shrinking_keeps_world_positions_and_means() {
        let g = Geometry::new([8, 6, 4], [0.5, 0.5, 2.0], [10.0, -3.0, 1.0]);
        // A linear ramp in world x: block means equal the ramp at block centres.
        let v = Volume::from_fn(g.clone(), |i, _, _| 10.0 + 0.5 * i as f32);
        let s = block_mean(&v, [2, 3, 1]);
        assert_eq!(s.geometry.size, [4, 2, 4]);
        for i in 0..4 {
            let p = s
                .geometry
                .index_to_world(nalgebra::Vector3::new(i as f64, 0.0, 0.0));
            assert!((s.data[[0, 0, i]] as f64 - p.x).abs() < 1e-5);
        }
        assert_eq!(shrink_factors(&g, 1.0), [2, 2, 1]);
    }
}
