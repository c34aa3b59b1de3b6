//! Acquisitions: how a knee is scanned beyond its preset, as clinics do it. The CT's
//! pixel size, slice spacing and thickness, reconstruction sharpness (PSF) and coverage
//! (a short scan); the patient's position (feet first, the leg turned in the scanner); a
//! left knee (the whole subject mirrored: anatomy, labels, subregions, landmarks and true
//! transforms); a bilateral field of view (the other knee drawn as its own subject, its
//! truth written beside); the MR's protocol (thick 2D slices, or coronal or axial planes).
//! The default acquisition is the preset's: every existing file keeps its bytes.

use nalgebra::{Isometry3, Matrix3, Point3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::scanner::ScanSpec;
use super::truth::TruthSampling;
use super::{CohortCt, Config, Phantom, Subject, generate_subject, rigid_truth};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::rng::Rng;
use srrd_base::volume::{Geometry, LabelMap, RigidTransform, Volume, voxel_ijk, voxel_index};

/// Folder of a bilateral scan's other knee, beside `truth.json`.
pub const OTHER_KNEE_DIR: &str = "other_knee";

/// Bone-free gap between the two knees of a bilateral CT (mm of field of view between the
/// two single-knee fields of view; the legs are further apart than that).
pub const BILATERAL_GAP_MM: f64 = 30.0;

/// The MR protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MrProtocol {
    /// The preset's: sagittal 3D (paper: 0.234 x 0.234 x 1.5 mm).
    #[default]
    Preset,
    /// Sagittal 2D with 3 mm slices (0.45 mm pixels).
    Thick2d,
    /// The preset's grid in coronal slices.
    Coronal,
    /// The preset's grid in axial slices.
    Axial,
}

impl MrProtocol {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "preset" | "sagittal" => Ok(MrProtocol::Preset),
            "thick2d" => Ok(MrProtocol::Thick2d),
            "coronal" => Ok(MrProtocol::Coronal),
            "axial" => Ok(MrProtocol::Axial),
            o => Err(Error::invalid(format!(
                "unknown MR protocol '{o}' (use sagittal, thick2d, coronal or axial)"
            ))),
        }
    }
}

/// How one knee is scanned (the default: as its preset does).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Acquisition {
    /// CT in-plane pixel size (mm).
    pub ct_pixel_mm: Option<f64>,
    /// CT slice spacing (mm).
    pub ct_slice_mm: Option<f64>,
    /// CT slice thickness (mm; at least the spacing: thicker slices overlap).
    pub ct_thickness_mm: Option<f64>,
    /// CT in-plane point-spread function SD (mm): the reconstruction kernel, sharp
    /// (0.25) to soft (0.8).
    pub ct_psf_mm: Option<f64>,
    /// CT coverage along the leg (mm), centred on the joint: a short scan cuts the
    /// shafts and part of the patella.
    pub ct_fov_z_mm: Option<f64>,
    /// Feet first into the scanner (the image axes turned 180 degrees about the
    /// anterior-posterior axis; the patient's anatomy in LPS is the same).
    #[serde(default)]
    pub feet_first: bool,
    /// The leg turned about its long axis in the CT scanner (degrees, external +).
    #[serde(default)]
    pub leg_rotation_deg: f64,
    /// A left knee (the subject mirrored).
    #[serde(default)]
    pub left: bool,
    /// Both knees in the CT's field of view (the other one its own subject).
    #[serde(default)]
    pub bilateral: bool,
    #[serde(default)]
    pub mr: MrProtocol,
}

impl Acquisition {
    pub fn is_default(&self) -> bool {
        *self == Acquisition::default()
    }

