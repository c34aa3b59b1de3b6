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
//! inside it (a centre exactly on the sphere is not covered; see `coverage_r2`).
//!
//! Steps: exact EDT, ball radii, the ridge (balls whose covered voxels are not all
//! covered by a face, edge or corner neighbour's larger ball, tested exactly on the voxel
//! sets by `Containment`: 35% of the foreground on trabecular bone), then painting the
//! ridge balls slab by slab in parallel, each voxel keeping the largest diameter.

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
    let radius = ball_radii(foreground, background, size, spacing_mm)?;
    // Ridge: balls whose voxel set is not contained in a neighbour's (see `Containment`),
    // gathered per slice for painting.
    let r_max = radius.iter().cloned().fold(0.0, f64::max);
    let table = Containment::new(r_max, spacing_mm);
    let plane = ni * nj;
    let by_slice: Vec<Vec<(usize, usize, f64)>> = (0..nk)
        .into_par_iter()
        .map(|k| {
            let mut balls = Vec::new();
            for j in 0..nj {
                for i in 0..ni {
                    let c = k * plane + j * ni + i;
                    if foreground[c] && !table.is_contained(c, [i, j, k], size, &radius, foreground)
                    {
                        balls.push((i, j, radius[c]));
                    }
                }
            }
            balls
        })
        .collect();
    let mut out: Vec<f32> = (0..n)
        .into_par_iter()
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
                    let r2 = coverage_r2(r);
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

/// The radius (mm) of the ball centred on each foreground voxel (0 elsewhere), by the
/// convention in the module comment; None when nothing bounds the structure.
fn ball_radii(
    foreground: &[bool],
    background: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
) -> Option<Vec<f64>> {
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
    // Ball radius per foreground voxel: d, less half a voxel along the steepest descent
    // of d unless the opposite neighbour is as deep (the middle of an even section).
    let plane = ni * nj;
    let strides = [1, ni, plane];
    let dims = [ni, nj, nk];
    let mut radius = vec![0f64; n];
    radius
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(k, slab)| {
            for j in 0..nj {
                for i in 0..ni {
                    let c = k * plane + j * ni + i;
                    if !foreground[c] {
                        continue;
                    }
                    let coords = [i, j, k];
                    let mut best: Option<(f64, usize, bool)> = None; // (d, axis, downward)
                    for axis in 0..3 {
                        let (x, s) = (coords[axis], strides[axis]);
                        if x > 0 && best.is_none_or(|(bd, _, _)| d[c - s] < bd) {
                            best = Some((d[c - s], axis, true));
                        }
                        if x + 1 < dims[axis] && best.is_none_or(|(bd, _, _)| d[c + s] < bd) {
                            best = Some((d[c + s], axis, false));
                        }
                    }
                    let dc = d[c];
                    slab[j * ni + i] = match best {
                        None => dc,
                        Some((_, axis, downward)) => {
                            let (x, s) = (coords[axis], strides[axis]);
                            let opposite = if downward {
                                (x + 1 < dims[axis]).then(|| c + s)
                            } else {
                                (x > 0).then(|| c - s)
                            };
                            let plateau = opposite.is_some_and(|o| d[o] >= dc - 1e-9);
                            if plateau {
                                dc
                            } else {
                                dc - spacing_mm[axis] / 2.0
                            }
                        }
                    };
                }
            }
        });
    Some(radius)
}

