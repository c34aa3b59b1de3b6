//! The 3D view's colours: bones, subregions (16 distinct colours) and the parameter ramp
//! (viridis), and the per-vertex colours of a colouring.

use super::ColourBy;
use super::scene::KneeSurfaces;
use srrd_segmentation::bones::{FEMUR, FIBULA, PATELLA, TIBIA};

/// The colour of a vertex without a value (no subregion, no parameter value).
pub const NO_VALUE_COLOUR: [u8; 4] = [150, 150, 150, 255];

/// A bone's colour (labels of `segmentation::bones`; as in the DICOM segmentation export).
pub fn bone_colour(label: u8) -> [u8; 4] {
    match label {
        FEMUR => [230, 200, 120, 255],
        TIBIA => [120, 180, 230, 255],
        PATELLA => [200, 140, 200, 255],
        FIBULA => [140, 200, 140, 255],
        _ => [200, 200, 200, 255],
    }
}

/// Distinct colours for subregion labels 1..=16 (femur 1-6, tibia 7-12; `diagnosis::subregions`).
const PALETTE: [[u8; 3]; 16] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [188, 189, 34],
    [23, 190, 207],
    [174, 199, 232],
    [255, 187, 120],
    [152, 223, 138],
    [255, 152, 150],
    [197, 176, 213],
    [196, 156, 148],
    [247, 182, 210],
];

/// A subregion label's colour: 16 distinct colours, repeating beyond; label 0 (none) grey.
pub fn subregion_colour(label: u8) -> [u8; 4] {
    if label == 0 {
        return NO_VALUE_COLOUR;
    }
    let [r, g, b] = PALETTE[usize::from(label - 1) % PALETTE.len()];
    [r, g, b, 255]
}

/// The parameter ramp (viridis) at `t` in 0..1 (clamped; NaN gives [`NO_VALUE_COLOUR`]).
pub fn ramp_colour(t: f32) -> [u8; 4] {
    if t.is_nan() {
        return NO_VALUE_COLOUR;
    }
    let [r, g, b] = srrd_stats::viridis_rgb(t.clamp(0.0, 1.0));
    [r, g, b, 255]
}

/// Per-vertex colours of the surfaces for a colouring (bone colours where it lacks data).
pub fn vertex_colours(s: &KneeSurfaces, by: &ColourBy) -> Vec<[u8; 4]> {
    let bones = || s.mesh.labels.iter().map(|&l| bone_colour(l)).collect();
    match by {
        ColourBy::Bone => bones(),
        ColourBy::Subregion => match &s.subregions {
            Some(v) => v
                .iter()
                .map(|x| {
                    if x.is_finite() && *x >= 1.0 && *x <= 255.0 {
                        subregion_colour(x.round() as u8)
                    } else {
                        NO_VALUE_COLOUR
                    }
                })
                .collect(),
            None => bones(),
        },
        ColourBy::Parameter(name) => match s.map(name) {
            Some(m) => {
                let (lo, hi) = m.range;
                let w = (hi - lo).max(1e-12);
                m.values.iter().map(|v| ramp_colour((v - lo) / w)).collect()
            }
            None => bones(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_distinct() {
        let mut seen: Vec<[u8; 4]> = (1..=12).map(subregion_colour).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 12);
        assert_eq!(ramp_colour(f32::NAN), NO_VALUE_COLOUR);
        assert_ne!(ramp_colour(0.0), ramp_colour(1.0));
    }
}
