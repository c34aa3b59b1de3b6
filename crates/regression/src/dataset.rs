//! Paired CT/MR patches for the regression stage, and their store on disk.
//!
//! Patch centres lie on a lattice inside the CT's subchondral trabecular regions (femur 1,
//! tibia 2). For each: the CT patch (12^3 voxels) with its region mask; the MR over the
//! same physical box, sampled through the registration (CT -> MR) on a CT-aligned grid of
//! 48 x 48 x 16 voxels, with the region mask carried over; and the ground truth: the
//! trabecular parameters measured on that MR patch (grey values rescaled to 0-255 by
//! their 1st and 99th percentiles inside the mask, the authors' local threshold (block 11,
//! offset 1, trabeculae dark), then `morphometry` with the chosen method, `bonej` by
//! default).
//!
//! One safetensors file per subject (`ct`, `ct_mask` [N,1,12,12,12]; `mr`, `mr_mask`
//! [N,1,16,48,48]; `target` [N,4] in BV/TV (1), Tb.Th (mm), Tb.Sp (mm), Tb.N (1/mm);
//! `centre_mm` [N,3] LPS; `bone` [N]) and a `manifest.json` naming them, with the
//! settings and each parameter's range over the whole store.

use std::path::{Path, PathBuf};

use nalgebra::Vector3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::rng::Rng;
use srrd_base::volume::{Geometry, Interpolation, LabelMap, PointTransform, Volume, resample};
use srrd_morphometry::{self as morphometry, BonePolarity, Method, Threshold, binarize};

/// Names and units of the four targets, in tensor column order.
pub const TARGETS: [(&str, &str); 4] = [
    ("bv_tv", "1"),
    ("tb_th_mm", "mm"),
    ("tb_sp_mm", "mm"),
    ("tb_n_per_mm", "1/mm"),
];

/// The targets as a paper names them (ASBMR nomenclature), in [`TARGETS`] order: for
/// figures and tables; `TARGETS` holds the field names of files.
pub const TARGET_NAMES: [&str; 4] = ["BV/TV", "Tb.Th", "Tb.Sp", "Tb.N"];

/// How patches are sampled and measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PatchSettings {
    /// CT patch edge (voxels).
    pub ct_patch: usize,
    /// MR patch grid (i, j, k voxels) over the same box.
    pub mr_patch: [usize; 3],
    /// Lattice step between candidate centres (CT voxels).
    pub stride: usize,
    /// Least fraction of a CT patch inside its bone's region.
    pub min_region_fraction: f64,
    /// At most this many patches per subject (a seeded random subset of the lattice).
    pub per_subject: usize,
    /// Morphometry method of the ground truth: "bonej" or "paper".
    pub method: String,
    /// Seed of the subset.
    pub seed: u64,
    /// Only knees whose MR was acquired with these protocols (`srrd cohort` names:
    /// sagittal, thick2d, coronal, axial); None: every knee. The apparent parameters the
    /// ground truth measures depend on the MR protocol, so a store meant to teach one
    /// target keeps one kind of MR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr_protocols: Option<Vec<String>>,
}

impl Default for PatchSettings {
    fn default() -> Self {
        PatchSettings {
            ct_patch: 12,
            mr_patch: [48, 48, 16],
            stride: 3,
            mr_protocols: None,
            min_region_fraction: 0.5,
            per_subject: 160,
            method: "bonej".into(),
            seed: 1,
        }
    }
}

/// The patches of one subject (flat, row-major in the tensor shapes of the module doc).
#[derive(Clone, Debug, Default)]
pub struct Patches {
    pub n: usize,
    pub ct: Vec<f32>,
    pub ct_mask: Vec<f32>,
    pub mr: Vec<f32>,
    pub mr_mask: Vec<f32>,
    /// Four parameters per patch, in [`TARGETS`] order.
    pub target: Vec<f32>,
    pub centre_mm: Vec<f64>,
    /// 1 femur, 2 tibia.
    pub bone: Vec<u8>,
}

