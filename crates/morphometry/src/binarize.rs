//! Binarization of a grey-level region into bone and marrow, always within a mask:
//! the authors' local adaptive threshold (per 2D slice: mean of an 11 x 11 block minus an
//! offset of 1, as scikit-image's `threshold_local(method="mean")`), Otsu's global
//! threshold, or a fixed value; then removal of small bone objects and small marrow holes.

use rayon::prelude::*;

use srrd_base::volume::components::label_components;

/// How grey values become bone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// Per-slice local mean over a `block` x `block` window, minus `offset`.
    Local { block: usize, offset: f32 },
    /// Otsu's threshold of the values inside the mask (256 bins).
    Otsu,
    /// A fixed value.
    Value(f32),
}

/// Which side of the threshold is bone: bright (CT, micro-CT) or dark (MR: trabeculae
/// are dark against bright marrow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BonePolarity {
    Bright,
    Dark,
}

/// Bone voxels (true) of a `[k][j][i]` grey grid; false outside the mask.
pub fn binarize(
    values: &[f32],
    mask: &[bool],
    size: [usize; 3],
    threshold: Threshold,
    polarity: BonePolarity,
    min_object_voxels: usize,
) -> Vec<bool> {
    let [ni, nj, _] = size;
    let is_bone = |v: f32, t: f32| match polarity {
        BonePolarity::Bright => v > t,
        BonePolarity::Dark => v <= t,
    };
    let mut bone: Vec<bool> = match threshold {
        Threshold::Value(t) => values
            .par_iter()
            .zip(mask.par_iter())
            .map(|(v, m)| *m && is_bone(*v, t))
            .collect(),
        Threshold::Otsu => {
            let t = otsu(values, mask);
            values
                .par_iter()
                .zip(mask.par_iter())
                .map(|(v, m)| *m && is_bone(*v, t))
                .collect()
        }
        Threshold::Local { block, offset } => {
            let mut out = vec![false; values.len()];
            out.par_chunks_mut(ni * nj)
                .zip(values.par_chunks(ni * nj))
                .zip(mask.par_chunks(ni * nj))
                .for_each(|((o, v), m)| {
                    let mean = box_mean_reflect(v, ni, nj, block);
                    for n in 0..v.len() {
                        o[n] = m[n] && is_bone(v[n], mean[n] - offset);
                    }
                });
            out
        }
    };
    if min_object_voxels > 0 {
        remove_small(&mut bone, mask, size, min_object_voxels, true);
        remove_small(&mut bone, mask, size, min_object_voxels, false);
    }
    bone
}

/// Otsu's threshold of the finite values inside the mask (256 bins over their range).
pub fn otsu(values: &[f32], mask: &[bool]) -> f32 {
    let inside: Vec<f32> = values
        .iter()
        .zip(mask)
        .filter(|(v, m)| **m && v.is_finite())
        .map(|(v, _)| *v)
        .collect();
    let (lo, hi) = inside
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if inside.is_empty() || hi <= lo {
        return lo;
    }
    let bins = 256usize;
    let mut hist = vec![0f64; bins];
    for v in &inside {
        let b = (((v - lo) / (hi - lo)) * bins as f32) as usize;
        hist[b.min(bins - 1)] += 1.0;
    }
    let total: f64 = hist.iter().sum();
    let sum_all: f64 = hist.iter().enumerate().map(|(b, h)| b as f64 * h).sum();
    let (mut w0, mut sum0, mut best, mut best_b) = (0.0, 0.0, -1.0, 0usize);
    for (b, h) in hist.iter().enumerate() {
        w0 += h;
        sum0 += b as f64 * h;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_b = b;
        }
    }
    lo + (hi - lo) * (best_b as f32 + 1.0) / bins as f32
}

