//! The paper's Table 2 (top half) on held-out phantoms. Structure preservation: each
//! sCT against the CT the phantom would have given in the MR's pose, rendered on the
//! crMR's own sample points (the CT grid carried through the coarse transform), so an
//! ideal synthesis matches it voxel for voxel: MAE (HU), SSIM, bone Dice and the mean
//! distance between bone surfaces. Effect on registration: the refined (per-bone)
//! registration's TRE with crMR (Mattes MI) against the same with each sCT (NCC, the
//! paper's mono-modal choice, and Mattes MI).

use std::path::Path;

use nalgebra::Point3;
use serde::Serialize;
use tch::{Kind, Tensor};

use srrd_base::error::{Error, Result};
use srrd_base::io::landmarks::read_landmarks;
use srrd_base::io::read_image;
use srrd_base::io::transform_file::read_transform;
use srrd_base::progress::Progress;
use srrd_base::volume::{
    AffineTransform, Geometry, Interpolation, PointTransform, Transform, Volume, resample,
    voxel_index,
};
use srrd_morphometry::edt::squared_edt;
use srrd_phantom::{self as phantom, Config, Grade, Preset};
use srrd_registration::{Metric, register_refined};
use srrd_segmentation::bones::{CT_BONE_HU, FEMUR, TIBIA, segment_bones};
use srrd_synthesis::data::{DataManifest, DataSubject, volume_tensor};
use srrd_synthesis::model::{SynthModel, synthesize};

/// Bone threshold on sCT (the authors': 300 HU; 250 on CT).
pub const SCT_BONE_HU: f32 = 300.0;

/// Structure preservation of one sCT.
#[derive(Clone, Debug, Serialize)]
pub struct Preservation {
    pub mae_hu: f64,
    pub ssim: f64,
    pub bone_dice: f64,
    pub surface_mm: f64,
}

/// One held-out subject's results.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectResult {
    pub id: String,
    /// Per model name (and "reference" for the ideal sCT).
    pub preservation: Vec<(String, Preservation)>,
    /// Refined-registration TRE (mm) per moving image: "crMR (MI)", "<model> sCT (NCC)".
    pub tre_mm: Vec<(String, Vec<f64>)>,
}

/// The CT grid `g` carried into the MR world by `ct_to_mr` (rigid): the same voxels, at
/// the MR-world points crMR was sampled from.
pub fn geometry_in_mr_world(g: &Geometry, ct_to_mr: &AffineTransform) -> Geometry {
    let origin = ct_to_mr.transform_point(&g.origin_mm);
    Geometry::new(g.size, g.spacing_mm.into(), origin.coords.into())
        .with_direction(ct_to_mr.matrix * g.direction)
}

fn in_mask(v: &Volume, mask: &[bool]) -> Vec<f32> {
    v.data
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(x, _)| *x)
        .collect()
}

