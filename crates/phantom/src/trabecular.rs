//! The trabecular microstructure: a procedural network of plates and rods, resolution
//! independent, whose local bone volume fraction and scale follow smooth knob fields.
//!
//! Structure. Four stationary Gaussian random fields with narrow isotropic spectra live on
//! one periodic tile (12 mm, 128^3, made by a separable sum over the lattice wave vectors of
//! a spectral shell): `f1a` (wavelength 1.6 mm), `f1b` (1.1 mm), `f2`, `f3` (1.6 mm). Bone
//! is where `|f1| < t1` (plates around the zero set of `f1 = cos(a) f1a + sin(a) f1b`, a
//! unit-variance field whose scale shifts finer as `a` grows) or where `|f2| < t2` and
//! `|f3| < t2` (rods along the intersection of two zero sets), `t2 = 1.5 t1`. The
//! threshold comes from the target volume fraction through the Gaussian law, so the knob
//! `bv_tv` sets BV/TV (and with it plate thickness and separation) and `alpha` the scale
//! (Tb.N). Each bone samples the tile through its own rotation and offset, so repeats are
//! oblique to every scanner axis; the structure is fixed to the bone and moves with it.
//!
//! Partial volume: `coverage` box-filters the indicator over a sub-sample cell in closed
//! form along the field's normal (the overlap of the cell with the slab `|f| < t`).

use nalgebra::{Matrix3, Point3, UnitQuaternion, Vector3};
use rayon::prelude::*;
use serde::Serialize;

use srrd_base::rng::Rng;

/// Tile side in cells (a power of two).
const TILE_N: usize = 128;
/// Tile side in mm.
const TILE_MM: f64 = 12.0;
/// Wavelengths (mm) of the coarse and the fine plate fields.
const LAMBDA_A_MM: f64 = 1.6;
const LAMBDA_B_MM: f64 = 1.1;
/// Rod threshold relative to the plate threshold.
const ROD_RATIO: f64 = 1.5;
/// Fixed-point scale of the stored fields.
const TILE_SCALE: f32 = 4096.0;

/// The knob values at a point: target volume fraction and scale mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    pub bv_tv: f64,
    pub alpha: f64,
}

/// Thresholds and filter widths derived from knobs.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    t1: f32,
    t2: f32,
    ca: f32,
    sa: f32,
    /// Mean gradient magnitude (field units per mm) of f1 and of f2/f3.
    g1: f32,
    g2: f32,
}

/// The procedural structure shared by all bones of one subject.
pub struct Structure {
    tile: Vec<[i16; 4]>,
    /// Per bone (femur, tibia, patella, fibula): bone frame (mm) -> tile cells.
    to_tile: [(Matrix3<f32>, Vector3<f32>); 4],
    /// Plate threshold t1 for volume fraction v = i / (TABLE_N - 1) * TABLE_MAX_V.
    threshold_table: Vec<f32>,
}

const TABLE_N: usize = 2049;
const TABLE_MAX_V: f64 = 0.85;

