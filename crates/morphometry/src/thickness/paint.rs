//! Painting the ridge balls into the local thickness map: each voxel keeps the largest
//! diameter of the balls that cover it.

use rayon::prelude::*;

use super::{Containment, strict_span};

/// A ball on the ridge: its centre (i, j) in its slice, its diameter, its level in the
/// containment table and the squared radius (mm^2) it is painted with.
pub(super) struct RidgeBall {
    pub(super) at: [u32; 2],
    pub(super) diameter_mm: f32,
    pub(super) level: u16,
    pub(super) r2_mm2: f64,
}

/// The rows of voxels a ball covers, per level: `[dk, dj, half-width in i]` for every
/// (dk, dj) it reaches, built once for the levels that occur on the ridge, so that
/// painting is integer work.
pub(super) struct Stencils {
    rows: Vec<Vec<[i32; 3]>>,
    /// The same rows as (start, length) in the grid, relative to the centre voxel, with
    /// the ball's reach `[i, j, k]`, for balls that lie wholly inside the painted slabs.
    flat: Vec<FlatStencil>,
    /// How many slices a ball reaches on either side, at most.
    reach_k: usize,
    spacing_mm: [f64; 3],
}

impl Stencils {
    pub(super) fn new(
        by_slice: &[Vec<RidgeBall>],
        table: &Containment,
        [ni, nj]: [usize; 2],
        spacing_mm: [f64; 3],
    ) -> Self {
        let levels = table.norms.len() + 1;
        // The levels in use and the largest ball, slice by slice in parallel.
        let (used, r2_max) = by_slice
            .par_iter()
            .map(|ridge| {
                let mut used = vec![false; levels];
                let mut r2_max: f64 = 0.0;
                for ball in ridge {
                    r2_max = r2_max.max(ball.r2_mm2);
                    if let Some(u) = used.get_mut(ball.level as usize) {
                        *u = true;
                    }
                }
                (used, r2_max)
            })
            .reduce(
                || (vec![false; levels], 0.0),
                |(mut a, ra), (b, rb)| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a |= b);
                    (a, ra.max(rb))
                },
            );
        let mut rows: Vec<Vec<[i32; 3]>> = vec![Vec::new(); levels];
        let mut flat = vec![FlatStencil::default(); levels];
        for l in (0..levels).filter(|l| used[*l]) {
            rows[l] = ball_rows(table.paint_r2(l as u16, 0.0), spacing_mm);
            let mut reach = [0usize; 3];
            flat[l].rows = rows[l]
                .iter()
                .map(|&[dk, dj, span]| {
                    reach = [
                        reach[0].max(span as usize),
                        reach[1].max(dj.unsigned_abs() as usize),
                        reach[2].max(dk.unsigned_abs() as usize),
                    ];
                    let start = dk as isize * (ni * nj) as isize + dj as isize * ni as isize
                        - span as isize;
                    (start, 2 * span as usize + 1)
                })
                .collect();
            flat[l].reach = reach;
            let rk = reach[2] as i32;
            flat[l].by_dk = (-rk..=rk + 1)
                .map(|dk| rows[l].partition_point(|row| row[0] < dk))
                .collect();
        }
        Stencils {
            rows,
            flat,
            reach_k: strict_span(r2_max, spacing_mm[2]) + 1,
            spacing_mm,
        }
    }

    /// The rows of `ball`: its level's, or (beyond the table) built into `own`.
    fn rows<'a>(&'a self, ball: &RidgeBall, own: &'a mut Vec<[i32; 3]>) -> &'a [[i32; 3]] {
        match self.rows.get(ball.level as usize) {
            Some(rows) if !rows.is_empty() => rows,
            _ => {
                *own = ball_rows(ball.r2_mm2, self.spacing_mm);
                own
            }
        }
    }
}

/// A stencil's rows as (start, length) relative to the centre voxel, and its reach.
#[derive(Clone, Default)]
struct FlatStencil {
    rows: Vec<(isize, usize)>,
    reach: [usize; 3],
    /// `by_dk[dk + reach_k]`: the first row at slice offset dk or beyond (rows go up in
    /// dk), with one more entry for the end.
    by_dk: Vec<usize>,
}

