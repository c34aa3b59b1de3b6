//! Colour maps shared by the viewer and the reports.

/// Viridis-like colour at `t` in [0, 1]: linear between ten anchors of the published map.
/// The parameter maps' colours, in the viewer and in the reports.
pub fn viridis_rgb(t: f32) -> [u8; 3] {
    const ANCHORS: [[u8; 3]; 10] = [
        [68, 1, 84],
        [72, 40, 120],
        [62, 74, 137],
        [49, 104, 142],
        [38, 130, 142],
        [31, 158, 137],
        [53, 183, 121],
        [109, 205, 89],
        [180, 222, 44],
        [253, 231, 37],
    ];
    let x = if t.is_nan() {
        0.0
    } else {
        t.clamp(0.0, 1.0) * 9.0
    };
    let i = (x.floor() as usize).min(8);
    let f = x - i as f32;
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * f).round() as u8;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_runs_from_purple_to_yellow_getting_brighter() {
        assert_eq!(viridis_rgb(0.0), [68, 1, 84]);
        assert_eq!(viridis_rgb(1.0), [253, 231, 37]);
        assert_eq!(viridis_rgb(-3.0), viridis_rgb(0.0));
        assert_eq!(viridis_rgb(f32::NAN), viridis_rgb(0.0));
        let luma = |c: [u8; 3]| 0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32;
        let mut last = -1.0;
        for n in 0..=100 {
            let l = luma(viridis_rgb(n as f32 / 100.0));
            assert!(l > last, "brighter at every step: {n}");
            last = l;
        }
    }
}
