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

use super::edt::squared_edt_to;

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
    let plane = ni * nj;
    let d2: Vec<f32> = squared_edt_to(|n| background[n], size, spacing_mm);
    let r_max = max_distance(&d2, foreground)?;
    let table = Containment::new(r_max, spacing_mm);
    let level = ball_levels(&d2, foreground, size, &table);
    // The ridge: balls whose voxel set is not contained in a neighbour's (see
    // `Containment`), gathered per slice for painting.
    let by_slice: Vec<Vec<(usize, usize, f32, f64)>> = (0..nk)
        .into_par_iter()
        .map(|k| {
            let mut ridge = Vec::new();
            for j in 0..nj {
                for i in 0..ni {
                    let c = k * plane + j * ni + i;
                    if foreground[c] && !table.is_contained(c, [i, j, k], size, &level) {
                        let shape = ball_shape(|m| d2[m], c, [i, j, k], size);
                        let r = table.radius(d2[c], shape);
                        ridge.push((i, j, (2.0 * r) as f32, table.paint_r2(level[c], r)));
                    }
                }
            }
            ridge
        })
        .collect();
    // Every foreground voxel is covered by a ridge ball at least as large as its own, so
    // the map starts at 0. The squared distances are no longer needed: their buffer
    // becomes the map.
    drop(level);
    let mut out = d2;
    out.par_iter_mut().for_each(|o| *o = 0.0);
    let r_paint = by_slice.iter().flatten().map(|b| b.3).fold(0.0, f64::max);
    let reach_k = (r_paint.sqrt() / spacing_mm[2]).ceil() as usize + 1;
    // Paint in chunks of slices (several per thread for balance): each ball is visited by
    // the one or two chunks it reaches and painted there, clipped to the chunk. Balls may
    // cross cut voxels (outside the structure but not background); those are cleared after.
    let chunk_k = nk.div_ceil(4 * rayon::current_num_threads()).max(1);
    let [si, sj, sk] = spacing_mm;
    out.par_chunks_mut(chunk_k * plane)
        .enumerate()
        .for_each(|(chunk, slabs)| {
            let k0 = chunk * chunk_k;
            let k1 = (k0 + slabs.len() / plane).min(nk); // exclusive
            let lo = k0.saturating_sub(reach_k);
            let hi = (k1 + reach_k).min(nk);
            for (kc, ridge) in by_slice.iter().enumerate().take(hi).skip(lo) {
                for &(ic, jc, value, r2) in ridge {
                    let span_k = strict_span(r2, sk);
                    let z0 = kc.saturating_sub(span_k).max(k0);
                    let z1 = (kc + span_k + 1).min(k1);
                    for k in z0..z1 {
                        let dz = (k as f64 - kc as f64) * sk;
                        let rr = r2 - dz * dz;
                        let slab = &mut slabs[(k - k0) * plane..(k - k0 + 1) * plane];
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
                            if dj <= jc {
                                raise(&mut slab[(jc - dj) * ni + i0..=(jc - dj) * ni + i1], value);
                            }
                            if dj > 0 && jc + dj < nj {
                                raise(&mut slab[(jc + dj) * ni + i0..=(jc + dj) * ni + i1], value);
                            }
                        }
                    }
                }
            }
        });
    let has_cuts = foreground
        .par_iter()
        .zip(background.par_iter())
        .any(|(f, b)| !f && !b);
    if has_cuts {
        out.par_iter_mut()
            .zip(foreground.par_iter())
            .for_each(|(o, f)| {
                if !f {
                    *o = 0.0;
                }
            });
    }
    Some(out)
}

/// `t = max(t, value)` along a row (vectorised by the compiler).
#[inline]
fn raise(row: &mut [f32], value: f32) {
    for t in row {
        *t = t.max(value);
    }
}

/// The largest distance (mm) of a foreground voxel, which bounds its ball's radius; None
/// when some foreground voxel has no background at all to be bounded by.
fn max_distance(d2: &[f32], foreground: &[bool]) -> Option<f64> {
    let m = d2
        .par_iter()
        .zip(foreground.par_iter())
        .map(|(v, f)| if *f { *v } else { 0.0 })
        .reduce(|| 0.0, f32::max);
    m.is_finite().then(|| f64::from(m).sqrt())
}

/// Each foreground voxel's ball level in the containment table (how many distinct offset
/// norms its ball covers; 0 outside the structure).
fn ball_levels(d2: &[f32], foreground: &[bool], size: [usize; 3], table: &Containment) -> Vec<u16> {
    let [ni, nj, _] = size;
    let plane = ni * nj;
    let mut level = vec![0u16; d2.len()];
    level
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(k, level)| {
            for j in 0..nj {
                for i in 0..ni {
                    let c = k * plane + j * ni + i;
                    if foreground[c] {
                        let shape = ball_shape(|m| d2[m], c, [i, j, k], size);
                        level[j * ni + i] = table.ball_level(d2[c], shape);
                    }
                }
            }
        });
    level
}

