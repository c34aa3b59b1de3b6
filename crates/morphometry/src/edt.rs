//! Exact Euclidean distance transform in 3D with anisotropic spacing, separable (one pass
//! per axis), in parallel over lines.
//!
//! Convention: the distance of a voxel is the distance (mm) from its centre to the centre
//! of the nearest *background* voxel inside the grid. Voxels outside the grid are not
//! background: a structure that touches a face of the grid is treated as continuing
//! beyond it (the face is a cut, not a surface of the structure). A grid with no
//! background at all gives infinite distances.
//!
//! Speed: after the first pass a background voxel holds 0, and no sample beyond a zero
//! can beat that zero for the voxels on the near side of it. So each line splits into
//! runs of non-zero samples, each bounded by zeros (or the ends of the line), that are
//! solved independently: short runs (the usual case in trabecular bone) by direct
//! minimisation, long ones by Felzenszwalb & Huttenlocher's lower envelope of parabolas.
//! Strided lines are gathered in blocks of neighbouring columns so that memory is read a
//! cache line at a time.

use rayon::prelude::*;

/// Squared distances (mm^2) to the nearest background voxel, for a `[k][j][i]` grid of
/// `size` (i, j, k) where `foreground[n]` is true for structure voxels.
pub fn squared_edt(foreground: &[bool], size: [usize; 3], spacing_mm: [f64; 3]) -> Vec<f64> {
    assert_eq!(
        foreground.len(),
        size.iter().product::<usize>(),
        "grid and mask sizes agree"
    );
    squared_edt_to(|n| !foreground[n], size, spacing_mm)
}

/// The sample type of a distance map: `f64`, or `f32` for half the memory traffic
/// (squared distances in whole voxels stay exact).
pub trait Sample:
    Copy
    + Send
    + Sync
    + PartialEq
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// No distance at all.
    const INFINITY: Self;
    /// From a double, rounding.
    fn from_f64(v: f64) -> Self;
    /// To a double, exactly.
    fn to_f64(self) -> f64;
    /// The smaller of two (no NaN occurs here).
    fn min(self, other: Self) -> Self;
}

macro_rules! sample {
    ($t:ty) => {
        impl Sample for $t {
            const ZERO: Self = 0.0;
            const INFINITY: Self = <$t>::INFINITY;
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn min(self, other: Self) -> Self {
                if other < self { other } else { self }
            }
        }
    };
}
sample!(f32);
sample!(f64);

/// Squared distances (mm^2) to the nearest voxel where `is_background` holds; infinite
/// where no voxel does.
pub fn squared_edt_to<T: Sample>(
    is_background: impl Fn(usize) -> bool + Sync,
    size: [usize; 3],
    spacing_mm: [f64; 3],
) -> Vec<T> {
    let [ni, nj, nk] = size;
    let n = ni * nj * nk;
    if n == 0 {
        return Vec::new();
    }
    let mut d: Vec<T> = squared_edt_row_pass(&is_background, size, spacing_mm);
    // Along j (stride ni, one task per k-slab) and along k (stride ni * nj, one task per
    // j-row): the lines of different tasks are disjoint.
    let plane = ni * nj;
    let passes = [
        (nj, ni, nk, plane, spacing_mm[1]),
        (nk, plane, nj, ni, spacing_mm[2]),
    ];
    for (len, stride, tasks, task_step, step_mm) in passes {
        if len < 2 {
            continue;
        }
        let w = T::from_f64(step_mm * step_mm);
        let shared = SharedGrid(d.as_mut_ptr());
        (0..tasks).into_par_iter().for_each_init(
            || Lines::<T>::new(len),
            |lines, t| {
                let shared = &shared;
                let mut i0 = 0;
                while i0 < ni {
                    let width = BLOCK.min(ni - i0);
                    let base = t * task_step + i0;
                    // SAFETY: task t only touches the voxels base + c + x * stride
                    // (c < width, x < len), which no other task touches, all inside `d`.
                    unsafe { lines.transform(shared.0.add(base), stride, width, w) };
                    i0 += width;
                }
            },
        );
    }
    d
}

