//! Image similarity metrics with analytic gradients with respect to rigid transform
//! parameters, over a fixed set of samples of the fixed image: Mattes mutual information
//! (multi-modal; fixed intensities binned with a box, moving with a cubic B-spline Parzen
//! window, as ITK's `MattesMutualInformationImageToImageMetric`), normalized
//! cross-correlation and mean squares (mono-modal). Costs are minimized: -MI, -NCC, MSE.

use nalgebra::{Matrix3, Point3, Vector3};
use rayon::prelude::*;

use super::transform::{MAX_PARAMS, Params};
use srrd_base::volume::{Mask, Volume, voxel_index};

/// Which similarity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Mattes mutual information with this many histogram bins.
    MattesMi { bins: usize },
    /// Normalized cross-correlation.
    Ncc,
    /// Mean of squared differences.
    MeanSquares,
}

impl Metric {
    /// Parses "mi", "ncc" or "ms".
    pub fn parse(s: &str) -> srrd_base::Result<Self> {
        match s {
            "mi" | "mattes" => Ok(Metric::MattesMi { bins: 32 }),
            "ncc" => Ok(Metric::Ncc),
            "ms" | "meansquares" => Ok(Metric::MeanSquares),
            o => Err(srrd_base::Error::invalid(format!(
                "unknown metric '{o}' (use mi, ncc or ms)"
            ))),
        }
    }
}

/// Points of the fixed image (world mm) and their intensities.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub points: Vec<Point3<f64>>,
    pub values: Vec<f32>,
}

/// The moving image prepared for fast sampling with gradients. NaN voxels count as
/// outside the image: that is how a moving mask works (`mask_moving`).
pub struct Moving<'a> {
    data: &'a [f32],
    size: [usize; 3],
    /// world -> continuous index: idx = a * p + b.
    a: Matrix3<f64>,
    b: Vector3<f64>,
    /// index-space gradient -> world gradient.
    grad_to_world: Matrix3<f64>,
    /// Intensity range used for binning (robust percentiles).
    pub range: (f32, f32),
}

impl<'a> Moving<'a> {
    /// Wraps a contiguous volume.
    pub fn new(v: &'a Volume) -> Option<Self> {
        let data = v.data.as_slice()?;
        let g = &v.geometry;
        let m = g.world_to_index_matrix();
        let a = m.fixed_view::<3, 3>(0, 0).into_owned();
        let b = m.fixed_view::<3, 1>(0, 3).into_owned();
        let grad_to_world = a.transpose();
        Some(Moving {
            data,
            size: g.size,
            a,
            b,
            grad_to_world,
            range: robust_range(data),
        })
    }

    /// Trilinear value and world gradient at world point `p` (None outside).
    #[inline]
    pub fn sample(&self, p: &Point3<f64>) -> Option<(f32, Vector3<f64>)> {
        let u = self.a * p.coords + self.b;
        let [ni, nj, nk] = self.size;
        if u.x < 0.0 || u.y < 0.0 || u.z < 0.0 {
            return None;
        }
        let (x0, y0, z0) = (
            u.x.floor() as usize,
            u.y.floor() as usize,
            u.z.floor() as usize,
        );
        if x0 + 1 >= ni || y0 + 1 >= nj || z0 + 1 >= nk {
            return None;
        }
        let (tx, ty, tz) = (
            (u.x - x0 as f64) as f32,
            (u.y - y0 as f64) as f32,
            (u.z - z0 as f64) as f32,
        );
        let at = |i: usize, j: usize, k: usize| self.data[voxel_index(self.size, i, j, k)];
        let c000 = at(x0, y0, z0);
        let c100 = at(x0 + 1, y0, z0);
        let c010 = at(x0, y0 + 1, z0);
        let c110 = at(x0 + 1, y0 + 1, z0);
        let c001 = at(x0, y0, z0 + 1);
        let c101 = at(x0 + 1, y0, z0 + 1);
        let c011 = at(x0, y0 + 1, z0 + 1);
        let c111 = at(x0 + 1, y0 + 1, z0 + 1);
        let x00 = c000 + (c100 - c000) * tx;
        let x10 = c010 + (c110 - c010) * tx;
        let x01 = c001 + (c101 - c001) * tx;
        let x11 = c011 + (c111 - c011) * tx;
        let y0v = x00 + (x10 - x00) * ty;
        let y1v = x01 + (x11 - x01) * ty;
        let v = y0v + (y1v - y0v) * tz;
        if !v.is_finite() {
            // NaN voxels are outside the moving mask (see `mask_moving`).
            return None;
        }
        // Derivatives of the trilinear interpolant.
        let dx0 = (c100 - c000) + ((c110 - c010) - (c100 - c000)) * ty;
        let dx1 = (c101 - c001) + ((c111 - c011) - (c101 - c001)) * ty;
        let dx = dx0 + (dx1 - dx0) * tz;
        let dy = (x10 - x00) + ((x11 - x01) - (x10 - x00)) * tz;
        let dz = y1v - y0v;
        let g = self.grad_to_world * Vector3::new(dx as f64, dy as f64, dz as f64);
        Some((v, g))
    }
}

