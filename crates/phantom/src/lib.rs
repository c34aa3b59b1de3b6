//! Synthetic knee phantoms with known truth: the demo case, the test fixture and the
//! training set. One subject = a right knee (shape and trabecular knobs drawn from a seed)
//! scanned twice: a CT (axial, HU, PSF, noise, table and clothing) and an MR (sagittal,
//! balanced-FFE-like contrast, bias field, Rician noise), in different poses and with
//! different knee flexion. Everything is known: labels, subregions, landmarks, the true
//! CT -> MR transforms per bone and the trabecular parameters per subregion.

pub mod acquisition;
pub mod anatomy;
mod cohort;
pub mod scanner;
pub mod sdf;
pub mod trabecular;
pub mod truth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nalgebra::{Isometry3, Matrix3, Point3, Translation3, UnitQuaternion, Vector3};
use rayon::prelude::*;
use serde::Serialize;

use srrd_base::error::{Error, Result};
use srrd_base::io::landmarks::{Landmark, write_landmarks};
use srrd_base::io::nifti::{WriteDtype, write_labels, write_nifti};
use srrd_base::io::transform_file::write_rigid;
use srrd_base::progress::Progress;
use srrd_base::volume::transform::euler_zxy_matrix;
use srrd_base::volume::{Geometry, LabelMap, RigidTransform, Volume};

pub use acquisition::{Acquisition, MrProtocol};
use anatomy::{FEMUR, LANDMARK_INSET_MM, PATELLA, PosedKnee, Room, SUBREGIONS, Shape, Tissue};
pub use cohort::{Acquisitions, CohortCt, CohortEntry, cohort_grades, write_cohort};
use scanner::{Modality, ScanSpec, TissueDraw};
use srrd_base::rng::Rng;
use trabecular::{Structure, TrabecularModel};
use truth::{Flexion, LandmarkInfo, RigidTruth, Transforms, Truth, TruthSampling};

/// Image sizes: `paper` is the paper's geometry, `small` the same physics on fewer voxels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Preset {
    Small,
    Paper,
}

impl Preset {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "small" => Ok(Preset::Small),
            "paper" => Ok(Preset::Paper),
            o => Err(Error::invalid(format!(
                "unknown preset '{o}' (use small or paper)"
            ))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Paper => "paper",
        }
    }
}

/// KOA group: normal (KL 0), mild (KL 1-2), advanced (KL 3-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Grade {
    Normal,
    Mild,
    Advanced,
}

impl Grade {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "normal" => Ok(Grade::Normal),
            "mild" => Ok(Grade::Mild),
            "advanced" => Ok(Grade::Advanced),
            o => Err(Error::invalid(format!(
                "unknown grade '{o}' (use normal, mild or advanced)"
            ))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Grade::Normal => "normal",
            Grade::Mild => "mild",
            Grade::Advanced => "advanced",
        }
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub seed: u64,
    pub grade: Grade,
    pub preset: Preset,
}

/// A generated subject, in memory.
pub struct Phantom {
    pub config: Config,
    pub ct: Volume,
    /// Tissue labels on the CT grid (see [`truth::Truth::labels`]).
    pub ct_labels: LabelMap,
    /// True subregions on the CT grid.
    pub ct_subregions: LabelMap,
    pub mr: Volume,
    pub mr_labels: LabelMap,
    pub mr_subregions: LabelMap,
    pub landmarks_ct: Vec<Landmark>,
    pub landmarks_mr: Vec<Landmark>,
    /// True CT -> MR transforms (ITK direction): tibia/global and femur.
    pub ct_to_mr_global: RigidTransform,
    pub ct_to_mr_femur: RigidTransform,
    pub truth: Truth,
    /// Seconds per step (not written to files, which depend on the seed only).
    pub timings_s: Vec<(String, f64)>,
    /// A bilateral scan's other knee (its own subject, written to `other_knee/`): its CT
    /// alone, at its place in this CT's field of view.
    pub other_knee: Option<Box<Phantom>>,
}

/// The paper's sagittal MR direction: i -> posterior, j -> inferior, k -> right.
pub(crate) fn sagittal() -> Matrix3<f64> {
    Matrix3::from_columns(&[Vector3::y(), -Vector3::z(), -Vector3::x()])
}