/// Squared distances (mm^2) to the nearest voxel where `is_background` holds, exact
/// where they are below `cap_mm2`; elsewhere some value at least `cap_mm2`.
///
/// The cap makes the second and third passes a short, fixed window: a sample farther
/// than sqrt(cap) along the line cannot give a result below the cap, and a result at or
/// above the cap in one pass only feeds results at or above it in the next. The windows
/// run along whole rows, which the compiler vectorises: for thin structures (trabecular
/// bone) this is several times faster than the unbounded transform.
pub fn squared_edt_capped(
    is_background: impl Fn(usize) -> bool + Sync,
    size: [usize; 3],
    spacing_mm: [f64; 3],
    cap_mm2: f32,
) -> Vec<f32> {
    let [ni, nj, nk] = size;
    let mut d: Vec<f32> = squared_edt_row_pass(&is_background, size, spacing_mm);
    let plane = ni * nj;
    if plane == 0 || nk == 0 {
        return d;
    }
    // Along j: within each slab, from a copy of it.
    let window = |step_mm: f64| -> Vec<f32> {
        let w = step_mm * step_mm;
        (1..)
            .map(|q: usize| (w * (q * q) as f64) as f32)
            .take_while(|cost| *cost < cap_mm2)
            .collect()
    };
    let costs_j = window(spacing_mm[1]);
    d.par_chunks_mut(plane).for_each_init(
        || vec![0f32; plane],
        |copy, slab| {
            copy.copy_from_slice(slab);
            band_min(copy, ni, &costs_j, slab);
        },
    );
    // Along k: for each j, the rows (k, j) for all k form a tile; tasks own distinct j.
    let costs_k = window(spacing_mm[2]);
    if nk > 1 && !costs_k.is_empty() {
        let shared = SharedGrid(d.as_mut_ptr());
        (0..nj).into_par_iter().for_each_init(
            || (vec![0f32; ni * nk], vec![0f32; ni * nk]),
            |(tile, out), j| {
                let shared = &shared;
                for k in 0..nk {
                    // SAFETY: row (k, j) lies inside `d` and only task j touches it.
                    let row =
                        unsafe { std::slice::from_raw_parts(shared.0.add(k * plane + j * ni), ni) };
                    tile[k * ni..(k + 1) * ni].copy_from_slice(row);
                }
                band_min(tile, ni, &costs_k, out);
                for k in 0..nk {
                    // SAFETY: as above; the rows of different j never overlap.
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(shared.0.add(k * plane + j * ni), ni)
                    };
                    row.copy_from_slice(&out[k * ni..(k + 1) * ni]);
                }
            },
        );
    }
    d
}

/// For rows of `width` samples stacked in `src`, `out[x] = min(src[x], src[x +- q rows] +
/// costs[q - 1])`, row by row so that each step is a vector operation.
fn band_min(src: &[f32], width: usize, costs: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { band_min_avx2(src, width, costs, out) };
    }
    band_min_portable(src, width, costs, out)
}

/// `band_min` compiled for AVX2 (8 lanes instead of SSE2's 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn band_min_avx2(src: &[f32], width: usize, costs: &[f32], out: &mut [f32]) {
    band_min_portable(src, width, costs, out)
}

#[inline(always)]
fn band_min_portable(src: &[f32], width: usize, costs: &[f32], out: &mut [f32]) {
    let rows = src.len() / width;
    for x in 0..rows {
        let o = &mut out[x * width..(x + 1) * width];
        o.copy_from_slice(&src[x * width..(x + 1) * width]);
        for (q, &cost) in costs.iter().enumerate() {
            let q = q + 1;
            if q <= x {
                min_shifted(o, &src[(x - q) * width..(x - q + 1) * width], cost);
            }
            if x + q < rows {
                min_shifted(o, &src[(x + q) * width..(x + q + 1) * width], cost);
            }
        }
    }
}

/// `o = min(o, s + cost)`, elementwise.
#[inline(always)]
fn min_shifted(o: &mut [f32], s: &[f32], cost: f32) {
    for (o, s) in o.iter_mut().zip(s) {
        let v = s + cost;
        if v < *o {
            *o = v;
        }
    }
}

