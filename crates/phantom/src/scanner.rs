//! The two scanners: each voxel integrates the anatomy and the trabecular structure over
//! its footprint (partial volume), then the modality's physics: CT in Hounsfield units
//! with a Gaussian point-spread function and noise; MR with balanced-FFE-like contrast, a
//! smooth bias field and Rician noise.

use nalgebra::{Point3, Vector3};
use rayon::prelude::*;
use serde::Serialize;

use super::anatomy::{Interior, PosedKnee, Sample, Tissue};
use super::trabecular::{Structure, TrabecularModel};
use srrd_base::error::Result;
use srrd_base::progress::Progress;
use srrd_base::rng::{Rng, normal_pair};
use srrd_base::volume::Geometry;
use srrd_base::volume::filter::{blur3, gaussian_kernel};

/// Which scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Modality {
    Ct,
    Mr,
}

/// Tissue signal of each modality: (value of the tissue, or for bone: cortex).
fn tissue_value(m: Modality, t: Tissue) -> f32 {
    use Tissue::*;
    match m {
        Modality::Ct => match t {
            Air => -1000.0,
            Femur | Tibia | Patella | Fibula => 1500.0,
            Cartilage => 110.0,
            Fluid => 15.0,
            Meniscus => 90.0,
            Tendon => 95.0,
            Muscle => 50.0,
            Fat => -100.0,
            Skin => 30.0,
            Table => 300.0,
            TableCore => -900.0,
            Clothing => -250.0,
        },
        Modality::Mr => match t {
            Air | Table | TableCore | Clothing => 0.0,
            Femur | Tibia | Patella | Fibula => 15.0,
            Cartilage => 420.0,
            Fluid => 1000.0,
            Meniscus => 40.0,
            Tendon => 30.0,
            Muscle => 230.0,
            Fat => 900.0,
            Skin => 380.0,
        },
    }
}

/// Marrow and trabecular bone tissue signal.
fn marrow_and_bone(m: Modality) -> (f32, f32) {
    match m {
        Modality::Ct => (-20.0, 1150.0),
        Modality::Mr => (820.0, 10.0),
    }
}

/// What a knee's trabecular compartment is made of beyond its structure, as the CT sees it:
/// marrow composition (red or yellow marrow, about -100 to +50 HU) and trabecular tissue
/// mineralization differ between patients, and marrow also within a bone. A CT scanned
/// without a calibration phantom cannot tell them from bone volume. Drawn once per subject
/// as unit draws; [`ScanSpec::marrow_hu_sd`] and [`ScanSpec::bone_hu_sd`] scale them (both
/// zero by default: the fixed marrow and tissue values every cohort used before).
#[derive(Clone, Debug)]
pub struct TissueDraw {
    /// Between-knee marrow offset, a standard normal.
    marrow_z: f32,
    /// Between-knee tissue mineralization offset, a standard normal.
    bone_z: f32,
    /// Plane waves of the within-bone marrow field, in the bone's own frame: unit
    /// direction times 2 pi / wavelength (25-60 mm), and a phase.
    waves: [[f32; 4]; MARROW_WAVES],
}

const MARROW_WAVES: usize = 4;

impl TissueDraw {
    /// The draw of one subject.
    pub fn random(rng: &mut Rng) -> Self {
        let marrow_z = rng.normal() as f32;
        let bone_z = rng.normal() as f32;
        let waves = std::array::from_fn(|_| {
            let d = loop {
                let v = Vector3::new(rng.normal(), rng.normal(), rng.normal());
                if v.norm() > 1e-6 {
                    break v.normalize();
                }
            };
            let k = std::f64::consts::TAU / rng.range(25.0, 60.0);
            let phase = rng.range(0.0, std::f64::consts::TAU);
            [
                (d.x * k) as f32,
                (d.y * k) as f32,
                (d.z * k) as f32,
                phase as f32,
            ]
        });
        TissueDraw {
            marrow_z,
            bone_z,
            waves,
        }
    }