/// The moving image with voxels outside `mask` set to NaN, so no sample uses them. The
/// pyramid's smoothing spreads NaN by its radius: the mask shrinks a little at coarse levels.
pub fn mask_moving(v: &Volume, mask: &Mask) -> Volume {
    let mut out = v.clone();
    for (x, m) in out.data.iter_mut().zip(mask.inside()) {
        if !*m {
            *x = f32::NAN;
        }
    }
    out
}

/// 0.5th and 99.5th percentiles (of a strided subsample).
pub fn robust_range(v: &[f32]) -> (f32, f32) {
    match tail_percentiles(v, 200_000, 200) {
        Some((lo, hi)) => (lo, if hi > lo { hi } else { lo + 1.0 }),
        None => (0.0, 1.0),
    }
}

/// The `1/tail` and `1 - 1/tail` quantiles of the finite values of `v` (a strided
/// subsample of about `samples` of them; e.g. `tail` 100: the 1st and 99th percentiles);
/// None when no value is finite.
pub fn tail_percentiles(v: &[f32], samples: usize, tail: usize) -> Option<(f32, f32)> {
    let step = (v.len() / samples.max(1)).max(1);
    let mut s: Vec<f32> = v
        .iter()
        .step_by(step)
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f32::total_cmp);
    let tail = tail.max(1);
    Some((s[s.len() / tail], s[(s.len() * (tail - 1)) / tail]))
}

/// A metric value, its gradient with respect to the 6 rigid parameters, and how many
/// samples mapped inside the moving image.
#[derive(Clone, Copy, Debug)]
pub struct Evaluation {
    pub cost: f64,
    pub gradient: [f64; MAX_PARAMS],
    pub valid: usize,
}

fn bspline3(t: f64) -> f64 {
    let a = t.abs();
    if a < 1.0 {
        (4.0 - 6.0 * a * a + 3.0 * a * a * a) / 6.0
    } else if a < 2.0 {
        (2.0 - a).powi(3) / 6.0
    } else {
        0.0
    }
}

fn bspline3_derivative(t: f64) -> f64 {
    let a = t.abs();
    if a < 1.0 {
        -2.0 * t + 1.5 * t * a
    } else if a < 2.0 {
        -t.signum() * (2.0 - a).powi(2) / 2.0
    } else {
        0.0
    }
}

/// Per-sample data of one evaluation: moving value and its parameter derivatives.
struct Mapped {
    fixed: f32,
    moving: f32,
    /// d(moving value)/d(parameter), zero beyond the model's parameters.
    dm: [f64; MAX_PARAMS],
}

