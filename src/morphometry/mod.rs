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
//! domain) selects the voxels averaged and counted for BV/TV. `srrd morph --mask M` uses M
//! for both; a central count box inside a larger domain gives exact answers on phantoms.

pub mod binarize;
pub mod edt;
pub mod paper2d;
pub mod thickness;

use rayon::prelude::*;
use serde::Serialize;

pub use binarize::{BonePolarity, Threshold, binarize, otsu};

use crate::error::{Error, Result};

/// Which definition of the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    /// Direct 3D local thickness (Hildebrand & Rüegsegger, as BoneJ).
    #[default]
    BoneJ,
    /// The authors' 2D skeleton method.
    Paper,
}

impl Method {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::BoneJ => "bonej",
            Method::Paper => "paper",
        }
    }

    /// Parses "bonej" or "paper".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "bonej" => Ok(Method::BoneJ),
            "paper" => Ok(Method::Paper),
            other => Err(Error::invalid(format!(
                "unknown method '{other}' (use bonej or paper)"
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

/// Parameters of `bone` inside `mask` (both `[k][j][i]` grids of `size`), the mask being
/// both the domain and the count mask; for `bonej` also the thickness maps.
pub fn parameters(
    bone: &[bool],
    mask: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    method: Method,
) -> Result<(Parameters, Option<Maps>)> {
    parameters_in(bone, mask, mask, size, spacing_mm, method)
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
    let mask: Vec<bool> = count
        .par_iter()
        .zip(domain.par_iter())
        .map(|(c, d)| *c && *d)
        .collect();
    let mask_voxels = mask.par_iter().filter(|m| **m).count();
    if mask_voxels == 0 {
        return Err(Error::invalid("the mask is empty: no region to measure"));
    }
    let bone_all: Vec<bool> = bone
        .par_iter()
        .zip(domain.par_iter())
        .map(|(b, d)| *b && *d)
        .collect();
    let marrow_all: Vec<bool> = bone
        .par_iter()
        .zip(domain.par_iter())
        .map(|(b, d)| !*b && *d)
        .collect();
    let bone_in: Vec<bool> = bone_all
        .par_iter()
        .zip(mask.par_iter())
        .map(|(b, m)| *b && *m)
        .collect();
    let marrow_in: Vec<bool> = marrow_all
        .par_iter()
        .zip(mask.par_iter())
        .map(|(b, m)| *b && *m)
        .collect();
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
    let (bv_tv_direct, th, sp, maps) = match method {
        Method::BoneJ => {
            let bone_t = thickness::local_thickness(&bone_all, &marrow_all, size, spacing_mm)
                .ok_or_else(|| Error::invalid("no marrow bounds the bone"))?;
            let marrow_t = thickness::local_thickness(&marrow_all, &bone_all, size, spacing_mm)
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
            let sp = mean(&marrow_t, &marrow_in, mask_voxels - bone_voxels);
            let maps = Maps {
                bone_thickness_mm: bone_t,
                marrow_thickness_mm: marrow_t,
            };
            (bone_voxels as f64 / mask_voxels as f64, th, sp, Some(maps))
        }
        Method::Paper => {
            let (sum_b, n_b) =
                paper2d::skeleton_distance_sum(&bone_all, &marrow_all, &mask, size, spacing_mm);
            let (sum_m, n_m) =
                paper2d::skeleton_distance_sum(&marrow_all, &bone_all, &mask, size, spacing_mm);
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
/// `patch_size` voxels centred on a centre (clipped to the grid). Each entry is that
/// patch's result (a patch with no bone, say, gets its error, not a panic).
pub fn patch_parameters(
    bone: &[bool],
    mask: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
    centres: &[[usize; 3]],
    patch_size: [usize; 3],
    method: Method,
) -> Vec<Result<Parameters>> {
    centres
        .par_iter()
        .map(|c| {
            let mut lo = [0usize; 3];
            let mut hi = [0usize; 3];
            for a in 0..3 {
                lo[a] = c[a]
                    .saturating_sub(patch_size[a] / 2)
                    .min(size[a].saturating_sub(1));
                hi[a] = (lo[a] + patch_size[a]).min(size[a]);
            }
            let psize = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
            let mut pb = Vec::with_capacity(psize.iter().product());
            let mut pm = Vec::with_capacity(pb.capacity());
            for k in lo[2]..hi[2] {
                for j in lo[1]..hi[1] {
                    let row = (k * size[1] + j) * size[0];
                    pb.extend_from_slice(&bone[row + lo[0]..row + hi[0]]);
                    pm.extend_from_slice(&mask[row + lo[0]..row + hi[0]]);
                }
            }
            parameters(&pb, &pm, psize, spacing_mm, method).map(|(p, _)| p)
        })
        .collect()
}