/// Candidate patch centres (CT voxel index, bone label): lattice points of the region
/// whose patch box lies in the grid and is at least `min_fraction` inside that bone's
/// region.
pub fn lattice_centres(
    regions: &LabelMap,
    patch: usize,
    stride: usize,
    min_fraction: f64,
) -> Vec<([usize; 3], u8)> {
    lattice_centres_from(regions, patch, stride, min_fraction, [0; 3])
}

/// [`lattice_centres`] with the lattice shifted by `phase` voxels per axis (0..stride):
/// a lattice anchored in world space, whatever the grid's origin (see
/// `regression::infer`).
pub fn lattice_centres_from(
    regions: &LabelMap,
    patch: usize,
    stride: usize,
    min_fraction: f64,
    phase: [usize; 3],
) -> Vec<([usize; 3], u8)> {
    let g = regions.geometry();
    let [ni, nj, nk] = g.size;
    let half = patch / 2;
    let stride = stride.max(1);
    let mut out = Vec::new();
    if ni < patch || nj < patch || nk < patch {
        return out;
    }
    let from = |a: usize| half + phase[a] % stride;
    for k in (from(2)..=nk - (patch - half)).step_by(stride) {
        for j in (from(1)..=nj - (patch - half)).step_by(stride) {
            for i in (from(0)..=ni - (patch - half)).step_by(stride) {
                let label = regions.at(i, j, k);
                if label == 0 {
                    continue;
                }
                let mut inside = 0usize;
                for kk in k - half..k - half + patch {
                    for jj in j - half..j - half + patch {
                        let row = g.index(i - half, jj, kk);
                        inside += regions.labels()[row..row + patch]
                            .iter()
                            .filter(|r| **r == label)
                            .count();
                    }
                }
                if inside as f64 >= min_fraction * (patch * patch * patch) as f64 {
                    out.push(([i, j, k], label));
                }
            }
        }
    }
    out
}

/// A seeded subset of at most `n` items, in their original order.
pub fn subset<T: Clone>(items: &[T], n: usize, seed: u64) -> Vec<T> {
    if items.len() <= n {
        return items.to_vec();
    }
    let mut rng = Rng::new(seed, "patch-subset");
    let mut order: Vec<usize> = (0..items.len()).collect();
    for a in (1..order.len()).rev() {
        let b = (rng.next_u64() % (a as u64 + 1)) as usize;
        order.swap(a, b);
    }
    let mut keep = order[..n].to_vec();
    keep.sort_unstable();
    keep.into_iter().map(|i| items[i].clone()).collect()
}

/// The CT patch (`patch`^3 voxels from `centre - patch/2`) and its mask (region == label).
pub fn ct_patch(
    ct: &Volume,
    regions: &LabelMap,
    centre: [usize; 3],
    label: u8,
    patch: usize,
) -> (Vec<f32>, Vec<f32>) {
    let data = ct.data.as_slice().unwrap_or(&[]);
    let regions = regions.labels();
    let lo: [usize; 3] = std::array::from_fn(|a| centre[a] - patch / 2);
    let mut values = Vec::with_capacity(patch.pow(3));
    let mut mask = Vec::with_capacity(patch.pow(3));
    for k in lo[2]..lo[2] + patch {
        for j in lo[1]..lo[1] + patch {
            let row = ct.geometry.index(0, j, k);
            for i in lo[0]..lo[0] + patch {
                values.push(data.get(row + i).copied().unwrap_or(0.0));
                mask.push(f32::from(regions.get(row + i) == Some(&label)));
            }
        }
    }
    (values, mask)
}