/// The first pass: squared distances (mm^2) along i, within each row.
fn squared_edt_row_pass<T: Sample>(
    is_background: &(impl Fn(usize) -> bool + Sync),
    size: [usize; 3],
    spacing_mm: [f64; 3],
) -> Vec<T> {
    let [ni, nj, nk] = size;
    let mut d = vec![T::ZERO; ni * nj * nk];
    if ni == 0 {
        return d;
    }
    // Along i: steps to the nearest background voxel of the row, by two scans over a few
    // thousand voxels per task.
    let wi = spacing_mm[0] * spacing_mm[0];
    let rows_per_task = (4096 / ni).max(1);
    let far = 2 * ni as i64 + 2; // farther than any background voxel of a row
    d.par_chunks_mut(ni * rows_per_task)
        .enumerate()
        .for_each_init(
            || vec![0i64; ni],
            |last, (t, rows)| {
                for (r, row) in rows.chunks_mut(ni).enumerate() {
                    let base = (t * rows_per_task + r) * ni;
                    let mut at = -far;
                    for (x, l) in last.iter_mut().enumerate() {
                        if is_background(base + x) {
                            at = x as i64;
                        }
                        *l = at;
                    }
                    let mut next = far + ni as i64;
                    for x in (0..ni).rev() {
                        if last[x] == x as i64 {
                            next = x as i64;
                        }
                        let steps = (x as i64 - last[x]).min(next - x as i64);
                        row[x] = if steps > ni as i64 {
                            T::INFINITY
                        } else {
                            T::from_f64((steps * steps) as f64 * wi)
                        };
                    }
                }
            },
        );
    d
}

/// Columns gathered per block: 16 floats, one cache line.
const BLOCK: usize = 16;

/// A pointer to the distance buffer shared by tasks that touch disjoint voxels.
struct SharedGrid<T>(*mut T);
// SAFETY: used only where each task reads and writes its own, disjoint voxels.
unsafe impl<T> Sync for SharedGrid<T> {}
unsafe impl<T> Send for SharedGrid<T> {}

/// Scratch for one task: a block of gathered lines and the envelope's stacks.
struct Lines<T> {
    len: usize,
    block: Vec<T>,
    v: Vec<usize>,
    z: Vec<f64>,
    out: Vec<T>,
}

impl<T: Sample> Lines<T> {
    fn new(len: usize) -> Self {
        Lines {
            len,
            block: vec![T::ZERO; BLOCK * len],
            v: vec![0; len],
            z: vec![0.0; len + 1],
            out: vec![T::ZERO; len],
        }
    }

    /// Transforms `width` lines starting at `first` (consecutive columns), each of
    /// `self.len` samples `stride` apart, in place.
    ///
    /// # Safety
    /// Every `first + c + x * stride` (c < width, x < len) must be in bounds and not
    /// touched by anyone else meanwhile.
    unsafe fn transform(&mut self, first: *mut T, stride: usize, width: usize, w: T) {
        let len = self.len;
        for x in 0..len {
            // SAFETY: the caller's contract.
            let row = unsafe { std::slice::from_raw_parts(first.add(x * stride), width) };
            for (c, v) in row.iter().enumerate() {
                self.block[c * len + x] = *v;
            }
        }
        for c in 0..width {
            let line = &mut self.block[c * len..(c + 1) * len];
            let mut x = 0;
            while x < len {
                if line[x] == T::ZERO {
                    x += 1;
                    continue;
                }
                let a = x;
                while x < len && line[x] != T::ZERO {
                    x += 1;
                }
                // The run a..x with the zeros that bound it.
                let lo = a.saturating_sub(1);
                let hi = (x + 1).min(len);
                solve_run(
                    &mut line[lo..hi],
                    w,
                    &mut self.v,
                    &mut self.z,
                    &mut self.out,
                );
            }
        }
        for x in 0..len {
            // SAFETY: the caller's contract.
            let row = unsafe { std::slice::from_raw_parts_mut(first.add(x * stride), width) };
            for (c, v) in row.iter_mut().enumerate() {
                *v = self.block[c * len + x];
            }
        }
    }
}