impl Structure {
    /// The structure of subject `seed` (tile phases and per-bone placements).
    pub fn new(seed: u64) -> Self {
        let specs = [
            (LAMBDA_A_MM, "f1a"),
            (LAMBDA_B_MM, "f1b"),
            (LAMBDA_A_MM, "f2"),
            (LAMBDA_A_MM, "f3"),
        ];
        let fields: Vec<Vec<f32>> = specs
            .iter()
            .map(|(l, name)| periodic_field(*l, &mut Rng::new(seed, name)))
            .collect();
        let tile: Vec<[i16; 4]> = (0..TILE_N * TILE_N * TILE_N)
            .into_par_iter()
            .map(|n| {
                let q =
                    |c: usize| (fields[c][n] * TILE_SCALE).round().clamp(-32767.0, 32767.0) as i16;
                [q(0), q(1), q(2), q(3)]
            })
            .collect();
        let mut rng = Rng::new(seed, "tile placement");
        let step = (TILE_MM / TILE_N as f64) as f32;
        let to_tile = std::array::from_fn(|_| {
            let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(
                rng.normal(),
                rng.normal(),
                rng.normal(),
                rng.normal(),
            ));
            let m: Matrix3<f32> = q.to_rotation_matrix().into_inner().cast::<f32>() / step;
            let off = Vector3::new(
                rng.range(0.0, TILE_N as f64),
                rng.range(0.0, TILE_N as f64),
                rng.range(0.0, TILE_N as f64),
            )
            .cast::<f32>();
            (m, off)
        });
        Structure {
            tile,
            to_tile,
            threshold_table: threshold_table(),
        }
    }

    /// Tile coordinates of a bone-frame point.
    pub fn tile_point(&self, bone: usize, p_bone: &Point3<f64>) -> [f32; 3] {
        let (m, off) = &self.to_tile[bone];
        let u = m * p_bone.coords.cast::<f32>() + off;
        [u.x, u.y, u.z]
    }

    /// Tile displacement of a bone-frame vector.
    pub fn tile_vector(&self, bone: usize, v_bone: &Vector3<f64>) -> [f32; 3] {
        let u = self.to_tile[bone].0 * v_bone.cast::<f32>();
        [u.x, u.y, u.z]
    }

    /// Thresholds for the knobs at a point.
    pub fn thresholds(&self, k: Knobs) -> Thresholds {
        let v = k.bv_tv.clamp(0.0, TABLE_MAX_V);
        let x = v / TABLE_MAX_V * (TABLE_N - 1) as f64;
        let i = (x.floor() as usize).min(TABLE_N - 2);
        let f = (x - i as f64) as f32;
        let t1 = self.threshold_table[i] * (1.0 - f) + self.threshold_table[i + 1] * f;
        let alpha = k.alpha.clamp(0.0, std::f64::consts::FRAC_PI_2);
        let (sa, ca) = alpha.sin_cos();
        let ka = std::f64::consts::TAU / LAMBDA_A_MM;
        let kb = std::f64::consts::TAU / LAMBDA_B_MM;
        // Mean |grad| of a unit-variance isotropic field with rms wavenumber k is ~0.92 k.
        let g1 = 0.92 * ((ca * ka).powi(2) + (sa * kb).powi(2)).sqrt();
        Thresholds {
            t1,
            t2: t1 * ROD_RATIO as f32,
            ca: ca as f32,
            sa: sa as f32,
            g1: g1 as f32,
            g2: (0.92 * ka) as f32,
        }
    }

    /// The four fields at tile coordinates `u` (trilinear, periodic).
    #[inline]
    fn fields(&self, u: [f32; 3]) -> [f32; 4] {
        let mask = TILE_N as i32 - 1;
        let fl = [u[0].floor(), u[1].floor(), u[2].floor()];
        let t = [u[0] - fl[0], u[1] - fl[1], u[2] - fl[2]];
        let (x0, y0, z0) = (fl[0] as i32, fl[1] as i32, fl[2] as i32);
        let xs = [(x0 & mask) as usize, ((x0 + 1) & mask) as usize];
        let ys = [
            (y0 & mask) as usize * TILE_N,
            ((y0 + 1) & mask) as usize * TILE_N,
        ];
        let zs = [
            (z0 & mask) as usize * TILE_N * TILE_N,
            ((z0 + 1) & mask) as usize * TILE_N * TILE_N,
        ];
        let wx = [1.0 - t[0], t[0]];
        let wy = [1.0 - t[1], t[1]];
        let wz = [1.0 - t[2], t[2]];
        let mut out = [0.0f32; 4];
        for c in 0..2 {
            for b in 0..2 {
                let row = zs[c] + ys[b];
                let w = wz[c] * wy[b];
                let a0 = &self.tile[row + xs[0]];
                let a1 = &self.tile[row + xs[1]];
                let (w0, w1) = (w * wx[0], w * wx[1]);
                for ch in 0..4 {
                    out[ch] += w0 * a0[ch] as f32 + w1 * a1[ch] as f32;
                }
            }
        }
        for v in &mut out {
            *v /= TILE_SCALE;
        }
        out
    }

    /// Whether the structure is bone at tile coordinates `u`.
    #[inline]
    pub fn is_bone(&self, u: [f32; 3], th: &Thresholds) -> bool {
        let f = self.fields(u);
        let f1 = th.ca * f[0] + th.sa * f[1];
        f1.abs() < th.t1 || (f[2].abs() < th.t2 && f[3].abs() < th.t2)
    }

    /// Fraction of bone in a cell of width `h_mm` about tile coordinates `u`.
    #[inline]
    pub fn coverage(&self, u: [f32; 3], th: &Thresholds, h_mm: f32) -> f32 {
        let f = self.fields(u);
        let f1 = th.ca * f[0] + th.sa * f[1];
        let cp = slab_coverage(f1, th.t1, th.g1 * h_mm);
        let cr =
            slab_coverage(f[2], th.t2, th.g2 * h_mm) * slab_coverage(f[3], th.t2, th.g2 * h_mm);
        1.0 - (1.0 - cp) * (1.0 - cr)
    }
}

