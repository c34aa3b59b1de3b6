//! Femur and tibia (and patella, fibula) on CT, the authors' way: threshold (250 HU on CT,
//! 300 on sCT), close small gaps in the cortex, fill the marrow cavity slice by slice,
//! keep the large connected pieces and name them by position. Where femur and tibia touch
//! (advanced OA), they are split at the joint by eroding until two pieces appear and
//! growing them back inside the mask. Every size here is in millimetres (closing radius,
//! erosion depth, piece volume), so the result does not depend on the CT's spacing.

use srrd_base::error::{Error, Result};
use srrd_base::volume::components::{fill_holes_2d, label_components, morph_box};
use srrd_base::volume::{LabelMap, Mask, Volume, voxel_ijk};

/// Label values of the bone map.
pub const FEMUR: u8 = 1;
pub const TIBIA: u8 = 2;
pub const PATELLA: u8 = 3;
pub const FIBULA: u8 = 4;

/// The authors' CT bone threshold (HU).
pub const CT_BONE_HU: f32 = 250.0;

/// Largest bone piece (cm^3) a knee CT can hold: femur and tibia fused, both whole.
pub const MAX_KNEE_CM3: f64 = 1500.0;

/// Least height (mm) between the femur's and the tibia's centroids.
pub const MIN_FEMUR_TIBIA_MM: f64 = 20.0;

/// Deepest erosion (mm) tried when splitting touching femur and tibia.
pub const MAX_SPLIT_MM: f64 = 12.0;

/// The bone labels and how femur and tibia were told apart.
#[derive(Clone, Debug)]
pub struct BoneLabels {
    /// 0, FEMUR, TIBIA, PATELLA, FIBULA per voxel of the CT grid.
    pub labels: LabelMap,
    /// None when femur and tibia were separate pieces; else the erosion depth (mm) that
    /// split them at the joint.
    pub split_depth_mm: Option<f64>,
}

/// Bone labels (0, FEMUR, TIBIA, PATELLA, FIBULA) of a CT (or sCT) on its grid.
pub fn segment_bones(ct: &Volume, threshold: f32) -> Result<LabelMap> {
    Ok(segment_bones_detailed(ct, threshold)?.labels)
}