    /// A short name, as in the robustness table ("reference" for the default).
    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        if self.ct_pixel_mm.is_some() || self.ct_slice_mm.is_some() {
            parts.push(format!(
                "CT {}x{} mm",
                self.ct_pixel_mm.map_or("-".into(), |v| format!("{v}")),
                self.ct_slice_mm.map_or("-".into(), |v| format!("{v}"))
            ));
        }
        if let Some(t) = self.ct_thickness_mm {
            parts.push(format!("{t} mm thick"));
        }
        if let Some(p) = self.ct_psf_mm {
            parts.push(format!("PSF {p} mm"));
        }
        if let Some(z) = self.ct_fov_z_mm {
            parts.push(format!("{z} mm coverage"));
        }
        if self.feet_first {
            parts.push("feet first".into());
        }
        if self.leg_rotation_deg != 0.0 {
            parts.push(format!("leg turned {} deg", self.leg_rotation_deg));
        }
        if self.left {
            parts.push("left knee".into());
        }
        if self.bilateral {
            parts.push("bilateral".into());
        }
        if self.mr != MrProtocol::Preset {
            parts.push(format!("MR {:?}", self.mr).to_lowercase());
        }
        if parts.is_empty() {
            "reference".into()
        } else {
            parts.join(", ")
        }
    }

    /// Checks the ranges a clinic's CT comes in (and the phantom can draw).
    pub fn validate(&self) -> Result<()> {
        let within = |name: &str, v: Option<f64>, lo: f64, hi: f64| -> Result<()> {
            match v {
                Some(x) if !(lo..=hi).contains(&x) => Err(Error::invalid(format!(
                    "{name} {x}: expected {lo} to {hi} mm"
                ))),
                _ => Ok(()),
            }
        };
        within("--ct-pixel-mm", self.ct_pixel_mm, 0.2, 2.0)?;
        within("--ct-slice-mm", self.ct_slice_mm, 0.3, 5.0)?;
        within("--ct-thickness-mm", self.ct_thickness_mm, 0.3, 6.0)?;
        within("--ct-psf-mm", self.ct_psf_mm, 0.0, 5.0)?;
        within("--ct-fov-z-mm", self.ct_fov_z_mm, 40.0, 400.0)?;
        if !(-45.0..=45.0).contains(&self.leg_rotation_deg) {
            return Err(Error::invalid(format!(
                "--leg-rotation-deg {}: expected -45 to 45 degrees",
                self.leg_rotation_deg
            )));
        }
        Ok(())
    }

    /// The CT scanner of this acquisition, from the preset's (`base`).
    pub fn ct_spec(&self, base: &ScanSpec) -> ScanSpec {
        let mut spec = base.clone();
        let g = &base.geometry;
        let base_spacing: [f64; 3] = g.spacing_mm.into();
        let mut spacing = base_spacing;
        if let Some(p) = self.ct_pixel_mm {
            spacing[0] = p;
            spacing[1] = p;
        }
        if let Some(s) = self.ct_slice_mm {
            spacing[2] = s;
        }
        let mut extent: [f64; 3] = g.extent_mm().into();
        if let Some(z) = self.ct_fov_z_mm {
            extent[2] = z;
        }
        let size: [usize; 3] =
            std::array::from_fn(|a| (extent[a] / spacing[a]).round() as usize + 1);
        // Sub-samples per voxel keep about the preset's step in mm.
        let scale = |sub: [usize; 3]| -> [usize; 3] {
            std::array::from_fn(|a| {
                ((sub[a] as f64 * spacing[a] / base_spacing[a]).round() as usize).max(1)
            })
        };
        let tile_sub = scale(base.tile_sub);
        // The anatomy's sub-samples must divide the trabecular ones.
        let anatomy_sub: [usize; 3] = std::array::from_fn(|a| {
            let want = scale(base.anatomy_sub)[a].min(tile_sub[a]).max(1);
            (1..=want).rev().find(|d| tile_sub[a] % d == 0).unwrap_or(1)
        });
        let direction = if self.feet_first {
            Matrix3::from_diagonal(&Vector3::new(-1.0, 1.0, -1.0))
        } else {
            g.direction
        };
        spec.geometry = super::grid(size, spacing, direction, g.center_mm());
        spec.tile_sub = tile_sub;
        spec.anatomy_sub = anatomy_sub;
        if let Some(p) = self.ct_psf_mm {
            spec.psf_sd_mm[0] = p;
            spec.psf_sd_mm[1] = p;
        }
        if let Some(t) = self.ct_thickness_mm {
            // A slice thicker than its spacing integrates the extra width: a box's variance.
            let extra = (t * t - spacing[2] * spacing[2]).max(0.0) / 12.0;
            spec.psf_sd_mm[2] = (spec.psf_sd_mm[2].powi(2) + extra).sqrt();
        }
        spec
    }

    /// The MR scanner of this acquisition, from the preset's (`base`).
    pub fn mr_spec(&self, base: &ScanSpec) -> ScanSpec {
        let mut spec = base.clone();
        let g = &base.geometry;
        let c = g.center_mm();
        match self.mr {
            MrProtocol::Preset => {}
            MrProtocol::Thick2d => {
                let extent = g.extent_mm();
                let spacing = [0.45, 0.45, 3.0];
                let size: [usize; 3] =
                    std::array::from_fn(|a| (extent[a] / spacing[a]).round() as usize + 1);
                spec.geometry = super::grid(size, spacing, g.direction, c);
                spec.tile_sub = [2, 2, 6];
                spec.anatomy_sub = [1, 1, 3];
            }
            MrProtocol::Coronal => {
                let d = Matrix3::from_columns(&[Vector3::x(), -Vector3::z(), Vector3::y()]);
                spec.geometry = super::grid(g.size, g.spacing_mm.into(), d, c);
            }
            MrProtocol::Axial => {
                spec.geometry = super::grid(g.size, g.spacing_mm.into(), Matrix3::identity(), c);
            }
        }
        spec
    }
}