/// Runs up to this long are minimised directly (quadratic but branch-free).
const DIRECT_RUN: usize = 24;

/// `f[x] = min_q f[q] + w (x - q)^2` over one run, in place.
fn solve_run<T: Sample>(f: &mut [T], w: T, v: &mut [usize], z: &mut [f64], out: &mut [T]) {
    let n = f.len();
    let out = &mut out[..n];
    if n <= DIRECT_RUN {
        for (x, o) in out.iter_mut().enumerate() {
            let mut best = f[x];
            for (q, &fq) in f.iter().enumerate() {
                let dx = T::from_f64(x as f64 - q as f64);
                best = best.min(fq + w * dx * dx);
            }
            *o = best;
        }
    } else {
        lower_envelope(f, w.to_f64(), v, z, out);
    }
    f.copy_from_slice(out);
}

/// 1D squared distance transform of sampled function `f` with squared step `w`
/// (`out[x] = min_q f[q] + w (x - q)^2`), skipping infinite samples.
fn lower_envelope<T: Sample>(f: &[T], w: f64, v: &mut [usize], z: &mut [f64], out: &mut [T]) {
    let n = f.len();
    let fq = |q: usize| f[q].to_f64();
    let mut k: isize = -1;
    for q in 0..n {
        if !fq(q).is_finite() {
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
            let s = ((fq(q) + w * (q * q) as f64) - (fq(p) + w * (p * p) as f64))
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
        out[..n].iter_mut().for_each(|o| *o = T::INFINITY);
        return;
    }
    let mut j = 0usize;
    for (x, o) in out[..n].iter_mut().enumerate() {
        while z[j + 1] < x as f64 {
            j += 1;
        }
        let q = v[j];
        let dx = x as f64 - q as f64;
        *o = T::from_f64(fq(q) + w * dx * dx);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn brute(fg: &[bool], size: [usize; 3], sp: [f64; 3]) -> Vec<f64> {
        let bg: Vec<bool> = fg.iter().map(|f| !f).collect();
        brute_squared_edt(&bg, size, sp)
    }

    /// The definition, for tests here and in `thickness`: squared distance (mm^2) to the
    /// nearest background voxel, by trying all of them, in double precision.
    pub(crate) fn brute_squared_edt(bg: &[bool], size: [usize; 3], sp: [f64; 3]) -> Vec<f64> {
        let at = |n: usize| srrd_base::volume::voxel_ijk(size, n);
        let background: Vec<[usize; 3]> = (0..bg.len()).filter(|&n| bg[n]).map(at).collect();
        (0..bg.len())
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
            .collect()
    }

    fn random_mask(size: [usize; 3], foreground_per_mille: u64, seed: u64) -> Vec<bool> {
        let mut state = seed;
        (0..size.iter().product::<usize>())
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) % 1000 < foreground_per_mille
            })
            .collect()
    }

    fn assert_matches_brute(size: [usize; 3], sp: [f64; 3], fg: &[bool]) {
        let fast = squared_edt(fg, size, sp);
        let slow = brute(fg, size, sp);
        for (a, b) in fast.iter().zip(slow.iter()) {
            // Single precision inside: exact in whole voxels, 1e-6 relative otherwise.
            assert!((a - b).abs() <= 1e-6 * b.max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn matches_brute_force_on_random_anisotropic_grid() {
        let size = [9, 7, 6];
        assert_matches_brute(size, [0.5, 0.8, 1.7], &random_mask(size, 800, 12345));
    }

    #[test]
    fn long_runs_match_brute_force() {
        // 2% background: runs far longer than the direct-minimisation limit, so the lower
        // envelope is used too; odd sizes leave partial column blocks.
        let size = [37, 29, 27];
        let fg = random_mask(size, 980, 777);
        assert_matches_brute(size, [1.0; 3], &fg);
        assert_matches_brute(size, [0.3, 0.45, 1.1], &fg);
    }

    #[test]
    fn all_foreground_is_infinite() {
        let d = squared_edt(&[true; 8], [2, 2, 2], [1.0; 3]);
        assert!(d.iter().all(|v| v.is_infinite()));
    }
}
