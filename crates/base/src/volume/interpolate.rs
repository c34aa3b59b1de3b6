//! Point sampling of voxel grids at continuous indices, with ITK's edge rules: a point is
//! inside when each index coordinate is in `[-0.5, size - 0.5)`; trilinear neighbours
//! beyond the last voxel are clamped to it.

use nalgebra::Vector3;

/// How values between voxel centres are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Interpolation {
    /// The nearest voxel (ties round up, as ITK).
    Nearest,
    /// Trilinear.
    #[default]
    Linear,
}

/// The 8 neighbours (flat offsets into a `[k][j][i]` buffer) and weights of a trilinear
/// sample, or None outside the buffer.
#[inline]
pub fn linear_stencil(size: [usize; 3], idx: Vector3<f64>) -> Option<([usize; 8], [f32; 8])> {
    let mut base = [0usize; 3];
    let mut next = [0usize; 3];
    let mut frac = [0f64; 3];
    for a in 0..3 {
        let x = idx[a];
        let n = size[a];
        if !(x >= -0.5 && x < n as f64 - 0.5) {
            return None;
        }
        let f = x.floor();
        let b = f as i64;
        let t = x - f;
        let b0 = b.clamp(0, n as i64 - 1) as usize;
        let b1 = (b + 1).clamp(0, n as i64 - 1) as usize;
        base[a] = b0;
        next[a] = b1;
        frac[a] = t;
    }
    let (ni, nj) = (size[0], size[1]);
    let at = |i: usize, j: usize, k: usize| (k * nj + j) * ni + i;
    let (fx, fy, fz) = (frac[0], frac[1], frac[2]);
    let offsets = [
        at(base[0], base[1], base[2]),
        at(next[0], base[1], base[2]),
        at(base[0], next[1], base[2]),
        at(next[0], next[1], base[2]),
        at(base[0], base[1], next[2]),
        at(next[0], base[1], next[2]),
        at(base[0], next[1], next[2]),
        at(next[0], next[1], next[2]),
    ];
    let weights = [
        (1.0 - fx) * (1.0 - fy) * (1.0 - fz),
        fx * (1.0 - fy) * (1.0 - fz),
        (1.0 - fx) * fy * (1.0 - fz),
        fx * fy * (1.0 - fz),
        (1.0 - fx) * (1.0 - fy) * fz,
        fx * (1.0 - fy) * fz,
        (1.0 - fx) * fy * fz,
        fx * fy * fz,
    ]
    .map(|w| w as f32);
    Some((offsets, weights))
}

/// Trilinear sample of a `[k][j][i]` buffer; None outside.
#[inline]
pub fn sample_linear(data: &[f32], size: [usize; 3], idx: Vector3<f64>) -> Option<f32> {
    let (o, w) = linear_stencil(size, idx)?;
    let mut acc = 0f32;
    for n in 0..8 {
        acc += w[n] * data[o[n]];
    }
    Some(acc)
}

/// Nearest-neighbour sample of a `[k][j][i]` buffer; None outside.
#[inline]
pub fn sample_nearest(data: &[f32], size: [usize; 3], idx: Vector3<f64>) -> Option<f32> {
    let mut r = [0usize; 3];
    for a in 0..3 {
        let x = idx[a];
        if !(x >= -0.5 && x < size[a] as f64 - 0.5) {
            return None;
        }
        r[a] = ((x + 0.5).floor() as i64).clamp(0, size[a] as i64 - 1) as usize;
    }
    Some(data[(r[2] * size[1] + r[1]) * size[0] + r[0]])
}

/// Samples with the chosen interpolation.
#[inline]
pub fn sample(
    data: &[f32],
    size: [usize; 3],
    idx: Vector3<f64>,
    how: Interpolation,
) -> Option<f32> {
    match how {
        Interpolation::Nearest => sample_nearest(data, size, idx),
        Interpolation::Linear => sample_linear(data, size, idx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_reproduces_a_linear_function() {
        let size = [4, 5, 6];
        let f = |i: f64, j: f64, k: f64| 2.0 * i - 3.0 * j + 0.5 * k + 1.0;
        let mut data = vec![0f32; 120];
        for k in 0..6 {
            for j in 0..5 {
                for i in 0..4 {
                    data[(k * 5 + j) * 4 + i] = f(i as f64, j as f64, k as f64) as f32;
                }
            }
        }
        let p = Vector3::new(1.3, 2.7, 4.1);
        let v = sample_linear(&data, size, p).expect("inside");
        assert!((v as f64 - f(1.3, 2.7, 4.1)).abs() < 1e-4);
        // Edge: beyond the last centre but inside the half voxel, clamped.
        let e = sample_linear(&data, size, Vector3::new(3.4, 0.0, 0.0)).expect("inside");
        assert!((e as f64 - f(3.0, 0.0, 0.0)).abs() < 1e-5);
        assert!(sample_linear(&data, size, Vector3::new(3.5, 0.0, 0.0)).is_none());
        assert!(sample_linear(&data, size, Vector3::new(-0.51, 0.0, 0.0)).is_none());
        assert_eq!(
            sample_nearest(&data, size, Vector3::new(0.5, 0.0, 0.0)),
            Some(data[1])
        );
        assert_eq!(
            sample_nearest(&data, size, Vector3::new(0.49, 0.0, 0.0)),
            Some(data[0])
        );
    }
}