/// How a ball's radius follows from the distance d of its centre: d itself (a middle
/// voxel of an even section: the opposite neighbour is as deep), or d less half a voxel
/// along the axis of steepest descent. As an index: 0, or 1 + axis.
fn ball_shape<T: PartialOrd + Copy>(
    dist2: impl Fn(usize) -> T,
    c: usize,
    at: [usize; 3],
    size: [usize; 3],
) -> usize {
    let [ni, nj, _] = size;
    let strides = [1, ni, ni * nj];
    let mut best: Option<(T, usize, bool)> = None; // (d2, axis, downward)
    for axis in 0..3 {
        let (x, s) = (at[axis], strides[axis]);
        if x > 0 && best.is_none_or(|(bd, _, _)| dist2(c - s) < bd) {
            best = Some((dist2(c - s), axis, true));
        }
        if x + 1 < size[axis] && best.is_none_or(|(bd, _, _)| dist2(c + s) < bd) {
            best = Some((dist2(c + s), axis, false));
        }
    }
    let Some((_, axis, downward)) = best else {
        return 0; // a single voxel grid
    };
    let (x, s) = (at[axis], strides[axis]);
    let opposite = if downward {
        (x + 1 < size[axis]).then(|| c + s)
    } else {
        (x > 0).then(|| c - s)
    };
    if opposite.is_some_and(|o| dist2(o) >= dist2(c)) {
        0
    } else {
        1 + axis
    }
}