/// A bilateral scan's other knee, as `truth.json` names it.
#[derive(Clone, Debug, Serialize)]
pub struct OtherKnee {
    pub side: String,
    pub dir: String,
    pub seed: u64,
    /// Where its knee sits relative to this one (world x, mm).
    pub offset_x_mm: f64,
}

/// Generates one knee as `acq` scans it (with the cohort's CT changes in `ct`).
pub fn generate_acquired(
    config: Config,
    ct: CohortCt,
    acq: &Acquisition,
    progress: &Progress,
) -> Result<Phantom> {
    generate_acquired_with(config, ct, acq, true, progress)
}

/// [`generate_acquired`]; without `with_mr`, the MR is a token 4^3 grid (for studies of
/// the CT alone: the paper MR is most of the generation time).
pub fn generate_acquired_with(
    config: Config,
    ct: CohortCt,
    acq: &Acquisition,
    with_mr: bool,
    progress: &Progress,
) -> Result<Phantom> {
    acq.validate()?;
    let generate_one = |config: Config| generate_one(config, ct, acq, with_mr, progress);
    let mut p = generate_one(config)?;
    if acq.left {
        p = mirrored(p)?;
    }
    if acq.bilateral {
        let other_seed = srrd_base::rng::mix(config.seed ^ 0xB11A_7E2A);
        let other_config = Config {
            seed: other_seed,
            ..config
        };
        let mut other = generate_one(other_config)?;
        if !acq.left {
            other = mirrored(other)?;
        }
        p = side_by_side(p, other)?;
    }
    if !acq.is_default() {
        p.truth.acquisition = Some(acq.clone());
    }
    Ok(p)
}

/// One knee, right, as the acquisition's scanners and pose see it.
fn generate_one(
    config: Config,
    ct: CohortCt,
    acq: &Acquisition,
    with_mr: bool,
    progress: &Progress,
) -> Result<Phantom> {
    let preset = config.preset;
    let ct_spec = acq.ct_spec(&ct.spec(preset));
    let mut mr_spec = acq.mr_spec(&super::scan_specs(preset).1);
    if !with_mr {
        let g = &mr_spec.geometry;
        mr_spec.geometry = super::grid([4, 4, 4], [4.0; 3], g.direction, g.center_mm());
        mr_spec.tile_sub = [1, 1, 1];
        mr_spec.anatomy_sub = [1, 1, 1];
    }
    let mut subject = Subject::draw(config);
    if acq.leg_rotation_deg != 0.0 {
        turn_leg(&mut subject, acq.leg_rotation_deg);
    }
    let sampling: TruthSampling = super::truth_sampling(preset);
    generate_subject(config, subject, ct_spec, mr_spec, sampling, progress)
}

