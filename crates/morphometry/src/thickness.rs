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
//! Steps: exact EDT (capped at 12 voxels, vectorised, when that suffices; see
//! `distances`), each voxel's ball as a *level* (how many distinct offset norms it covers,
//! from a table of norms, so radii are computed from exact norms, not from rounded
//! single-precision distances), the ridge (balls whose covered voxels are not all covered
//! by a face, edge or corner neighbour's ball, tested exactly on the voxel sets by
//! `Containment` as integer comparisons of levels: 35% of the foreground on trabecular
//! bone), then painting the ridge balls slab by slab in parallel from per-level stencils,
//! each voxel keeping the largest diameter.

use rayon::prelude::*;

use super::edt::{squared_edt_capped, squared_edt_to};
use paint::{RidgeBall, Stencils, large_first, paint};

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
    local_thickness_as(
        foreground,
        background,
        size,
        spacing_mm,
        Convention::Surface,
    )
}

/// Where a ball centred on a voxel ends, the one discrete choice on which the tools that
/// compute local thickness differ (see docs/morphometry-conventions.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Convention {
    /// srrd's: the structure's surface lies halfway between voxel centres, so a ball's
    /// radius is its centre's distance to the nearest background voxel centre less half a
    /// voxel (see the module's comment). Plates of t voxels read t, odd or even.
    #[default]
    Surface,
    /// ORMIR_XCT's, porespy's and localthickness's: the radius is the distance to the
    /// nearest background voxel centre itself. Plates of odd t voxels read t + 1.
    Centre,
}

/// [`local_thickness`] by either discrete [`Convention`].
pub fn local_thickness_as(
    foreground: &[bool],
    background: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    convention: Convention,
) -> Option<Vec<f32>> {
    local_thickness_with(
        foreground,
        background,
        size,
        spacing_mm,
        LARGE_RADIUS,
        convention,
    )
}

/// Balls of this radius (in voxels of the finest spacing) or more are painted largest
/// first, each voxel once (see `paint`); smaller ones cost less painted directly.
const LARGE_RADIUS: f64 = 5.0;

