//! The acquisition range a model saw in training, as its card records it: the quality
//! checks compare a CT's spacing with it.

use serde::Serialize;

/// The acquisition range a model was trained (and validated) on, from its card.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct TrainedRange {
    /// The CT grid the student's patches are cut from (mm).
    pub spacing_mm: [f64; 3],
    /// In-plane pixel sizes (mm) the analysis is validated for, smallest and largest.
    pub pixel_mm: [f64; 2],
    /// Slice spacings (mm) the analysis is validated for.
    pub slice_mm: [f64; 2],
    /// Where the range comes from, in words.
    pub source: String,
}

impl TrainedRange {
    /// The range of a model that saw one grid only (and nothing validated beyond it).
    pub fn only(spacing_mm: [f64; 3]) -> Self {
        let mut s = spacing_mm;
        s.sort_by(f64::total_cmp);
        TrainedRange {
            spacing_mm,
            pixel_mm: [s[1], s[1]],
            slice_mm: [s[2], s[2]],
            source: "the training grid only".into(),
        }
    }
}

impl TrainedRange {
    /// The range of a model trained on knees acquired at `acquired_mm` (each CT's own
    /// spacing; patches cut on `spacing_mm`): pixels and slices from the finest to the
    /// coarsest seen. With no recorded acquisition, the training grid only.
    pub fn seen(spacing_mm: [f64; 3], acquired_mm: &[[f64; 3]]) -> Self {
        if acquired_mm.is_empty() {
            return TrainedRange::only(spacing_mm);
        }
        let (mut pixel, mut slice) = ([f64::INFINITY, 0.0f64], [f64::INFINITY, 0.0f64]);
        for a in acquired_mm {
            let mut s = *a;
            s.sort_by(f64::total_cmp);
            pixel = [pixel[0].min(s[1]), pixel[1].max(s[1])];
            slice = [slice[0].min(s[2]), slice[1].max(s[2])];
        }
        TrainedRange {
            spacing_mm,
            pixel_mm: pixel,
            slice_mm: slice,
            source: format!(
                "seen in training ({} knees), not yet validated by srrd eval-robustness",
                acquired_mm.len()
            ),
        }
    }
}