/// Turns the leg about the scanner's long axis (world z through the knee); the table is
/// lowered by what the turned leg's wider axis now reaches.
fn turn_leg(subject: &mut Subject, angle_deg: f64) {
    let r = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), angle_deg.to_radians());
    let centre = subject.world_ct_from_knee.translation.vector;
    let about = Isometry3::from_parts((centre - r * centre).into(), r);
    subject.world_ct_from_knee = about * subject.world_ct_from_knee;
    let s = &subject.shape;
    let widest = s.thigh_semi_mm[0].max(s.shank_semi_mm[0]);
    let deepest = s.thigh_semi_mm[1].max(s.shank_semi_mm[1]);
    let sin = angle_deg.to_radians().sin().abs();
    subject.room.table_top_y_mm += (widest - deepest).max(0.0) * sin + sin * s.limb_y_mm.abs();
}

/// The mirror of world x (LPS: the patient's left-right).
fn mirror_point(p: [f64; 3]) -> [f64; 3] {
    [-p[0], p[1], p[2]]
}

/// The index axis closest to world x.
fn lr_axis(g: &Geometry) -> usize {
    (0..3)
        .max_by(|&a, &b| {
            g.direction[(0, a)]
                .abs()
                .total_cmp(&g.direction[(0, b)].abs())
        })
        .unwrap_or(0)
}

/// The grid and flipped index of a volume mirrored in world x: the voxels are reversed
/// along the index axis closest to x, so the direction matrix keeps its handedness.
fn mirrored_geometry(g: &Geometry) -> (Geometry, usize) {
    let a = lr_axis(g);
    let m = Matrix3::from_diagonal(&Vector3::new(-1.0, 1.0, 1.0));
    let mut f = Matrix3::identity();
    f[(a, a)] = -1.0;
    let last = g.index_to_world(Vector3::from_fn(|r, _| {
        if r == a { (g.size[a] - 1) as f64 } else { 0.0 }
    }));
    let origin = Point3::from(m * last.coords);
    (
        Geometry {
            size: g.size,
            spacing_mm: g.spacing_mm,
            origin_mm: origin,
            direction: m * g.direction * f,
        },
        a,
    )
}

fn flip_axis<T: Copy>(data: &[T], size: [usize; 3], axis: usize) -> Vec<T> {
    (0..data.len())
        .map(|n| {
            let mut idx = voxel_ijk(size, n);
            idx[axis] = size[axis] - 1 - idx[axis];
            data[voxel_index(size, idx[0], idx[1], idx[2])]
        })
        .collect()
}

fn mirror_volume(v: &Volume) -> Volume {
    let (g, a) = mirrored_geometry(&v.geometry);
    let data = v.data.as_standard_layout();
    let flipped = flip_axis(data.as_slice().unwrap_or(&[]), v.geometry.size, a);
    let data = ndarray::Array3::from_shape_vec(g.shape_kji(), flipped)
        .unwrap_or_else(|_| ndarray::Array3::zeros(g.shape_kji()));
    Volume { geometry: g, data }
}

fn mirror_rigid(t: &RigidTransform) -> RigidTransform {
    let m = Matrix3::from_diagonal(&Vector3::new(-1.0, 1.0, 1.0));
    let r = m * t.rotation.to_rotation_matrix().into_inner() * m;
    RigidTransform {
        rotation: UnitQuaternion::from_matrix(&r),
        translation_mm: m * t.translation_mm,
        center_mm: Point3::from(m * t.center_mm.coords),
    }
}

