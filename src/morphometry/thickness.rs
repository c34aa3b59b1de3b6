//! Local thickness by the direct 3D method of Hildebrand & Rüegsegger (1997), as BoneJ
//! computes it: the thickness at a point is the diameter of the largest ball that fits
//! inside the structure and contains the point.
//!
//! Discrete convention (documented in `morphometry/mod.rs`): a ball centred on voxel c has
//! radius `r = d(c) - h(c)`, where `d` is the distance to the nearest background voxel
//! centre and `h` is half a voxel along the direction of steepest descent of `d` (the
//! boundary lies halfway between voxel centres), or 0 when c is one of the two middle
//! voxels of an even-width section (its opposite neighbour is as deep as c). Plates of
//! any thickness t voxels then read exactly t, odd or even, in any axis orientation and
//! with anisotropic voxels. A voxel is covered by a ball when its centre is strictly
//! inside it.

use rayon::prelude::*;

use super::edt::squared_edt;

/// Local thickness (mm) of every voxel of `foreground` (0 elsewhere). Voxels where
/// `background` is true bound the structure; voxels that are neither (outside a mask, or
/// outside the grid) are cuts that do not bound it. Returns None when nothing bounds the
/// structure (no background voxel at all).
pub fn local_thickness(
    foreground: &[bool],
    background: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
) -> Option<Vec<f32>> {
    let [ni, nj, nk] = size;
    let n = ni * nj * nk;
    // EDT of "not background": distance to the nearest background voxel.
    let not_bg: Vec<bool> = background.par_iter().map(|b| !b).collect();
    let d: Vec<f64> = squared_edt(&not_bg, size, spacing_mm)
        .into_par_iter()
        .map(f64::sqrt)
        .collect();
    if foreground
        .iter()
        .zip(d.iter())
        .any(|(f, v)| *f && v.is_infinite())
    {
        return None;
    }
    let idx = |i: usize, j: usize, k: usize| (k * nj + j) * ni + i;
    // Ball radius per foreground voxel.
    let radius: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|c| {
            if !foreground[c] {
                return 0.0;
            }
            let (i, j, k) = (c % ni, (c / ni) % nj, c / (ni * nj));
            let coords = [i, j, k];
            let dims = [ni, nj, nk];
            let mut best: Option<(f64, usize, usize)> = None; // (d, axis, side)
            for axis in 0..3 {
                for side in 0..2 {
                    let x = coords[axis];
                    let nb = if side == 0 {
                        x.checked_sub(1)
                    } else {
                        (x + 1 < dims[axis]).then_some(x + 1)
                    };
                    if let Some(nb) = nb {
                        let mut p = coords;
                        p[axis] = nb;
                        let dn = d[idx(p[0], p[1], p[2])];
                        if best.is_none_or(|(bd, _, _)| dn < bd) {
                            best = Some((dn, axis, side));
                        }
                    }
                }
            }
            let dc = d[c];
            let Some((_, axis, side)) = best else {
                return dc;
            };
            let half = spacing_mm[axis] / 2.0;
            let x = coords[axis];
            let opposite = if side == 0 {
                (x + 1 < dims[axis]).then_some(x + 1)
            } else {
                x.checked_sub(1)
            };
            let plateau = opposite.is_some_and(|o| {
                let mut p = coords;
                p[axis] = o;
                d[idx(p[0], p[1], p[2])] >= dc - 1e-9
            });
            if plateau { dc } else { dc - half }
        })
        .collect();
    // Ridge: balls not contained in a face neighbour's ball. (Testing all 26 neighbours
    // prunes almost nothing more on discrete distance maps and costs more than it saves.)
    let mut offsets = Vec::with_capacity(6);
    for dk in -1i64..=1 {
        for dj in -1i64..=1 {
            for di in -1i64..=1 {
                if di.abs() + dj.abs() + dk.abs() == 1 {
                    let step = ((di as f64 * spacing_mm[0]).powi(2)
                        + (dj as f64 * spacing_mm[1]).powi(2)
                        + (dk as f64 * spacing_mm[2]).powi(2))
                    .sqrt();
                    offsets.push((di, dj, dk, step));
                }
            }
        }
    }
    let ridge: Vec<(usize, usize, usize, f64)> = (0..n)
        .into_par_iter()
        .filter_map(|c| {
            if !foreground[c] {
                return None;
            }
            let (i, j, k) = (c % ni, (c / ni) % nj, c / (ni * nj));
            let r = radius[c];
            let interior = i > 0 && j > 0 && k > 0 && i + 1 < ni && j + 1 < nj && k + 1 < nk;
            for &(di, dj, dk, step) in &offsets {
                let (x, y, z) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
                if !interior
                    && (x < 0
                        || y < 0
                        || z < 0
                        || x >= ni as i64
                        || y >= nj as i64
                        || z >= nk as i64)
                {
                    continue;
                }
                let m = idx(x as usize, y as usize, z as usize);
                if foreground[m] && radius[m] >= r + step - 1e-9 {
                    return None;
                }
            }
            Some((i, j, k, r))
        })
        .collect();
    // Bucket ridge balls by slice, then paint each output slice in parallel.
    let mut by_slice: Vec<Vec<(usize, usize, f64)>> = vec![Vec::new(); nk];
    let mut r_max = 0f64;
    for &(i, j, k, r) in &ridge {
        by_slice[k].push((i, j, r));
        r_max = r_max.max(r);
    }
    let mut out: Vec<f32> = (0..n)
        .map(|c| {
            if foreground[c] {
                (2.0 * radius[c]) as f32
            } else {
                0.0
            }
        })
        .collect();
    let reach_k = (r_max / spacing_mm[2]).ceil() as usize + 1;
    // Paint in chunks of slices (several per thread for balance): each ball is visited by
    // the one or two chunks it reaches and painted there, clipped to the chunk.
    let plane = ni * nj;
    let chunk_k = nk.div_ceil(4 * rayon::current_num_threads()).max(1);
    let [si, sj, sk] = spacing_mm;
    out.par_chunks_mut(chunk_k * plane)
        .enumerate()
        .for_each(|(chunk, slabs)| {
            let k0 = chunk * chunk_k;
            let k1 = (k0 + slabs.len() / plane).min(nk); // exclusive
            let lo = k0.saturating_sub(reach_k);
            let hi = (k1 + reach_k).min(nk);
            for (kc, balls) in by_slice.iter().enumerate().take(hi).skip(lo) {
                for &(ic, jc, r) in balls {
                    let r2 = r * r;
                    let span_k = strict_span(r2, sk);
                    let z0 = kc.saturating_sub(span_k).max(k0);
                    let z1 = (kc + span_k + 1).min(k1);
                    let value = (2.0 * r) as f32;
                    for k in z0..z1 {
                        let dz = (k as f64 - kc as f64) * sk;
                        let rr = r2 - dz * dz;
                        let slab = &mut slabs[(k - k0) * plane..(k - k0 + 1) * plane];
                        let fg_slab = &foreground[k * plane..(k + 1) * plane];
                        // Rows outward from the centre: the i-span only shrinks, so it is
                        // found by stepping down, without a square root per row.
                        let span_j = strict_span(rr, sj);
                        let mut span_i = strict_span(rr, si);
                        for dj in 0..=span_j {
                            let dy = dj as f64 * sj;
                            let rem = rr - dy * dy;
                            while span_i > 0 && (span_i as f64 * si).powi(2) >= rem {
                                span_i -= 1;
                            }
                            let i0 = ic.saturating_sub(span_i);
                            let i1 = (ic + span_i).min(ni - 1);
                            let rows = [
                                jc.checked_sub(dj),
                                if dj > 0 && jc + dj < nj {
                                    Some(jc + dj)
                                } else {
                                    None
                                },
                            ];
                            for j in rows.into_iter().flatten() {
                                let row = &mut slab[j * ni + i0..=j * ni + i1];
                                let fg_row = &fg_slab[j * ni + i0..=j * ni + i1];
                                for (t, f) in row.iter_mut().zip(fg_row) {
                                    if *f && *t < value {
                                        *t = value;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });
    Some(out)
}

/// The largest whole number of steps `n` with `(n * step)^2 < limit` (strictly inside).
fn strict_span(limit: f64, step: f64) -> usize {
    if limit <= 0.0 {
        return 0;
    }
    let mut n = (limit.sqrt() / step).ceil() as usize;
    while n > 0 && (n as f64 * step).powi(2) >= limit {
        n -= 1;
    }
    n
}
