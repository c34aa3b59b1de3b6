//! Multi-resolution rigid registration: a pyramid (smooth, then block-average to 4, 2,
//! 1 x the fixed spacing by default), a fixed sample of the fixed image per level, and
//! L-BFGS on scaled parameters (rotations in mm of arc at the samples' radius, so a step
//! moves points about equally in every direction), about the centroid of the region. At the
//! coarsest level a few rotated starts are tried and the best is kept. Deterministic for a
//! seed.

use std::time::Instant;

use nalgebra::{Point3, Vector3};
use serde::Serialize;

use super::metric::{Metric, Moving, Samples, evaluate, robust_range};
use super::transform::{EulerRigid, MAX_PARAMS as N, Params};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::rng::Rng;
use srrd_base::volume::filter::{shrink_factors, smooth_and_shrink};
use srrd_base::volume::{AffineTransform, Mask, RigidTransform, Volume};

/// Settings of a rigid registration.
#[derive(Clone, Debug)]
pub struct RigidOptions {
    pub metric: Metric,
    /// Pyramid levels as target spacings in mm, coarse to fine.
    pub levels_mm: Vec<f64>,
    /// Samples of the fixed image per level (a seeded random subset of the mask's voxels).
    pub max_samples: usize,
    /// Iterations per level at most.
    pub iterations: usize,
    /// Smallest step (mm) at the finest level: convergence.
    pub min_step_mm: f64,
    /// Try rotated starts (+-`multistart_deg` about each axis) at the coarsest level.
    pub multistart_deg: Option<f64>,
    /// After the rigid levels, refine an affine (12-parameter) transform at the two finest
    /// levels.
    pub affine: bool,
    pub seed: u64,
}

impl Default for RigidOptions {
    fn default() -> Self {
        RigidOptions {
            metric: Metric::MattesMi { bins: 32 },
            levels_mm: vec![4.0, 2.0, 1.0],
            max_samples: 40_000,
            iterations: 200,
            min_step_mm: 0.01,
            multistart_deg: Some(12.0),
            affine: false,
            seed: 1,
        }
    }
}

/// One pyramid level's account.
#[derive(Clone, Debug, Serialize)]
pub struct LevelReport {
    pub spacing_mm: f64,
    pub samples: usize,
    pub iterations: usize,
    pub final_cost: f64,
    pub final_step_mm: f64,
    pub converged: bool,
}

/// The result: fixed -> moving, about the fixed image's centre.
#[derive(Clone, Debug)]
pub struct RigidResult {
    /// The rigid result.
    pub transform: RigidTransform,
    /// The affine result when `affine` was asked.
    pub affine: Option<AffineTransform>,
    pub levels: Vec<LevelReport>,
    pub seconds: f64,
}

impl RigidResult {
    /// The final transform: the affine one when there is one, else the rigid one.
    pub fn final_transform(&self) -> AffineTransform {
        self.affine
            .clone()
            .unwrap_or_else(|| self.transform.to_affine())
    }
}

/// The fixed samples of one level: voxel centres inside the (shrunk) mask.
fn level_samples(
    fixed: &Volume,
    mask: Option<&Mask>,
    full: &Volume,
    max: usize,
    rng: &mut Rng,
) -> Samples {
    let g = &fixed.geometry;
    let [ni, nj, nk] = g.size;
    let data = fixed.data.as_slice().unwrap_or(&[]);
    let f = shrink_factors(
        &full.geometry,
        g.spacing_mm[0].max(g.spacing_mm[1]).max(g.spacing_mm[2]),
    );
    let fs = full.geometry.size;
    let inside = |i: usize, j: usize, k: usize| -> bool {
        let Some(m) = mask else { return true };
        // Any voxel of the block in the mask.
        let (i0, j0, k0) = (i * f[0], j * f[1], k * f[2]);
        for c in k0..(k0 + f[2]).min(fs[2]) {
            for b in j0..(j0 + f[1]).min(fs[1]) {
                for a in i0..(i0 + f[0]).min(fs[0]) {
                    if m.at(a, b, c) {
                        return true;
                    }
                }
            }
        }
        false
    };
    let mut idx: Vec<usize> = Vec::new();
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                if inside(i, j, k) {
                    idx.push(g.index(i, j, k));
                }
            }
        }
    }
    if idx.len() > max {
        // Partial Fisher-Yates: a seeded subset, then back to memory order.
        for s in 0..max {
            let r = s + (rng.next_u64() % (idx.len() - s) as u64) as usize;
            idx.swap(s, r);
        }
        idx.truncate(max);
        idx.sort_unstable();
    }
    // Jittered inside each voxel (fixed value interpolated there): samples on the grid
    // nodes of an image that shares the moving grid (crMR on the CT grid) would give mutual
    // information its interpolation artefact, a false optimum at every whole-voxel shift.
    let sampler = Moving::new(fixed);
    let mut samples = Samples::default();
    for n in idx {
        let [i, j, k] = g.ijk(n);
        let mut jitter = || (rng.uniform() - 0.5) * 0.9;
        let u = Vector3::new(
            i as f64 + jitter(),
            j as f64 + jitter(),
            k as f64 + jitter(),
        );
        let p = g.index_to_world(u);
        match sampler.as_ref().and_then(|s| s.sample(&p)) {
            Some((v, _)) => {
                samples.points.push(p);
                samples.values.push(v);
            }
            None => {
                samples
                    .points
                    .push(g.index_to_world(Vector3::new(i as f64, j as f64, k as f64)));
                samples.values.push(data[n]);
            }
        }
    }
    samples
}