/// The rows `[dk, dj, half-width in i]` of voxels whose centres are within squared
/// radius `r2` (strictly).
fn ball_rows(r2: f64, spacing_mm: [f64; 3]) -> Vec<[i32; 3]> {
    let [si, sj, sk] = spacing_mm;
    let mut rows = Vec::new();
    let span_k = strict_span(r2, sk) as i32;
    for dk in -span_k..=span_k {
        let rr = r2 - (f64::from(dk) * sk).powi(2);
        let span_j = strict_span(rr, sj) as i32;
        for dj in -span_j..=span_j {
            let rem = rr - (f64::from(dj) * sj).powi(2);
            rows.push([dk, dj, strict_span(rem, si) as i32]);
        }
    }
    rows
}

/// A large ball of the ridge, for painting largest first: its diameter, its slice, its
/// place in that slice's list, and how many slices it reaches on either side.
#[derive(Clone, Copy)]
pub(super) struct LargeBall {
    diameter_mm: f32,
    k: u32,
    index: u32,
    reach_k: u32,
}

/// The ridge balls whose squared radius (mm^2, as painted) is at least `r2_large`, largest
/// diameter first.
pub(super) fn large_first(
    by_slice: &[Vec<RidgeBall>],
    r2_large: f64,
    spacing_k_mm: f64,
) -> Vec<LargeBall> {
    let mut large: Vec<LargeBall> = by_slice
        .par_iter()
        .enumerate()
        .flat_map_iter(|(k, ridge)| {
            ridge
                .iter()
                .enumerate()
                .filter(|(_, ball)| ball.r2_mm2 >= r2_large)
                .map(move |(index, ball)| LargeBall {
                    diameter_mm: ball.diameter_mm,
                    k: k as u32,
                    index: index as u32,
                    reach_k: strict_span(ball.r2_mm2, spacing_k_mm) as u32,
                })
        })
        .collect();
    large.par_sort_unstable_by(|a, b| b.diameter_mm.total_cmp(&a.diameter_mm));
    large
}

