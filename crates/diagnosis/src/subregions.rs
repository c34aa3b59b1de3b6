//! The six subregions of each bone's subchondral trabecular region, from the knee's own
//! anatomy on the CT (so they follow the knee, not the scanner):
//!
//! - **Axes.** Superior: from the tibial region's centroid to the femoral region's.
//!   Medio-lateral: the principal axis of the tibial region in the plane normal to it (the
//!   plateau is wider than deep). Lateral is the side of the fibula. Anterior completes the
//!   frame, signed towards the patella. When segmentation has joined the fibula to the
//!   tibia, it is found as the smaller separate piece in the tibia's axial slices. Without a fibula (or patella) in the image, the
//!   scanner's axes stand in: a right knee is assumed (medial = patient left, +x in LPS) and
//!   anterior = -y; `Frame::assumed` says so.
//! - **Split.** Medial / lateral: the side of the bone region's own centroid along the
//!   medio-lateral axis. Anterior / central / posterior: thirds of the region's extent along
//!   the antero-posterior axis (between its 1st and 99th percentiles).
//! - **Labels** (the phantom's order): femur 1 MA, 2 MC, 3 MP, 4 LA, 5 LC, 6 LP; tibia 7-12
//!   likewise.

use nalgebra::{Matrix3, Point3, SymmetricEigen, Vector3};
use serde::Serialize;

use srrd_base::volume::components::label_components;
use srrd_base::volume::{Geometry, LabelMap};
use srrd_segmentation::bones::{FEMUR, FIBULA, PATELLA, TIBIA};
use srrd_segmentation::knees::Side;

/// Names of the 12 subregion labels (index = label - 1).
pub const NAMES: [&str; 12] = [
    "femur MA", "femur MC", "femur MP", "femur LA", "femur LC", "femur LP", "tibia MA", "tibia MC",
    "tibia MP", "tibia LA", "tibia LC", "tibia LP",
];

/// The knee frame the split used.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Frame {
    pub superior: [f64; 3],
    pub medial: [f64; 3],
    pub anterior: [f64; 3],
    /// What stood in for missing anatomy ("" when the fibula and patella were found).
    pub assumed: String,
}

impl Frame {
    /// The knee's side from this frame: medial points to the patient's left (+x in LPS)
    /// in a right knee.
    pub fn side(&self) -> Side {
        if self.medial[0] >= 0.0 {
            Side::Right
        } else {
            Side::Left
        }
    }

    /// Whether medial-lateral came from the fibula (not from an assumption).
    pub fn side_from_anatomy(&self) -> bool {
        !self.assumed.contains("no fibula")
    }
}

fn centroid(points: &[Point3<f64>]) -> Option<Point3<f64>> {
    if points.is_empty() {
        return None;
    }
    let sum = points.iter().fold(Vector3::zeros(), |s, p| s + p.coords);
    Some(Point3::from(sum / points.len() as f64))
}

/// Subregion labels (0 outside, 1-12 inside) for `regions` (1 femur, 2 tibia), with the
/// bones' labels (for the fibula and patella) on the same grid.
pub fn subregions(bones: &LabelMap, regions: &LabelMap) -> (LabelMap, Frame) {
    subregions_with_side(bones, regions, None)
}

