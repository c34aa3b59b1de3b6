//! Exact Euclidean distance transform in 3D with anisotropic spacing
//! (Felzenszwalb & Huttenlocher's separable lower envelope of parabolas), in parallel
//! over lines.
//!
//! Convention: the distance of a voxel is the distance (mm) from its centre to the centre
//! of the nearest *background* voxel inside the grid. Voxels outside the grid are not
//! background: a structure that touches a face of the grid is treated as continuing
//! beyond it (the face is a cut, not a surface of the structure). A grid with no
//! background at all gives infinite distances.

use rayon::prelude::*;

/// Squared distances (mm^2) to the nearest background voxel, for a `[k][j][i]` grid of
/// `size` (i, j, k) where `foreground[n]` is true for structure voxels.
pub fn squared_edt(foreground: &[bool], size: [usize; 3], spacing_mm: [f64; 3]) -> Vec<f64> {
    let [ni, nj, nk] = size;
    assert_eq!(foreground.len(), ni * nj * nk, "grid and mask sizes agree");
    let mut d: Vec<f64> = foreground
        .par_iter()
        .map(|&f| if f { f64::INFINITY } else { 0.0 })
        .collect();
    // Along i: contiguous rows of 0 / infinity, so two scans give the nearest background.
    let si = spacing_mm[0];
    d.par_chunks_mut(ni).for_each(|row| {
        // Forward: steps to the last background voxel at or before x; backward: the
        // nearer of that and the next one at or after x. Background voxels stay 0.
        let mut last: Option<usize> = None;
        for (x, v) in row.iter_mut().enumerate() {
            if *v == 0.0 {
                last = Some(x);
            }
            *v = last.map_or(f64::INFINITY, |l| (x - l) as f64);
        }
        let mut next: Option<usize> = None;
        for x in (0..row.len()).rev() {
            if row[x] == 0.0 {
                next = Some(x);
            }
            let steps = next.map_or(row[x], |l| row[x].min((l - x) as f64));
            row[x] = steps * steps * si * si;
        }
    });
    // Along j: within each k-slab, columns of stride ni.
    let w = spacing_mm[1] * spacing_mm[1];
    d.par_chunks_mut(ni * nj).for_each_init(
        || Scratch::new(nj),
        |s, slab| {
            let mut out = vec![0f64; nj];
            for i in 0..ni {
                for j in 0..nj {
                    s.f[j] = slab[j * ni + i];
                }
                lower_envelope(&s.f[..nj], w, &mut s.v, &mut s.z, &mut out);
                for j in 0..nj {
                    slab[j * ni + i] = out[j];
                }
            }
        },
    );
    // Along k: for each j, the rows (k, j) for all k form a tile; tasks own distinct j, so
    // they touch disjoint rows of `d`.
    let w = spacing_mm[2] * spacing_mm[2];
    if nk > 1 {
        let plane = ni * nj;
        let base = SharedRows(d.as_mut_ptr());
        (0..nj).into_par_iter().for_each_init(
            || (Scratch::new(nk), vec![0f64; ni * nk], vec![0f64; nk]),
            |(s, tile, out), j| {
                let base = &base;
                for k in 0..nk {
                    // SAFETY: row (k, j) lies inside `d` and only task j touches it.
                    let row =
                        unsafe { std::slice::from_raw_parts(base.0.add(k * plane + j * ni), ni) };
                    tile[k * ni..(k + 1) * ni].copy_from_slice(row);
                }
                for i in 0..ni {
                    for k in 0..nk {
                        s.f[k] = tile[k * ni + i];
                    }
                    lower_envelope(&s.f[..nk], w, &mut s.v, &mut s.z, out);
                    for k in 0..nk {
                        tile[k * ni + i] = out[k];
                    }
                }
                for k in 0..nk {
                    // SAFETY: as above; the rows of different j never overlap.
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(base.0.add(k * plane + j * ni), ni)
                    };
                    row.copy_from_slice(&tile[k * ni..(k + 1) * ni]);
                }
            },
        );
    }
    d
}

/// A pointer to the distance buffer shared by tasks that write disjoint rows.
struct SharedRows(*mut f64);
// SAFETY: used only where each task reads and writes its own, disjoint rows.
unsafe impl Sync for SharedRows {}
unsafe impl Send for SharedRows {}

struct Scratch {
    f: Vec<f64>,
    v: Vec<usize>,
    z: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            f: vec![0.0; n],
            v: vec![0; n],
            z: vec![0.0; n + 1],
        }
    }
}

/// 1D squared distance transform of sampled function `f` with squared step `w`
/// (`out[x] = min_q f[q] + w (x - q)^2`), skipping infinite samples.
fn lower_envelope(f: &[f64], w: f64, v: &mut [usize], z: &mut [f64], out: &mut [f64]) {
    let n = f.len();
    let mut k: isize = -1;
    for q in 0..n {
        if !f[q].is_finite() {
            continue;
        }
        loop {
            if k < 0 {
                k = 0;
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                break;
            }
            let p = v[k as usize];
            let s = ((f[q] + w * (q * q) as f64) - (f[p] + w * (p * p) as f64))
                / (2.0 * w * (q as f64 - p as f64));
            if s <= z[k as usize] {
                k -= 1;
                continue;
            }
            k += 1;
            v[k as usize] = q;
            z[k as usize] = s;
            z[k as usize + 1] = f64::INFINITY;
            break;
        }
    }
    if k < 0 {
        out.iter_mut().for_each(|o| *o = f64::INFINITY);
        return;
    }
    let mut j = 0usize;
    for (x, o) in out.iter_mut().enumerate() {
        while z[j + 1] < x as f64 {
            j += 1;
        }
        let q = v[j];
        let dx = x as f64 - q as f64;
        *o = f[q] + w * dx * dx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(fg: &[bool], size: [usize; 3], sp: [f64; 3]) -> Vec<f64> {
        let [ni, nj, nk] = size;
        let mut out = vec![f64::INFINITY; fg.len()];
        for k in 0..nk {
            for j in 0..nj {
                for i in 0..ni {
                    let n = (k * nj + j) * ni + i;
                    if !fg[n] {
                        out[n] = 0.0;
                        continue;
                    }
                    for kk in 0..nk {
                        for jj in 0..nj {
                            for ii in 0..ni {
                                if !fg[(kk * nj + jj) * ni + ii] {
                                    let d = ((i as f64 - ii as f64) * sp[0]).powi(2)
                                        + ((j as f64 - jj as f64) * sp[1]).powi(2)
                                        + ((k as f64 - kk as f64) * sp[2]).powi(2);
                                    out[n] = out[n].min(d);
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_brute_force_on_random_anisotropic_grid() {
        let size = [9, 7, 6];
        let sp = [0.5, 0.8, 1.7];
        let mut state = 12345u64;
        let fg: Vec<bool> = (0..9 * 7 * 6)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) % 10 < 8
            })
            .collect();
        let fast = squared_edt(&fg, size, sp);
        let slow = brute(&fg, size, sp);
        for (a, b) in fast.iter().zip(slow.iter()) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    #[test]
    fn all_foreground_is_infinite() {
        let d = squared_edt(&[true; 8], [2, 2, 2], [1.0; 3]);
        assert!(d.iter().all(|v| v.is_infinite()));
    }
}
