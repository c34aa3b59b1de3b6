//! What a viewer lays over the CT after an analysis: the parameter maps shown only inside
//! the subchondral regions, with their value ranges for the colour bars, and the subregion
//! labels as an overlay volume.

use srrd_base::volume::{LabelMap, Volume};

/// A parameter map with NaN outside `regions` (and where it has no value, 0), so it
/// overlays only the bone, and its value range there (None when it has no value there).
pub fn map_in_regions(map: &Volume, regions: &LabelMap) -> (Volume, Option<(f32, f32)>) {
    let mut v = map.clone();
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for (x, r) in v.data.iter_mut().zip(regions.labels()) {
        if *r == 0 || *x == 0.0 {
            *x = f32::NAN;
        } else {
            lo = lo.min(*x);
            hi = hi.max(*x);
        }
    }
    let range = lo.is_finite().then(|| (lo, hi.max(lo + 1e-6)));
    (v, range)
}

/// Labels as an overlay volume: the label's value inside, NaN on the background.
pub fn label_overlay(labels: &LabelMap) -> Volume {
    Volume::from_fn(labels.geometry().clone(), |i, j, k| {
        match labels.at(i, j, k) {
            0 => f32::NAN,
            l => f32::from(l),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use srrd_base::volume::Geometry;

    #[test]
    fn maps_show_only_inside_regions_and_labels_only_where_labelled() {
        let g = Geometry::new([4, 2, 1], [1.0; 3], [0.0; 3]);
        let regions = LabelMap::from_fn(g.clone(), |i, _, _| u8::from(i >= 2));
        let map = Volume::from_fn(g.clone(), |i, j, _| if j == 1 { 0.0 } else { i as f32 });
        let (shown, range) = map_in_regions(&map, &regions);
        assert_eq!(range, Some((2.0, 3.0)));
        assert!(
            shown.get(1, 0, 0).is_some_and(f32::is_nan),
            "outside the regions"
        );
        assert!(shown.get(3, 1, 0).is_some_and(f32::is_nan), "no value (0)");
        assert_eq!(shown.get(3, 0, 0), Some(3.0));
        let empty = LabelMap::zeros(g);
        assert_eq!(map_in_regions(&map, &empty).1, None);
        let overlay = label_overlay(&regions);
        assert!(overlay.get(0, 0, 0).is_some_and(f32::is_nan));
        assert_eq!(overlay.get(2, 1, 0), Some(1.0));
    }
}