/// The squared radius (mm^2) within which a ball covers voxel centres. Strictly inside,
/// and a hair less: a radius is often exactly the distance to some voxel centre (the
/// distance map is made of such distances), and that tie must not be decided by rounding.
fn coverage_r2(r: f64) -> f64 {
    r * r - 1e-9
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

/// The 26 neighbour offsets (i, j, k): faces first (the likeliest containers), then
/// edges, then corners.
const NEIGHBOURS: [(i64, i64, i64); 26] = {
    let mut out = [(0, 0, 0); 26];
    let mut n = 0;
    let mut order = 1;
    while order <= 3 {
        let mut c = 0;
        while c < 27 {
            let (di, dj, dk) = (c % 3 - 1, (c / 3) % 3 - 1, c / 9 - 1);
            if di * di + dj * dj + dk * dk == order {
                out[n] = (di, dj, dk);
                n += 1;
            }
            c += 1;
        }
        order += 1;
    }
    out
};

/// Exact containment of discrete balls. The voxels a ball of radius r covers are the
/// offsets o with |o|^2 < r^2 (mm); as r grows that set grows through "levels", one per
/// distinct |o|^2. For each level and neighbour offset e, `reach` is the largest
/// |o - e|^2 over the level's offsets: a ball at c + e whose r^2 exceeds it covers every
/// voxel the ball at c covers. This is what makes the ridge small (the continuous test
/// |e| + r_c <= r_m almost never holds on a discrete distance map).
struct Containment {
    /// Distinct squared norms, ascending: every offset with |o|^2 < `limit`.
    norms: Vec<f64>,
    limit: f64,
    /// `reach[e][l]`: max |o - e|^2 over offsets with |o|^2 <= norms[l].
    reach: Vec<Vec<f64>>,
}

impl Containment {
    fn new(r_max: f64, spacing_mm: [f64; 3]) -> Self {
        // Balls wider than 40 voxels are rare in trabecular bone; they are kept, not
        // tested, so the table stays small.
        let min_spacing = spacing_mm.iter().cloned().fold(f64::INFINITY, f64::min);
        let r_max = r_max.min(40.0 * min_spacing);
        let span = |s: f64| (r_max / s).ceil() as i64 + 1;
        let (si, sj, sk) = (
            span(spacing_mm[0]),
            span(spacing_mm[1]),
            span(spacing_mm[2]),
        );
        let limit = (r_max + 1e-9) * (r_max + 1e-9);
        let norm = |a: i64, b: i64, c: i64| {
            (a as f64 * spacing_mm[0]).powi(2)
                + (b as f64 * spacing_mm[1]).powi(2)
                + (c as f64 * spacing_mm[2]).powi(2)
        };
        let mut offsets = Vec::new();
        for c in -sk..=sk {
            for b in -sj..=sj {
                for a in -si..=si {
                    let n2 = norm(a, b, c);
                    if n2 < limit {
                        offsets.push((n2, a, b, c));
                    }
                }
            }
        }
        offsets.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut norms: Vec<f64> = Vec::new();
        let mut reach: Vec<Vec<f64>> = vec![Vec::new(); NEIGHBOURS.len()];
        let mut running = [f64::NEG_INFINITY; 26];
        for (idx, &(n2, a, b, c)) in offsets.iter().enumerate() {
            for (e, &(di, dj, dk)) in NEIGHBOURS.iter().enumerate() {
                running[e] = running[e].max(norm(a - di, b - dj, c - dk));
            }
            let last_of_level = offsets.get(idx + 1).is_none_or(|next| next.0 > n2);
            if last_of_level {
                norms.push(n2);
                for e in 0..NEIGHBOURS.len() {
                    reach[e].push(running[e]);
                }
            }
        }
        Containment {
            norms,
            limit,
            reach,
        }
    }

    /// The level of a ball of squared radius `r2` (the last distinct norm below it), or
    /// None when the ball reaches beyond the table.
    fn level(&self, r2: f64) -> Option<usize> {
        (r2 <= self.limit).then(|| self.norms.partition_point(|n| *n < r2).saturating_sub(1))
    }

    /// Whether the ball at voxel `c` (grid position `at`) covers only voxels that a
    /// neighbour's ball, at least as large, covers too.
    fn is_contained(
        &self,
        c: usize,
        at: [usize; 3],
        size: [usize; 3],
        radius: &[f64],
        foreground: &[bool],
    ) -> bool {
        let r = radius[c];
        let Some(level) = self.level(coverage_r2(r)) else {
            return false; // beyond the table: kept
        };
        let [i, j, k] = at;
        let [ni, nj, nk] = size;
        let interior = i > 0 && j > 0 && k > 0 && i + 1 < ni && j + 1 < nj && k + 1 < nk;
        for (e, &(di, dj, dk)) in NEIGHBOURS.iter().enumerate() {
            let (x, y, z) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
            if !interior
                && (x < 0 || y < 0 || z < 0 || x >= ni as i64 || y >= nj as i64 || z >= nk as i64)
            {
                continue;
            }
            let m = (z as usize * nj + y as usize) * ni + x as usize;
            let rm = radius[m];
            if foreground[m] && rm >= r && self.reach(e, level) < coverage_r2(rm) - 1e-9 {
                return true;
            }
        }
        false
    }

    /// Largest squared distance from neighbour `e` to a voxel of a ball at `level`.
    fn reach(&self, e: usize, level: usize) -> f64 {
        self.reach[e][level]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ball of every foreground voxel painted, no ridge: the definition itself.
    fn brute(fg: &[bool], size: [usize; 3], sp: [f64; 3]) -> Vec<f32> {
        let [ni, nj, nk] = size;
        let bg: Vec<bool> = fg.iter().map(|f| !f).collect();
        let radius = ball_radii(fg, &bg, size, sp).expect("bounded");
        let mut out = vec![0f32; fg.len()];
        for (c, &rc) in radius.iter().enumerate() {
            if !fg[c] {
                continue;
            }
            let (ci, cj, ck) = (c % ni, (c / ni) % nj, c / (ni * nj));
            for (n, o) in out.iter_mut().enumerate() {
                let (i, j, k) = (n % ni, (n / ni) % nj, n / (ni * nj));
                let q = ((i as f64 - ci as f64) * sp[0]).powi(2)
                    + ((j as f64 - cj as f64) * sp[1]).powi(2)
                    + ((k as f64 - ck as f64) * sp[2]).powi(2);
                if fg[n] && q < coverage_r2(rc) {
                    *o = o.max((2.0 * rc) as f32);
                }
            }
        }
        let _ = nk;
        out
    }

    #[test]
    fn ridge_pruning_changes_nothing() {
        let size = [24, 20, 14];
        let mut state = 99u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 1000) as f64 / 1000.0
        };
        for sp in [[1.0, 1.0, 1.0], [0.5, 0.7, 1.3]] {
            // Smooth random blobs: a sum of random balls.
            let balls: Vec<[f64; 4]> = (0..12)
                .map(|_| {
                    [
                        noise() * 24.0,
                        noise() * 20.0,
                        noise() * 14.0,
                        1.5 + 4.0 * noise(),
                    ]
                })
                .collect();
            let fg: Vec<bool> = (0..size[0] * size[1] * size[2])
                .map(|n| {
                    let (i, j, k) = (n % 24, (n / 24) % 20, n / 480);
                    balls.iter().any(|b| {
                        (i as f64 - b[0]).powi(2)
                            + (j as f64 - b[1]).powi(2)
                            + (k as f64 - b[2]).powi(2)
                            < b[3] * b[3]
                    })
                })
                .collect();
            let bg: Vec<bool> = fg.iter().map(|f| !f).collect();
            let fast = local_thickness(&fg, &bg, size, sp).expect("bounded");
            let slow = brute(&fg, size, sp);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b} at spacing {sp:?}");
            }
        }
    }
}
