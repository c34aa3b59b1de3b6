//! Trabecular morphometry: BV/TV, Tb.Th, Tb.Sp, Tb.N of a binary structure inside a mask.
//!
//! Two methods, named plainly:
//! - `bonej` (default): the direct 3D method of Hildebrand & Rüegsegger (1997) as BoneJ
//!   computes it. Local thickness = diameter of the largest ball inside the structure that
//!   contains the point; Tb.Th = its mean over bone voxels in the mask; Tb.Sp = the same on
//!   the marrow (mask minus bone); BV/TV = bone voxels / mask voxels;
//!   **Tb.N = 1 / (Tb.Th + Tb.Sp)** (as BoneJ users commonly derive it); the plate-model
//!   Tb.N = BV/TV / Tb.Th is reported too (`tb_n_plate_per_mm`). Anisotropic voxels are
//!   handled exactly (distances in mm). Plates of thickness t voxels read exactly t, odd or
//!   even (see `thickness.rs` for the half-voxel convention); porespy and localthickness
//!   read odd plates as t + 1.
//! - `paper`: the authors' 2D method: per slice along k, the distance transform sampled on
//!   the skeleton; Tb.Th and Tb.Sp are mean skeleton distances (radii, not diameters);
//!   BV/TV = Th / (Th + Sp); Tb.N = 1 / (Th + Sp). Right only for plates.
//!
//! Edges: two masks. The *domain* is where the binary image is known: bone there bounds
//! marrow balls and marrow bounds bone balls; outside the domain (and beyond the faces of
//! the grid) nothing is known, so those are cuts, not surfaces: a ball may extend across
//! them (a plate crossing the edge keeps its thickness). The *count* mask (inside the
//! domain) selects the voxels averaged and counted for BV/TV. A central count box inside
//! a larger domain gives exact answers on phantoms; the regression's MR ground truth reads
//! its patches this way ([`parameters_in`]).
//!
//! A *volume of interest* is the other reading, the bone-imaging field's ([`parameters_voi`],
//! `srrd morph --mask M`): Tb.Sp is measured in the marrow inside the VOI only, the VOI's
//! boundary bounding the marrow balls as bone does; Tb.Th keeps the bone as the image has it.

pub mod binarize;
pub mod edt;
pub mod paper2d;
pub mod thickness;

use rayon::prelude::*;
use serde::Serialize;

pub use binarize::{BonePolarity, Threshold, binarize, otsu};

use srrd_base::error::{Error, Result};

/// Which definition of the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    /// Direct 3D local thickness (Hildebrand & Rüegsegger, as BoneJ).
    #[default]
    BoneJ,
    /// Direct 3D local thickness by the voxel-centre convention of ORMIR_XCT and porespy
    /// (see [`thickness::Convention::Centre`]).
    BoneJCentre,
    /// The authors' 2D skeleton method.
    Paper,
}

impl Method {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::BoneJ => "bonej",
            Method::BoneJCentre => "bonej-centre",
            Method::Paper => "paper",
        }
    }

    /// Parses "bonej", "bonej-centre" or "paper".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "bonej" => Ok(Method::BoneJ),
            "bonej-centre" => Ok(Method::BoneJCentre),
            "paper" => Ok(Method::Paper),
            other => Err(Error::invalid(format!(
                "unknown method '{other}' (use bonej, bonej-centre or paper)"
            ))),
        }
    }
}

/// The four parameters, with units in the names.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Parameters {
    /// Bone volume fraction (1).
    pub bv_tv: f64,
    /// Trabecular thickness (mm).
    pub tb_th_mm: f64,
    /// Trabecular separation (mm).
    pub tb_sp_mm: f64,
    /// Trabecular number, 1 / (Tb.Th + Tb.Sp) (1/mm).
    pub tb_n_per_mm: f64,
    /// Plate-model trabecular number, BV/TV / Tb.Th (1/mm).
    pub tb_n_plate_per_mm: f64,
    /// "bonej" or "paper".
    pub method: String,
    /// Bone voxels inside the mask.
    pub bone_voxels: usize,
    /// Mask voxels.
    pub mask_voxels: usize,
}

/// Local thickness maps (mm) of bone and of marrow, 0 elsewhere (`bonej` only).
#[derive(Clone, Debug)]
pub struct Maps {
    pub bone_thickness_mm: Vec<f32>,
    pub marrow_thickness_mm: Vec<f32>,
}