/// Overlap of the window `[|f| - w/2, |f| + w/2]` with `[-t, t]`, over `w`.
#[inline]
fn slab_coverage(f: f32, t: f32, w: f32) -> f32 {
    let a = f.abs();
    if w <= 1e-6 {
        return if a < t { 1.0 } else { 0.0 };
    }
    let lo = (a - 0.5 * w).max(-t);
    let hi = (a + 0.5 * w).min(t);
    ((hi - lo) / w).max(0.0)
}

/// Expected bone fraction for plate threshold t (independent Gaussian fields).
fn volume_fraction(t: f64) -> f64 {
    let s = std::f64::consts::SQRT_2;
    let plates = erf(t / s);
    let rod = erf(ROD_RATIO * t / s);
    1.0 - (1.0 - plates) * (1.0 - rod * rod)
}

fn threshold_table() -> Vec<f32> {
    (0..TABLE_N)
        .map(|i| {
            let v = i as f64 / (TABLE_N - 1) as f64 * TABLE_MAX_V;
            let (mut lo, mut hi) = (0.0f64, 4.0f64);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if volume_fraction(mid) < v {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            (0.5 * (lo + hi)) as f32
        })
        .collect()
}

/// erf with |error| < 1.2e-7 (Chebyshev fit of erfc).
pub fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * p.exp();
    if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }
}