/// The CT-aligned grid of `mr_patch` voxels covering the same box as the CT patch at
/// `centre` (from the first voxel's lower face to the last voxel's upper face).
pub fn mr_patch_geometry(
    ct: &Geometry,
    centre: [usize; 3],
    patch: usize,
    mr_patch: [usize; 3],
) -> Geometry {
    let ratio: [f64; 3] = std::array::from_fn(|a| patch as f64 / mr_patch[a] as f64);
    let spacing: [f64; 3] = std::array::from_fn(|a| ct.spacing_mm[a] * ratio[a]);
    // Index of the first MR voxel centre in CT index units.
    let first =
        Vector3::from_fn(|a, _| centre[a] as f64 - (patch / 2) as f64 - 0.5 + 0.5 * ratio[a]);
    let origin = ct.index_to_world(first);
    Geometry::new(mr_patch, spacing, [origin.x, origin.y, origin.z]).with_direction(ct.direction)
}

/// The segmentation of one MR patch: rescale the 1st-99th percentiles inside the mask to
/// 0-255, binarize with the local threshold (trabeculae dark); false outside the mask.
/// None when the patch has too few or too uniform voxels to segment.
pub fn mr_segmentation(values: &[f32], mask: &[bool], size: [usize; 3]) -> Option<Vec<bool>> {
    segment_mr(values, mask, size, mask)
}

/// [`mr_segmentation`], binarizing every voxel of `domain` (the scaling is the mask's).
fn segment_mr(
    values: &[f32],
    mask: &[bool],
    size: [usize; 3],
    domain: &[bool],
) -> Option<Vec<bool>> {
    let mut inside: Vec<f32> = values
        .iter()
        .zip(mask)
        .filter(|(v, m)| **m && v.is_finite())
        .map(|(v, _)| *v)
        .collect();
    if inside.len() < 64 {
        return None;
    }
    inside.sort_by(f32::total_cmp);
    let q = |p: f64| inside[((inside.len() - 1) as f64 * p).round() as usize];
    let (lo, hi) = (q(0.01), q(0.99));
    if hi <= lo {
        return None;
    }
    let scaled: Vec<f32> = values
        .iter()
        .map(|v| ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0))
        .collect();
    Some(binarize(
        &scaled,
        domain,
        size,
        Threshold::Local {
            block: 11,
            offset: 1.0,
        },
        BonePolarity::Dark,
        4,
    ))
}

/// The ground truth of one MR patch: segmented over the whole patch (scaled as
/// `mr_segmentation`), measured inside the mask with the structure beyond it known.
/// None when the patch cannot be measured.
pub fn mr_truth(
    values: &[f32],
    mask: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    method: Method,
) -> Option<[f32; 4]> {
    // The patch's structure beyond the mask is in the image: it bounds what lies along
    // the mask's faces. Only voxels outside the MR's field of view (NaN) are unknown.
    let known: Vec<bool> = values.iter().map(|v| v.is_finite()).collect();
    let bone = segment_mr(values, mask, size, &known)?;
    let (p, _) = morphometry::parameters_in(&bone, &known, mask, size, spacing_mm, method).ok()?;
    let t = [p.bv_tv, p.tb_th_mm, p.tb_sp_mm, p.tb_n_per_mm];
    t.iter()
        .all(|v| v.is_finite() && *v > 0.0)
        .then(|| t.map(|v| v as f32))
}

/// One measured patch: CT values and mask, MR values and mask, truth, centre (mm), bone.
type Measured = (
    Vec<f32>,
    Vec<f32>,
    Vec<f32>,
    Vec<f32>,
    [f32; 4],
    [f64; 3],
    u8,
);