/// The subject mirrored in world x: a left knee with the same anatomy, truth, labels,
/// subregions (medial now towards the patient's right), landmarks and transforms.
pub fn mirrored(mut p: Phantom) -> Result<Phantom> {
    let (ct_size, mr_size) = (p.ct.geometry.size, p.mr.geometry.size);
    let (ct_axis, mr_axis) = (lr_axis(&p.ct.geometry), lr_axis(&p.mr.geometry));
    p.ct = mirror_volume(&p.ct);
    p.mr = mirror_volume(&p.mr);
    let mirror = |l: &LabelMap, size, axis, g: &Geometry| {
        LabelMap::new(g.clone(), flip_axis(l.labels(), size, axis))
    };
    p.ct_labels = mirror(&p.ct_labels, ct_size, ct_axis, &p.ct.geometry)?;
    p.ct_subregions = mirror(&p.ct_subregions, ct_size, ct_axis, &p.ct.geometry)?;
    p.mr_labels = mirror(&p.mr_labels, mr_size, mr_axis, &p.mr.geometry)?;
    p.mr_subregions = mirror(&p.mr_subregions, mr_size, mr_axis, &p.mr.geometry)?;
    for l in p.landmarks_ct.iter_mut().chain(p.landmarks_mr.iter_mut()) {
        l.position_mm = mirror_point(l.position_mm);
    }
    p.ct_to_mr_global = mirror_rigid(&p.ct_to_mr_global);
    p.ct_to_mr_femur = mirror_rigid(&p.ct_to_mr_femur);
    let t = &mut p.truth;
    t.side = "left".into();
    t.subregion_rule += " Left knee: the subject mirrored in world x, so medial is x < 0 \
        in the (mirrored) bone frames, towards the patient's right.";
    t.transforms.ct_to_mr_global = rigid_truth(&p.ct_to_mr_global, "ct_to_mr_global.tfm");
    t.transforms.ct_to_mr_femur = rigid_truth(&p.ct_to_mr_femur, "ct_to_mr_femur.tfm");
    let [pt, d] = t.transforms.flexion_axis_ct;
    t.transforms.flexion_axis_ct = [mirror_point(pt), mirror_point(d)];
    if let Some(s) = t.scanners.get_mut("ct") {
        s.geometry = p.ct.geometry.clone();
    }
    if let Some(s) = t.scanners.get_mut("mr") {
        s.geometry = p.mr.geometry.clone();
    }
    Ok(p)
}

/// One CT of both knees: `main`'s CT grid widened along world x to hold `other`'s CT
/// beside it (the right knee at smaller x, as in a patient), with a bone-free gap of air.
/// `main` keeps its world positions; `other` is shifted, and written as its own subject
/// (its CT alone, at its place in the bilateral field of view).
fn side_by_side(mut main: Phantom, mut other: Phantom) -> Result<Phantom> {
    let g = main.ct.geometry.clone();
    let a = lr_axis(&g);
    let n = g.size[a];
    let gap_vox = (BILATERAL_GAP_MM / g.spacing_mm[a]).round() as usize;
    let width_mm = (n + gap_vox) as f64 * g.spacing_mm[a];
    let main_is_left = main.truth.side == "left";
    // The other knee's world shift: +x (patient left) when it is the left knee.
    let offset_x = if main_is_left { -width_mm } else { width_mm };
    shift_x(&mut other, offset_x)?;
    // Along index axis a, does index grow with x?
    let grows_x = g.direction[(0, a)] > 0.0;
    // Main's and the other knee's first index in the combined grid along axis a.
    let main_first = grows_x == (offset_x > 0.0);
    let (main_at, other_at) = if main_first {
        (0usize, n + gap_vox)
    } else {
        (n + gap_vox, 0usize)
    };
    let mut size = g.size;
    size[a] = 2 * n + gap_vox;
    let mut origin_index = Vector3::zeros();
    origin_index[a] = -(main_at as f64);
    let combined = Geometry {
        size,
        spacing_mm: g.spacing_mm,
        origin_mm: g.index_to_world(origin_index),
        direction: g.direction,
    };
    let [ci, cj, ck] = size;
    let total = ci * cj * ck;
    let mut values = vec![-1000f32; total];
    let mut labels = vec![0u8; total];
    let mut subregions = vec![0u8; total];
    let place = |at: usize,
                 src: &[f32],
                 src_labels: &[u8],
                 src_sub: &[u8],
                 values: &mut [f32],
                 labels: &mut [u8],
                 subregions: &mut [u8]| {
        for (m, v) in src.iter().enumerate() {
            let mut idx = g.ijk(m);
            idx[a] += at;
            let o = combined.index(idx[0], idx[1], idx[2]);
            values[o] = *v;
            labels[o] = src_labels[m];
            subregions[o] = src_sub[m];
        }
    };
    let main_ct = main.ct.data.as_standard_layout().to_owned();
    let other_ct = other.ct.data.as_standard_layout().to_owned();
    if other.ct.geometry.size != g.size {
        return Err(Error::invalid("the two knees' CT grids differ"));
    }
    place(
        main_at,
        main_ct.as_slice().unwrap_or(&[]),
        main.ct_labels.labels(),
        main.ct_subregions.labels(),
        &mut values,
        &mut labels,
        &mut subregions,
    );
    place(
        other_at,
        other_ct.as_slice().unwrap_or(&[]),
        other.ct_labels.labels(),
        other.ct_subregions.labels(),
        &mut values,
        &mut labels,
        &mut subregions,
    );
    let data = ndarray::Array3::from_shape_vec(combined.shape_kji(), values)
        .map_err(|e| Error::invalid(e.to_string()))?;
    main.ct = Volume::from_data(combined.clone(), data)?;
    main.ct_labels = LabelMap::new(combined.clone(), labels)?;
    main.ct_subregions = LabelMap::new(combined.clone(), subregions)?;
    if let Some(s) = main.truth.scanners.get_mut("ct") {
        s.geometry = combined;
    }
    main.truth.files.insert(
        "ct.nii.gz".into(),
        "CT in HU (int16), axial: both knees (this one and other_knee/)".into(),
    );
    main.truth.other_knee = Some(OtherKnee {
        side: other.truth.side.clone(),
        dir: OTHER_KNEE_DIR.into(),
        seed: other.truth.seed,
        offset_x_mm: offset_x,
    });
    main.other_knee = Some(Box::new(other));
    Ok(main)
}