/// A unit-variance periodic Gaussian field on the tile whose wave vectors lie on the
/// spectral shell |k| = 1/lambda (+-8%), equal amplitudes, random phases.
fn periodic_field(lambda_mm: f64, rng: &mut Rng) -> Vec<f32> {
    let n = TILE_N;
    let r0 = TILE_MM / lambda_mm;
    let (rlo, rhi) = (r0 * 0.92, r0 * 1.08);
    let m = rhi.ceil() as i32;
    let w = (2 * m + 1) as usize;
    let mut waves = Vec::new();
    for nx in -m..=m {
        for ny in -m..=m {
            for nz in -m..=m {
                let half = nx > 0 || (nx == 0 && (ny > 0 || (ny == 0 && nz > 0)));
                let r = ((nx * nx + ny * ny + nz * nz) as f64).sqrt();
                if half && r >= rlo && r <= rhi {
                    waves.push((nx, ny, nz, rng.range(0.0, std::f64::consts::TAU)));
                }
            }
        }
    }
    let amp = (2.0 / waves.len() as f64).sqrt();
    // e[(freq + m) * n + x] = exp(i 2 pi freq x / n)
    let e: Vec<(f64, f64)> = (-m..=m)
        .flat_map(|f| {
            (0..n).map(move |x| {
                let a = std::f64::consts::TAU * f as f64 * x as f64 / n as f64;
                (a.cos(), a.sin())
            })
        })
        .collect();
    let ei = |f: i32, x: usize| e[(f + m) as usize * n + x];
    // a[(nx, ny)][z]
    let mut a = vec![(0.0f64, 0.0f64); w * w * n];
    for &(nx, ny, nz, phase) in &waves {
        let (c, s) = (amp * phase.cos(), amp * phase.sin());
        let base = ((nx + m) as usize * w + (ny + m) as usize) * n;
        for z in 0..n {
            let (er, eim) = ei(nz, z);
            a[base + z].0 += c * er - s * eim;
            a[base + z].1 += c * eim + s * er;
        }
    }
    // b[nx][y][z]
    let mut b = vec![(0.0f64, 0.0f64); w * n * n];
    b.par_chunks_mut(n * n).enumerate().for_each(|(ix, bx)| {
        for iy in 0..w {
            let row = &a[(ix * w + iy) * n..(ix * w + iy + 1) * n];
            if row.iter().all(|v| v.0 == 0.0 && v.1 == 0.0) {
                continue;
            }
            let fy = iy as i32 - m;
            for y in 0..n {
                let (er, eim) = ei(fy, y);
                for z in 0..n {
                    let (ar, ai) = row[z];
                    bx[y * n + z].0 += ar * er - ai * eim;
                    bx[y * n + z].1 += ar * eim + ai * er;
                }
            }
        }
    });
    let active: Vec<usize> = (0..w)
        .filter(|&ix| {
            b[ix * n * n..(ix + 1) * n * n]
                .iter()
                .any(|v| v.0 != 0.0 || v.1 != 0.0)
        })
        .collect();
    let mut out = vec![0.0f32; n * n * n];
    out.par_chunks_mut(n * n)
        .enumerate()
        .for_each(|(z, plane)| {
            for y in 0..n {
                for x in 0..n {
                    let mut s = 0.0;
                    for &ix in &active {
                        let (br, bi) = b[ix * n * n + y * n + z];
                        let (er, eim) = ei(ix as i32 - m, x);
                        s += br * er - bi * eim;
                    }
                    plane[y * n + x] = s as f32;
                }
            }
        });
    out
}

/// Knob parameters of one bone of one subject.
#[derive(Clone, Debug, Serialize)]
pub struct BoneKnobs {
    /// Bone volume fraction far from the joint in a normal knee (the baseline).
    pub bv_tv0: f64,
    /// Scale mix baseline (radians; 0 = all 1.0 mm wavelength, pi/2 = all 0.7 mm).
    pub alpha0: f64,
    /// Per-subregion relative jitter (MA, MC, MP, LA, LC, LP).
    pub jitter: [f64; 6],
    /// Weight of the OA effect by antero-posterior third (anterior, central, posterior).
    pub ap_weight: [f64; 3],
}

/// Where a point lies inside its bone: smooth coordinates used by the knob fields.
#[derive(Clone, Copy, Debug)]
pub struct RegionCoords {
    /// 1 medial, 0 lateral, smooth across the midline.
    pub medial: f64,
    /// Weights of the anterior, central and posterior thirds (sum 1, smooth).
    pub ap: [f64; 3],
    /// Depth below the subchondral plate (mm).
    pub depth_mm: f64,
    /// 1 in the epiphysis, falling to 0 in the diaphysis (fatty marrow, no trabeculae).
    pub fade: f64,
}

/// The knob model of a subject: baseline per bone and the OA severity.
#[derive(Clone, Debug, Serialize)]
pub struct TrabecularModel {
    /// OA severity in [0, 1] (0 normal; about KL / 4 with jitter).
    pub severity: f64,
    pub femur: BoneKnobs,
    pub tibia: BoneKnobs,
    /// Patella and fibula: baseline only.
    pub other: BoneKnobs,
}

impl TrabecularModel {
    /// Draws the subject's knobs.
    pub fn random(rng: &mut Rng, kl: u8) -> Self {
        // Always draw, so two grades of one seed share every other knob.
        let jitter = rng.normal();
        let severity = if kl == 0 {
            0.0
        } else {
            (kl as f64 / 4.0 + 0.06 * jitter).clamp(0.05, 1.1)
        };
        let mut bone = |bv: f64, ap_weight: [f64; 3]| BoneKnobs {
            bv_tv0: (bv + 0.02 * rng.normal()).clamp(0.12, 0.32),
            alpha0: (0.3 + 0.08 * rng.normal()).clamp(0.05, 0.6),
            jitter: std::array::from_fn(|_| (0.06 * rng.normal()).clamp(-0.15, 0.15)),
            ap_weight,
        };
        let femur = bone(0.24, [0.55, 1.0, 0.8]);
        let tibia = bone(0.22, [0.7, 1.0, 0.6]);
        let other = bone(0.22, [1.0, 1.0, 1.0]);
        TrabecularModel {
            severity,
            femur,
            tibia,
            other,
        }
    }