/// The radius (mm) of a ball of `shape` (see `ball_shape`) whose centre is `d2_mm2` deep.
fn ball_radius(d2_mm2: f64, shape: usize, spacing_mm: [f64; 3]) -> f64 {
    let d = d2_mm2.sqrt();
    match shape {
        0 => d,
        s => d - spacing_mm[s - 1] / 2.0,
    }
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
/// distinct |o|^2, and a ball's level is how many distinct norms it covers. A ball at
/// c + e covers every voxel that a ball of level l at c covers when it covers the
/// farthest of them, |o - e|^2 maximal over the level's offsets: when its own level
/// exceeds that norm's index, `need[e][l]`. This is what makes the ridge small (the
/// continuous test |e| + r_c <= r_m almost never holds on a discrete distance map), and
/// it is a comparison of small integers per neighbour.
struct Containment {
    /// Distinct squared norms, ascending: every offset with |o|^2 < `limit`.
    norms: Vec<f64>,
    limit: f64,
    /// `level_of[n * 4 + shape]`: the level of a ball of `shape` centred `norms[n]` deep.
    level_of: Vec<u16>,
    spacing_mm: [f64; 3],
    /// `first[b]`: how many norms are below `b * bucket_mm2`, to start the level search.
    first: Vec<u32>,
    bucket_mm2: f64,
    /// `need[l * 26 + e]`: the smallest level of a ball at neighbour `e` that contains a
    /// ball of level l (`NEVER` when none in the table does). Such a ball is also larger.
    need: Vec<u16>,
}

/// The level of a ball beyond the table: kept on the ridge, never tested.
const BEYOND: u16 = u16::MAX - 1;
/// A containment that no ball in the table achieves.
const NEVER: u16 = u16::MAX;

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
        assert!(norms.len() < BEYOND as usize, "containment table too large");
        // A ball covers |o - e|^2 = reach when reach < its r^2, i.e. when its level
        // counts reach's norm (the same sum, so found exactly): level >= index + 1.
        let mut need = vec![NEVER; (norms.len() + 1) * NEIGHBOURS.len()];
        for (e, levels) in reach.iter().enumerate() {
            for (l, farthest) in levels.iter().enumerate() {
                let index = norms.partition_point(|n| n < farthest);
                if norms.get(index) == Some(farthest) {
                    need[(l + 1) * NEIGHBOURS.len() + e] = (index + 1) as u16;
                }
            }
        }
        let buckets = 4 * norms.len() + 1;
        let bucket_mm2 = limit.max(1e-12) / buckets as f64;
        let first = (0..=buckets)
            .map(|b| norms.partition_point(|n| *n < b as f64 * bucket_mm2) as u32)
            .collect();
        let mut table = Containment {
            norms,
            limit,
            level_of: Vec::new(),
            spacing_mm,
            first,
            bucket_mm2,
            need,
        };
        table.level_of = (0..table.norms.len() * 4)
            .map(|x| {
                let r = ball_radius(table.norms[x / 4], x % 4, spacing_mm);
                table.level(coverage_r2(r))
            })
            .collect();
        table
    }

    /// The level of a ball of squared coverage radius `r2`: how many distinct norms are
    /// below it, or `BEYOND` when the ball reaches beyond the table.
    fn level(&self, r2: f64) -> u16 {
        if r2 > self.limit {
            BEYOND
        } else {
            let b = ((r2 / self.bucket_mm2) as usize).min(self.first.len() - 1);
            let mut level = self.first[b] as usize;
            while level < self.norms.len() && self.norms[level] < r2 {
                level += 1;
            }
            level as u16
        }
    }

    /// The norm a single-precision squared distance stands for (the distance map is made
    /// of norms, summed in single precision), or None beyond the table.
    fn snap(&self, d2: f32) -> Option<usize> {
        let x = f64::from(d2);
        if !(x <= self.limit * (1.0 + 1e-6)) {
            return None;
        }
        let b = ((x / self.bucket_mm2) as usize).min(self.first.len() - 1);
        let mut n = self.first[b] as usize;
        while n < self.norms.len() && self.norms[n] < x {
            n += 1;
        }
        let below = n.checked_sub(1);
        let nearest = match (below, n < self.norms.len()) {
            (Some(lo), true) if x - self.norms[lo] < self.norms[n] - x => lo,
            (_, true) => n,
            (Some(lo), false) => lo,
            (None, false) => return None,
        };
        ((self.norms[nearest] - x).abs() <= 1e-5 * x.max(1e-12)).then_some(nearest)
    }

    /// The level of the ball of `shape` centred `d2` deep (`BEYOND` outside the table).
    fn ball_level(&self, d2: f32, shape: usize) -> u16 {
        self.snap(d2)
            .map_or(BEYOND, |n| self.level_of[n * 4 + shape])
    }

    /// The radius (mm) of the ball of `shape` centred `d2` deep, from the exact norm.
    fn radius(&self, d2: f32, shape: usize) -> f64 {
        let exact = self.snap(d2).map_or(f64::from(d2), |n| self.norms[n]);
        ball_radius(exact, shape, self.spacing_mm)
    }

    /// The squared radius (mm^2) to paint a ball of `level` and radius `r` with: between
    /// its last covered norm and the next, so painting covers exactly the level's voxels.
    fn paint_r2(&self, level: u16, r: f64) -> f64 {
        match level {
            0 => 0.0,
            BEYOND => coverage_r2(r),
            l => {
                let last = self.norms[l as usize - 1];
                let next = self.norms.get(l as usize).copied().unwrap_or(self.limit);
                0.5 * (last + next)
            }
        }
    }

    /// Whether the ball at voxel `c` (grid position `at`) covers only voxels that one
    /// neighbour's ball covers too (that ball is then larger: see `need`).
    fn is_contained(&self, c: usize, at: [usize; 3], size: [usize; 3], level: &[u16]) -> bool {
        let lc = level[c];
        if lc == BEYOND {
            return false;
        }
        let need = &self.need[lc as usize * NEIGHBOURS.len()..][..NEIGHBOURS.len()];
        let [i, j, k] = at;
        let [ni, nj, nk] = size;
        let interior = i > 0 && j > 0 && k > 0 && i + 1 < ni && j + 1 < nj && k + 1 < nk;
        if interior {
            let (ni, plane) = (ni as isize, (ni * nj) as isize);
            return NEIGHBOURS.iter().zip(need).any(|(&(di, dj, dk), &need)| {
                let m = c as isize + di as isize + dj as isize * ni + dk as isize * plane;
                level[m as usize] >= need
            });
        }
        NEIGHBOURS.iter().zip(need).any(|(&(di, dj, dk), &need)| {
            let (x, y, z) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
            let inside =
                x >= 0 && y >= 0 && z >= 0 && x < ni as i64 && y < nj as i64 && z < nk as i64;
            // Level 0 is "not a ball" (outside the structure) and never contains.
            inside && level[(z as usize * nj + y as usize) * ni + x as usize] >= need
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ball of every foreground voxel painted, no ridge: the definition itself.
    fn brute(fg: &[bool], size: [usize; 3], sp: [f64; 3]) -> Vec<f32> {
        let [ni, nj, nk] = size;
        // Squared distances to the nearest background voxel, in double precision.
        let at = |n: usize| [n % ni, (n / ni) % nj, n / (ni * nj)];
        let background: Vec<[usize; 3]> = (0..fg.len()).filter(|&n| !fg[n]).map(at).collect();
        let exact: Vec<f64> = (0..fg.len())
            .map(|n| {
                let p = at(n);
                background
                    .iter()
                    .map(|b| {
                        (0..3)
                            .map(|a| ((p[a] as f64 - b[a] as f64) * sp[a]).powi(2))
                            .sum()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let mut out = vec![0f32; fg.len()];
        for c in 0..fg.len() {
            if !fg[c] {
                continue;
            }
            let (ci, cj, ck) = (c % ni, (c / ni) % nj, c / (ni * nj));
            let shape = ball_shape(|m| exact[m], c, [ci, cj, ck], size);
            let rc = ball_radius(exact[c], shape, sp);
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
            for (n, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{a} vs {b} at spacing {sp:?} n={n} fg={}",
                    fg[n]
                );
            }
        }
    }
}