pub(crate) fn grid(
    size: [usize; 3],
    spacing: [f64; 3],
    direction: Matrix3<f64>,
    center: Point3<f64>,
) -> Geometry {
    let half = Vector3::from_fn(|a, _| spacing[a] * (size[a] as f64 - 1.0) / 2.0);
    let origin = center - direction * half;
    Geometry::new(size, spacing, origin.coords.into()).with_direction(direction)
}

/// The two scanners of a preset: the same physics (noise, PSF, contrast), different grids.
pub fn scan_specs(preset: Preset) -> (ScanSpec, ScanSpec) {
    let c = Point3::origin();
    let ct = |size, spacing| ScanSpec {
        geometry: grid(size, spacing, Matrix3::identity(), c),
        modality: Modality::Ct,
        tile_sub: [4, 4, 4],
        anatomy_sub: [2, 2, 2],
        noise_sd: 20.0,
        psf_sd_mm: [0.4, 0.4, 0.45],
        marrow_hu_sd: 0.0,
        bone_hu_sd: 0.0,
    };
    // Sub-samples along the thick slice direction grow with the slice thickness.
    let mr = |size, spacing, tile_sub, anatomy_sub| ScanSpec {
        geometry: grid(size, spacing, sagittal(), c),
        modality: Modality::Mr,
        tile_sub,
        anatomy_sub,
        noise_sd: 25.0,
        psf_sd_mm: [0.0; 3],
        marrow_hu_sd: 0.0,
        bone_hu_sd: 0.0,
    };
    match preset {
        Preset::Paper => (
            ct([150, 150, 90], [0.977, 0.977, 1.0]),
            mr([640, 640, 120], [0.234, 0.234, 1.5], [2, 2, 3], [1, 1, 3]),
        ),
        Preset::Small => (
            ct([75, 75, 45], [1.954, 1.954, 2.0]),
            mr([192, 192, 48], [0.78, 0.78, 3.75], [2, 2, 6], [1, 1, 3]),
        ),
    }
}

/// How a preset measures the trabecular truth.
pub fn truth_sampling(preset: Preset) -> TruthSampling {
    match preset {
        Preset::Paper => TruthSampling {
            cubes_per_subregion: 2,
            cube_mm: 2.4,
            voxel_mm: 0.04,
        },
        Preset::Small => TruthSampling {
            cubes_per_subregion: 1,
            cube_mm: 2.0,
            voxel_mm: 0.04,
        },
    }
}

/// A random scanner pose (world from knee): rotation sd (deg, per axis) and shift sd (mm).
fn pose(rng: &mut Rng, rot_sd_deg: [f64; 3], shift_sd_mm: f64) -> Isometry3<f64> {
    let a: [f64; 3] =
        std::array::from_fn(|i| (rot_sd_deg[i] * rng.normal().clamp(-2.0, 2.0)).to_radians());
    let r = UnitQuaternion::from_matrix(&euler_zxy_matrix(a));
    let t = Vector3::from_fn(|_, _| shift_sd_mm * rng.normal().clamp(-2.0, 2.0));
    Isometry3::from_parts(Translation3::from(t), r)
}

/// The rigid transform equal to `iso`, written about centre `c` (ITK's parameterization).
fn rigid_about(iso: &Isometry3<f64>, c: &Point3<f64>) -> RigidTransform {
    let t = iso.translation.vector + iso.rotation * c.coords - c.coords;
    RigidTransform {
        rotation: iso.rotation,
        translation_mm: t,
        center_mm: *c,
    }
}

pub(crate) fn rigid_truth(t: &RigidTransform, file: &str) -> RigidTruth {
    let m = t.rotation.to_rotation_matrix().into_inner();
    RigidTruth {
        file: file.into(),
        matrix: std::array::from_fn(|n| m[(n / 3, n % 3)]),
        translation_mm: t.translation_mm.into(),
        center_mm: t.center_mm.coords.into(),
        euler_zxy_rad: t.euler_zxy(),
    }
}

/// Everything a seed draws about one subject: anatomy, trabecular knobs, the two scanner
/// poses and flexions, and the CT room.
pub struct Subject {
    pub kl: u8,
    pub shape: Shape,
    pub model: TrabecularModel,
    pub structure: Structure,
    /// Marrow and tissue composition (scaled by the CT's composition SDs, zero by default).
    pub tissue: TissueDraw,
    pub world_ct_from_knee: Isometry3<f64>,
    pub world_mr_from_knee: Isometry3<f64>,
    pub flex_ct_deg: f64,
    pub flex_mr_deg: f64,
    pub knee_from_femur_ct: Isometry3<f64>,
    pub knee_from_femur_mr: Isometry3<f64>,
    pub room: Room,
}