/// Mean 2D SSIM (7x7 uniform windows, slices along k) over `mask`, HU clipped to
/// [-1000, 2000], data range 3000.
pub fn ssim(a: &Volume, b: &Volume, mask: &[bool]) -> f64 {
    let clip = |v: &Volume| volume_tensor(v).clamp(-1000.0, 2000.0).unsqueeze(1);
    let (x, y) = (clip(a), clip(b));
    let l = 3000.0f64;
    let (c1, c2) = ((0.01 * l).powi(2), (0.03 * l).powi(2));
    let mean = |t: &Tensor| t.avg_pool2d([7, 7], [1, 1], [3, 3], false, false, None::<i64>);
    let (mx, my) = (mean(&x), mean(&y));
    let vx = mean(&(&x * &x)) - &mx * &mx;
    let vy = mean(&(&y * &y)) - &my * &my;
    let cxy = mean(&(&x * &y)) - &mx * &my;
    let map = ((&mx * &my * 2.0 + c1) * (cxy * 2.0 + c2))
        / ((mx.square() + my.square() + c1) * (vx + vy + c2));
    let values = Vec::<f32>::try_from(map.flatten(0, -1).to_kind(Kind::Float)).unwrap_or_default();
    let (sum, n) = values
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .fold((0.0, 0usize), |(s, n), (v, _)| (s + *v as f64, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Femur and tibia of a CT-like image (empty when none is found).
fn bone_mask(v: &Volume, threshold: f32) -> Vec<bool> {
    match segment_bones(v, threshold) {
        Ok(l) => l
            .labels()
            .iter()
            .map(|x| *x == FEMUR || *x == TIBIA)
            .collect(),
        Err(_) => vec![false; v.geometry.num_voxels()],
    }
}

fn boundary(mask: &[bool], size: [usize; 3]) -> Vec<bool> {
    let [ni, nj, nk] = size;
    let mut b = vec![false; mask.len()];
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let n = voxel_index(size, i, j, k);
                if !mask[n] {
                    continue;
                }
                let outside = |di: isize, dj: isize, dk: isize| {
                    let (a, c, d) = (i as isize + di, j as isize + dj, k as isize + dk);
                    if a < 0
                        || c < 0
                        || d < 0
                        || a >= ni as isize
                        || c >= nj as isize
                        || d >= nk as isize
                    {
                        return true;
                    }
                    !mask[(d as usize * nj + c as usize) * ni + a as usize]
                };
                b[n] = outside(-1, 0, 0)
                    || outside(1, 0, 0)
                    || outside(0, -1, 0)
                    || outside(0, 1, 0)
                    || outside(0, 0, -1)
                    || outside(0, 0, 1);
            }
        }
    }
    b
}

/// Mean symmetric distance (mm) between the surfaces of two masks (NaN if one is empty).
pub fn surface_distance(a: &[bool], b: &[bool], g: &Geometry) -> f64 {
    let spacing: [f64; 3] = g.spacing_mm.into();
    let (ba, bb) = (boundary(a, g.size), boundary(b, g.size));
    let one_way = |from: &[bool], to: &[bool]| -> Option<(f64, usize)> {
        if !to.iter().any(|x| *x) {
            return None;
        }
        let not_to: Vec<bool> = to.iter().map(|x| !x).collect();
        let d2 = squared_edt(&not_to, g.size, spacing);
        let (s, n) = from
            .iter()
            .zip(&d2)
            .filter(|(f, _)| **f)
            .fold((0.0, 0usize), |(s, n), (_, d)| (s + d.sqrt(), n + 1));
        (n > 0).then_some((s, n))
    };
    match (one_way(&ba, &bb), one_way(&bb, &ba)) {
        (Some((s1, n1)), Some((s2, n2))) => (s1 + s2) / (n1 + n2) as f64,
        _ => f64::NAN,
    }
}

/// Structure preservation of `sct` against `reference` within `mask`.
pub fn preservation(sct: &Volume, reference: &Volume, mask: &[bool]) -> Preservation {
    let (a, b) = (in_mask(sct, mask), in_mask(reference, mask));
    let mae_hu = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() as f64)
        .sum::<f64>()
        / a.len().max(1) as f64;
    let bones_ref = bone_mask(reference, CT_BONE_HU);
    let bones_sct = bone_mask(sct, SCT_BONE_HU);
    let both = bones_ref
        .iter()
        .zip(&bones_sct)
        .filter(|(x, y)| **x && **y)
        .count();
    let total = bones_ref.iter().filter(|x| **x).count() + bones_sct.iter().filter(|x| **x).count();
    Preservation {
        mae_hu,
        ssim: ssim(sct, reference, mask),
        bone_dice: if total == 0 {
            1.0
        } else {
            2.0 * both as f64 / total as f64
        },
        surface_mm: surface_distance(&bones_ref, &bones_sct, &sct.geometry),
    }
}