    /// The marrow's deviation at `p_bone` (bone frame, mm) of bone `bone`, in units of the
    /// marrow SD: half its variance between knees, half within the bone (a smooth field
    /// whose variance over space is 1/2).
    pub fn marrow_unit(&self, bone: usize, p_bone: &Point3<f64>) -> f32 {
        let p = [p_bone.x as f32, p_bone.y as f32, p_bone.z as f32];
        let shift = 1.7 * bone as f32;
        let field: f32 = self
            .waves
            .iter()
            .map(|w| (w[0] * p[0] + w[1] * p[1] + w[2] * p[2] + w[3] + shift).cos())
            .sum::<f32>()
            * (2.0 / MARROW_WAVES as f32).sqrt();
        std::f32::consts::FRAC_1_SQRT_2 * (self.marrow_z + field)
    }

    /// The tissue's mineralization offset, in units of its SD.
    pub fn bone_unit(&self) -> f32 {
        self.bone_z
    }
}

/// One scanner's acquisition: grid, modality, sub-sampling and noise.
#[derive(Clone, Debug, Serialize)]
pub struct ScanSpec {
    pub geometry: Geometry,
    pub modality: Modality,
    /// Trabecular sub-samples per voxel along i, j, k.
    pub tile_sub: [usize; 3],
    /// Anatomy sub-samples per voxel in voxels near a tissue boundary (divides tile_sub).
    pub anatomy_sub: [usize; 3],
    /// Noise standard deviation (HU for CT after the PSF; raw units for MR).
    pub noise_sd: f32,
    /// Gaussian PSF standard deviation (mm) along i, j, k (CT; zero for MR).
    pub psf_sd_mm: [f64; 3],
    /// SD of the marrow's HU between and within knees (CT; see [`TissueDraw`]).
    pub marrow_hu_sd: f32,
    /// SD of the trabecular tissue's HU between knees (CT; see [`TissueDraw`]).
    pub bone_hu_sd: f32,
}

/// A rendered scan: signal, tissue labels, and subregion labels, all `[k][j][i]`.
pub struct Scan {
    pub values: Vec<f32>,
    pub labels: Vec<u8>,
    pub subregions: Vec<u8>,
}