/// Paired patches of one subject: `regions` are the CT's subchondral regions,
/// `ct_to_mr` maps CT points to MR points (the registration's direction).
pub fn extract(
    ct: &Volume,
    mr: &Volume,
    ct_to_mr: &dyn PointTransform,
    regions: &LabelMap,
    settings: &PatchSettings,
    progress: &Progress,
) -> Result<Patches> {
    let method = Method::parse(&settings.method)?;
    if regions.geometry().size != ct.geometry.size {
        return Err(Error::invalid("region labels and CT grids differ"));
    }
    let candidates = lattice_centres(
        regions,
        settings.ct_patch,
        settings.stride,
        settings.min_region_fraction,
    );
    let centres = subset(&candidates, settings.per_subject, settings.seed);
    progress.start("measuring MR patches", centres.len() as u64);
    // Each bone's region as a volume, so its mask can be carried onto the MR patch grids.
    let region_volume = |label: u8| {
        Volume::from_fn(ct.geometry.clone(), |i, j, k| {
            f32::from(regions.at(i, j, k) == label)
        })
    };
    let region_volumes = [region_volume(1), region_volume(2)];
    let measured: Vec<Option<Measured>> = centres
        .par_iter()
        .map(|&(c, label)| {
            if progress.is_cancelled() {
                return None;
            }
            let (ctv, ctm) = ct_patch(ct, regions, c, label, settings.ct_patch);
            let g = mr_patch_geometry(&ct.geometry, c, settings.ct_patch, settings.mr_patch);
            let mrv = resample(mr, &g, ct_to_mr, Interpolation::Linear, 0.0);
            let mrm = resample(
                &region_volumes[usize::from(label == 2)],
                &g,
                &srrd_base::volume::AffineTransform::identity(),
                Interpolation::Nearest,
                0.0,
            );
            let mrv = mrv.data.into_raw_vec_and_offset().0;
            let mrm = mrm.data.into_raw_vec_and_offset().0;
            let mask: Vec<bool> = mrm.iter().map(|m| *m > 0.5).collect();
            let truth = mr_truth(&mrv, &mask, g.size, g.spacing_mm.into(), method);
            progress.advance(1);
            let centre = ct
                .geometry
                .index_to_world(Vector3::from_fn(|a, _| c[a] as f64));
            truth.map(|t| (ctv, ctm, mrv, mrm, t, [centre.x, centre.y, centre.z], label))
        })
        .collect();
    progress.check()?;
    let mut out = Patches::default();
    for (ctv, ctm, mrv, mrm, t, c, label) in measured.into_iter().flatten() {
        out.n += 1;
        out.ct.extend(ctv);
        out.ct_mask.extend(ctm);
        out.mr.extend(mrv);
        out.mr_mask.extend(mrm);
        out.target.extend(t);
        out.centre_mm.extend(c);
        out.bone.push(label);
    }
    Ok(out)
}

impl Patches {
    /// Every patch (CT and MR, values and masks) reversed along i, the patient's
    /// left-right axis: a left knee's patches as its mirror image, a right knee, shows
    /// them. Targets and centres are unchanged.
    pub fn mirror(&mut self, ct_patch: usize, mr_rows: usize) {
        for (data, row) in [
            (&mut self.ct, ct_patch),
            (&mut self.ct_mask, ct_patch),
            (&mut self.mr, mr_rows),
            (&mut self.mr_mask, mr_rows),
        ] {
            for r in data.chunks_mut(row.max(1)) {
                r.reverse();
            }
        }
    }

    /// Writes the subject's patches as safetensors (temporary name, then rename).
    pub fn save(&self, path: &Path, settings: &PatchSettings) -> Result<()> {
        let n = self.n as i64;
        let (c, [mi, mj, mk]) = (
            settings.ct_patch as i64,
            settings.mr_patch.map(|v| v as i64),
        );
        let f = |v: &[f32], shape: &[i64]| Tensor::from_slice(v).reshape(shape);
        let tensors = [
            ("ct", f(&self.ct, &[n, 1, c, c, c])),
            ("ct_mask", f(&self.ct_mask, &[n, 1, c, c, c])),
            ("mr", f(&self.mr, &[n, 1, mk, mj, mi])),
            ("mr_mask", f(&self.mr_mask, &[n, 1, mk, mj, mi])),
            ("target", f(&self.target, &[n, 4])),
            (
                "centre_mm",
                Tensor::from_slice(&self.centre_mm).reshape([n, 3]),
            ),
            ("bone", Tensor::from_slice(&self.bone)),
        ];
        let tmp = path.with_extension("safetensors.tmp");
        Tensor::write_safetensors(&tensors, &tmp)
            .map_err(|e| Error::file(&tmp, format!("cannot write patches: {e}")))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }
}

