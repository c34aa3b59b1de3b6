//! Femur and tibia (and patella, fibula) on CT, the authors' way: threshold (250 HU on CT,
//! 300 on sCT), close small gaps in the cortex, fill the marrow cavity slice by slice,
//! keep the large connected pieces and name them by position. Where femur and tibia touch
//! (advanced OA), they are split at the joint by eroding until two pieces appear and
//! growing them back inside the mask.

use crate::error::{Error, Result};
use crate::volume::Volume;
use crate::volume::components::{fill_holes_2d, label_components, morph_box};

/// Label values of the bone map.
pub const FEMUR: u8 = 1;
pub const TIBIA: u8 = 2;
pub const PATELLA: u8 = 3;
pub const FIBULA: u8 = 4;

/// The authors' CT bone threshold (HU).
pub const CT_BONE_HU: f32 = 250.0;

/// Bone labels (0, FEMUR, TIBIA, PATELLA, FIBULA) of a CT (or sCT) on its grid.
pub fn segment_bones(ct: &Volume, threshold: f32) -> Result<Vec<u8>> {
    let g = &ct.geometry;
    let size = g.size;
    let data = ct.data.as_standard_layout();
    let data = data
        .as_slice()
        .ok_or_else(|| Error::invalid("CT voxels are not contiguous"))?;
    let above: Vec<bool> = data.iter().map(|v| *v >= threshold).collect();
    let r = radius_vox(g.spacing_mm.into(), 1.0);
    let mut mask = morph_box(&morph_box(&above, size, r, true), size, r, false);
    fill_holes_2d(&mut mask, size);
    let voxel_mm3 = g.spacing_mm.x * g.spacing_mm.y * g.spacing_mm.z;
    let min_voxels = (1000.0 / voxel_mm3).ceil() as usize; // 1 cm^3
    let (labels, sizes) = label_components(&mask, size);
    let mut pieces: Vec<usize> = (1..sizes.len())
        .filter(|&l| sizes[l] >= min_voxels)
        .collect();
    pieces.sort_by_key(|&l| std::cmp::Reverse(sizes[l]));
    if pieces.is_empty() {
        return Err(Error::invalid(format!(
            "no bone found above {threshold} HU"
        )));
    }
    let mut parts: Vec<Vec<usize>> = pieces
        .iter()
        .map(|&l| {
            labels
                .iter()
                .enumerate()
                .filter(|(_, v)| **v == l as u32)
                .map(|(n, _)| n)
                .collect()
        })
        .collect();
    // Femur and tibia: the two largest pieces, unless the largest is much bigger than the
    // second, then it holds both and is split at the joint.
    let split_needed = parts.len() < 2 || parts[0].len() > 3 * parts[1].len();
    if split_needed {
        let (a, b) = split_two(&parts[0], size)?;
        parts.remove(0);
        parts.insert(0, b);
        parts.insert(0, a);
    }
    let z_of = |n: usize| {
        let (i, j, k) = (
            n % size[0],
            (n / size[0]) % size[1],
            n / (size[0] * size[1]),
        );
        g.index_to_world(nalgebra::Vector3::new(i as f64, j as f64, k as f64))
            .z
    };
    let mean_z = |p: &[usize]| p.iter().map(|&n| z_of(n)).sum::<f64>() / p.len().max(1) as f64;
    let (zf, zt) = (mean_z(&parts[0]), mean_z(&parts[1]));
    let (femur, tibia) = if zf >= zt { (0, 1) } else { (1, 0) };
    let mut out = vec![0u8; mask.len()];
    for &n in &parts[femur] {
        out[n] = FEMUR;
    }
    for &n in &parts[tibia] {
        out[n] = TIBIA;
    }
    // The joint height: between the femur's lowest and the tibia's highest voxels.
    let zmin_f = parts[femur]
        .iter()
        .map(|&n| z_of(n))
        .fold(f64::MAX, f64::min);
    let zmax_t = parts[tibia]
        .iter()
        .map(|&n| z_of(n))
        .fold(f64::MIN, f64::max);
    let joint = 0.5 * (zmin_f + zmax_t);
    for p in parts.iter().skip(2) {
        let label = if mean_z(p) > joint { PATELLA } else { FIBULA };
        for &n in p {
            out[n] = label;
        }
    }
    Ok(out)
}

fn radius_vox(spacing: [f64; 3], mm: f64) -> [usize; 3] {
    std::array::from_fn(|a| (mm / spacing[a]).round().max(1.0) as usize)
}

/// Splits one piece into two by erosion (until two large pieces appear) and constrained
/// growth back inside the piece.
fn split_two(piece: &[usize], size: [usize; 3]) -> Result<(Vec<usize>, Vec<usize>)> {
    let n = size[0] * size[1] * size[2];
    let mut inside = vec![false; n];
    for &v in piece {
        inside[v] = true;
    }
    let mut eroded = inside.clone();
    for _ in 0..8 {
        eroded = morph_box(&eroded, size, [1, 1, 1], false);
        let (labels, sizes) = label_components(&eroded, size);
        let mut big: Vec<usize> = (1..sizes.len()).collect();
        big.sort_by_key(|&l| std::cmp::Reverse(sizes[l]));
        if big.len() >= 2 && sizes[big[1]] * 20 >= sizes[big[0]] {
            // Grow both seeds back, breadth first, inside the piece.
            let mut owner = vec![0u8; n];
            let mut frontier: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
            for (v, l) in labels.iter().enumerate() {
                if *l == big[0] as u32 {
                    owner[v] = 1;
                    frontier.push_back(v);
                } else if *l == big[1] as u32 {
                    owner[v] = 2;
                    frontier.push_back(v);
                }
            }
            let [ni, nj, nk] = size;
            while let Some(v) = frontier.pop_front() {
                let (i, j, k) = (v % ni, (v / ni) % nj, v / (ni * nj));
                let mut nb = Vec::with_capacity(6);
                if i > 0 {
                    nb.push(v - 1)
                }
                if i + 1 < ni {
                    nb.push(v + 1)
                }
                if j > 0 {
                    nb.push(v - ni)
                }
                if j + 1 < nj {
                    nb.push(v + ni)
                }
                if k > 0 {
                    nb.push(v - ni * nj)
                }
                if k + 1 < nk {
                    nb.push(v + ni * nj)
                }
                for m in nb {
                    if inside[m] && owner[m] == 0 {
                        owner[m] = owner[v];
                        frontier.push_back(m);
                    }
                }
            }
            let a = piece.iter().copied().filter(|&v| owner[v] == 1).collect();
            let b = piece.iter().copied().filter(|&v| owner[v] == 2).collect();
            return Ok((a, b));
        }
    }
    Err(Error::invalid(
        "femur and tibia could not be separated (no joint space found)",
    ))
}

/// Dice overlap of two label sets for one label.
pub fn dice(a: &[u8], b: &[u8], label: u8) -> f64 {
    let (mut both, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        let (p, q) = (*x == label, *y == label);
        both += (p && q) as usize;
        na += p as usize;
        nb += q as usize;
    }
    if na + nb == 0 {
        1.0
    } else {
        2.0 * both as f64 / (na + nb) as f64
    }
}
