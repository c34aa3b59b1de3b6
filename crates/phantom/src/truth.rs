//! The truth written beside the images (`truth.json`), and the measurement of the true
//! trabecular parameters on the fine structure itself.

use std::collections::BTreeMap;

use nalgebra::Point3;
use rayon::prelude::*;
use serde::Serialize;

use super::anatomy::{FEMUR, SUBREGIONS, Shape, TIBIA};
use super::trabecular::{Knobs, Structure, TrabecularModel};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::rng::Rng;
use srrd_base::volume::voxel_index;
use srrd_morphometry::{Method, parameters};

/// Everything known about one phantom. Every length is in mm, every point in world LPS mm
/// of the scanner named; transforms follow ITK's direction (fixed CT -> moving MR).
#[derive(Clone, Debug, Serialize)]
pub struct Truth {
    /// "srrd-phantom-truth/1".
    pub format: String,
    pub seed: u64,
    /// "small" or "paper".
    pub preset: String,
    /// "normal", "mild" or "advanced".
    pub grade: String,
    /// Kellgren-Lawrence grade 0-4 (normal 0, mild 1-2, advanced 3-4).
    pub kl_grade: u8,
    /// "right" (medial is +x, patient left, in the knee frame) or "left" (the whole
    /// subject mirrored: medial is -x).
    pub side: String,
    /// What each file holds.
    pub files: BTreeMap<String, String>,
    /// Tissue label values of `ct_labels` / `mr_labels`.
    pub labels: BTreeMap<u8, String>,
    /// Subregion label values of `ct_subregions` / `mr_subregions` (0 = outside the
    /// subchondral trabecular region; femur 1-6, tibia 7-12).
    pub subregion_labels: BTreeMap<u8, String>,
    /// How the subchondral trabecular region and its subregions are defined.
    pub subregion_rule: String,
    /// Knee flexion (femur relative to tibia, about the flexion axis) in each scan.
    pub flexion_deg: Flexion,
    /// The true CT -> MR transforms.
    pub transforms: Transforms,
    /// The true trabecular parameters per subregion, measured on the fine structure.
    pub trabecular: TrabecularTruth,
    /// The scanners (grid and physics).
    pub scanners: BTreeMap<String, super::scanner::ScanSpec>,
    /// Shape and knob parameters of this subject (the generator's inputs).
    pub anatomy: Shape,
    pub knobs: TrabecularModel,
    /// Landmark files and their count.
    pub landmarks: LandmarkInfo,
    /// How this knee was scanned, when not as its preset does (absent: the preset's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<super::acquisition::Acquisition>,
    /// A bilateral CT: the other knee's side and folder (its own truth is there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_knee: Option<super::acquisition::OtherKnee>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Flexion {
    pub ct: f64,
    pub mr: f64,
    /// mr - ct: the femur's extra rotation between the scans.
    pub femur_extra: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Transforms {
    /// Tibia, fibula and everything fixed to them (the global pose difference).
    pub ct_to_mr_global: RigidTruth,
    /// Femur and patella: the global transform plus the extra flexion.
    pub ct_to_mr_femur: RigidTruth,
    /// The flexion axis in CT world coordinates (a point and a unit direction).
    pub flexion_axis_ct: [[f64; 3]; 2],
}

/// A rigid transform as ITK writes it: p -> R (p - c) + c + t.
#[derive(Clone, Debug, Serialize)]
pub struct RigidTruth {
    /// The ITK transform file beside truth.json.
    pub file: String,
    /// Rotation matrix, row-major.
    pub matrix: [f64; 9],
    pub translation_mm: [f64; 3],
    pub center_mm: [f64; 3],
    /// ITK Euler3DTransform angles (x, y, z), R = Rz Rx Ry.
    pub euler_zxy_rad: [f64; 3],
}

#[derive(Clone, Debug, Serialize)]
pub struct LandmarkInfo {
    pub count: usize,
    /// Landmarks sit this far inside the bone surface, under the feature they name.
    pub inset_mm: f64,
    pub files: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrabecularTruth {
    /// "bonej": direct 3D local thickness (see `srrd morph`).
    pub method: String,
    /// How it was measured.
    pub protocol: String,
    pub cube_mm: f64,
    pub voxel_mm: f64,
    pub subregions: Vec<SubregionTruth>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SubregionTruth {
    /// "femur" or "tibia".
    pub bone: String,
    /// e.g. "medial_central".
    pub subregion: String,
    /// Its value in the subregion label maps.
    pub label: u8,
    pub bv_tv: f64,
    pub tb_th_mm: f64,
    pub tb_sp_mm: f64,
    pub tb_n_per_mm: f64,
    pub tb_n_plate_per_mm: f64,
    /// Cubes measured (means over them).
    pub cubes: usize,
    /// Mean knob target BV/TV at the cube centres (the generator's input, for reference).
    pub target_bv_tv: f64,
}

/// One cube's BV/TV, Tb.Th, Tb.Sp, Tb.N, plate Tb.N and mean knob target.
type CubeResult = (f64, f64, f64, f64, f64, f64);

/// How the truth is sampled.
#[derive(Clone, Copy, Debug)]
pub struct TruthSampling {
    pub cubes_per_subregion: usize,
    pub cube_mm: f64,
    pub voxel_mm: f64,
}

/// Measures the true parameters of every subregion on the fine structure: cubes at random
/// centres inside the subregion (fully inside the marrow cavity), binarized at
/// `voxel_mm`, BoneJ method, averaged over the cubes.
pub fn measure_trabecular(
    shape: &Shape,
    structure: &Structure,
    model: &TrabecularModel,
    sampling: TruthSampling,
    seed: u64,
    progress: &Progress,
) -> Result<TrabecularTruth> {
    let mut rng = Rng::new(seed, "truth cubes");
    let half = 0.5 * sampling.cube_mm;
    // Cube centres per (bone, subregion), drawn sequentially for determinism.
    let mut jobs: Vec<(usize, usize, Point3<f64>)> = Vec::new();
    for bone in [FEMUR, TIBIA] {
        let (lo, hi) = region_box(shape, bone);
        for (sub, sub_name) in SUBREGIONS.iter().enumerate() {
            let label = (bone * 6 + sub + 1) as u8;
            let mut found = 0;
            let mut tries = 0;
            while found < sampling.cubes_per_subregion {
                tries += 1;
                if tries > 200_000 {
                    return Err(Error::invalid(format!(
                        "phantom: no room for a truth cube in {} {}",
                        if bone == FEMUR { "femur" } else { "tibia" },
                        sub_name
                    )));
                }
                let c = Point3::new(
                    rng.range(lo.x, hi.x),
                    rng.range(lo.y, hi.y),
                    rng.range(lo.z, hi.z),
                );
                let d = shape.bone(bone, &c);
                let depth = -d - shape.cortex_mm(bone, &c);
                if depth < half * 3f64.sqrt() + 0.3 {
                    continue;
                }
                if shape.region(bone, &c, depth).1 != label {
                    continue;
                }
                jobs.push((bone, sub, c));
                found += 1;
            }
        }
    }
    progress.start("truth: measuring trabecular cubes", jobs.len() as u64);
    let n = (sampling.cube_mm / sampling.voxel_mm).round() as usize;
    let results: Vec<CubeResult> = jobs
        .par_iter()
        .map(|(bone, _, c)| -> Result<_> {
            progress.check()?;
            let r = measure_cube(shape, structure, model, *bone, c, n, sampling.voxel_mm)?;
            progress.advance(1);
            Ok(r)
        })
        .collect::<Result<_>>()?;
    let mut subregions = Vec::new();
    for bone in [FEMUR, TIBIA] {
        for (sub, sub_name) in SUBREGIONS.iter().enumerate() {
            let rs: Vec<_> = jobs
                .iter()
                .zip(&results)
                .filter(|((b, s, _), _)| *b == bone && *s == sub)
                .map(|(_, r)| *r)
                .collect();
            let m = rs.len() as f64;
            let mean = |f: fn(&CubeResult) -> f64| rs.iter().map(f).sum::<f64>() / m;
            subregions.push(SubregionTruth {
                bone: if bone == FEMUR { "femur" } else { "tibia" }.into(),
                subregion: sub_name.to_string(),
                label: (bone * 6 + sub + 1) as u8,
                bv_tv: mean(|r| r.0),
                tb_th_mm: mean(|r| r.1),
                tb_sp_mm: mean(|r| r.2),
                tb_n_per_mm: mean(|r| r.3),
                tb_n_plate_per_mm: mean(|r| r.4),
                cubes: rs.len(),
                target_bv_tv: mean(|r| r.5),
            });
        }
    }
    Ok(TrabecularTruth {
        method: Method::BoneJ.name().into(),
        protocol: format!(
            "{} cube(s) of {} mm per subregion at random centres inside it (at least \
             {:.1} mm under the cortex), the structure sampled at {} mm isotropic with no \
             partial volume, parameters by the bonej method over the whole cube, averaged",
            sampling.cubes_per_subregion,
            sampling.cube_mm,
            half * 3f64.sqrt() + 0.3,
            sampling.voxel_mm
        ),
        cube_mm: sampling.cube_mm,
        voxel_mm: sampling.voxel_mm,
        subregions,
    })
}

/// Bounding box (bone rest frame) of a bone's subchondral region.
fn region_box(s: &Shape, bone: usize) -> (Point3<f64>, Point3<f64>) {
    if bone == FEMUR {
        let zm = s.condyle_zm_mm();
        let r = s.condyle_radius_mm[0].max(s.condyle_radius_mm[1]);
        let w = s.condyle_x_mm + s.condyle_half_width_mm;
        (
            Point3::new(-w, s.condyle_y_mm - r - 4.0, zm - r - 4.0),
            Point3::new(w, s.condyle_y_mm + r, zm + 5.0),
        )
    } else {
        let zb = s.plateau_z_mm()[0].min(s.plateau_z_mm()[1]);
        (
            Point3::new(
                -s.plateau_semi_x_mm,
                s.plateau_y_mm - s.plateau_semi_y_mm,
                zb - 15.0,
            ),
            Point3::new(
                s.plateau_semi_x_mm,
                s.plateau_y_mm + s.plateau_semi_y_mm,
                zb + 8.0,
            ),
        )
    }
}

/// BV/TV, Tb.Th, Tb.Sp, Tb.N (both) of one cube, and the mean knob target.
fn measure_cube(
    shape: &Shape,
    structure: &Structure,
    model: &TrabecularModel,
    bone: usize,
    c: &Point3<f64>,
    n: usize,
    h: f64,
) -> Result<CubeResult> {
    // Knobs on a 4^3 lattice over the cube, interpolated per voxel.
    let lat = 4usize;
    let side = n as f64 * h;
    let mut lattice = vec![
        Knobs {
            bv_tv: 0.0,
            alpha: 0.0
        };
        lat * lat * lat
    ];
    for k in 0..lat {
        for j in 0..lat {
            for i in 0..lat {
                let f = |x: usize| (x as f64 / (lat - 1) as f64 - 0.5) * side;
                let p = Point3::new(c.x + f(i), c.y + f(j), c.z + f(k));
                let depth = -shape.bone(bone, &p) - shape.cortex_mm(bone, &p);
                let (r, _) = shape.region(bone, &p, depth);
                lattice[voxel_index([lat; 3], i, j, k)] = model.knobs(bone, &r);
            }
        }
    }
    let interp = |x: f64, y: f64, z: f64| -> Knobs {
        let g = |v: f64| {
            let t = ((v / side + 0.5) * (lat - 1) as f64).clamp(0.0, (lat - 1) as f64 - 1e-9);
            (t.floor() as usize, t - t.floor())
        };
        let ((i, fx), (j, fy), (k, fz)) = (g(x), g(y), g(z));
        let mut bv = 0.0;
        let mut al = 0.0;
        for (dk, wz) in [(0, 1.0 - fz), (1, fz)] {
            for (dj, wy) in [(0, 1.0 - fy), (1, fy)] {
                for (di, wx) in [(0, 1.0 - fx), (1, fx)] {
                    let kn = lattice[voxel_index([lat; 3], i + di, j + dj, k + dk)];
                    bv += wx * wy * wz * kn.bv_tv;
                    al += wx * wy * wz * kn.alpha;
                }
            }
        }
        Knobs {
            bv_tv: bv,
            alpha: al,
        }
    };
    let mut binary = vec![false; n * n * n];
    for k in 0..n {
        for j in 0..n {
            for i in 0..n {
                let o = |x: usize| (x as f64 + 0.5) * h - 0.5 * side;
                let (x, y, z) = (o(i), o(j), o(k));
                let th = structure.thresholds(interp(x, y, z));
                let u = structure.tile_point(bone, &Point3::new(c.x + x, c.y + y, c.z + z));
                binary[voxel_index([n; 3], i, j, k)] = structure.is_bone(u, &th);
            }
        }
    }
    let mask = vec![true; n * n * n];
    let (p, _) = parameters(&binary, &mask, [n, n, n], [h; 3], Method::BoneJ)?;
    let target = lattice.iter().map(|k| k.bv_tv).sum::<f64>() / lattice.len() as f64;
    Ok((
        p.bv_tv,
        p.tb_th_mm,
        p.tb_sp_mm,
        p.tb_n_per_mm,
        p.tb_n_plate_per_mm,
        target,
    ))
}