/// Paints the ridge balls that reach `slabs` (slices k0.. of a grid of `nk` slices of
/// `ni` x `nj`), each voxel keeping the largest diameter.
///
/// The `large` balls (see [`large_first`]; those with `r2_mm2 >= r2_large`) come first,
/// largest first, and each voxel is painted by the first that covers it: the rows of
/// these slabs remember which of their voxels are painted (as intervals), so a row of a
/// ball that lies where larger balls have painted costs a lookup, not a pass over its
/// voxels. The first large ball to cover a voxel is the largest that does (ties are equal
/// values), so the map is the same, value for value, as painting every ball with `max`;
/// the other balls are then painted with `max` as before.
pub(super) fn paint(
    slabs: &mut [f32],
    [k0, nk]: [usize; 2],
    [ni, nj]: [usize; 2],
    by_slice: &[Vec<RidgeBall>],
    stencils: &Stencils,
    (large, r2_large): (&[LargeBall], f64),
) {
    let plane = ni * nj;
    let k1 = (k0 + slabs.len() / plane).min(nk); // exclusive
    let mut own = Vec::new();
    if !large.is_empty() {
        let mut painted: Vec<Vec<[u32; 2]>> = vec![Vec::new(); (k1 - k0) * nj];
        for lb in large {
            let (kc, reach) = (lb.k as usize, lb.reach_k as usize);
            if kc + reach < k0 || kc >= k1 + reach {
                continue;
            }
            let ball = &by_slice[kc][lb.index as usize];
            let rows = stencils.rows(ball, &mut own);
            // Rows go up in dk: start at the first in these slabs.
            let dk_lo = k0 as i64 - kc as i64;
            let dk_hi = k1 as i64 - 1 - kc as i64;
            let first = rows.partition_point(|row| i64::from(row[0]) < dk_lo);
            let [ic, jc] = ball.at.map(i64::from);
            for &[dk, dj, span] in &rows[first..] {
                if i64::from(dk) > dk_hi {
                    break;
                }
                let j = jc + i64::from(dj);
                if j < 0 || j >= nj as i64 {
                    continue;
                }
                let i0 = (ic - i64::from(span)).max(0) as u32;
                let i1 = (ic + i64::from(span)).min(ni as i64 - 1) as u32;
                let row = (kc as i64 + i64::from(dk) - k0 as i64) as usize * nj + j as usize;
                let voxels = &mut slabs[row * ni..(row + 1) * ni];
                cover(&mut painted[row], [i0, i1], |a, b| {
                    raise(&mut voxels[a as usize..=b as usize], lb.diameter_mm);
                });
            }
        }
    }
    let lo = k0.saturating_sub(stencils.reach_k);
    let hi = (k1 + stencils.reach_k).min(nk);
    for (kc, ridge) in by_slice.iter().enumerate().take(hi).skip(lo) {
        for ball in ridge {
            if !large.is_empty() && ball.r2_mm2 >= r2_large {
                continue;
            }
            let [ic, jc] = ball.at.map(|x| x as usize);
            // Inside the grid in i and j: the rows of the slices in these slabs, unclipped.
            if let Some(flat) = stencils.flat.get(ball.level as usize)
                && !flat.rows.is_empty()
                && ic >= flat.reach[0]
                && ic + flat.reach[0] < ni
                && jc >= flat.reach[1]
                && jc + flat.reach[1] < nj
            {
                let rk = flat.reach[2] as isize;
                let dk_lo = (-rk).max(k0 as isize - kc as isize);
                let dk_hi = rk.min(k1 as isize - 1 - kc as isize);
                if dk_lo <= dk_hi {
                    let rows =
                        flat.by_dk[(dk_lo + rk) as usize]..flat.by_dk[(dk_hi + rk + 1) as usize];
                    let centre =
                        (kc as isize - k0 as isize) * plane as isize + (jc * ni + ic) as isize;
                    for &(start, len) in &flat.rows[rows] {
                        let start = (centre + start) as usize;
                        raise(&mut slabs[start..start + len], ball.diameter_mm);
                    }
                }
                continue;
            }
            let rows = stencils.rows(ball, &mut own);
            let [ic, jc] = [ic as isize, jc as isize];
            for &[dk, dj, span] in rows {
                let k = kc as isize + dk as isize;
                let j = jc + dj as isize;
                if k < k0 as isize || k >= k1 as isize || j < 0 || j >= nj as isize {
                    continue;
                }
                let i0 = (ic - span as isize).max(0) as usize;
                let i1 = ((ic + span as isize) as usize).min(ni - 1);
                let row = (k as usize - k0) * plane + j as usize * ni;
                raise(&mut slabs[row + i0..=row + i1], ball.diameter_mm);
            }
        }
    }
}

/// Marks `[a, b]` painted in a row's sorted list of painted intervals (disjoint, not
/// touching), calling `gap(x, y)` for each stretch `[x, y]` of it that was not.
#[inline]
fn cover(painted: &mut Vec<[u32; 2]>, [a, b]: [u32; 2], mut gap: impl FnMut(u32, u32)) {
    // The first interval that overlaps or touches [a, b] or lies beyond it.
    let first = painted.partition_point(|iv| iv[1] + 1 < a);
    if let Some(iv) = painted.get(first)
        && iv[0] <= a
        && iv[1] >= b
    {
        return;
    }
    let (mut cursor, mut lo, mut hi) = (a, a, b);
    let mut last = first;
    while let Some(&[s, e]) = painted.get(last)
        && s <= b + 1
    {
        if s > cursor {
            gap(cursor, s - 1);
        }
        cursor = cursor.max(e + 1);
        lo = lo.min(s);
        hi = hi.max(e);
        last += 1;
    }
    if cursor <= b {
        gap(cursor, b);
    }
    painted.splice(first..last, [[lo, hi]]);
}

/// `t = max(t, value)` along a row (vectorised by the compiler).
#[inline(always)]
fn raise(row: &mut [f32], value: f32) {
    for t in row {
        *t = t.max(value);
    }
}