/// [`local_thickness`], the balls from `large_radius` voxels up painted largest first
/// (any value gives the same map: the tests paint all balls either way).
fn local_thickness_with(
    foreground: &[bool],
    background: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    large_radius: f64,
    convention: Convention,
) -> Option<Vec<f32>> {
    let [ni, nj, nk] = size;
    let plane = ni * nj;
    assert_eq!(
        foreground.len(),
        plane * nk,
        "grid and structure sizes agree"
    );
    assert_eq!(
        background.len(),
        plane * nk,
        "grid and background sizes agree"
    );
    if foreground.is_empty() {
        return Some(Vec::new());
    }
    let d2 = distances(background, foreground, size, spacing_mm);
    let r_max = max_distance(&d2, foreground)?;
    let table = Containment::new(r_max, spacing_mm);
    let (level, has_cuts) = ball_levels(&d2, foreground, background, size, &table, convention);
    // The ridge: balls whose voxel set is not contained in a neighbour's (see
    // `Containment`), gathered per slice for painting.
    let offsets =
        NEIGHBOURS.map(|(di, dj, dk)| di as isize + (dj * ni as i64 + dk * plane as i64) as isize);
    let mut d2 = d2;
    let by_slice: Vec<Vec<RidgeBall>> = (0..nk)
        .into_par_iter()
        .zip(d2.par_chunks_mut(plane))
        .map_init(SnapCache::new, |cache, (k, d2_slice)| {
            let mut ridge = Vec::new();
            for j in 0..nj {
                for i in 0..ni {
                    let c = k * plane + j * ni + i;
                    if foreground[c] && !table.is_contained(c, [i, j, k], size, &level, &offsets) {
                        let (lc, shape) = (level[c] >> 2, usize::from(level[c] & 3));
                        let r = table.radius(d2_slice[c - k * plane], shape, cache);
                        ridge.push(RidgeBall {
                            at: [i as u32, j as u32],
                            diameter_mm: (2.0 * r) as f32,
                            level: lc,
                            r2_mm2: table.paint_r2(lc, r),
                        });
                    }
                }
            }
            // Only this slice's distances are read here, and no more after: the buffer
            // becomes the map, which starts at 0 (every foreground voxel is covered by a
            // ridge ball at least as large as its own).
            d2_slice.fill(0.0);
            ridge
        })
        .collect();
    drop(level);
    let mut out = d2;
    let stencils = Stencils::new(&by_slice, &table, [ni, nj], spacing_mm);
    // Paint in chunks of slices (several per thread for balance): each ball is visited by
    // the one or two chunks it reaches and painted there, clipped to the chunk. Balls may
    // cross cut voxels (outside the structure but not background); those are cleared after.
    let finest = spacing_mm.iter().cloned().fold(f64::INFINITY, f64::min);
    let r2_large = (large_radius * finest).powi(2);
    let large = large_first(&by_slice, r2_large, spacing_mm[2]);
    let chunk_k = nk.div_ceil(4 * rayon::current_num_threads()).max(1);
    out.par_chunks_mut(chunk_k * plane)
        .enumerate()
        .for_each(|(chunk, slabs)| {
            let k0 = chunk * chunk_k;
            paint(
                slabs,
                [k0, nk],
                [ni, nj],
                &by_slice,
                &stencils,
                (&large, r2_large),
            );
        });
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

/// Squared distances (mm^2) to the nearest background voxel, exact wherever the balls
/// need them (the structure and its face neighbours). Trabecular structures are thin:
/// the capped transform (12 voxels) is tried first on near-isotropic grids, and the
/// unbounded one is used when it falls short. A structure whose runs along every axis
/// are long on average (marrow spaces, see `CAPPED_MEAN_RUN`) goes to the unbounded one
/// at once: the capped one would be computed for nothing.
fn distances(
    background: &[bool],
    foreground: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
) -> Vec<f32> {
    let finest = spacing_mm.iter().cloned().fold(f64::INFINITY, f64::min);
    let coarsest = spacing_mm.iter().cloned().fold(0.0, f64::max);
    if coarsest <= 2.0 * finest && shortest_mean_run(foreground, size) < CAPPED_MEAN_RUN {
        let cap = 12.0 * coarsest;
        let d2 = squared_edt_capped(|n| background[n], size, spacing_mm, (cap * cap) as f32);
        // A face neighbour is at most one voxel deeper than the voxel itself.
        if max_distance(&d2, foreground).is_some_and(|d| d + coarsest < cap * (1.0 - 1e-6)) {
            return d2;
        }
    }
    squared_edt_to(|n| background[n], size, spacing_mm)
}

/// Above this mean run length (voxels, along the axis where runs are shortest) the
/// capped transform is not tried. Its largest distance, which must stay a voxel below the
/// cap, is about 0.7 of the mean run on trabecular-like structures (bone 7.5 voxels runs,
/// largest 7.3; marrow 17, largest 11.6 on the 256^3 benchmark volume). Only speed
/// depends on it: either transform gives the same distances.
const CAPPED_MEAN_RUN: f64 = 14.0;

/// The mean length (voxels) of the foreground's runs along the axis where it is shortest
/// (its mean intercept length there); infinite for an empty structure.
fn shortest_mean_run(foreground: &[bool], size: [usize; 3]) -> f64 {
    let [ni, nj, _] = size;
    let plane = ni * nj;
    // Voxels, and runs starting along i, j and k (a voxel whose predecessor is not
    // foreground, or that starts its line).
    let counts = foreground
        .par_chunks(plane)
        .enumerate()
        .map(|(k, slice)| {
            let mut c = [0usize; 4];
            for (n, &f) in slice.iter().enumerate() {
                if !f {
                    continue;
                }
                let (i, j) = (n % ni, n / ni);
                c[0] += 1;
                c[1] += usize::from(i == 0 || !slice[n - 1]);
                c[2] += usize::from(j == 0 || !slice[n - ni]);
                c[3] += usize::from(k == 0 || !foreground[(k - 1) * plane + n]);
            }
            c
        })
        .reduce(|| [0; 4], |a, b| std::array::from_fn(|x| a[x] + b[x]));
    let runs = counts[1].max(counts[2]).max(counts[3]);
    if runs == 0 {
        f64::INFINITY
    } else {
        counts[0] as f64 / runs as f64
    }
}

/// The largest distance (mm) of a foreground voxel, which bounds its ball's radius; None
/// when some foreground voxel has no background at all to be bounded by.
fn max_distance(d2: &[f32], foreground: &[bool]) -> Option<f64> {
    let m = d2
        .par_chunks(1 << 14)
        .zip(foreground.par_chunks(1 << 14))
        .map(|(d, f)| {
            d.iter()
                .zip(f)
                .fold(0f32, |m, (v, f)| m.max(if *f { *v } else { 0.0 }))
        })
        .reduce(|| 0.0, f32::max);
    m.is_finite().then(|| f64::from(m).sqrt())
}

/// Each foreground voxel's ball, packed (see `pack`): its level in the containment table
/// (how many distinct offset norms it covers; 0 outside the structure) and its shape;
/// and whether there are cut voxels (neither structure nor background).
#[inline(never)]
fn ball_levels(
    d2: &[f32],
    foreground: &[bool],
    background: &[bool],
    size: [usize; 3],
    table: &Containment,
    convention: Convention,
) -> (Vec<u16>, bool) {
    let centre = convention == Convention::Centre;
    let [ni, nj, nk] = size;
    let plane = ni * nj;
    let mut level = vec![0u16; d2.len()];
    let cuts = level
        .par_chunks_mut(plane)
        .enumerate()
        .map_init(SnapCache::new, |cache, (k, level)| {
            let mut cuts = false;
            for j in 0..nj {
                let row = k * plane + j * ni;
                let fg_row = &foreground[row..row + ni];
                let inner_row = k > 0 && j > 0 && k + 1 < nk && j + 1 < nj;
                for (i, &fg) in fg_row.iter().enumerate() {
                    let c = row + i;
                    if !fg {
                        cuts |= !background[c];
                        continue;
                    }
                    let shape = if centre {
                        0 // the radius is the distance itself
                    } else if inner_row && i > 0 && i + 1 < ni {
                        let around = [
                            d2[c - 1],
                            d2[c + 1],
                            d2[c - ni],
                            d2[c + ni],
                            d2[c - plane],
                            d2[c + plane],
                        ];
                        shape_from(around.map(Some), d2[c])
                    } else {
                        ball_shape(|m| d2[m], c, [i, j, k], size)
                    };
                    level[j * ni + i] = pack(table.ball_level(d2[c], shape, cache), shape);
                }
            }
            cuts
        })
        .reduce(|| false, |a, b| a || b);
    (level, cuts)
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
    // The six face neighbours, (axis, down) then (axis, up), None beyond the grid.
    let mut around = [None; 6];
    for axis in 0..3 {
        let (x, s) = (at[axis], strides[axis]);
        around[2 * axis] = (x > 0).then(|| dist2(c - s));
        around[2 * axis + 1] = (x + 1 < size[axis]).then(|| dist2(c + s));
    }
    shape_from(around, dist2(c))
}

/// `ball_shape` from the squared distances of the six face neighbours (i-, i+, j-, j+,
/// k-, k+; None beyond the grid) and of the centre.
#[inline(always)]
fn shape_from<T: PartialOrd + Copy>(around: [Option<T>; 6], centre: T) -> usize {
    // The first deepest descent; the ball is "d itself" when the neighbour opposite it is
    // at least as deep as the centre.
    let mut best: Option<(T, usize)> = None;
    for (n, v) in around.iter().enumerate() {
        if let Some(v) = *v
            && best.is_none_or(|(b, _)| v < b)
        {
            best = Some((v, n));
        }
    }
    match best {
        None => 0, // a single voxel grid
        Some((_, n)) if around[n ^ 1].is_some_and(|o| o >= centre) => 0,
        Some((_, n)) => 1 + n / 2,
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
    /// `first[b]`: how many norms are below `b / per_bucket` (mm^2), to start searches.
    first: Vec<u32>,
    per_bucket: f64,
    /// `need[l * 26 + e]`: the smallest level of a ball at neighbour `e` that contains a
    /// ball of level l (`NEVER` when none in the table does), shifted as in `pack`. Such a
    /// ball is also larger.
    need: Vec<u16>,
}

/// Recent answers of `Containment::snap`, by the bits of the squared distance: a distance
/// map holds few distinct values, so nearly every voxel is a hit.
struct SnapCache {
    slots: Vec<(u32, u32)>,
}

impl SnapCache {
    const SLOTS: usize = 1024;
    /// Marks an empty slot or "no norm" (no f32 has these bits as a distance: NaN).
    const NONE: u32 = u32::MAX;

    fn new() -> Self {
        SnapCache {
            slots: vec![(Self::NONE, Self::NONE); Self::SLOTS],
        }
    }

    fn snap(&mut self, table: &Containment, d2: f32) -> Option<usize> {
        let bits = d2.to_bits();
        let slot = (bits ^ (bits >> 13) ^ (bits >> 23)) as usize % Self::SLOTS;
        let (key, value) = self.slots[slot];
        if key == bits {
            return (value != Self::NONE).then_some(value as usize);
        }
        let n = table.snap(d2);
        self.slots[slot] = (bits, n.map_or(Self::NONE, |n| n as u32));
        n
    }
}

/// The level of a ball beyond the table: kept on the ridge, never tested.
const BEYOND: u16 = (1 << 14) - 2;
/// A containment that no ball in the table achieves.
const NEVER: u16 = (1 << 14) - 1;

/// A voxel's ball as one number: its level (14 bits) and its shape (see `ball_shape`, 2
/// bits), so that comparing two packed balls against `level << 2` compares levels.
fn pack(level: u16, shape: usize) -> u16 {
    (level << 2) | shape as u16
}

impl Containment {
    fn new(r_max: f64, spacing_mm: [f64; 3]) -> Self {
        // Balls wider than 64 voxels are rare in trabecular bone (marrow spaces of HR-pQCT
        // reach 40-60); they are kept, not tested, so the table stays small.
        let min_spacing = spacing_mm.iter().cloned().fold(f64::INFINITY, f64::min);
        let r_max = r_max.min(64.0 * min_spacing);
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
        // Levels must fit in 14 bits (see `pack`): very fine anisotropic grids may have
        // more distinct norms; the larger balls are then kept rather than tested.
        let mut limit = limit;
        let most = BEYOND as usize - 1;
        if norms.len() > most {
            limit = norms[most];
            norms.truncate(most);
            reach.iter_mut().for_each(|r| r.truncate(most));
        }
        // A ball covers |o - e|^2 = reach when reach < its r^2, i.e. when its level
        // counts reach's norm (the same sum, so found exactly): level >= index + 1.
        let mut need = vec![pack(NEVER, 0); (norms.len() + 1) * NEIGHBOURS.len()];
        for (e, levels) in reach.iter().enumerate() {
            for (l, farthest) in levels.iter().enumerate() {
                let index = norms.partition_point(|n| n < farthest);
                if norms.get(index) == Some(farthest) {
                    need[(l + 1) * NEIGHBOURS.len() + e] = pack(index as u16 + 1, 0);
                }
            }
        }
        let buckets = 4 * norms.len() + 1;
        let per_bucket = buckets as f64 / limit.max(1e-12);
        let first = (0..=buckets)
            .map(|b| norms.partition_point(|n| *n < b as f64 / per_bucket) as u32)
            .collect();
        let mut table = Containment {
            norms,
            limit,
            level_of: Vec::new(),
            spacing_mm,
            first,
            per_bucket,
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
            let b = ((r2 * self.per_bucket) as usize).min(self.first.len() - 1);
            let mut level = self.first[b.saturating_sub(1)] as usize;
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
        if x.is_nan() || x > self.limit * (1.0 + 1e-6) {
            return None;
        }
        // One bucket back: rounding must not start the search past the answer.
        let b = ((x * self.per_bucket) as usize).min(self.first.len() - 1);
        let mut n = self.first[b.saturating_sub(1)] as usize;
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
    fn ball_level(&self, d2: f32, shape: usize, cache: &mut SnapCache) -> u16 {
        cache
            .snap(self, d2)
            .map_or(BEYOND, |n| self.level_of[n * 4 + shape])
    }

    /// The radius (mm) of the ball of `shape` centred `d2` deep, from the exact norm.
    fn radius(&self, d2: f32, shape: usize, cache: &mut SnapCache) -> f64 {
        let exact = cache
            .snap(self, d2)
            .map_or(f64::from(d2), |n| self.norms[n]);
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
    /// `offsets` are the `NEIGHBOURS` as index steps in the grid.
    fn is_contained(
        &self,
        c: usize,
        at: [usize; 3],
        size: [usize; 3],
        level: &[u16],
        offsets: &[isize; 26],
    ) -> bool {
        // `level` holds packed balls and `need` packed thresholds: see `pack`.
        let lc = level[c] >> 2;
        if lc == BEYOND {
            return false;
        }
        let need = &self.need[lc as usize * NEIGHBOURS.len()..][..NEIGHBOURS.len()];
        let [i, j, k] = at;
        let [ni, nj, nk] = size;
        let interior = i > 0 && j > 0 && k > 0 && i + 1 < ni && j + 1 < nj && k + 1 < nk;
        if interior {
            return offsets
                .iter()
                .zip(need)
                .any(|(&o, &need)| level[c.wrapping_add_signed(o)] >= need);
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

mod paint;
#[cfg(test)]
mod tests;
