//! CT-only inference: patches on a regular lattice of the subchondral regions, the
//! student in batches (progress, cancellable), and per-parameter maps on the CT grid
//! (each region voxel takes the value of the nearest measured lattice patch of its bone).

use std::collections::HashMap;

use serde::Serialize;
use tch::Tensor;

use super::dataset::{TARGETS, ct_patch, lattice_centres_from};
use super::inputs::ct_input;
use super::model::ModelCard;
use super::train::Trained;
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::volume::{LabelMap, Volume};

/// CT patch edge the student expects (voxels).
pub const PATCH: usize = 12;

/// One predicted patch.
#[derive(Clone, Debug, Serialize)]
pub struct PatchPrediction {
    /// Patch centre, voxel index (i, j, k) of the grid the student ran on.
    pub centre: [usize; 3],
    /// Patch centre in world (LPS, mm).
    pub centre_mm: [f64; 3],
    /// 1 femur, 2 tibia.
    pub bone: u8,
    /// BV/TV (1), Tb.Th (mm), Tb.Sp (mm), Tb.N (1/mm).
    pub params: [f64; 4],
}

/// The result of inference on one CT.
pub struct Prediction {
    pub patches: Vec<PatchPrediction>,
    /// One map per parameter, in [`TARGETS`] order, on the CT grid (0 outside the regions).
    pub maps: Vec<Volume>,
}

/// Runs the student over the regions (`regions`: 1 femur, 2 tibia on the CT grid) with
/// lattice step `stride` voxels.
pub fn predict_ct(
    ct: &Volume,
    regions: &LabelMap,
    model: &Trained,
    card: &ModelCard,
    stride: usize,
    progress: &Progress,
) -> Result<Prediction> {
    if regions.geometry().size != ct.geometry.size {
        return Err(Error::invalid("region labels and CT grids differ"));
    }
    let stride = stride.max(1);
    // The lattice is anchored in world space: its nodes sit at whole multiples of
    // `stride` voxels from the world origin along each axis, so two grids over the same
    // knee (another field of view, one knee of a bilateral scan) put their patches at the
    // same places.
    let g = &ct.geometry;
    let phase: [usize; 3] = std::array::from_fn(|a| {
        let origin_vox = (g.origin_mm[a] / g.spacing_mm[a]).round() as i64;
        let first = origin_vox + (PATCH / 2) as i64;
        (-first).rem_euclid(stride as i64) as usize
    });
    let centres = lattice_centres_from(regions, PATCH, stride, 0.3, phase);
    if centres.is_empty() {
        return Err(Error::invalid(
            "no subchondral trabecular region large enough for a 12-voxel patch (are femur \
             and tibia both in the field of view?)",
        ));
    }
    let batch = 64;
    progress.start(
        "regressing trabecular parameters",
        centres.len().div_ceil(batch) as u64,
    );
    let edge = PATCH as i64;
    let mut params: Vec<[f64; 4]> = Vec::with_capacity(centres.len());
    for chunk in centres.chunks(batch) {
        progress.check()?;
        let mut values = Vec::with_capacity(chunk.len() * PATCH.pow(3));
        let mut masks = Vec::with_capacity(chunk.len() * PATCH.pow(3));
        for &(c, label) in chunk {
            let (v, m) = ct_patch(ct, regions, c, label, PATCH);
            values.extend(v);
            masks.extend(m);
        }
        let shape = [chunk.len() as i64, 1, edge, edge, edge];
        let x = ct_input(
            &Tensor::from_slice(&values).reshape(shape),
            &Tensor::from_slice(&masks).reshape(shape),
        );
        let out = tch::no_grad(|| model.net.forward_t(&x, false).params);
        let raw = card.normalization.denormalize(&out);
        let flat = Vec::<f32>::try_from(raw.flatten(0, -1))
            .map_err(|e| Error::invalid(format!("reading predictions: {e}")))?;
        params.extend(flat.chunks(4).map(|r| std::array::from_fn(|a| r[a] as f64)));
        progress.advance(1);
    }
    let patches: Vec<PatchPrediction> = centres
        .iter()
        .zip(&params)
        .map(|(&(centre, bone), p)| PatchPrediction {
            centre,
            centre_mm: ct
                .geometry
                .index_to_world(nalgebra::Vector3::new(
                    centre[0] as f64,
                    centre[1] as f64,
                    centre[2] as f64,
                ))
                .coords
                .into(),
            bone,
            params: *p,
        })
        .collect();
    let maps = splat(ct, regions, &patches, stride);
    Ok(Prediction { patches, maps })
}

/// Maps from patch values: each region voxel takes the nearest lattice patch of its bone
/// within one lattice step (0 where none is).
fn splat(
    ct: &Volume,
    regions: &LabelMap,
    patches: &[PatchPrediction],
    stride: usize,
) -> Vec<Volume> {
    let half = PATCH / 2;
    // Lattice coordinates of a voxel index (any phase: nodes keep their spacing).
    let lattice = |x: usize| ((x as f64 - half as f64) / stride as f64).round() as i64;
    let by_node: HashMap<([i64; 3], u8), usize> = patches
        .iter()
        .enumerate()
        .map(|(n, p)| (((p.centre.map(lattice)), p.bone), n))
        .collect();
    let lookup = |i: usize, j: usize, k: usize| -> Option<usize> {
        let label = regions.at(i, j, k);
        if label == 0 {
            return None;
        }
        let node = [lattice(i), lattice(j), lattice(k)];
        let mut best: Option<(i64, usize)> = None;
        for dk in -1..=1 {
            for dj in -1..=1 {
                for di in -1..=1 {
                    let key = ([node[0] + di, node[1] + dj, node[2] + dk], label);
                    if let Some(&n) = by_node.get(&key) {
                        let c = patches[n].centre;
                        let d2 = (c[0] as i64 - i as i64).pow(2)
                            + (c[1] as i64 - j as i64).pow(2)
                            + (c[2] as i64 - k as i64).pow(2);
                        if best.is_none_or(|(bd, _)| d2 < bd) {
                            best = Some((d2, n));
                        }
                    }
                }
            }
        }
        best.map(|(_, n)| n)
    };
    let owner = Volume::from_fn(ct.geometry.clone(), |i, j, k| {
        lookup(i, j, k).map_or(-1.0, |n| n as f32)
    });
    (0..TARGETS.len())
        .map(|a| {
            let mut v = owner.clone();
            v.data.mapv_inplace(|o| {
                if o < 0.0 {
                    0.0
                } else {
                    patches[o as usize].params[a] as f32
                }
            });
            v
        })
        .collect()
}