/// One subject's patches as tensors, as read back from the store.
pub struct PatchTensors {
    pub ct: Tensor,
    pub ct_mask: Tensor,
    pub mr: Tensor,
    pub mr_mask: Tensor,
    pub target: Tensor,
    pub bone: Tensor,
    /// Patch centres, LPS mm, `[N, 3]` (f64).
    pub centre_mm: Tensor,
}

/// Reads a subject file written by [`Patches::save`].
pub fn load_patches(path: &Path) -> Result<PatchTensors> {
    let named = Tensor::read_safetensors(path)
        .map_err(|e| Error::file(path, format!("not a patch file: {e}")))?;
    let get = |name: &str| {
        named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .ok_or_else(|| Error::file(path, format!("no '{name}' tensor")))
    };
    let out = PatchTensors {
        ct: get("ct")?.to_kind(Kind::Float),
        ct_mask: get("ct_mask")?.to_kind(Kind::Float),
        mr: get("mr")?.to_kind(Kind::Float),
        mr_mask: get("mr_mask")?.to_kind(Kind::Float),
        target: get("target")?.to_kind(Kind::Float),
        bone: get("bone")?,
        centre_mm: get("centre_mm")?.to_kind(Kind::Double),
    };
    let n = out.target.size().first().copied().unwrap_or(0);
    for (name, t) in [("ct", &out.ct), ("mr", &out.mr), ("bone", &out.bone)] {
        if t.size().first().copied() != Some(n) {
            return Err(Error::file(
                path,
                format!("'{name}' has a different patch count"),
            ));
        }
    }
    Ok(out)
}

/// One subject of the store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubjectEntry {
    pub id: String,
    /// File name inside the store.
    pub file: String,
    pub patches: usize,
    /// Phantom grade ("normal", "mild", "advanced") when known.
    pub grade: Option<String>,
    pub kl_grade: Option<u32>,
    /// The spacing (mm) of the CT the patches were cut from, before it was brought to
    /// the store's grid: the acquisition the networks see through this knee (absent in
    /// stores made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct_acquired_mm: Option<[f64; 3]>,
    /// The content id of the knee's CT (`Volume::content_id`): who the knee is, whatever
    /// its id in its study (absent in stores made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// The patient the study list names, when knees share one (absent: the knee is its
    /// own patient). Cross-validation keeps a patient's knees in one fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
}

impl SubjectEntry {
    /// Who the knee belongs to for cross-validation: its patient, else itself.
    pub fn patient_key(&self) -> &str {
        self.patient.as_deref().unwrap_or(&self.id)
    }
}

/// Each item's patient as a group number, numbered by first appearance (items of one
/// patient share it; an item with no patient is its own).
pub fn patient_groups<'a>(patients: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    patients
        .into_iter()
        .map(|p| {
            let next = seen.len();
            *seen.entry(p).or_insert(next)
        })
        .collect()
}

/// A knee of the study the store leaves out, and why (no MR, a failed registration, a CT
/// the analysis refuses).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Excluded {
    pub id: String,
    pub reason: String,
}

/// `manifest.json` of a patch store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub settings: PatchSettings,
    /// Target names with units, in column order.
    pub targets: Vec<(String, String)>,
    /// Per-target minimum and maximum over the whole store.
    pub target_min: [f32; 4],
    pub target_max: [f32; 4],
    pub subjects: Vec<SubjectEntry>,
    /// Where the patches came from.
    pub source: String,
    /// The CT grid the patches were cut from (absent in stores made before it was
    /// recorded: those were cut from each CT's own grid, the paper preset's).
    #[serde(default)]
    pub ct_spacing_mm: Option<[f64; 3]>,
    /// Knees of the source left out, with the reason (never silently).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Excluded>,
}