/// Renders a scan of `knee`; `noise_key` seeds the noise; `tissue` is the subject's
/// composition draw (used by CT with non-zero composition SDs).
pub fn render(
    spec: &ScanSpec,
    knee: &PosedKnee,
    structure: &Structure,
    model: &TrabecularModel,
    tissue: &TissueDraw,
    noise_key: u64,
    progress: &Progress,
) -> Result<Scan> {
    let g = &spec.geometry;
    let [ni, nj, nk] = g.size;
    let plane = ni * nj;
    let n = plane * nk;
    let mut values = vec![0.0f32; n];
    let mut labels = vec![0u8; n];
    let mut subregions = vec![0u8; n];
    // World steps per index along each axis, and their images in each bone's tile space.
    let axis: [Vector3<f64>; 3] = std::array::from_fn(|a| g.direction.column(a) * g.spacing_mm[a]);
    let tile_axes: Vec<[[f32; 3]; 3]> = (0..4)
        .map(|b| {
            let r = knee.bone_from_world(b).rotation;
            std::array::from_fn(|a| structure.tile_vector(b, &(r * axis[a])))
        })
        .collect();
    let step_mm = axis[0].norm();
    let half_diag = 0.5 * axis.iter().map(|a| a.norm_squared()).sum::<f64>().sqrt();
    let sub_mm: f32 = (0..3)
        .map(|a| (g.spacing_mm[a] / spec.tile_sub[a] as f64) as f32)
        .sum::<f32>()
        / 3.0;
    let (marrow, bone_tissue) = marrow_and_bone(spec.modality);
    let m = spec.modality;
    let ctx = Ctx {
        structure,
        model,
        tile_axes: &tile_axes,
        sub_mm,
        marrow,
        bone_tissue,
        modality: m,
        composition: (m == Modality::Ct && (spec.marrow_hu_sd != 0.0 || spec.bone_hu_sd != 0.0))
            .then_some((tissue, spec.marrow_hu_sd, spec.bone_hu_sd)),
    };
    progress.start(
        match m {
            Modality::Ct => "CT: rendering",
            Modality::Mr => "MR: rendering",
        },
        nk as u64,
    );
    values
        .par_chunks_mut(plane)
        .zip(labels.par_chunks_mut(plane))
        .zip(subregions.par_chunks_mut(plane))
        .enumerate()
        .try_for_each(|(k, ((vals, labs), subs))| -> Result<()> {
            progress.check()?;
            for j in 0..nj {
                let row0 = g.index_to_world(Vector3::new(0.0, j as f64, k as f64));
                let mut i = 0;
                while i < ni {
                    let p = row0 + axis[0] * i as f64;
                    let s = knee.sample(&p);
                    let o = j * ni + i;
                    labs[o] = s.tissue as u8;
                    subs[o] = s.interior.map_or(0, |x| x.subregion);
                    vals[o] = if s.margin_mm > 1.25 * half_diag {
                        ctx.value(&s, [1.0; 3], spec.tile_sub)
                    } else {
                        ctx.mixed(knee, &p, &axis, spec)
                    };
                    // The next voxels along the row lie within the margin: same tissue,
                    // no boundary in their footprint (marrow still needs its knobs).
                    let safe = s.margin_mm - 1.25 * half_diag;
                    let mut t = 1;
                    while (t as f64) * step_mm < safe && i + t < ni {
                        let o = j * ni + i + t;
                        labs[o] = s.tissue as u8;
                        match &s.interior {
                            None => {
                                subs[o] = 0;
                                vals[o] = tissue_value(m, s.tissue);
                            }
                            Some(int) => {
                                let q = p + axis[0] * t as f64;
                                let int = knee.interior_at(int.bone, &q);
                                subs[o] = int.subregion;
                                vals[o] = ctx.interior(&int, [1.0; 3], spec.tile_sub);
                            }
                        }
                        t += 1;
                    }
                    i += t;
                }
            }
            progress.advance(1);
            Ok(())
        })?;
    match m {
        Modality::Ct => {
            // Noise before the PSF (so it is correlated, as on a real CT), scaled so its
            // standard deviation after the PSF is `noise_sd`.
            let sigma_vox: [f64; 3] = std::array::from_fn(|a| spec.psf_sd_mm[a] / g.spacing_mm[a]);
            let kernels: Vec<Vec<f32>> = sigma_vox.iter().map(|s| gaussian_kernel(*s)).collect();
            let gain: f32 = kernels
                .iter()
                .map(|k| k.iter().map(|w| w * w).sum::<f32>())
                .product::<f32>()
                .sqrt();
            let pre_sd = spec.noise_sd / gain;
            values.par_iter_mut().enumerate().for_each(|(idx, v)| {
                *v += pre_sd * normal_pair(noise_key, idx as u64).0;
            });
            blur3(&mut values, g.size, &kernels);
        }
        Modality::Mr => {
            let c = g.center_mm();
            let dir = Vector3::new(0.5, -0.3, 0.8).normalize();
            values
                .par_chunks_mut(plane)
                .enumerate()
                .for_each(|(k, vals)| {
                    for j in 0..nj {
                        for i in 0..ni {
                            let p = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                            let bias = bias_field(&p, &c, &dir);
                            let idx = (k * plane + j * ni + i) as u64;
                            let (a, b) = normal_pair(noise_key, idx);
                            let s = vals[j * ni + i] * bias;
                            let re = s + spec.noise_sd * a;
                            let im = spec.noise_sd * b;
                            vals[j * ni + i] = (re * re + im * im).sqrt();
                        }
                    }
                });
        }
    }
    Ok(Scan {
        values,
        labels,
        subregions,
    })
}

/// A smooth multiplicative receive-coil sensitivity, about 0.8 to 1.2.
fn bias_field(p: &Point3<f64>, c: &Point3<f64>, dir: &Vector3<f64>) -> f32 {
    let d = p - c;
    let lin = 0.12 * (d.dot(dir) / 75.0).clamp(-1.5, 1.5);
    let bump = 0.08 * (-d.norm_squared() / (2.0 * 60.0 * 60.0)).exp();
    (0.95 + lin + bump) as f32
}