/// [`segment_bones`], saying whether the joint had to be split.
pub fn segment_bones_detailed(ct: &Volume, threshold: f32) -> Result<BoneLabels> {
    let g = &ct.geometry;
    let size = g.size;
    let mask = bone_mask(ct, threshold)?;
    let voxel_mm3 = g.spacing_mm.x * g.spacing_mm.y * g.spacing_mm.z;
    let min_voxels = (1000.0 / voxel_mm3).ceil() as usize; // 1 cm^3
    let (labels, sizes) = label_components(mask.inside(), size);
    let in_body = in_body_fraction(ct, &labels, sizes.len());
    let mut pieces: Vec<usize> = (1..sizes.len())
        .filter(|&l| sizes[l] >= min_voxels && in_body[l] >= MIN_IN_BODY)
        .collect();
    pieces.sort_by_key(|&l| std::cmp::Reverse(sizes[l]));
    if pieces.is_empty() {
        return Err(Error::invalid(format!(
            "no bone found above {threshold} HU (no piece of 1 cm3 inside the body)"
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
    let largest_cm3 = parts[0].len() as f64 * voxel_mm3 / 1000.0;
    if largest_cm3 > MAX_KNEE_CM3 {
        return Err(Error::invalid(format!(
            "no knee in the image: its largest bone piece is {largest_cm3:.0} cm3, more than a \
             knee's femur and tibia together ({MAX_KNEE_CM3:.0} cm3); is this a knee CT?"
        )));
    }
    // Femur and tibia: the two largest pieces, unless the largest is much bigger than the
    // second, then it holds both and is split at the joint.
    let split_needed = parts.len() < 2 || parts[0].len() > 3 * parts[1].len();
    let mut split_depth_mm = None;
    if split_needed {
        let (a, b, depth) = split_two(&parts[0], size, g.spacing_mm.into())?;
        split_depth_mm = Some(depth);
        parts.remove(0);
        parts.insert(0, b);
        parts.insert(0, a);
    }
    let z_of = |n: usize| g.voxel_world(n).z;
    let mean_z = |p: &[usize]| p.iter().map(|&n| z_of(n)).sum::<f64>() / p.len().max(1) as f64;
    let (zf, zt) = (mean_z(&parts[0]), mean_z(&parts[1]));
    let (femur, tibia) = if zf >= zt { (0, 1) } else { (1, 0) };
    // A femur and a tibia stand one above the other; two pieces side by side (a femur's
    // condyles, split because the tibia is outside the field of view) are not a knee.
    if (zf - zt).abs() < MIN_FEMUR_TIBIA_MM {
        return Err(Error::invalid(format!(
            "no femur above a tibia: the two largest bone pieces ({:.0} and {:.0} cm3) lie side \
             by side ({:.0} mm apart in height); is the tibia (or the femur) outside the field \
             of view?",
            parts[0].len() as f64 * voxel_mm3 / 1000.0,
            parts[1].len() as f64 * voxel_mm3 / 1000.0,
            (zf - zt).abs()
        )));
    }
    let mut out = vec![0u8; g.num_voxels()];
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
    Ok(BoneLabels {
        labels: LabelMap::new(g.clone(), out)?,
        split_depth_mm,
    })
}

/// Least share of a bone piece's surroundings that is body tissue (above -200 HU): a bone
/// lies in soft tissue, the scanner's table and other hardware face air.
pub const MIN_IN_BODY: f64 = 0.5;

/// Distance (mm) outside a bone piece at which its surroundings are sampled.
const SHELL_MM: f64 = 1.0;

/// For each component of `labels` (index = label), the share of the voxels about
/// `SHELL_MM` outside it (along the axes, not in any component) that are body tissue,
/// above -200 HU.
pub fn in_body_fraction(ct: &Volume, labels: &[u32], count: usize) -> Vec<f64> {
    let size = ct.geometry.size;
    let [ni, nj, nk] = size;
    let data = ct.data.as_standard_layout();
    let data = data.as_slice().unwrap_or(&[]);
    let mut tissue = vec![0usize; count];
    let mut total = vec![0usize; count];
    if data.len() != labels.len() {
        return vec![0.0; count];
    }
    // The voxels about 1 mm outside a piece (one voxel at least), whatever the spacing:
    // nearer, partial volume with the bone's own edge lifts everything above -200 HU.
    let reach = radius_vox(ct.geometry.spacing_mm.into(), SHELL_MM);
    for n in 0..labels.len() {
        if labels[n] != 0 {
            continue;
        }
        let [i, j, k] = voxel_ijk(size, n);
        let [ri, rj, rk] = reach;
        let mut owner = 0u32;
        for (ok, m) in [
            (i >= ri, n.wrapping_sub(ri)),
            (i + ri < ni, n + ri),
            (j >= rj, n.wrapping_sub(rj * ni)),
            (j + rj < nj, n + rj * ni),
            (k >= rk, n.wrapping_sub(rk * ni * nj)),
            (k + rk < nk, n + rk * ni * nj),
        ] {
            if ok && labels[m] != 0 {
                owner = labels[m];
                break;
            }
        }
        if owner != 0 && (owner as usize) < count {
            total[owner as usize] += 1;
            tissue[owner as usize] += (data[n] > -200.0) as usize;
        }
    }
    (0..count)
        .map(|l| {
            if total[l] == 0 {
                1.0
            } else {
                tissue[l] as f64 / total[l] as f64
            }
        })
        .collect()
}

/// Voxels at or above `threshold`, closed by a 1 mm box and with holes filled per axial
/// slice: bones as solids (cortex and marrow cavity).
pub fn bone_mask(ct: &Volume, threshold: f32) -> Result<Mask> {
    let g = &ct.geometry;
    let data = ct.data.as_standard_layout();
    let data = data
        .as_slice()
        .ok_or_else(|| Error::invalid("CT voxels are not contiguous"))?;
    let above: Vec<bool> = data.iter().map(|v| *v >= threshold).collect();
    let r = radius_vox(g.spacing_mm.into(), 1.0);
    let mut mask = morph_box(&morph_box(&above, g.size, r, true), g.size, r, false);
    fill_holes_2d(&mut mask, g.size);
    Mask::new(g.clone(), mask)
}

/// Half-widths in voxels of a box of half-width `mm` (at least one voxel).
pub fn radius_vox(spacing: [f64; 3], mm: f64) -> [usize; 3] {
    std::array::from_fn(|a| (mm / spacing[a]).round().max(1.0) as usize)
}

/// Splits one piece into two by erosion with a box of half-width 1, 2, ... mm (until two
/// large pieces appear) and constrained growth back inside the piece; also returns the
/// depth that split it.
fn split_two(
    piece: &[usize],
    size: [usize; 3],
    spacing: [f64; 3],
) -> Result<(Vec<usize>, Vec<usize>, f64)> {
    let n = size[0] * size[1] * size[2];
    let mut inside = vec![false; n];
    for &v in piece {
        inside[v] = true;
    }
    let mut last_radius = [0usize; 3];
    for depth in 1..=MAX_SPLIT_MM as usize {
        let radius = radius_vox(spacing, depth as f64);
        if radius == last_radius {
            continue;
        }
        last_radius = radius;
        let eroded = morph_box(&inside, size, radius, false);
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
                let [i, j, k] = voxel_ijk(size, v);
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
            return Ok((a, b, depth as f64));
        }
    }
    Err(Error::invalid(format!(
        "femur and tibia could not be separated (no joint space found within {MAX_SPLIT_MM} mm \
         of erosion): is this a knee CT, with both bones in the field of view?"
    )))
}

/// Dice overlap of two label maps on one grid for one label.
pub fn dice(a: &LabelMap, b: &LabelMap, label: u8) -> f64 {
    debug_assert_eq!(a.geometry().size, b.geometry().size, "dice on two grids");
    let (mut both, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (x, y) in a.labels().iter().zip(b.labels()) {
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