/// L-BFGS (memory 6) with a backtracking Armijo line search, in scaled parameters
/// (rotations as mm of arc at `radius_mm`, translations in mm); steps are capped at
/// `step0` mm. Converged when an accepted step is shorter than `min_step` mm. Returns the
/// final transform, cost, iterations, last step and convergence.
#[allow(clippy::too_many_arguments)]
fn descend(
    metric: Metric,
    samples: &Samples,
    fr: (f32, f32),
    moving: &Moving,
    start: &Params,
    radius_mm: f64,
    step0: f64,
    min_step: f64,
    iterations: usize,
    progress: &Progress,
) -> Result<(Params, f64, usize, f64, bool)> {
    let scale: [f64; N] = std::array::from_fn(|p| if start.is_linear(p) { radius_mm } else { 1.0 });
    let eval = |t: &Params| {
        let e = evaluate(metric, samples, fr, moving, t);
        let g: [f64; N] = std::array::from_fn(|p| e.gradient[p] / scale[p]);
        (e.cost, g)
    };
    let dot = |a: &[f64; N], b: &[f64; N]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let norm = |a: &[f64; N]| dot(a, a).sqrt();
    let mut t = start.clone();
    let (mut cost, mut g) = eval(&t);
    if !cost.is_finite() {
        return Err(Error::invalid(
            "the images do not overlap at the start of the registration",
        ));
    }
    let mut memory: std::collections::VecDeque<([f64; N], [f64; N])> = Default::default();
    let mut last_step = step0;
    let mut converged = false;
    let mut it = 0;
    while it < iterations {
        progress.check()?;
        it += 1;
        // Two-loop recursion: d = -H g.
        let mut q = g;
        let mut alphas = Vec::with_capacity(memory.len());
        for (s, y) in memory.iter().rev() {
            let rho = 1.0 / dot(y, s);
            let a = rho * dot(s, &q);
            for p in 0..N {
                q[p] -= a * y[p];
            }
            alphas.push((a, rho));
        }
        if let Some((s, y)) = memory.back() {
            let gamma = dot(s, y) / dot(y, y);
            q = q.map(|v| v * gamma);
        } else {
            let n = norm(&g).max(1e-300);
            q = q.map(|v| v * step0 / n);
        }
        for ((s, y), (a, rho)) in memory.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            for p in 0..N {
                q[p] += s[p] * (a - b);
            }
        }
        let mut d = q.map(|v| -v);
        if dot(&d, &g) >= 0.0 {
            memory.clear();
            let n = norm(&g).max(1e-300);
            d = g.map(|v| -v * step0 / n);
        }
        let len = norm(&d);
        if len > step0 {
            d = d.map(|v| v * step0 / len);
        }
        // Backtracking line search.
        let slope = dot(&g, &d);
        let mut alpha = 1.0;
        let mut accepted = None;
        while alpha * norm(&d) >= 0.25 * min_step {
            let mut cand = t.clone();
            for p in 0..N {
                cand.add(p, alpha * d[p] / scale[p]);
            }
            let (c, cg) = eval(&cand);
            if c.is_finite() && c <= cost + 1e-4 * alpha * slope {
                accepted = Some((cand, c, cg));
                break;
            }
            alpha *= 0.5;
        }
        let Some((cand, c, cg)) = accepted else {
            converged = true;
            break;
        };
        let s: [f64; N] = d.map(|v| v * alpha);
        let y: [f64; N] = std::array::from_fn(|p| cg[p] - g[p]);
        if dot(&s, &y) > 1e-12 {
            memory.push_back((s, y));
            if memory.len() > 6 {
                memory.pop_front();
            }
        }
        t = cand;
        cost = c;
        g = cg;
        last_step = norm(&s);
        if last_step < min_step {
            converged = true;
            break;
        }
    }
    Ok((t, cost, it, last_step, converged))
}