impl Subject {
    /// The subject of `config` (its seed and grade; the preset does not matter).
    pub fn draw(config: Config) -> Self {
        let seed = config.seed;
        let mut rng = Rng::new(seed, "subject");
        let kl = match config.grade {
            Grade::Normal => 0,
            Grade::Mild => 1 + (rng.uniform() < 0.5) as u8,
            Grade::Advanced => 3 + (rng.uniform() < 0.5) as u8,
        };
        let shape = Shape::random(&mut Rng::new(seed, "shape"), kl);
        let model = TrabecularModel::random(&mut Rng::new(seed, "knobs"), kl);
        let structure = Structure::new(seed);
        let tissue = TissueDraw::random(&mut Rng::new(seed, "tissue"));
        let mut prng = Rng::new(seed, "pose");
        let world_ct_from_knee = pose(&mut prng, [2.0, 2.0, 4.0], 3.0);
        let world_mr_from_knee = pose(&mut prng, [5.0, 5.0, 8.0], 5.0);
        let flex_ct_deg = prng.range(0.0, 4.0);
        let flex_mr_deg = flex_ct_deg + prng.range(3.0, 15.0);
        let knee_from_femur_ct = anatomy::knee_from_femur(&shape, flex_ct_deg.to_radians());
        let knee_from_femur_mr = anatomy::knee_from_femur(&shape, flex_mr_deg.to_radians());
        let mut room_rng = Rng::new(seed, "room");
        let clothing_gap_mm = room_rng.range(1.0, 4.0);
        let clothing_mm = room_rng.range(0.8, 1.6);
        let posterior = shape.limb_y_mm + shape.thigh_semi_mm[1].max(shape.shank_semi_mm[1]);
        let room = Room {
            table_top_y_mm: world_ct_from_knee.translation.vector.y
                + posterior
                + clothing_gap_mm
                + clothing_mm
                + 2.0,
            table_curvature: 0.0015,
            table_shell_mm: 1.5,
            table_thickness_mm: 12.0,
            clothing_gap_mm,
            clothing_mm,
        };
        Subject {
            kl,
            shape,
            model,
            structure,
            tissue,
            world_ct_from_knee,
            world_mr_from_knee,
            flex_ct_deg,
            flex_mr_deg,
            knee_from_femur_ct,
            knee_from_femur_mr,
            room,
        }
    }

    /// The knee as the CT scanner sees it (with table and clothing).
    pub fn knee_ct(&self) -> PosedKnee<'_> {
        PosedKnee::new(
            &self.shape,
            self.world_ct_from_knee.inverse(),
            self.knee_from_femur_ct.inverse(),
            Some(&self.room),
        )
    }

    /// The knee as the MR scanner sees it (its pose and flexion, no table).
    pub fn knee_mr(&self) -> PosedKnee<'_> {
        PosedKnee::new(
            &self.shape,
            self.world_mr_from_knee.inverse(),
            self.knee_from_femur_mr.inverse(),
            None,
        )
    }
}

/// The CT that would have been acquired of the knee in its MR pose (MR flexion, MR
/// scanner world, no table), noise-free, on `geometry_in_mr_world`: a grid placed in the MR
/// scanner's world. Placing the CT grid there through a CT -> MR registration gives the
/// reference an ideal synthesis of crMR would reproduce voxel for voxel.
pub fn render_ct_in_mr_pose(
    config: Config,
    ct_spec: &ScanSpec,
    geometry_in_mr_world: Geometry,
    progress: &Progress,
) -> Result<Volume> {
    let subject = Subject::draw(config);
    let spec = ScanSpec {
        geometry: geometry_in_mr_world,
        noise_sd: 0.0,
        ..ct_spec.clone()
    };
    let scan = scanner::render(
        &spec,
        &subject.knee_mr(),
        &subject.structure,
        &subject.model,
        &subject.tissue,
        0,
        progress,
    )?;
    let [ni, nj, nk] = spec.geometry.size;
    let data = ndarray::Array3::from_shape_vec((nk, nj, ni), scan.values)
        .map_err(|e| Error::invalid(e.to_string()))?;
    Volume::from_data(spec.geometry, data)
}