/// Parameters of `bone` counted inside `mask` (both `[k][j][i]` grids of `size`); for
/// `bonej` also the thickness maps. The structure is known on the whole grid, so a plate
/// or rod along the mask's boundary is bounded by the marrow beyond it in the image (it
/// reads its own thickness, not twice it); only the grid's faces are cuts. For a domain
/// smaller than the grid (voxels where nothing is known), see [`parameters_in`].
pub fn parameters(
    bone: &[bool],
    mask: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    method: Method,
) -> Result<(Parameters, Option<Maps>)> {
    let domain = vec![true; bone.len()];
    parameters_in(bone, &domain, mask, size, spacing_mm, method)
}

/// Parameters with a separate domain (where bone/marrow is known) and count mask.
pub fn parameters_in(
    bone: &[bool],
    domain: &[bool],
    count: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    method: Method,
) -> Result<(Parameters, Option<Maps>)> {
    let n = size[0] * size[1] * size[2];
    if bone.len() != n || domain.len() != n || count.len() != n {
        return Err(Error::invalid("bone and mask grids differ in size"));
    }
    let mask = and(count, domain);
    let bone_all = and(bone, domain);
    let marrow_all: Vec<bool> = bone
        .par_iter()
        .zip(domain.par_iter())
        .map(|(b, d)| !*b && *d)
        .collect();
    measure(
        Structures {
            bone: &bone_all,
            bone_bounds: &marrow_all,
            marrow: &marrow_all,
            marrow_bounds: &bone_all,
            mask: &mask,
        },
        size,
        spacing_mm,
        method,
    )
}

/// Parameters of `bone` in a volume of interest, by the convention of the bone-imaging
/// field (Bouxsein et al. 2010; Scanco IPL; ORMIR_XCT): **Tb.Sp** is measured in the
/// marrow inside `voi` only, its balls bounded by the VOI's boundary as by bone (they do
/// not grow into the marrow or soft tissue beyond it); **Tb.Th** keeps the bone as the
/// image has it (bone beyond the VOI is structure, marrow beyond it bounds the bone);
/// BV/TV and both means count the voxels inside `voi`. The grid's faces are cuts for both.
/// [`parameters`] is the other reading, where marrow beyond the mask is marrow.
pub fn parameters_voi(
    bone: &[bool],
    voi: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    method: Method,
) -> Result<(Parameters, Option<Maps>)> {
    let n = size[0] * size[1] * size[2];
    if bone.len() != n || voi.len() != n {
        return Err(Error::invalid("bone and mask grids differ in size"));
    }
    let marrow_all: Vec<bool> = bone.par_iter().map(|b| !*b).collect();
    let marrow_in = and(&marrow_all, voi);
    let marrow_bounds: Vec<bool> = bone
        .par_iter()
        .zip(voi.par_iter())
        .map(|(b, v)| *b || !*v)
        .collect();
    measure(
        Structures {
            bone,
            bone_bounds: &marrow_all,
            marrow: &marrow_in,
            marrow_bounds: &marrow_bounds,
            mask: voi,
        },
        size,
        spacing_mm,
        method,
    )
}

/// `a && b`, voxel by voxel.
fn and(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.par_iter()
        .zip(b.par_iter())
        .map(|(a, b)| *a && *b)
        .collect()
}

/// What one measurement looks at: each structure with the voxels that bound its balls
/// (voxels in neither are cuts), and the mask whose voxels are counted.
struct Structures<'a> {
    bone: &'a [bool],
    bone_bounds: &'a [bool],
    marrow: &'a [bool],
    marrow_bounds: &'a [bool],
    mask: &'a [bool],
}