/// Registers `moving` to `fixed` (rigid), optionally restricted to `fixed_mask` (on the
/// fixed grid), starting from `start_moving_from_fixed` or from aligned FOV centres.
pub fn register_rigid(
    fixed: &Volume,
    moving: &Volume,
    fixed_mask: Option<&Mask>,
    start_moving_from_fixed: Option<&RigidTransform>,
    options: &RigidOptions,
    progress: &Progress,
) -> Result<RigidResult> {
    let clock = Instant::now();
    if let Some(m) = fixed_mask {
        if m.geometry().size != fixed.geometry.size {
            return Err(Error::invalid(
                "the fixed mask is not on the fixed image's grid",
            ));
        }
        if m.count() == 0 {
            return Err(Error::invalid("the fixed mask is empty"));
        }
    }
    // Rotations about the centroid of the region registered: rotation and translation
    // then barely couple (a bone's rotation does not look like a shift).
    let center = match fixed_mask {
        Some(m) => m.centroid_mm(),
        None => fixed.geometry.center_mm(),
    };
    let mut t = Params::Rigid(match start_moving_from_fixed {
        Some(r) => EulerRigid::from_rigid(r, center),
        None => {
            // Field-of-view centres aligned: y = x + (c_moving - c_fixed).
            let d = moving.geometry.center_mm() - fixed.geometry.center_mm();
            EulerRigid {
                angles: [0.0; 3],
                translation: d.into(),
                center,
            }
        }
    });
    let mut rigid_result: Option<RigidTransform> = None;
    let mut rng = Rng::new(options.seed, "registration samples");
    let mut levels = Vec::new();
    let fixed_std = fixed.clone();
    // Stages: the rigid levels, then (affine) the two finest levels again, affine.
    let mut stages: Vec<(f64, bool)> = options.levels_mm.iter().map(|l| (*l, false)).collect();
    if options.affine {
        let n = options.levels_mm.len();
        for l in &options.levels_mm[n.saturating_sub(2)..] {
            stages.push((*l, true));
        }
    }
    let nlev = stages.len();
    // The finest level once from the full images (a 640x640x120 MR is smoothed once),
    // coarser levels from it.
    progress.start("registration: image pyramid", 1);
    let finest = options.levels_mm.iter().cloned().fold(f64::MAX, f64::min);
    let f_base = smooth_and_shrink(&fixed_std, finest);
    let m_base = smooth_and_shrink(moving, finest);
    for (l, &(level_mm, affine)) in stages.iter().enumerate() {
        if affine && matches!(t, Params::Rigid(_)) {
            if let Params::Rigid(r) = &t {
                rigid_result = Some(r.to_rigid());
            }
            t = t.to_affine_params();
        }
        progress.start(
            &format!("registration: level {} of {nlev} ({level_mm} mm)", l + 1),
            options.iterations as u64,
        );
        let f = if level_mm > finest {
            smooth_and_shrink(&f_base, level_mm)
        } else {
            f_base.clone()
        };
        let m = if level_mm > finest {
            smooth_and_shrink(&m_base, level_mm)
        } else {
            m_base.clone()
        };
        let samples = level_samples(&f, fixed_mask, &fixed_std, options.max_samples, &mut rng);
        if samples.points.len() < 64 {
            return Err(Error::invalid(
                "too few fixed samples: the mask or image is too small",
            ));
        }
        let fr = robust_range(&samples.values);
        let mv =
            Moving::new(&m).ok_or_else(|| Error::invalid("moving voxels are not contiguous"))?;
        let radius = (samples
            .points
            .iter()
            .map(|p| (p - center).norm_squared())
            .sum::<f64>()
            / samples.points.len() as f64)
            .sqrt()
            .max(10.0);
        let step0 = level_mm;
        let last_of_kind = l + 1 == nlev || (!affine && stages[l + 1].1);
        let min_step = if last_of_kind {
            options.min_step_mm
        } else {
            0.05 * level_mm
        };
        if l == 0
            && let Some(deg) = options.multistart_deg
        {
            // A few short runs from rotated starts; keep the best.
            let mut best: Option<(Params, f64)> = None;
            let a = deg.to_radians();
            let mut starts = vec![t.clone()];
            for axis in 0..3 {
                for s in [-a, a] {
                    let mut c = t.clone();
                    c.add(axis, s);
                    starts.push(c);
                }
            }
            for s in &starts {
                let (r, cost, ..) = descend(
                    options.metric,
                    &samples,
                    fr,
                    &mv,
                    s,
                    radius,
                    step0,
                    min_step,
                    30,
                    progress,
                )?;
                if best.as_ref().is_none_or(|b| cost < b.1) {
                    best = Some((r, cost));
                }
            }
            if let Some((b, _)) = best {
                t = b;
            }
        }
        let (r, cost, it, step, converged) = descend(
            options.metric,
            &samples,
            fr,
            &mv,
            &t,
            radius,
            step0,
            min_step,
            options.iterations,
            progress,
        )?;
        t = r;
        levels.push(LevelReport {
            spacing_mm: level_mm,
            samples: samples.points.len(),
            iterations: it,
            final_cost: cost,
            final_step_mm: step,
            converged,
        });
    }
    let (transform, affine) = match (&t, rigid_result) {
        (Params::Rigid(r), _) => (r.to_rigid(), None),
        (a, Some(r)) => (r, Some(a.to_affine())),
        (a, None) => (RigidTransform::default(), Some(a.to_affine())),
    };
    Ok(RigidResult {
        transform,
        affine,
        levels,
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// Mean distance (mm) between where two transforms send a set of points.
pub fn mean_displacement(a: &RigidTransform, b: &RigidTransform, points: &[Point3<f64>]) -> f64 {
    use srrd_base::volume::PointTransform;
    points
        .iter()
        .map(|p| (a.transform_point(p) - b.transform_point(p)).norm())
        .sum::<f64>()
        / points.len().max(1) as f64
}