/// The paper preset's scanners with every grid scaled by `scale` in voxels per axis (same
/// fields of view): for measuring how generation time grows with resolution.
pub fn scan_specs_scaled(scale: f64) -> (ScanSpec, ScanSpec) {
    let (mut ct, mut mr) = scan_specs(Preset::Paper);
    for spec in [&mut ct, &mut mr] {
        let g = &spec.geometry;
        let size: [usize; 3] =
            std::array::from_fn(|a| ((g.size[a] as f64 * scale).round() as usize).max(2));
        let spacing: [f64; 3] = std::array::from_fn(|a| {
            g.spacing_mm[a] * (g.size[a] - 1) as f64 / (size[a] - 1) as f64
        });
        spec.geometry = grid(size, spacing, g.direction, g.center_mm());
    }
    (ct, mr)
}

/// Generates one subject.
pub fn generate(config: Config, progress: &Progress) -> Result<Phantom> {
    let (ct_spec, mr_spec) = scan_specs(config.preset);
    generate_with(
        config,
        ct_spec,
        mr_spec,
        truth_sampling(config.preset),
        progress,
    )
}

/// Generates one subject on the given scanners (`generate` uses the preset's).
pub fn generate_with(
    config: Config,
    ct_spec: ScanSpec,
    mr_spec: ScanSpec,
    sampling: TruthSampling,
    progress: &Progress,
) -> Result<Phantom> {
    generate_subject(
        config,
        Subject::draw(config),
        ct_spec,
        mr_spec,
        sampling,
        progress,
    )
}