/// Store format tag.
pub const FORMAT: &str = "srrd-patches/1";

impl Manifest {
    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("not a patch manifest: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::file(
                &path,
                format!("format '{}' is not {FORMAT}", m.format),
            ));
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid(format!("manifest: {e}")))?;
        srrd_base::io::atomic_write(&dir.join("manifest.json"), |w| w.write_all(text.as_bytes()))
    }

    /// The file of subject `s`.
    pub fn path_of(&self, dir: &Path, s: &SubjectEntry) -> PathBuf {
        dir.join(&s.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_patches_reverse_each_row_along_i_and_keep_targets() {
        // Two patches, CT 2^3 and MR rows of 3: value = its own index.
        let mut p = Patches {
            n: 2,
            ct: (0..16).map(|v| v as f32).collect(),
            ct_mask: (0..16).map(|v| (v % 2) as f32).collect(),
            mr: (0..12).map(|v| v as f32).collect(),
            mr_mask: vec![1.0; 12],
            target: vec![0.3, 0.8, 1.1, 1.2, 0.2, 0.7, 1.0, 1.3],
            centre_mm: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            bone: vec![1, 2],
        };
        let before = p.clone();
        p.mirror(2, 3);
        assert_eq!(&p.ct[..4], &[1.0, 0.0, 3.0, 2.0]);
        assert_eq!(&p.ct_mask[..2], &[1.0, 0.0]);
        assert_eq!(&p.mr[..6], &[2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
        assert_eq!(
            (&p.target, &p.centre_mm),
            (&before.target, &before.centre_mm)
        );
        p.mirror(2, 3);
        assert_eq!(p.ct, before.ct, "mirroring twice gives the patch back");
        assert_eq!(p.mr, before.mr);
    }

    #[test]
    fn mr_patch_box_matches_ct_patch_box() {
        let ct = Geometry::new([40, 40, 30], [0.9, 0.9, 1.2], [-10.0, 5.0, 3.0]);
        let g = mr_patch_geometry(&ct, [20, 18, 15], 12, [48, 48, 16]);
        // Lower face of the first CT voxel = lower face of the first MR voxel.
        let ct_face = ct.index_to_world(Vector3::new(14.0 - 0.5, 12.0 - 0.5, 9.0 - 0.5));
        let mr_face = g.index_to_world(Vector3::new(-0.5, -0.5, -0.5));
        assert!((ct_face - mr_face).norm() < 1e-9);
        let ct_far = ct.index_to_world(Vector3::new(25.5, 23.5, 20.5));
        let mr_far = g.index_to_world(Vector3::new(47.5, 47.5, 15.5));
        assert!((ct_far - mr_far).norm() < 1e-9);
    }

    #[test]
    fn lattice_keeps_patches_inside_the_region() {
        let grid = Geometry::new([30, 30, 30], [1.0; 3], [0.0; 3]);
        let regions = LabelMap::from_fn(grid, |i, _, _| if i < 15 { 1 } else { 2 });
        let c = lattice_centres(&regions, 12, 3, 0.9);
        assert!(!c.is_empty());
        for ([i, _, _], label) in &c {
            // A patch 90% inside one label: its centre is at least 4.8 voxels from i = 15.
            if *label == 1 {
                assert!(*i + 6 <= 16, "{i}");
            } else {
                assert!(*i >= 15 + 5, "{i}");
            }
        }
        let s = subset(&c, 5, 3);
        assert_eq!(s.len(), 5);
        assert_eq!(s, subset(&c, 5, 3), "seeded");
    }
}