/// [`subregions`], with the knee's side when it is known otherwise (one knee of a
/// bilateral CT): used only when the image has no fibula to tell medial from lateral.
pub fn subregions_with_side(
    bones: &LabelMap,
    regions: &LabelMap,
    side: Option<Side>,
) -> (LabelMap, Frame) {
    let g = regions.geometry();
    debug_assert_eq!(
        bones.geometry().size,
        g.size,
        "bones and regions on one grid"
    );
    let world = |n: usize| g.voxel_world(n);
    let (bones, regions) = (bones.labels(), regions.labels());
    let collect = |labels: &[u8], l: u8, step: usize| -> Vec<Point3<f64>> {
        labels
            .iter()
            .enumerate()
            .filter(|(n, v)| **v == l && n % step == 0)
            .map(|(n, _)| world(n))
            .collect()
    };
    let femur_r = collect(regions, 1, 1);
    let tibia_r = collect(regions, 2, 1);
    let patella = centroid(&collect(bones, PATELLA, 7));
    let mut assumed = Vec::new();
    let (Some(cf), Some(ct)) = (centroid(&femur_r), centroid(&tibia_r)) else {
        return (
            LabelMap::zeros(g.clone()),
            default_frame("no femoral or tibial region"),
        );
    };
    let superior = (cf - ct)
        .try_normalize(1e-9)
        .unwrap_or(Vector3::new(0.0, 0.0, 1.0));
    // The fibula stands beside the tibia: a piece whose centroid is within a few mm of the
    // tibia's axis is a fragment of the tibia (an osteophyte, the tuberosity), not it.
    let beside = |p: &Point3<f64>| {
        let d = p - ct;
        (d - superior * d.dot(&superior)).norm() >= FIBULA_OFFSET_MM
    };
    let fibula = largest_piece(bones, FIBULA, g, &beside)
        .or_else(|| fibula_in_tibia(bones, g).filter(|p| beside(p)));
    // Principal axis of the tibial region, in the plane normal to `superior`.
    let mut cov = Matrix3::zeros();
    for p in &tibia_r {
        let d = p - ct;
        let d = d - superior * d.dot(&superior);
        cov += d * d.transpose();
    }
    let eig = SymmetricEigen::new(cov);
    let (mut best, mut best_v) = (0, f64::NEG_INFINITY);
    for a in 0..3 {
        if eig.eigenvalues[a] > best_v {
            best_v = eig.eigenvalues[a];
            best = a;
        }
    }
    let mut medial: Vector3<f64> = eig.eigenvectors.column(best).into();
    match fibula {
        Some(f) => {
            if (f - ct).dot(&medial) > 0.0 {
                medial = -medial;
            }
        }
        None => {
            // Medial is towards the body's midline: patient left (+x in LPS) for a right
            // knee, patient right for a left one.
            let towards_left = side != Some(Side::Left);
            assumed.push(match side {
                Some(Side::Left) => "no fibula: medial from the knee's side (left, from the scan)",
                Some(Side::Right) => {
                    "no fibula: medial from the knee's side (right, from the scan)"
                }
                None => "no fibula: a right knee assumed (medial = patient left)",
            });
            if (medial.x < 0.0) == towards_left {
                medial = -medial;
            }
        }
    }
    let mut anterior = superior.cross(&medial);
    match patella {
        Some(p) => {
            if (p - ct).dot(&anterior) < 0.0 {
                anterior = -anterior;
            }
        }
        None => {
            assumed.push("no patella: anterior = -y (LPS)");
            if anterior.y > 0.0 {
                anterior = -anterior;
            }
        }
    }
    let mut out = vec![0u8; regions.len()];
    for (label, base, c) in [(1u8, 0u8, cf), (2, 6, ct)] {
        let idx: Vec<usize> = regions
            .iter()
            .enumerate()
            .filter(|(_, r)| **r == label)
            .map(|(n, _)| n)
            .collect();
        let mut ap: Vec<f64> = idx.iter().map(|&n| (world(n) - c).dot(&anterior)).collect();
        let mut sorted = ap.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            continue;
        }
        let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        let (lo, hi) = (q(0.01), q(0.99));
        let span = (hi - lo).max(1e-6);
        for (k, &n) in idx.iter().enumerate() {
            let p = world(n) - c;
            let side = if p.dot(&medial) >= 0.0 { 0 } else { 3 };
            // 0 at the anterior end, 1 at the posterior end.
            let f = ((hi - ap[k]) / span).clamp(0.0, 0.999_999);
            let third = (f * 3.0) as u8;
            out[n] = base + side + third + 1;
        }
        ap.clear();
    }
    let frame = Frame {
        superior: superior.into(),
        medial: medial.into(),
        anterior: anterior.into(),
        assumed: assumed.join("; "),
    };
    let out = LabelMap::from_fn(g.clone(), |i, j, k| out[g.index(i, j, k)]);
    (out, frame)
}

/// Least distance (mm) of the fibula's centroid from the tibial region's axis.
pub const FIBULA_OFFSET_MM: f64 = 15.0;

/// The centroid of the largest 3D piece labelled `label` that `accept`s its centroid.
fn largest_piece(
    bones: &[u8],
    label: u8,
    g: &Geometry,
    accept: &dyn Fn(&Point3<f64>) -> bool,
) -> Option<Point3<f64>> {
    let mask: Vec<bool> = bones.iter().map(|b| *b == label).collect();
    if !mask.iter().any(|m| *m) {
        return None;
    }
    let (labels, sizes) = label_components(&mask, g.size);
    let mut sums = vec![(Vector3::zeros(), 0usize); sizes.len()];
    for (n, l) in labels.iter().enumerate() {
        if *l > 0 {
            let w = g.voxel_world(n);
            let s = &mut sums[*l as usize];
            s.0 += w.coords;
            s.1 += 1;
        }
    }
    sums.iter()
        .filter(|(_, c)| *c > 0)
        .map(|(sum, c)| (Point3::from(sum / *c as f64), *c))
        .filter(|(p, _)| accept(p))
        .max_by_key(|(_, c)| *c)
        .map(|(p, _)| p)
}

/// The fibula's centroid when segmentation merged it into the tibia: in axial slices of
/// the tibia label, a second 2D piece of at least 40 mm^2 is the fibula.
fn fibula_in_tibia(bones: &[u8], g: &Geometry) -> Option<Point3<f64>> {
    let [ni, nj, nk] = g.size;
    let min_pixels = (40.0 / (g.spacing_mm.x * g.spacing_mm.y)).ceil() as usize;
    let mut points = Vec::new();
    for k in 0..nk {
        // A one-slice grid: 6-connectivity there is 4-connectivity in the slice.
        let slice: Vec<bool> = bones[k * ni * nj..(k + 1) * ni * nj]
            .iter()
            .map(|b| *b == TIBIA)
            .collect();
        let (labels, sizes) = label_components(&slice, [ni, nj, 1]);
        let mut order: Vec<usize> = (1..sizes.len()).collect();
        order.sort_by_key(|&l| std::cmp::Reverse(sizes[l]));
        if order.len() >= 2 && sizes[order[1]] >= min_pixels {
            let second = order[1] as u32;
            for (n, _) in labels.iter().enumerate().filter(|(_, l)| **l == second) {
                points.push(g.voxel_world(k * ni * nj + n));
            }
        }
    }
    // At least a few slices' worth, so a stray fragment does not decide laterality.
    (points.len() >= 3 * min_pixels)
        .then(|| centroid(&points))
        .flatten()
}

fn default_frame(why: &str) -> Frame {
    Frame {
        superior: [0.0, 0.0, 1.0],
        medial: [1.0, 0.0, 0.0],
        anterior: [0.0, -1.0, 0.0],
        assumed: why.into(),
    }
}

/// The bone (1 femur, 2 tibia) of a subregion label.
pub fn bone_of(label: u8) -> u8 {
    if label <= 6 { FEMUR } else { TIBIA }
}