/// Mean over a `block` x `block` window with mirror ("reflect") edges, for one slice.
fn box_mean_reflect(v: &[f32], ni: usize, nj: usize, block: usize) -> Vec<f32> {
    let half = (block / 2) as i64;
    let reflect = |x: i64, n: usize| -> usize {
        let n = n as i64;
        let mut x = x;
        while x < 0 || x >= n {
            x = if x < 0 { -x - 1 } else { 2 * n - x - 1 };
        }
        x as usize
    };
    // Separable: rows then columns.
    let mut tmp = vec![0f32; v.len()];
    for j in 0..nj {
        for i in 0..ni {
            let mut s = 0f32;
            for d in -half..=half {
                s += v[j * ni + reflect(i as i64 + d, ni)];
            }
            tmp[j * ni + i] = s;
        }
    }
    let mut out = vec![0f32; v.len()];
    let area = (block * block) as f32;
    for j in 0..nj {
        for i in 0..ni {
            let mut s = 0f32;
            for d in -half..=half {
                s += tmp[reflect(j as i64 + d, nj) * ni + i];
            }
            out[j * ni + i] = s / area;
        }
    }
    out
}

/// Flips connected components (6-connected, inside the mask) of `value` that are smaller
/// than `min_voxels`: small bone specks become marrow, small marrow holes become bone.
fn remove_small(
    bone: &mut [bool],
    mask: &[bool],
    size: [usize; 3],
    min_voxels: usize,
    value: bool,
) {
    let within: Vec<bool> = bone
        .iter()
        .zip(mask)
        .map(|(b, m)| *m && *b == value)
        .collect();
    let (labels, sizes) = label_components(&within, size);
    for (b, l) in bone.iter_mut().zip(&labels) {
        if *l > 0 && sizes[*l as usize] < min_voxels {
            *b = !value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_splits_two_populations() {
        let values: Vec<f32> = (0..1000)
            .map(|n| {
                if n % 3 == 0 {
                    100.0 + (n % 7) as f32
                } else {
                    10.0 + (n % 5) as f32
                }
            })
            .collect();
        let mask = vec![true; values.len()];
        let t = otsu(&values, &mask);
        assert!(
            (14.0..100.0).contains(&t),
            "separates 10..14 from 100..106: {t}"
        );
    }

    #[test]
    fn local_threshold_finds_dark_lines_on_a_ramp() {
        // MR-like: bright marrow on a brightness ramp, dark one-pixel lines every 6 pixels.
        let (ni, nj) = (40, 30);
        let values: Vec<f32> = (0..ni * nj)
            .map(|n| {
                let (i, j) = (n % ni, n / ni);
                let base = 100.0 + 3.0 * i as f32 + j as f32;
                if i % 6 == 0 { base - 40.0 } else { base }
            })
            .collect();
        let mask = vec![true; values.len()];
        let bone = binarize(
            &values,
            &mask,
            [ni, nj, 1],
            Threshold::Local {
                block: 11,
                offset: 1.0,
            },
            BonePolarity::Dark,
            0,
        );
        for (n, b) in bone.iter().enumerate() {
            assert_eq!(*b, n % ni % 6 == 0, "pixel {n}");
        }
        // A global threshold cannot do this on a ramp.
        let global = binarize(
            &values,
            &mask,
            [ni, nj, 1],
            Threshold::Otsu,
            BonePolarity::Dark,
            0,
        );
        assert!((0..ni * nj).any(|n| global[n] != (n % ni % 6 == 0)));
    }

    #[test]
    fn small_objects_and_holes_are_removed_inside_mask_only() {
        let size = [10, 10, 1];
        let mut values = vec![0f32; 100];
        values[11] = 10.0; // a single bright speck
        for v in values.iter_mut().skip(50) {
            *v = 10.0; // a large bright block ...
        }
        values[77] = 0.0; // ... with a one-voxel hole
        let mut mask = vec![true; 100];
        mask[0] = false;
        let bone = binarize(
            &values,
            &mask,
            size,
            Threshold::Value(5.0),
            BonePolarity::Bright,
            3,
        );
        assert!(!bone[11], "speck removed");
        assert!(bone[77], "hole filled");
        assert!(!bone[0], "outside the mask is never bone");
    }
}