/// Landmark errors (mm) of a CT -> MR transform.
fn tre(t: &dyn PointTransform, dir: &Path) -> Result<Vec<f64>> {
    let lc = read_landmarks(&dir.join("landmarks_ct.json"))?;
    let lm = read_landmarks(&dir.join("landmarks_mr.json"))?;
    Ok(lc
        .iter()
        .zip(&lm)
        .map(|(c, m)| {
            (t.transform_point(&Point3::from(c.position_mm)) - Point3::from(m.position_mm)).norm()
        })
        .collect())
}

/// What one subject's evaluation also returns for figures: crMR, reference, each sCT.
pub struct SubjectImages {
    pub cr_mr: Volume,
    pub reference: Volume,
    pub scts: Vec<(String, Volume)>,
}

/// Evaluates `models` on one held-out subject of the store (`cohort_dir` holds its
/// landmarks).
pub fn evaluate_subject(
    store: &Path,
    manifest: &DataManifest,
    subject: &DataSubject,
    cohort_dir: &Path,
    models: &[(String, SynthModel)],
    progress: &Progress,
) -> Result<(SubjectResult, SubjectImages)> {
    let dir = manifest.dir_of(store, subject);
    let ct = read_image(&dir.join("ct.nii.gz"), None)?.volume;
    let cr_mr = read_image(&dir.join("crmr.nii.gz"), None)?.volume;
    let tfm = dir.join("coarse.tfm");
    let coarse = match read_transform(&tfm)? {
        Transform::Affine(a) => a,
        _ => return Err(Error::file(&tfm, "expected an affine coarse transform")),
    };
    let seed = subject
        .seed
        .ok_or_else(|| Error::invalid(format!("{}: no phantom seed, no reference", subject.id)))?;
    let grade = Grade::parse(subject.grade.as_deref().unwrap_or("normal"))?;
    let preset = Preset::parse(manifest.preset.as_deref().unwrap_or("paper"))?;
    // The CT as the cohort was scanned (its manifest sits beside the subject's folder).
    let cohort_root = cohort_dir.parent().unwrap_or(cohort_dir);
    let ct_spec = phantom::CohortCt::read(cohort_root, preset)?.spec(preset);
    progress.start("rendering the CT in the MR's pose", 1);
    let reference = phantom::render_ct_in_mr_pose(
        Config {
            seed,
            grade,
            preset,
        },
        &ct_spec,
        geometry_in_mr_world(&ct.geometry, &coarse),
        progress,
    )?;
    let reference = Volume::from_data(ct.geometry.clone(), reference.data)?;
    // Where crMR has MR data (inside the MR's field of view) and the reference has body.
    let mr_path = cohort_dir.join("mr.nii.gz");
    let mr_geometry = read_image(&mr_path, None)?.volume.geometry;
    let fov = resample(
        &Volume::filled(mr_geometry, 1.0),
        &ct.geometry,
        &coarse,
        Interpolation::Nearest,
        0.0,
    );
    let mask: Vec<bool> = fov
        .data
        .iter()
        .zip(reference.data.iter())
        .map(|(f, r)| *f > 0.5 && *r > -500.0)
        .collect();
    let mut scts = Vec::new();
    let mut preservation_rows = vec![(
        "reference".to_string(),
        preservation(&reference, &reference, &mask),
    )];
    for (name, model) in models {
        let sct = synthesize(model, &cr_mr, progress)?;
        preservation_rows.push((name.clone(), preservation(&sct, &reference, &mask)));
        scts.push((name.clone(), sct));
    }
    // Refined registration on crMR (MI) and on each sCT and the reference (NCC).
    let bones = segment_bones(&ct, CT_BONE_HU)?;
    let mut tre_rows = Vec::new();
    let mut moving: Vec<(String, &Volume, Metric)> = vec![(
        "crMR (Mattes MI)".into(),
        &cr_mr,
        Metric::MattesMi { bins: 32 },
    )];
    for (name, v) in &scts {
        moving.push((format!("{name} sCT (NCC)"), v, Metric::Ncc));
        // MI too: it asks only that sCT intensities map consistently to CT ones.
        moving.push((
            format!("{name} sCT (Mattes MI)"),
            v,
            Metric::MattesMi { bins: 32 },
        ));
    }
    moving.push((
        "reference CT in MR pose (NCC)".into(),
        &reference,
        Metric::Ncc,
    ));
    for (name, image, metric) in moving {
        let r = register_refined(&ct, image, &bones, &coarse, metric, progress)?;
        tre_rows.push((name, tre(&Transform::Field(r.field), cohort_dir)?));
    }
    tre_rows.insert(0, ("coarse only".into(), tre(&coarse, cohort_dir)?));
    Ok((
        SubjectResult {
            id: subject.id.clone(),
            preservation: preservation_rows,
            tre_mm: tre_rows,
        },
        SubjectImages {
            cr_mr,
            reference,
            scts,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ball(size: usize, r: f64, c: f64) -> Vec<bool> {
        let mut m = vec![false; size * size * size];
        for k in 0..size {
            for j in 0..size {
                for i in 0..size {
                    let d =
                        ((i as f64 - c).powi(2) + (j as f64 - c).powi(2) + (k as f64 - c).powi(2))
                            .sqrt();
                    m[voxel_index([size; 3], i, j, k)] = d <= r;
                }
            }
        }
        m
    }

    #[test]
    fn surface_distance_of_concentric_balls_is_their_radius_gap() {
        let g = Geometry::new([40, 40, 40], [0.5, 0.5, 0.5], [0.0; 3]);
        let a = ball(40, 12.0, 19.5);
        let b = ball(40, 8.0, 19.5);
        // Surfaces 4 voxels = 2 mm apart (voxelized: within a voxel).
        let d = surface_distance(&a, &b, &g);
        assert!((d - 2.0).abs() < 0.5, "{d}");
        assert!(surface_distance(&a, &a, &g) < 1e-9);
    }

    #[test]
    fn ssim_is_one_for_identical_images_and_falls_with_noise() {
        let g = Geometry::new([32, 32, 3], [1.0; 3], [0.0; 3]);
        let v = Volume::from_fn(g.clone(), |i, j, _| {
            if (i / 8 + j / 8) % 2 == 0 {
                1000.0
            } else {
                0.0
            }
        });
        let mask = vec![true; g.num_voxels()];
        assert!((ssim(&v, &v, &mask) - 1.0).abs() < 1e-5);
        let mut rng = srrd_base::rng::Rng::new(4, "ssim");
        let mut noisy = v.clone();
        noisy
            .data
            .iter_mut()
            .for_each(|x| *x += 300.0 * rng.normal() as f32);
        let s = ssim(&v, &noisy, &mask);
        assert!(s < 0.9 && s > 0.0, "{s}");
    }

    #[test]
    fn the_mr_world_grid_sits_where_the_transform_sends_the_ct_grid() {
        let g = Geometry::new([5, 6, 7], [1.0, 2.0, 3.0], [10.0, -5.0, 2.0]);
        let t = AffineTransform {
            matrix: nalgebra::Rotation3::from_euler_angles(0.1, -0.2, 0.3).into_inner(),
            translation_mm: nalgebra::Vector3::new(4.0, 1.0, -2.0),
            center_mm: Point3::new(1.0, 2.0, 3.0),
        };
        let m = geometry_in_mr_world(&g, &t);
        for idx in [[0.0, 0.0, 0.0], [4.0, 5.0, 6.0], [2.0, 1.0, 3.0]] {
            let v = nalgebra::Vector3::from(idx);
            let expect = t.transform_point(&g.index_to_world(v));
            assert!((m.index_to_world(v) - expect).norm() < 1e-9);
        }
    }
}