struct Ctx<'a> {
    structure: &'a Structure,
    model: &'a TrabecularModel,
    tile_axes: &'a [[[f32; 3]; 3]],
    sub_mm: f32,
    marrow: f32,
    bone_tissue: f32,
    modality: Modality,
    /// The subject's composition draw and the marrow and tissue SDs (HU), when they vary.
    composition: Option<(&'a TissueDraw, f32, f32)>,
}

impl Ctx<'_> {
    /// Mean signal of a homogeneous cell about the sample point, `size` (fraction of a
    /// voxel per axis), trabeculae sub-sampled `sub` times.
    fn value(&self, s: &Sample, size: [f64; 3], sub: [usize; 3]) -> f32 {
        match &s.interior {
            Some(int) => self.interior(int, size, sub),
            None => tissue_value(self.modality, s.tissue),
        }
    }

    /// Marrow and trabecular tissue signal at an interior point.
    fn marrow_and_tissue(&self, int: &Interior) -> (f32, f32) {
        match self.composition {
            None => (self.marrow, self.bone_tissue),
            Some((draw, marrow_sd, bone_sd)) => (
                self.marrow + marrow_sd * draw.marrow_unit(int.bone, &int.p_bone),
                self.bone_tissue + bone_sd * draw.bone_unit(),
            ),
        }
    }

    fn interior(&self, int: &Interior, size: [f64; 3], sub: [usize; 3]) -> f32 {
        let knobs = self.model.knobs(int.bone, &int.region);
        let (marrow, bone_tissue) = self.marrow_and_tissue(int);
        if knobs.bv_tv <= 1e-4 {
            return marrow;
        }
        let th = self.structure.thresholds(knobs);
        let u0 = self.structure.tile_point(int.bone, &int.p_bone);
        let ax = &self.tile_axes[int.bone];
        let mut cov = 0.0f32;
        for c in 0..sub[2] {
            let oc = (((c as f64 + 0.5) / sub[2] as f64 - 0.5) * size[2]) as f32;
            for b in 0..sub[1] {
                let ob = (((b as f64 + 0.5) / sub[1] as f64 - 0.5) * size[1]) as f32;
                for a in 0..sub[0] {
                    let oa = (((a as f64 + 0.5) / sub[0] as f64 - 0.5) * size[0]) as f32;
                    let u = std::array::from_fn(|d| {
                        u0[d] + oa * ax[0][d] + ob * ax[1][d] + oc * ax[2][d]
                    });
                    cov += self.structure.coverage(u, &th, self.sub_mm);
                }
            }
        }
        cov /= (sub[0] * sub[1] * sub[2]) as f32;
        marrow + (bone_tissue - marrow) * cov
    }

    /// Mean signal of a voxel near a boundary: the anatomy sub-sampled too.
    fn mixed(
        &self,
        knee: &PosedKnee,
        p: &Point3<f64>,
        axis: &[Vector3<f64>; 3],
        spec: &ScanSpec,
    ) -> f32 {
        let na = spec.anatomy_sub;
        let q: [usize; 3] = std::array::from_fn(|d| (spec.tile_sub[d] / na[d]).max(1));
        let size: [f64; 3] = std::array::from_fn(|d| 1.0 / na[d] as f64);
        let mut sum = 0.0f32;
        for c in 0..na[2] {
            for b in 0..na[1] {
                for a in 0..na[0] {
                    let o = [
                        (a as f64 + 0.5) / na[0] as f64 - 0.5,
                        (b as f64 + 0.5) / na[1] as f64 - 0.5,
                        (c as f64 + 0.5) / na[2] as f64 - 0.5,
                    ];
                    let ps = p + axis[0] * o[0] + axis[1] * o[1] + axis[2] * o[2];
                    let s = knee.sample(&ps);
                    sum += self.value(&s, size, q);
                }
            }
        }
        sum / (na[0] * na[1] * na[2]) as f32
    }
}
