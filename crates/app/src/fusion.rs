//! Comparing two layers on one slice: alpha blend, checkerboard, the paper's fusion (high
//! CT signal in yellow over the grey MR), difference, magenta/green, and flicker. Pure
//! functions from two sampled slices to colours, so they are tested without a window.

use eframe::egui::Color32;

/// How two layers are shown together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FusionMode {
    /// Every visible layer over the one below, by its opacity.
    Alpha,
    /// Tiles alternating between the two layers.
    Checkerboard,
    /// The second layer (MR) in grey, the first (CT) in yellow where it is high (bone).
    Yellow,
    /// |a - b| of the windowed intensities.
    Difference,
    /// a in magenta, b in green: grey where they agree.
    MagentaGreen,
}

impl FusionMode {
    /// All modes, in the order the UI lists them.
    pub const ALL: [FusionMode; 5] = [
        FusionMode::Alpha,
        FusionMode::Checkerboard,
        FusionMode::Yellow,
        FusionMode::Difference,
        FusionMode::MagentaGreen,
    ];

    /// The label shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            FusionMode::Alpha => "Alpha",
            FusionMode::Checkerboard => "Checkerboard",
            FusionMode::Yellow => "Yellow fusion",
            FusionMode::Difference => "Difference",
            FusionMode::MagentaGreen => "Magenta/green",
        }
    }
}

/// Windowed intensity in [0, 1] (NaN stays NaN: outside the image).
pub fn normalize(v: f32, window: (f32, f32)) -> f32 {
    let (c, w) = window;
    ((v - (c - w / 2.0)) / w.max(1e-6)).clamp(0.0, 1.0)
}

fn grey(t: f32) -> Color32 {
    let g = (t * 255.0) as u8;
    Color32::from_rgb(g, g, g)
}

/// Colours of a `width`-wide slice from the windowed intensities `a` and `b` (each in
/// [0, 1], NaN outside its image) in a non-alpha mode. `tile_px` is the checkerboard tile.
pub fn fuse(mode: FusionMode, a: &[f32], b: &[f32], width: usize, tile_px: usize) -> Vec<Color32> {
    let tile = tile_px.max(1);
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(n, (&x, &y))| {
            let (x0, y0) = (
                if x.is_nan() { 0.0 } else { x },
                if y.is_nan() { 0.0 } else { y },
            );
            match mode {
                FusionMode::Alpha => grey(0.5 * (x0 + y0)),
                FusionMode::Checkerboard => {
                    let (i, j) = (n % width, n / width);
                    if (i / tile + j / tile).is_multiple_of(2) {
                        grey(x0)
                    } else {
                        grey(y0)
                    }
                }
                FusionMode::Yellow => {
                    // Bone (upper part of the CT window) in yellow, proportionally.
                    let bone = ((x0 - 0.5) * 2.0).clamp(0.0, 1.0);
                    let g = y0 * 255.0;
                    let mix = |base: f32, top: f32| (base * (1.0 - bone) + top * bone) as u8;
                    Color32::from_rgb(mix(g, 255.0), mix(g, 230.0), mix(g, 0.0))
                }
                FusionMode::Difference => grey((x0 - y0).abs()),
                FusionMode::MagentaGreen => {
                    let (m, gr) = ((x0 * 255.0) as u8, (y0 * 255.0) as u8);
                    Color32::from_rgb(m, gr, m)
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_shows_what_it_says() {
        let width = 8;
        let a: Vec<f32> = vec![1.0; 64];
        let b: Vec<f32> = vec![0.0; 64];
        let cb = fuse(FusionMode::Checkerboard, &a, &b, width, 2);
        assert_eq!(cb[0], Color32::WHITE);
        assert_eq!(cb[2], Color32::BLACK, "next tile along i shows b");
        assert_eq!(cb[2 * width], Color32::BLACK, "next tile along j shows b");
        assert_eq!(cb[2 * width + 2], Color32::WHITE);
        let d = fuse(FusionMode::Difference, &a, &a, width, 2);
        assert!(
            d.iter().all(|c| *c == Color32::BLACK),
            "identical layers: no difference"
        );
        let mg = fuse(FusionMode::MagentaGreen, &[0.6], &[0.6], 1, 1);
        assert_eq!(mg[0].r(), mg[0].g(), "agreement is grey");
        let mg = fuse(FusionMode::MagentaGreen, &[1.0], &[0.0], 1, 1);
        assert_eq!((mg[0].r(), mg[0].g(), mg[0].b()), (255, 0, 255));
        // Yellow: soft CT leaves the MR grey; bone turns it yellow.
        let soft = fuse(FusionMode::Yellow, &[0.3], &[0.5], 1, 1)[0];
        assert_eq!((soft.r(), soft.g(), soft.b()), (127, 127, 127));
        let bone = fuse(FusionMode::Yellow, &[1.0], &[0.5], 1, 1)[0];
        assert_eq!((bone.r(), bone.g(), bone.b()), (255, 230, 0));
        assert_eq!(normalize(50.0, (0.0, 100.0)), 1.0);
        assert_eq!(normalize(0.0, (0.0, 100.0)), 0.5);
    }
}
