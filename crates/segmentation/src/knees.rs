//! Which knees a CT holds. A knee CT may show one knee or both (a bilateral field of
//! view); the bones of two knees are two groups of pieces separated along the patient's
//! left-right axis by soft tissue and air. Each knee gets a box of the image to analyze
//! alone. Sides: in LPS, +x is the patient's left, so of two knees the one at larger x is
//! the left knee. A single knee's side comes from its own anatomy (the fibula is lateral:
//! see `diagnosis::subregions`).

use serde::Serialize;

use super::bones::{MIN_IN_BODY, bone_mask, in_body_fraction};
use srrd_base::error::{Error, Result};
use srrd_base::volume::Volume;
use srrd_base::volume::components::label_components;

/// The patient's side of a knee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    pub fn parse(s: &str) -> Result<Side> {
        match s {
            "left" => Ok(Side::Left),
            "right" => Ok(Side::Right),
            o => Err(Error::invalid(format!(
                "unknown side '{o}' (use left or right)"
            ))),
        }
    }
}

/// One knee's part of the image.
#[derive(Clone, Debug, Serialize)]
pub struct KneeBox {
    /// Known from the layout when the CT holds two knees; None for a single knee (its side
    /// comes from its anatomy).
    pub side: Option<Side>,
    /// Index range (inclusive) of the knee's bone and a margin of soft tissue.
    pub lo: [usize; 3],
    pub hi: [usize; 3],
    /// Index range (inclusive) of the knee's whole part of the image (skin and air
    /// included: what an MR registration compares).
    pub field_lo: [usize; 3],
    pub field_hi: [usize; 3],
    /// World x (LPS, mm) range of its bone.
    pub x_range_mm: [f64; 2],
    /// Volume of its bone pieces (cm^3).
    pub bone_cm3: f64,
}

/// The knees found.
#[derive(Clone, Debug, Serialize)]
pub struct KneeLayout {
    pub knees: Vec<KneeBox>,
    /// Gap of bone-free left-right extent between the two knees (mm), when bilateral.
    pub gap_mm: Option<f64>,
}

/// Least gap (mm, along the patient's left-right axis) with no bone between two knees.
pub const MIN_GAP_MM: f64 = 15.0;
/// Each knee of a bilateral CT holds at least this share of the bone.
const MIN_SHARE: f64 = 0.2;
/// Pieces smaller than this (cm^3) do not count.
const MIN_PIECE_CM3: f64 = 1.0;
const BIN_MM: f64 = 2.0;
/// Soft tissue kept around a knee's bone (mm): the closing and the regions need a few mm,
/// the body-tissue test of bone pieces one voxel.
const MARGIN_MM: f64 = 15.0;