/// Generates the drawn `subject` (possibly posed otherwise than its draw) on the given
/// scanners.
pub fn generate_subject(
    config: Config,
    subject: Subject,
    ct_spec: ScanSpec,
    mr_spec: ScanSpec,
    sampling: TruthSampling,
    progress: &Progress,
) -> Result<Phantom> {
    let seed = config.seed;
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    let Subject {
        kl,
        shape,
        model,
        structure,
        tissue,
        world_ct_from_knee,
        world_mr_from_knee,
        flex_ct_deg,
        flex_mr_deg,
        knee_from_femur_ct,
        knee_from_femur_mr,
        ..
    } = &subject;
    let (kl, flex_ct_deg, flex_mr_deg) = (*kl, *flex_ct_deg, *flex_mr_deg);
    let (world_ct_from_knee, world_mr_from_knee) = (*world_ct_from_knee, *world_mr_from_knee);
    let (knee_from_femur_ct, knee_from_femur_mr) = (*knee_from_femur_ct, *knee_from_femur_mr);
    lap("structure", &mut timings);
    let knee_ct = subject.knee_ct();
    let knee_mr = subject.knee_mr();

    let noise = srrd_base::rng::mix(seed ^ 0x5EED);
    let ct = scanner::render(
        &ct_spec,
        &knee_ct,
        structure,
        model,
        tissue,
        noise ^ 1,
        progress,
    )?;
    lap("ct", &mut timings);
    let mr = scanner::render(
        &mr_spec,
        &knee_mr,
        structure,
        model,
        tissue,
        noise ^ 2,
        progress,
    )?;
    lap("mr", &mut timings);

    // Landmarks: bone rest frame -> each scanner's world.
    let mut landmarks_ct = Vec::new();
    let mut landmarks_mr = Vec::new();
    for d in shape.landmark_defs() {
        let pb = shape.landmark(&d);
        let femoral = d.bone == FEMUR || d.bone == PATELLA;
        let (kc, km) = if femoral {
            (knee_from_femur_ct * pb, knee_from_femur_mr * pb)
        } else {
            (pb, pb)
        };
        let (pc, pm) = (world_ct_from_knee * kc, world_mr_from_knee * km);
        landmarks_ct.push(Landmark {
            label: d.label.into(),
            position_mm: pc.coords.into(),
        });
        landmarks_mr.push(Landmark {
            label: d.label.into(),
            position_mm: pm.coords.into(),
        });
    }

    // True transforms, CT world -> MR world.
    let global = world_mr_from_knee * world_ct_from_knee.inverse();
    let femur = world_mr_from_knee
        * knee_from_femur_mr
        * knee_from_femur_ct.inverse()
        * world_ct_from_knee.inverse();
    let c = ct_spec.geometry.center_mm();
    let ct_to_mr_global = rigid_about(&global, &c);
    let ct_to_mr_femur = rigid_about(&femur, &c);
    let (axis_p, axis_d) = shape.flexion_axis();
    let axis_ct_p = world_ct_from_knee * axis_p;
    let axis_ct_d = world_ct_from_knee.rotation * axis_d;

    let trabecular = truth::measure_trabecular(shape, structure, model, sampling, seed, progress)?;
    lap("truth", &mut timings);

    let files: BTreeMap<String, String> = [
        ("ct.nii.gz", "CT in HU (int16), axial"),
        (
            "mr.nii.gz",
            "MR, raw balanced-FFE-like signal (int16), sagittal",
        ),
        (
            "ct_labels.nii.gz",
            "tissue labels on the CT grid (see labels)",
        ),
        ("mr_labels.nii.gz", "tissue labels on the MR grid"),
        (
            "ct_subregions.nii.gz",
            "subchondral trabecular subregions on the CT grid (see subregion_labels)",
        ),
        (
            "mr_subregions.nii.gz",
            "subchondral trabecular subregions on the MR grid",
        ),
        (
            "landmarks_ct.json",
            "anatomical landmarks, CT world LPS mm (srrd JSON)",
        ),
        (
            "landmarks_mr.json",
            "the same landmarks, MR world LPS mm (srrd JSON)",
        ),
        (
            "landmarks_ct.mrk.json",
            "landmarks_ct as a 3D Slicer markups file",
        ),
        (
            "landmarks_mr.mrk.json",
            "landmarks_mr as a 3D Slicer markups file",
        ),
        (
            "ct_to_mr_global.tfm",
            "true CT -> MR rigid transform of the tibia, fibula and soft tissue (ITK)",
        ),
        (
            "ct_to_mr_femur.tfm",
            "true CT -> MR rigid transform of the femur and patella (ITK)",
        ),
        ("truth.json", "this file"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let labels = Tissue::ALL
        .iter()
        .map(|t| (*t as u8, t.name().to_string()))
        .collect();
    let mut subregion_labels = BTreeMap::new();
    subregion_labels.insert(0u8, "outside".to_string());
    for (b, bone) in ["femur", "tibia"].iter().enumerate() {
        for (s, name) in SUBREGIONS.iter().enumerate() {
            subregion_labels.insert((b * 6 + s + 1) as u8, format!("{bone}_{name}"));
        }
    }
    let truth = Truth {
        format: "srrd-phantom-truth/1".into(),
        seed,
        preset: config.preset.name().into(),
        grade: config.grade.name().into(),
        kl_grade: kl,
        side: "right".into(),
        files,
        labels,
        subregion_labels,
        subregion_rule: "Bone frames: x toward the patient's left (medial for this right knee), \
            y posterior, z superior; the femur's frame rotates with it. Femoral region: the \
            femoral marrow cavity (inside the cortex) below z = zc + 5 mm, zc the height of the \
            condyles' centres of curvature. Tibial region: the tibial marrow cavity within 15 mm \
            under the plateau. Medial: x > 0. Anterior/central/posterior: thirds of the \
            antero-posterior extent (femur: condyles, y from yc - R - 4 to yc + R; tibia: the \
            plateau's y range)."
            .into(),
        flexion_deg: Flexion {
            ct: flex_ct_deg,
            mr: flex_mr_deg,
            femur_extra: flex_mr_deg - flex_ct_deg,
        },
        transforms: Transforms {
            ct_to_mr_global: rigid_truth(&ct_to_mr_global, "ct_to_mr_global.tfm"),
            ct_to_mr_femur: rigid_truth(&ct_to_mr_femur, "ct_to_mr_femur.tfm"),
            flexion_axis_ct: [axis_ct_p.coords.into(), axis_ct_d.into()],
        },
        trabecular,
        scanners: [
            ("ct".to_string(), ct_spec.clone()),
            ("mr".to_string(), mr_spec.clone()),
        ]
        .into_iter()
        .collect(),
        anatomy: shape.clone(),
        knobs: model.clone(),
        landmarks: LandmarkInfo {
            count: landmarks_ct.len(),
            inset_mm: LANDMARK_INSET_MM,
            files: vec![
                "landmarks_ct.json".into(),
                "landmarks_mr.json".into(),
                "landmarks_ct.mrk.json".into(),
                "landmarks_mr.mrk.json".into(),
            ],
        },
        acquisition: None,
        other_knee: None,
    };
    let to_volume = |g: &Geometry, v: Vec<f32>| {
        let [ni, nj, nk] = g.size;
        ndarray::Array3::from_shape_vec((nk, nj, ni), v)
            .map_err(|e| Error::invalid(e.to_string()))
            .and_then(|a| Volume::from_data(g.clone(), a))
    };
    Ok(Phantom {
        config,
        ct: to_volume(&ct_spec.geometry, ct.values)?,
        ct_labels: LabelMap::new(ct_spec.geometry.clone(), ct.labels)?,
        ct_subregions: LabelMap::new(ct_spec.geometry.clone(), ct.subregions)?,
        mr: to_volume(&mr_spec.geometry, mr.values)?,
        mr_labels: LabelMap::new(mr_spec.geometry.clone(), mr.labels)?,
        mr_subregions: LabelMap::new(mr_spec.geometry.clone(), mr.subregions)?,
        landmarks_ct,
        landmarks_mr,
        ct_to_mr_global,
        ct_to_mr_femur,
        truth,
        timings_s: timings,
        other_knee: None,
    })
}

impl Phantom {
    /// Writes every file into `dir` (created if needed); `truth.json` last, so its presence
    /// means the set is complete.
    pub fn write(&self, dir: &Path, progress: &Progress) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        progress.start("writing files", 13);
        let step = |r: Result<()>| -> Result<()> {
            r?;
            progress.advance(1);
            progress.check()
        };
        // The images in parallel (compression is the slow part).
        let images: Vec<Box<dyn Fn() -> Result<()> + Sync>> = vec![
            Box::new(|| write_nifti(&dir.join("mr.nii.gz"), &self.mr, WriteDtype::I16)),
            Box::new(|| write_labels(&dir.join("mr_labels.nii.gz"), &self.mr_labels)),
            Box::new(|| write_labels(&dir.join("mr_subregions.nii.gz"), &self.mr_subregions)),
            Box::new(|| write_nifti(&dir.join("ct.nii.gz"), &self.ct, WriteDtype::I16)),
            Box::new(|| write_labels(&dir.join("ct_labels.nii.gz"), &self.ct_labels)),
            Box::new(|| write_labels(&dir.join("ct_subregions.nii.gz"), &self.ct_subregions)),
        ];
        images.par_iter().try_for_each(|w| step(w()))?;
        step(write_landmarks(
            &dir.join("landmarks_ct.json"),
            &self.landmarks_ct,
        ))?;
        step(write_landmarks(
            &dir.join("landmarks_mr.json"),
            &self.landmarks_mr,
        ))?;
        step(write_landmarks(
            &dir.join("landmarks_ct.mrk.json"),
            &self.landmarks_ct,
        ))?;
        step(write_landmarks(
            &dir.join("landmarks_mr.mrk.json"),
            &self.landmarks_mr,
        ))?;
        step(write_rigid(
            &dir.join("ct_to_mr_global.tfm"),
            &self.ct_to_mr_global,
        ))?;
        step(write_rigid(
            &dir.join("ct_to_mr_femur.tfm"),
            &self.ct_to_mr_femur,
        ))?;
        if let Some(other) = &self.other_knee {
            other.write(&dir.join(acquisition::OTHER_KNEE_DIR), progress)?;
        }
        let json =
            serde_json::to_string_pretty(&self.truth).map_err(|e| Error::invalid(e.to_string()))?;
        let path = dir.join("truth.json");
        step(srrd_base::io::atomic_write(&path, |w| {
            w.write_all(json.as_bytes())
        }))
    }
}

/// The demo knee's configuration.
pub const DEMO: Config = Config {
    seed: 7,
    grade: Grade::Advanced,
    preset: Preset::Paper,
};

/// Where the demo knee is cached: `$SRRD_DEMO_DIR`, else `$XDG_CACHE_HOME/srrd/demo-knee`,
/// else `~/.cache/srrd/demo-knee`.
pub fn demo_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SRRD_DEMO_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("srrd").join("demo-knee")
}

/// The demo knee's folder, generating it the first time (a one-time step).
pub fn ensure_demo(progress: &Progress) -> Result<PathBuf> {
    let dir = demo_dir();
    if dir.join("truth.json").is_file() {
        return Ok(dir);
    }
    let p = generate(DEMO, progress)?;
    p.write(&dir, progress)?;
    Ok(dir)
}