/// The parameters of `s`: BV/TV over the mask, Tb.Th over bone in the mask, Tb.Sp over
/// marrow in the mask.
fn measure(
    s: Structures,
    size: [usize; 3],
    spacing_mm: [f64; 3],
    method: Method,
) -> Result<(Parameters, Option<Maps>)> {
    let mask = s.mask;
    let mask_voxels = mask.par_iter().filter(|m| **m).count();
    if mask_voxels == 0 {
        return Err(Error::invalid("the mask is empty: no region to measure"));
    }
    let bone_in = and(s.bone, mask);
    let marrow_in = and(s.marrow, mask);
    let bone_voxels = bone_in.par_iter().filter(|b| **b).count();
    if bone_voxels == 0 {
        return Err(Error::invalid(
            "no bone inside the mask (BV/TV = 0): Tb.Th and Tb.Sp are undefined",
        ));
    }
    if bone_voxels == mask_voxels {
        return Err(Error::invalid(
            "the mask is all bone (BV/TV = 1): Tb.Sp is undefined",
        ));
    }
    let marrow_voxels = mask_voxels - bone_voxels;
    let (bv_tv_direct, th, sp, maps) = match method {
        Method::BoneJ | Method::BoneJCentre => {
            let convention = match method {
                Method::BoneJCentre => thickness::Convention::Centre,
                _ => thickness::Convention::Surface,
            };
            let thickness = |structure, bounds| {
                thickness::local_thickness_as(structure, bounds, size, spacing_mm, convention)
            };
            let bone_t = thickness(s.bone, s.bone_bounds)
                .ok_or_else(|| Error::invalid("no marrow bounds the bone"))?;
            let marrow_t = thickness(s.marrow, s.marrow_bounds)
                .ok_or_else(|| Error::invalid("no bone bounds the marrow"))?;
            let mean = |t: &[f32], sel: &[bool], count: usize| {
                t.par_iter()
                    .zip(sel.par_iter())
                    .filter(|(_, s)| **s)
                    .map(|(v, _)| *v as f64)
                    .sum::<f64>()
                    / count as f64
            };
            let th = mean(&bone_t, &bone_in, bone_voxels);
            let sp = mean(&marrow_t, &marrow_in, marrow_voxels);
            let maps = Maps {
                bone_thickness_mm: bone_t,
                marrow_thickness_mm: marrow_t,
            };
            (bone_voxels as f64 / mask_voxels as f64, th, sp, Some(maps))
        }
        Method::Paper => {
            let (sum_b, n_b) =
                paper2d::skeleton_distance_sum(s.bone, s.bone_bounds, mask, size, spacing_mm);
            let (sum_m, n_m) =
                paper2d::skeleton_distance_sum(s.marrow, s.marrow_bounds, mask, size, spacing_mm);
            if n_b == 0 || n_m == 0 {
                return Err(Error::invalid(
                    "no skeleton in bone or marrow (structure too small for the 2D method)",
                ));
            }
            let th = sum_b / n_b as f64;
            let sp = sum_m / n_m as f64;
            (th / (th + sp), th, sp, None)
        }
    };
    let params = Parameters {
        bv_tv: bv_tv_direct,
        tb_th_mm: th,
        tb_sp_mm: sp,
        tb_n_per_mm: 1.0 / (th + sp),
        tb_n_plate_per_mm: bv_tv_direct / th,
        method: method.name().to_string(),
        bone_voxels,
        mask_voxels,
    };
    Ok((params, maps))
}

/// Parameters of many patches of one volume, in parallel: each patch is the box of
/// `patch_size` voxels centred on a centre (clipped to the grid); `context` more voxels on
/// each side (clipped) are given as known structure, so features crossing the patch faces
/// keep their true size (0 context: the patch faces are cuts). Each entry is that patch's
/// result (a patch with no bone, say, gets its error, not a panic).
#[allow(clippy::too_many_arguments)]
pub fn patch_parameters(
    bone: &[bool],
    mask: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    centres: &[[usize; 3]],
    patch_size: [usize; 3],
    context: [usize; 3],
    method: Method,
) -> Vec<Result<Parameters>> {
    centres
        .par_iter()
        .map(|c| {
            let mut lo = [0usize; 3];
            let mut hi = [0usize; 3];
            let mut elo = [0usize; 3];
            let mut ehi = [0usize; 3];
            for a in 0..3 {
                lo[a] = c[a]
                    .saturating_sub(patch_size[a] / 2)
                    .min(size[a].saturating_sub(1));
                hi[a] = (lo[a] + patch_size[a]).min(size[a]);
                elo[a] = lo[a].saturating_sub(context[a]);
                ehi[a] = (hi[a] + context[a]).min(size[a]);
            }
            let esize = [ehi[0] - elo[0], ehi[1] - elo[1], ehi[2] - elo[2]];
            let cap = esize.iter().product();
            let (mut pb, mut pd, mut pc) = (
                Vec::with_capacity(cap),
                Vec::with_capacity(cap),
                Vec::with_capacity(cap),
            );
            for k in elo[2]..ehi[2] {
                for j in elo[1]..ehi[1] {
                    let row = (k * size[1] + j) * size[0];
                    pb.extend_from_slice(&bone[row + elo[0]..row + ehi[0]]);
                    pd.extend_from_slice(&mask[row + elo[0]..row + ehi[0]]);
                    let inside_jk = (lo[1]..hi[1]).contains(&j) && (lo[2]..hi[2]).contains(&k);
                    pc.extend(
                        (elo[0]..ehi[0])
                            .map(|i| inside_jk && (lo[0]..hi[0]).contains(&i) && mask[row + i]),
                    );
                }
            }
            parameters_in(&pb, &pd, &pc, esize, spacing_mm, method).map(|(p, _)| p)
        })
        .collect()
}