/// Moves a whole subject (CT, MR, landmarks, transforms) by `dx` mm along world x.
fn shift_x(p: &mut Phantom, dx: f64) -> Result<()> {
    let d = Vector3::new(dx, 0.0, 0.0);
    p.ct.geometry.origin_mm += d;
    p.mr.geometry.origin_mm += d;
    let moved = |l: &LabelMap, g: &Geometry| l.clone().with_geometry(g.clone());
    p.ct_labels = moved(&p.ct_labels, &p.ct.geometry)?;
    p.ct_subregions = moved(&p.ct_subregions, &p.ct.geometry)?;
    p.mr_labels = moved(&p.mr_labels, &p.mr.geometry)?;
    p.mr_subregions = moved(&p.mr_subregions, &p.mr.geometry)?;
    for l in p.landmarks_ct.iter_mut().chain(p.landmarks_mr.iter_mut()) {
        l.position_mm[0] += dx;
    }
    // CT -> MR in both shifted worlds: T'(p) = T(p - d) + d; about a shifted centre the
    // rotation and translation are unchanged.
    for t in [&mut p.ct_to_mr_global, &mut p.ct_to_mr_femur] {
        t.center_mm += d;
    }
    let t = &mut p.truth;
    t.transforms.ct_to_mr_global = rigid_truth(&p.ct_to_mr_global, "ct_to_mr_global.tfm");
    t.transforms.ct_to_mr_femur = rigid_truth(&p.ct_to_mr_femur, "ct_to_mr_femur.tfm");
    t.transforms.flexion_axis_ct[0][0] += dx;
    if let Some(s) = t.scanners.get_mut("ct") {
        s.geometry = p.ct.geometry.clone();
    }
    if let Some(s) = t.scanners.get_mut("mr") {
        s.geometry = p.mr.geometry.clone();
    }
    Ok(())
}

