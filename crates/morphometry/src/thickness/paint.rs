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

/// Paints the ridge balls that reach `slabs` (slices k0.. of a grid of `nk` slices of
/// `ni` x `nj`), each voxel keeping the largest diameter.
pub(super) fn paint(
    slabs: &mut [f32],
    [k0, nk]: [usize; 2],
    [ni, nj]: [usize; 2],
    by_slice: &[Vec<RidgeBall>],
    stencils: &Stencils,
) {
    let plane = ni * nj;
    let k1 = (k0 + slabs.len() / plane).min(nk); // exclusive
    let lo = k0.saturating_sub(stencils.reach_k);
    let hi = (k1 + stencils.reach_k).min(nk);
    let mut own = Vec::new();
    for (kc, ridge) in by_slice.iter().enumerate().take(hi).skip(lo) {
        for ball in ridge {
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

/// `t = max(t, value)` along a row (vectorised by the compiler).
#[inline(always)]
fn raise(row: &mut [f32], value: f32) {
    for t in row {
        *t = t.max(value);
    }
}