/// Finds the knees of `ct` (HU) from its bone (`threshold` HU and above, as
/// `segment_bones` sees it). Errors when there is no bone at all.
pub fn find_knees(ct: &Volume, threshold: f32) -> Result<KneeLayout> {
    let g = &ct.geometry;
    let mask = bone_mask(ct, threshold)?;
    let (labels, sizes) = label_components(mask.inside(), g.size);
    let voxel_cm3 = g.spacing_mm.x * g.spacing_mm.y * g.spacing_mm.z / 1000.0;
    // The index axis closest to the patient's left-right axis (world x).
    let lr_axis = (0..3)
        .max_by(|&a, &b| {
            g.direction[(0, a)]
                .abs()
                .total_cmp(&g.direction[(0, b)].abs())
        })
        .unwrap_or(0);
    // Pieces that span the whole left-right field of view (a table) are not bone.
    let n_lr = g.size[lr_axis];
    let mut span = vec![[usize::MAX, 0usize]; sizes.len()];
    for (n, l) in labels.iter().enumerate() {
        if *l > 0 {
            let idx = g.ijk(n)[lr_axis];
            let s = &mut span[*l as usize];
            s[0] = s[0].min(idx);
            s[1] = s[1].max(idx);
        }
    }
    let in_body = in_body_fraction(ct, &labels, sizes.len());
    let keep: Vec<bool> = (0..sizes.len())
        .map(|l| {
            l > 0
                && sizes[l] as f64 * voxel_cm3 >= MIN_PIECE_CM3
                && in_body[l] >= MIN_IN_BODY
                && !(span[l][0] == 0 && span[l][1] + 1 == n_lr && n_lr > 1)
        })
        .collect();
    // Bone volume per 2 mm of world x.
    let x_of = |n: usize| g.voxel_world(n).x;
    let corners: Vec<f64> = (0..8)
        .map(|c| {
            let idx = nalgebra::Vector3::new(
                if c & 1 == 0 {
                    0.0
                } else {
                    (g.size[0] - 1) as f64
                },
                if c & 2 == 0 {
                    0.0
                } else {
                    (g.size[1] - 1) as f64
                },
                if c & 4 == 0 {
                    0.0
                } else {
                    (g.size[2] - 1) as f64
                },
            );
            g.index_to_world(idx).x
        })
        .collect();
    let x0 = corners.iter().copied().fold(f64::INFINITY, f64::min);
    let x1 = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bins = ((x1 - x0) / BIN_MM).ceil() as usize + 1;
    let mut profile = vec![0usize; bins];
    let mut total = 0usize;
    for (n, l) in labels.iter().enumerate() {
        if *l > 0 && keep[*l as usize] {
            profile[((x_of(n) - x0) / BIN_MM) as usize] += 1;
            total += 1;
        }
    }
    if total == 0 {
        return Err(Error::invalid(format!(
            "no bone in the image: no piece of at least {MIN_PIECE_CM3} cm3 at or above \
             {threshold} HU (is it a CT in Hounsfield units, and does it hold a knee?)"
        )));
    }
    // The widest bone-free run of bins between the first and last bone bins.
    let first = profile.iter().position(|c| *c > 0).unwrap_or(0);
    let last = profile.iter().rposition(|c| *c > 0).unwrap_or(0);
    let (mut best, mut run_start) = ((0usize, 0usize), None);
    for (b, &count) in profile.iter().enumerate().take(last + 1).skip(first) {
        match (count == 0, run_start) {
            (true, None) => run_start = Some(b),
            (false, Some(s)) => {
                if b - s > best.1 - best.0 {
                    best = (s, b);
                }
                run_start = None;
            }
            _ => {}
        }
    }
    let gap_mm = (best.1 - best.0) as f64 * BIN_MM;
    let below: usize = profile[..best.0.max(first)].iter().sum();
    let share = below as f64 / total as f64;
    let bilateral = gap_mm >= MIN_GAP_MM && (MIN_SHARE..=1.0 - MIN_SHARE).contains(&share);
    let whole = |side: Option<Side>, x_range_mm: [f64; 2], bone_cm3: f64| KneeBox {
        side,
        lo: [0; 3],
        hi: std::array::from_fn(|a| g.size[a] - 1),
        field_lo: [0; 3],
        field_hi: std::array::from_fn(|a| g.size[a] - 1),
        x_range_mm,
        bone_cm3,
    };
    let bin_x = |b: usize| x0 + b as f64 * BIN_MM;
    // Each knee's box shrinks to its bone and a margin: the rest is soft tissue and air
    // the analysis does not need (a clinical field of view is much wider than a knee).
    let tighten = |b: &mut KneeBox| {
        b.field_lo = b.lo;
        b.field_hi = b.hi;
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        for k in b.lo[2]..=b.hi[2] {
            for j in b.lo[1]..=b.hi[1] {
                for i in b.lo[0]..=b.hi[0] {
                    let l = labels[g.index(i, j, k)] as usize;
                    if l > 0 && keep[l] {
                        for (a, x) in [i, j, k].into_iter().enumerate() {
                            lo[a] = lo[a].min(x);
                            hi[a] = hi[a].max(x);
                        }
                    }
                }
            }
        }
        if lo[0] == usize::MAX {
            return;
        }
        for a in 0..3 {
            let m = (MARGIN_MM / g.spacing_mm[a]).ceil() as usize;
            b.lo[a] = lo[a].saturating_sub(m).max(b.lo[a]);
            b.hi[a] = (hi[a] + m).min(b.hi[a]);
        }
    };
    if !bilateral {
        let mut knee = whole(
            None,
            [bin_x(first), bin_x(last + 1)],
            total as f64 * voxel_cm3,
        );
        tighten(&mut knee);
        return Ok(KneeLayout {
            knees: vec![knee],
            gap_mm: None,
        });
    }
    // Two knees: the image is cut at the middle of the gap along the left-right axis.
    let cut_x = bin_x(best.0) + 0.5 * gap_mm;
    let cut_world = nalgebra::Point3::new(cut_x, g.center_mm().y, g.center_mm().z);
    let cut_idx = g.world_to_index(&cut_world)[lr_axis]
        .round()
        .clamp(1.0, (n_lr - 1) as f64) as usize;
    // Does the index grow towards +x (patient left) along that axis?
    let grows_left = g.direction[(0, lr_axis)] > 0.0;
    let mut low = whole(
        None,
        [bin_x(first), bin_x(best.0)],
        below as f64 * voxel_cm3,
    );
    let mut high = whole(
        None,
        [bin_x(best.1), bin_x(last + 1)],
        (total - below) as f64 * voxel_cm3,
    );
    // `low` holds the knee at smaller x: the patient's right.
    let (right, left) = if grows_left {
        low.hi[lr_axis] = cut_idx - 1;
        high.lo[lr_axis] = cut_idx;
        (&mut low, &mut high)
    } else {
        low.lo[lr_axis] = cut_idx;
        high.hi[lr_axis] = cut_idx - 1;
        (&mut low, &mut high)
    };
    right.side = Some(Side::Right);
    left.side = Some(Side::Left);
    tighten(&mut low);
    tighten(&mut high);
    Ok(KneeLayout {
        knees: vec![low, high],
        gap_mm: Some(gap_mm),
    })
}

impl KneeLayout {
    /// The knee of `side`, when the layout knows sides (bilateral).
    pub fn knee(&self, side: Side) -> Option<&KneeBox> {
        self.knees.iter().find(|k| k.side == Some(side))
    }

    pub fn is_bilateral(&self) -> bool {
        self.knees.len() > 1
    }
}