/// Draws a clinic's acquisition for one knee of a cohort (`--acquisitions clinical`):
/// pixels uniform 0.3-1.0 mm; slices 0.5, 0.625, 1, 1.25, 2, 2.5 or 3 mm (equally likely)
/// with thickness equal to the spacing or 1.5 times it (half each); PSF SD uniform
/// 0.25-0.8 mm (sharp to soft kernels); a left knee half the time; bilateral 20%; feet
/// first 30%; leg turned by N(0, 8 degrees) clamped to +-20; coverage cut to 60-80 mm 15%
/// of the time; MR: the preset's 55%, thick 2D 25%, coronal 10%, axial 10%.
pub fn draw_clinical(seed: u64, index: usize) -> Acquisition {
    let mut r = Rng::new(
        srrd_base::rng::mix(seed ^ (index as u64).wrapping_mul(0x9E37)),
        "acquisition",
    );
    let slices = [0.5, 0.625, 1.0, 1.25, 2.0, 2.5, 3.0];
    let pixel = (r.range(0.3, 1.0) * 100.0).round() / 100.0;
    let slice = slices[((r.uniform() * slices.len() as f64) as usize).min(slices.len() - 1)];
    let thickness = if r.uniform() < 0.5 {
        slice
    } else {
        slice * 1.5
    };
    let psf = (r.range(0.25, 0.8) * 100.0).round() / 100.0;
    let left = r.uniform() < 0.5;
    let bilateral = r.uniform() < 0.2;
    let feet_first = r.uniform() < 0.3;
    let leg = (8.0 * r.normal()).clamp(-20.0, 20.0).round();
    let short = r.uniform() < 0.15;
    let fov = short.then(|| r.range(60.0, 80.0).round());
    let m = r.uniform();
    let mr = if m < 0.55 {
        MrProtocol::Preset
    } else if m < 0.8 {
        MrProtocol::Thick2d
    } else if m < 0.9 {
        MrProtocol::Coronal
    } else {
        MrProtocol::Axial
    };
    Acquisition {
        ct_pixel_mm: Some(pixel),
        ct_slice_mm: Some(slice),
        ct_thickness_mm: Some(thickness),
        ct_psf_mm: Some(psf),
        ct_fov_z_mm: fov,
        feet_first,
        leg_rotation_deg: leg,
        left,
        bilateral,
        mr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clinical_cohort_with_one_mr_protocol_keeps_the_ct_draws() {
        use crate::Acquisitions;
        let mixed = Acquisitions::Clinical(None);
        let research = Acquisitions::Clinical(Some(MrProtocol::Preset));
        let mut others = 0;
        for i in 0..64 {
            let a = mixed.of_knee(5, i);
            let b = research.of_knee(5, i);
            assert_eq!(
                b.mr,
                MrProtocol::Preset,
                "knee {i}: every MR the research one"
            );
            others += usize::from(a.mr != MrProtocol::Preset);
            // The same CT, knee by knee: only the MR differs.
            assert_eq!(
                Acquisition {
                    mr: MrProtocol::Preset,
                    ..a
                },
                b,
                "knee {i}"
            );
        }
        assert!(others > 10, "the mixed draw has other MRs ({others} of 64)");
    }

    #[test]
    fn clinical_draws_stay_in_their_stated_ranges_and_mix_as_stated() {
        let draws: Vec<Acquisition> = (0..400).map(|i| draw_clinical(5, i)).collect();
        assert_eq!(draws[7], draw_clinical(5, 7), "seeded");
        assert_ne!(draws[7], draw_clinical(6, 7));
        let share = |f: &dyn Fn(&Acquisition) -> bool| {
            draws.iter().filter(|a| f(a)).count() as f64 / draws.len() as f64
        };
        for a in &draws {
            a.validate().expect("a valid acquisition");
            let (p, s) = (a.ct_pixel_mm.unwrap_or(0.0), a.ct_slice_mm.unwrap_or(0.0));
            assert!((0.3..=1.0).contains(&p), "{a:?}");
            assert!([0.5, 0.625, 1.0, 1.25, 2.0, 2.5, 3.0].contains(&s), "{a:?}");
            let t = a.ct_thickness_mm.unwrap_or(0.0);
            assert!(t == s || (t - 1.5 * s).abs() < 1e-12, "{a:?}");
            assert!((0.25..=0.8).contains(&a.ct_psf_mm.unwrap_or(0.0)));
            assert!(a.leg_rotation_deg.abs() <= 20.0);
            if let Some(z) = a.ct_fov_z_mm {
                assert!((60.0..=80.0).contains(&z));
            }
        }
        let near = |x: f64, want: f64| (x - want).abs() < 0.08;
        assert!(near(share(&|a| a.left), 0.5));
        assert!(near(share(&|a| a.bilateral), 0.2));
        assert!(near(share(&|a| a.feet_first), 0.3));
        assert!(near(share(&|a| a.ct_fov_z_mm.is_some()), 0.15));
        assert!(near(share(&|a| a.mr == MrProtocol::Preset), 0.55));
        assert!(near(share(&|a| a.mr == MrProtocol::Thick2d), 0.25));
    }
}