fn map_samples(samples: &Samples, moving: &Moving, t: &Params) -> Vec<Mapped> {
    let (m, dr, c, tr) = match t {
        Params::Rigid(r) => {
            let (m, dr) = r.rotation_and_derivatives();
            (m, Some(dr), r.center, Vector3::from(r.translation))
        }
        Params::Affine {
            matrix,
            translation,
            center,
        } => (*matrix, None, *center, Vector3::from(*translation)),
    };
    samples
        .points
        .par_iter()
        .zip(samples.values.par_iter())
        .filter_map(|(x, f)| {
            let d = x - c;
            let y = Point3::from(m * d + c.coords + tr);
            let (v, g) = moving.sample(&y)?;
            let mut dm = [0.0; MAX_PARAMS];
            match &dr {
                Some(dr) => {
                    for a in 0..3 {
                        dm[a] = g.dot(&(dr[a] * d));
                        dm[3 + a] = g[a];
                    }
                }
                None => {
                    // y_i = sum_j A_ij d_j + ...: d y / d A_ij = e_i d_j.
                    for i in 0..3 {
                        for j in 0..3 {
                            dm[3 * i + j] = g[i] * d[j];
                        }
                        dm[9 + i] = g[i];
                    }
                }
            }
            Some(Mapped {
                fixed: *f,
                moving: v,
                dm,
            })
        })
        .collect()
}

/// Evaluates `metric` for transform `t` (fixed -> moving) on `samples`.
pub fn evaluate(
    metric: Metric,
    samples: &Samples,
    fixed_range: (f32, f32),
    moving: &Moving,
    t: &Params,
) -> Evaluation {
    let mapped = map_samples(samples, moving, t);
    let n = mapped.len();
    if n < 16 {
        return Evaluation {
            cost: f64::INFINITY,
            gradient: [0.0; MAX_PARAMS],
            valid: n,
        };
    }
    let nf = n as f64;
    match metric {
        Metric::MeanSquares => {
            let (cost, grad) = mapped
                .par_iter()
                .fold(
                    || (0.0f64, [0.0f64; MAX_PARAMS]),
                    |(c, mut g), s| {
                        let e = (s.moving - s.fixed) as f64;
                        for (ga, d) in g.iter_mut().zip(&s.dm) {
                            *ga += 2.0 * e * d;
                        }
                        (c + e * e, g)
                    },
                )
                .reduce(|| (0.0, [0.0; MAX_PARAMS]), add_pair);
            Evaluation {
                cost: cost / nf,
                gradient: grad.map(|v| v / nf),
                valid: n,
            }
        }
        Metric::Ncc => {
            let fm = mapped.iter().map(|s| s.fixed as f64).sum::<f64>() / nf;
            let mm = mapped.iter().map(|s| s.moving as f64).sum::<f64>() / nf;
            let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
            let mut da = [0.0; MAX_PARAMS];
            let mut dc = [0.0; MAX_PARAMS];
            for s in &mapped {
                let (f, m) = (s.fixed as f64 - fm, s.moving as f64 - mm);
                a += f * m;
                b += f * f;
                c += m * m;
                for p in 0..MAX_PARAMS {
                    da[p] += f * s.dm[p];
                    dc[p] += 2.0 * m * s.dm[p];
                }
            }
            let bc = (b * c).sqrt().max(1e-12);
            let ncc = a / bc;
            let grad =
                std::array::from_fn(|p| -(da[p] / bc - a * dc[p] / (2.0 * c.max(1e-12) * bc)));
            Evaluation {
                cost: -ncc,
                gradient: grad,
                valid: n,
            }
        }
        Metric::MattesMi { bins } => mattes(bins, &mapped, fixed_range, moving.range),
    }
}

fn add_pair(a: (f64, [f64; MAX_PARAMS]), b: (f64, [f64; MAX_PARAMS])) -> (f64, [f64; MAX_PARAMS]) {
    (a.0 + b.0, std::array::from_fn(|i| a.1[i] + b.1[i]))
}