/// Per-patch parameter maps: the four parameters of patches centred on a regular lattice
/// (every `stride` voxels), as coarse volumes for the viewer. Voxel values are BV/TV (1),
/// Tb.Th (mm), Tb.Sp (mm), Tb.N (1/mm); NaN where a patch could not be measured (no bone,
/// empty mask, ...). The maps share the image's direction; their origin is the first
/// patch centre and their spacing `stride` voxels. Each patch sees a quarter of its size
/// of context on each side (see [`patch_parameters`]).
pub fn patch_maps(
    bone: &[bool],
    mask: &[bool],
    geometry: &srrd_base::volume::Geometry,
    patch_size: [usize; 3],
    stride: [usize; 3],
    method: Method,
) -> Result<[srrd_base::volume::Volume; 4]> {
    use nalgebra::Vector3;
    use srrd_base::volume::{Geometry, Volume};
    let size = geometry.size;
    if stride.contains(&0) {
        return Err(Error::invalid("patch stride must be at least 1 voxel"));
    }
    let first: [usize; 3] = std::array::from_fn(|a| (patch_size[a] / 2).min(size[a] - 1));
    let counts: [usize; 3] = std::array::from_fn(|a| {
        let room = size[a].saturating_sub(patch_size[a]);
        room / stride[a] + 1
    });
    let mut centres = Vec::with_capacity(counts.iter().product());
    for k in 0..counts[2] {
        for j in 0..counts[1] {
            for i in 0..counts[0] {
                centres.push([
                    first[0] + i * stride[0],
                    first[1] + j * stride[1],
                    first[2] + k * stride[2],
                ]);
            }
        }
    }
    let spacing: [f64; 3] = geometry.spacing_mm.into();
    let context = patch_size.map(|n| n.div_ceil(4));
    let results = patch_parameters(
        bone, mask, size, spacing, &centres, patch_size, context, method,
    );
    let map_geometry = Geometry {
        size: counts,
        spacing_mm: Vector3::from(std::array::from_fn::<f64, 3, _>(|a| {
            spacing[a] * stride[a] as f64
        })),
        origin_mm: geometry.index_to_world(Vector3::new(
            first[0] as f64,
            first[1] as f64,
            first[2] as f64,
        )),
        direction: geometry.direction,
    };
    let pick = |f: fn(&Parameters) -> f64| -> Result<Volume> {
        let values: Vec<f32> = results
            .iter()
            .map(|r| r.as_ref().map(|p| f(p) as f32).unwrap_or(f32::NAN))
            .collect();
        let data = ndarray::Array3::from_shape_vec(map_geometry.shape_kji(), values)
            .map_err(|e| Error::invalid(e.to_string()))?;
        Volume::from_data(map_geometry.clone(), data)
    };
    Ok([
        pick(|p| p.bv_tv)?,
        pick(|p| p.tb_th_mm)?,
        pick(|p| p.tb_sp_mm)?,
        pick(|p| p.tb_n_per_mm)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use srrd_base::volume::Geometry;

    #[test]
    fn patch_maps_follow_a_thickness_gradient() {
        // Plates along i whose thickness grows with k: thin (2) in the low half, thick (6) above.
        let size = [40, 12, 24];
        let g = Geometry::new(size, [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]);
        let n = size.iter().product();
        let bone: Vec<bool> = (0..n)
            .map(|c| {
                let (i, k) = (c % 40, c / (40 * 12));
                let t = if k < 12 { 2 } else { 6 };
                i % 10 < t
            })
            .collect();
        let mask = vec![true; n];
        let [bv, th, sp, tn] =
            patch_maps(&bone, &mask, &g, [20, 12, 6], [10, 12, 6], Method::BoneJ).expect("maps");
        assert_eq!(th.geometry.size, [3, 1, 4]);
        assert!((th.geometry.spacing_mm[0] - 5.0).abs() < 1e-12);
        let low = th.data[[0, 0, 1]];
        let high = th.data[[3, 0, 1]];
        assert!((low - 1.0).abs() < 0.3, "thin plates ~1 mm: {low}");
        assert!((high - 3.0).abs() < 0.3, "thick plates ~3 mm: {high}");
        assert!(bv.data[[3, 0, 1]] > bv.data[[0, 0, 1]]);
        assert!(sp.data[[3, 0, 1]] < sp.data[[0, 0, 1]]);
        assert!(tn.data.iter().all(|v| v.is_finite()));
    }
}