    /// Knobs of bone `bone` (0 femur, 1 tibia, else other) at region coordinates `r`.
    pub fn knobs(&self, bone: usize, r: &RegionCoords) -> Knobs {
        let b = match bone {
            0 => &self.femur,
            1 => &self.tibia,
            _ => &self.other,
        };
        let side = [r.medial, 1.0 - r.medial];
        let mut jitter = 0.0;
        for (s, ws) in side.iter().enumerate() {
            for (a, wa) in r.ap.iter().enumerate() {
                jitter += ws * wa * b.jitter[s * 3 + a];
            }
        }
        let ap_w: f64 =
            r.ap.iter()
                .zip(b.ap_weight.iter())
                .map(|(w, a)| w * a)
                .sum();
        let weight = if bone <= 1 {
            (0.3 + 0.7 * r.medial) * ap_w
        } else {
            0.0
        };
        let depth = 0.45 + 0.55 * (-r.depth_mm.max(0.0) / 5.0).exp();
        let oa = self.severity * weight * depth;
        Knobs {
            bv_tv: b.bv_tv0 * (1.0 + jitter) * (1.0 + 0.9 * oa) * r.fade,
            alpha: b.alpha0 + 0.7 * oa,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, e) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (2.0, 0.995_322_265),
        ] {
            assert!((erf(x) - e).abs() < 2e-7, "erf({x})");
            assert!((erf(-x) + e).abs() < 2e-7);
        }
    }

    #[test]
    fn fields_have_unit_variance_and_target_fraction_holds() {
        let s = Structure::new(3);
        let n = (TILE_N * TILE_N * TILE_N) as f64;
        for ch in 0..4 {
            let var: f64 = s
                .tile
                .iter()
                .map(|v| (v[ch] as f64 / TILE_SCALE as f64).powi(2))
                .sum::<f64>()
                / n;
            assert!((var - 1.0).abs() < 0.08, "channel {ch} variance {var}");
        }
        // Sample the structure on a grid inside one tile: BV/TV follows the knob.
        for target in [0.15, 0.25, 0.4] {
            let th = s.thresholds(Knobs {
                bv_tv: target,
                alpha: 0.4,
            });
            let mut bone = 0usize;
            let mut cov = 0.0f64;
            let m = 64;
            for k in 0..m {
                for j in 0..m {
                    for i in 0..m {
                        let u = [
                            i as f32 * 2.0 + 0.3,
                            j as f32 * 2.0 + 0.7,
                            k as f32 * 2.0 + 0.1,
                        ];
                        bone += s.is_bone(u, &th) as usize;
                        cov += s.coverage(u, &th, 0.2) as f64;
                    }
                }
            }
            let frac = bone as f64 / (m * m * m) as f64;
            let cfrac = cov / (m * m * m) as f64;
            assert!((frac - target).abs() < 0.03, "target {target}: {frac}");
            assert!(
                (cfrac - target).abs() < 0.03,
                "target {target}: coverage {cfrac}"
            );
        }
    }

    #[test]
    fn slab_coverage_is_the_box_overlap() {
        assert_eq!(slab_coverage(0.0, 1.0, 0.5), 1.0);
        assert_eq!(slab_coverage(2.0, 1.0, 0.5), 0.0);
        assert!((slab_coverage(1.0, 1.0, 0.5) - 0.5).abs() < 1e-6);
        // A thin slab inside a wide window covers thickness / width.
        assert!((slab_coverage(0.0, 0.1, 1.0) - 0.2).abs() < 1e-6);
    }
}