fn mattes(bins: usize, mapped: &[Mapped], fr: (f32, f32), mr: (f32, f32)) -> Evaluation {
    let nb = bins.max(8);
    let n = mapped.len() as f64;
    // Fixed: box window over bins 2..nb-2; moving: cubic B-spline, centres in [2, nb-3].
    let fscale = (nb - 4) as f64 / (fr.1 - fr.0).max(1e-6) as f64;
    let mscale = (nb - 5) as f64 / (mr.1 - mr.0).max(1e-6) as f64;
    let fbin = |f: f32| (((f.clamp(fr.0, fr.1) - fr.0) as f64 * fscale) as usize).min(nb - 5) + 2;
    let mpos = |m: f32| -> (f64, bool) {
        let clamped = m < mr.0 || m > mr.1;
        ((m.clamp(mr.0, mr.1) - mr.0) as f64 * mscale + 2.0, clamped)
    };
    let joint = mapped
        .par_iter()
        .fold(
            || vec![0.0f64; nb * nb],
            |mut h, s| {
                let fb = fbin(s.fixed);
                let (mc, _) = mpos(s.moving);
                let m0 = mc.floor() as isize;
                for mb in (m0 - 1)..=(m0 + 2) {
                    if mb >= 0 && (mb as usize) < nb {
                        h[fb * nb + mb as usize] += bspline3(mb as f64 - mc);
                    }
                }
                h
            },
        )
        .reduce(
            || vec![0.0f64; nb * nb],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let total: f64 = joint.iter().sum::<f64>().max(1e-12);
    let p: Vec<f64> = joint.iter().map(|v| v / total).collect();
    let mut pf = vec![0.0; nb];
    let mut pm = vec![0.0; nb];
    for f in 0..nb {
        for m in 0..nb {
            pf[f] += p[f * nb + m];
            pm[m] += p[f * nb + m];
        }
    }
    let mut mi = 0.0;
    let mut log_ratio = vec![0.0; nb * nb];
    for f in 0..nb {
        for m in 0..nb {
            let v = p[f * nb + m];
            if v > 1e-16 && pm[m] > 1e-16 && pf[f] > 1e-16 {
                mi += v * (v / (pf[f] * pm[m])).ln();
                log_ratio[f * nb + m] = (v / pm[m]).ln();
            }
        }
    }
    let grad = mapped
        .par_iter()
        .fold(
            || [0.0f64; MAX_PARAMS],
            |mut g, s| {
                let (mc, clamped) = mpos(s.moving);
                if clamped {
                    return g;
                }
                let fb = fbin(s.fixed);
                let m0 = mc.floor() as isize;
                let mut w = 0.0;
                for mb in (m0 - 1)..=(m0 + 2) {
                    if mb >= 0 && (mb as usize) < nb {
                        w += log_ratio[fb * nb + mb as usize] * bspline3_derivative(mb as f64 - mc);
                    }
                }
                // d p / d mu = -(1/N) beta'(m - mc) d mc / d mu, d mc / d mu = mscale dm.
                for (ga, d) in g.iter_mut().zip(&s.dm) {
                    *ga -= w * mscale * d;
                }
                g
            },
        )
        .reduce(
            || [0.0; MAX_PARAMS],
            |a, b| std::array::from_fn(|i| a[i] + b[i]),
        );
    // cost = -MI; gradient of -MI.
    Evaluation {
        cost: -mi,
        gradient: grad.map(|v| -v / n),
        valid: mapped.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EulerRigid;
    use srrd_base::volume::Geometry;

    fn blob(g: Geometry, c: [f64; 3], contrast: f32) -> Volume {
        let gg = g.clone();
        Volume::from_fn(g, move |i, j, k| {
            let p = gg.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
            let r2 = (p.x - c[0]).powi(2) / 80.0
                + (p.y - c[1]).powi(2) / 40.0
                + (p.z - c[2]).powi(2) / 60.0;
            let inner =
                (p.x - c[0] - 3.0).powi(2) + (p.y - c[1]).powi(2) + (p.z - c[2] + 2.0).powi(2);
            contrast * ((-r2).exp() as f32) + 0.5 * ((-inner / 8.0).exp() as f32)
        })
    }

    /// Analytic gradients agree with finite differences for every metric.
    #[test]
    fn gradients_match_finite_differences() {
        let g = Geometry::new([24, 22, 20], [1.0, 1.1, 1.2], [-12.0, -11.0, -10.0]);
        let fixed = blob(g.clone(), [0.0, 0.0, 0.0], 1.0);
        let moving_img = blob(g.clone(), [1.0, -0.5, 0.7], -2.0);
        let moving = Moving::new(&moving_img).expect("contiguous");
        let fd = fixed.data.as_slice().expect("contiguous");
        let mut samples = Samples::default();
        for k in 3..17 {
            for j in 3..19 {
                for i in 3..21 {
                    samples
                        .points
                        .push(g.index_to_world(Vector3::new(i as f64, j as f64, k as f64)));
                    samples.values.push(fd[(k * 22 + j) * 24 + i]);
                }
            }
        }
        let fr = robust_range(&samples.values);
        let rigid = Params::Rigid(EulerRigid {
            angles: [0.05, -0.03, 0.04],
            translation: [0.4, -0.3, 0.2],
            center: Point3::origin(),
        });
        let mut affine = rigid.to_affine_params();
        affine.add(0, 0.03);
        affine.add(5, -0.02);
        for (t, metric) in [
            (&rigid, Metric::MeanSquares),
            (&rigid, Metric::Ncc),
            (&rigid, Metric::MattesMi { bins: 24 }),
            (&affine, Metric::MeanSquares),
            (&affine, Metric::Ncc),
            (&affine, Metric::MattesMi { bins: 24 }),
        ] {
            let e = evaluate(metric, &samples, fr, &moving, t);
            for p in 0..t.n() {
                let h = if t.is_linear(p) { 1e-4 } else { 1e-3 };
                let mut a = t.clone();
                let mut b = t.clone();
                a.add(p, h);
                b.add(p, -h);
                let fd = (evaluate(metric, &samples, fr, &moving, &a).cost
                    - evaluate(metric, &samples, fr, &moving, &b).cost)
                    / (2.0 * h);
                let an = e.gradient[p];
                let tol = 0.05 * fd.abs().max(an.abs()) + 1e-6;
                assert!(
                    (fd - an).abs() < tol,
                    "{metric:?} parameter {p}: analytic {an} finite {fd}"
                );
            }
        }
    }

    #[test]
    fn mutual_information_peaks_at_alignment_across_contrasts() {
        let g = Geometry::new([24, 22, 20], [1.0, 1.0, 1.0], [-12.0, -11.0, -10.0]);
        let fixed = blob(g.clone(), [0.0, 0.0, 0.0], 1.0);
        let moving_img = blob(g.clone(), [0.0, 0.0, 0.0], -3.0);
        let moving = Moving::new(&moving_img).expect("contiguous");
        let fd = fixed.data.as_slice().expect("contiguous");
        let samples = Samples {
            points: (0..fd.len())
                .map(|n| {
                    g.index_to_world(Vector3::new(
                        (n % 24) as f64,
                        ((n / 24) % 22) as f64,
                        (n / 528) as f64,
                    ))
                })
                .collect(),
            values: fd.to_vec(),
        };
        let fr = robust_range(fd);
        let at = |dx: f64| {
            let t = Params::Rigid(EulerRigid {
                angles: [0.0; 3],
                translation: [dx, 0.0, 0.0],
                center: Point3::origin(),
            });
            evaluate(Metric::MattesMi { bins: 32 }, &samples, fr, &moving, &t).cost
        };
        assert!(
            at(0.0) < at(1.5) && at(0.0) < at(-1.5),
            "{} {} {}",
            at(-1.5),
            at(0.0),
            at(1.5)
        );
    }
}
