//! The subchondral trabecular region of each bone, from the bone labels alone (so it is
//! stable across knees and poses): the bone's interior (more than `cortex_mm` inside its
//! surface, i.e. trabecular bone, not cortex) within `depth_mm` of the other bone (the
//! joint). Patches for regression are sampled here.

use super::bones::{FEMUR, TIBIA};
use srrd_base::volume::LabelMap;
use srrd_morphometry::edt::squared_edt;

/// Default band: interior voxels within this distance (mm) of the opposite bone.
pub const DEPTH_MM: f64 = 20.0;
/// Default cortical margin (mm).
pub const CORTEX_MM: f64 = 2.0;

/// Region labels on the bones' grid: 1 femoral, 2 tibial subchondral trabecular region.
pub fn subchondral_regions(bones: &LabelMap, depth_mm: f64, cortex_mm: f64) -> LabelMap {
    let g = bones.geometry();
    let spacing: [f64; 3] = g.spacing_mm.into();
    let (femur, tibia) = (bones.mask(FEMUR), bones.mask(TIBIA));
    let (femur, tibia) = (femur.inside(), tibia.inside());
    // Depth inside each bone (distance to its outside) and distance to the other bone.
    let depth = |inside: &[bool]| squared_edt(inside, g.size, spacing);
    let to = |bone: &[bool]| {
        let outside: Vec<bool> = bone.iter().map(|b| !*b).collect();
        squared_edt(&outside, g.size, spacing)
    };
    let (df_in, dt_in) = (depth(femur), depth(tibia));
    let (to_f, to_t) = (to(femur), to(tibia));
    let (c2, d2) = (cortex_mm * cortex_mm, depth_mm * depth_mm);
    LabelMap::from_fn(g.clone(), |i, j, k| {
        let n = g.index(i, j, k);
        if femur[n] && df_in[n] > c2 && to_t[n] < d2 {
            1
        } else if tibia[n] && dt_in[n] > c2 && to_f[n] < d2 {
            2
        } else {
            0
        }
    })
}
