//! Quality checks on a knee's analysis: each pass, warn or fail with a one-line reason.
//! A failed check withholds the KOA score (a wrong number is worse than none). The
//! checks compare the CT with what the models were trained on and look for the signs of a
//! result that cannot be trusted: a CT not in Hounsfield units, an acquisition outside
//! the trained range, bones missing or implausible, no joint space, empty subregions, a
//! knee frame that was assumed, a registration that folded.

use serde::Serialize;

use srrd_base::volume::{LabelMap, Volume};
use srrd_regression::trained_range::TrainedRange;

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check: what was checked, its outcome and why, in one line.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub reason: String,
}

impl Check {
    pub fn new(name: &str, status: Status, reason: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status,
            reason: reason.into(),
        }
    }
}

/// The first failed check's reason, when any failed (the score is withheld for it).
pub fn withheld_because(checks: &[Check]) -> Option<String> {
    checks
        .iter()
        .find(|c| c.status == Status::Fail)
        .map(|c| format!("{}: {}", c.name, c.reason))
}

/// The CT's spacing against the trained range: in-plane is the two finer axes' largest,
/// the slice the coarsest axis (whatever the orientation).
pub fn spacing_check(spacing_mm: [f64; 3], range: &TrainedRange) -> Check {
    let mut s = spacing_mm;
    s.sort_by(f64::total_cmp);
    let (pixel, slice) = (s[1], s[2]);
    let within = |v: f64, r: [f64; 2]| v >= r[0] * 0.98 && v <= r[1] * 1.02;
    let range_text = format!(
        "pixels {:.2}-{:.2} mm, slices {:.1}-{:.1} mm ({})",
        range.pixel_mm[0], range.pixel_mm[1], range.slice_mm[0], range.slice_mm[1], range.source
    );
    let analysed = format!(
        "analysed on {:.2} x {:.2} x {:.2} mm",
        range.spacing_mm[0], range.spacing_mm[1], range.spacing_mm[2]
    );
    if pixel > range.pixel_mm[1] * 1.02 || slice > range.slice_mm[1] * 1.02 {
        Check::new(
            "acquisition",
            Status::Fail,
            format!(
                "{pixel:.2} mm pixels, {slice:.2} mm slices: coarser than the validated range \
                 ({range_text}); rescan or reconstruct thinner"
            ),
        )
    } else if within(pixel, range.pixel_mm) && within(slice, range.slice_mm) {
        Check::new(
            "acquisition",
            Status::Pass,
            format!("{pixel:.2} mm pixels, {slice:.2} mm slices, within {range_text}; {analysed}"),
        )
    } else {
        Check::new(
            "acquisition",
            Status::Warn,
            format!(
                "{pixel:.2} mm pixels, {slice:.2} mm slices: finer than the validated range \
                 ({range_text}); {analysed}"
            ),
        )
    }
}

/// Mode of the values in `[lo, hi)` (2 HU bins), when at least `min_count` fall there.
fn mode_in(values: &[f32], lo: f32, hi: f32, min_count: usize) -> Option<f32> {
    let bins = ((hi - lo) / 2.0).ceil() as usize;
    let mut h = vec![0usize; bins];
    let mut n = 0;
    for v in values {
        if *v >= lo && *v < hi {
            h[(((*v - lo) / 2.0) as usize).min(bins - 1)] += 1;
            n += 1;
        }
    }
    if n < min_count {
        return None;
    }
    // Smooth over 5 bins so noise does not pick a spike.
    let smooth: Vec<usize> = (0..bins)
        .map(|b| h[b.saturating_sub(2)..(b + 3).min(bins)].iter().sum())
        .collect();
    let best = (0..bins).max_by_key(|&b| smooth[b])?;
    Some(lo + (best as f32 + 0.5) * 2.0)
}

/// The CT's calibration from the tissues a knee CT holds: air around the leg near -1000
/// HU, a fat peak near -100 HU and a muscle peak near +40 HU; the trabecular region's
/// median between marrow and bone (`region_hu`: the region voxels' HU).
pub fn calibration_check(ct: &Volume, region_hu: &[f32]) -> Check {
    let step = (ct.data.len() / 400_000).max(1);
    let sample: Vec<f32> = ct
        .data
        .iter()
        .step_by(step)
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let min_count = sample.len() / 500;
    let air = mode_in(&sample, -1100.0, -850.0, min_count);
    let fat = mode_in(&sample, -180.0, -40.0, min_count);
    let muscle = mode_in(&sample, -10.0, 100.0, min_count);
    let mut region = region_hu.to_vec();
    region.sort_by(f32::total_cmp);
    let marrow = region.get(region.len() / 2).copied();
    let show = |v: Option<f32>| v.map_or("none".to_string(), |v| format!("{v:.0}"));
    let found = format!(
        "air {} HU, fat {}, muscle {}, trabecular region median {}",
        show(air),
        show(fat),
        show(muscle),
        show(marrow)
    );
    let air_ok = air.is_some_and(|a| (-1050.0..=-950.0).contains(&a));
    let fat_ok = fat.is_some_and(|f| (-150.0..=-50.0).contains(&f));
    let muscle_ok = muscle.is_some_and(|m| (0.0..=90.0).contains(&m));
    let marrow_ok = marrow.is_some_and(|m| (0.0..=900.0).contains(&m));
    if air.is_none() {
        Check::new(
            "calibration",
            Status::Fail,
            format!("no air near -1000 HU around the leg ({found}): not a CT in HU?"),
        )
    } else if air_ok && fat_ok && muscle_ok && marrow_ok {
        Check::new("calibration", Status::Pass, found)
    } else {
        Check::new(
            "calibration",
            Status::Warn,
            format!("{found}: expected air -1000, fat about -100, muscle about 40 HU"),
        )
    }
}

/// Plausible volume of each bone's part in a knee CT (cm^3): a femur or tibia cut by the
/// field of view still has tens of cm^3; a whole bone has a few hundred.
pub const BONE_CM3: [f64; 2] = [20.0, 1500.0];

/// Both bones found with plausible volumes.
pub fn bones_check(femur_cm3: f64, tibia_cm3: f64) -> Check {
    let ok = |v: f64| (BONE_CM3[0]..=BONE_CM3[1]).contains(&v);
    let found = format!("femur {femur_cm3:.0} cm3, tibia {tibia_cm3:.0} cm3");
    if ok(femur_cm3) && ok(tibia_cm3) {
        Check::new("bones", Status::Pass, found)
    } else {
        Check::new(
            "bones",
            Status::Fail,
            format!(
                "{found}: each should be {:.0}-{:.0} cm3 in a knee CT (is the knee in the \
                 field of view?)",
                BONE_CM3[0], BONE_CM3[1]
            ),
        )
    }
}

/// The joint space: femur and tibia separate, or split by erosion at `depth` mm.
pub fn joint_check(split_depth_mm: Option<f64>) -> Check {
    match split_depth_mm {
        None => Check::new(
            "joint space",
            Status::Pass,
            "femur and tibia separate at 250 HU",
        ),
        Some(d) if d <= 6.0 => Check::new(
            "joint space",
            Status::Pass,
            format!("femur and tibia touch; split at the joint by a {d:.0} mm erosion"),
        ),
        Some(d) => Check::new(
            "joint space",
            Status::Warn,
            format!("femur and tibia split only by a {d:.0} mm erosion: check the bone labels"),
        ),
    }
}

/// Region volume and patch count per subregion: `(name, region cm^3, patches)`.
pub fn subregion_check(rows: &[(String, f64, usize)]) -> Check {
    let empty: Vec<&str> = rows
        .iter()
        .filter(|r| r.2 == 0)
        .map(|r| r.0.as_str())
        .collect();
    let few: Vec<&str> = rows
        .iter()
        .filter(|r| (1..3).contains(&r.2))
        .map(|r| r.0.as_str())
        .collect();
    let min = rows.iter().map(|r| r.2).min().unwrap_or(0);
    let vol_min = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    if rows.len() < 12 || !empty.is_empty() {
        Check::new(
            "subregions",
            Status::Fail,
            format!(
                "no patch in {} (of 12): their features cannot be computed",
                if empty.is_empty() {
                    "some subregions".to_string()
                } else {
                    empty.join(", ")
                }
            ),
        )
    } else if !few.is_empty() {
        Check::new(
            "subregions",
            Status::Warn,
            format!("fewer than 3 patches in {}", few.join(", ")),
        )
    } else {
        Check::new(
            "subregions",
            Status::Pass,
            format!("12 subregions, at least {min} patches and {vol_min:.1} cm3 each"),
        )
    }
}

/// The knee frame from the anatomy (fibula and patella found) or assumed.
pub fn frame_check(assumed: &str, side_from_anatomy: bool) -> Check {
    if assumed.is_empty() && side_from_anatomy {
        Check::new(
            "knee frame",
            Status::Pass,
            "medial-lateral from the fibula, anterior from the patella",
        )
    } else {
        Check::new(
            "knee frame",
            Status::Warn,
            format!("assumed, not from the anatomy: {assumed}"),
        )
    }
}

/// The registration of the MR: the refined field's smallest Jacobian (folding fails),
/// and how well CT bone edges meet MR edges (`edge_alignment`: the mean normalized MR
/// gradient magnitude on the CT bone surface over its mean in the knee; 1 is no better
/// than chance).
pub fn registration_check(min_jacobian: f64, final_cost: f64, edge_alignment: f64) -> Check {
    let found = format!(
        "final MI cost {final_cost:.3}, smallest Jacobian {min_jacobian:.2}, MR edge strength on \
         CT bone surfaces {edge_alignment:.2}x the knee's mean"
    );
    if min_jacobian <= 0.0 {
        Check::new(
            "registration",
            Status::Fail,
            format!("{found}: the refined field folds"),
        )
    } else if edge_alignment < 1.2 {
        Check::new(
            "registration",
            Status::Warn,
            format!("{found}: CT bone edges do not meet MR edges"),
        )
    } else {
        Check::new("registration", Status::Pass, found)
    }
}

/// How strongly the MR (on the CT grid) has edges where the CT has bone surfaces: the mean
/// MR gradient magnitude on femur and tibia surface voxels over its mean in the body
/// (CT above -200 HU). Near 1 when the MR's edges are elsewhere (misregistered).
pub fn edge_alignment(mr_on_ct: &Volume, bones: &LabelMap, ct: &Volume) -> f64 {
    let g = &ct.geometry;
    let [ni, nj, nk] = g.size;
    let (Some(m), Some(c)) = (mr_on_ct.data.as_slice(), ct.data.as_slice()) else {
        return 0.0;
    };
    let bones = bones.labels();
    if m.len() != bones.len() || c.len() != bones.len() {
        return 0.0;
    }
    let s = g.spacing_mm;
    let (mut surf, mut n_surf, mut body, mut n_body) = (0.0f64, 0usize, 0.0f64, 0usize);
    for k in 1..nk.saturating_sub(1) {
        for j in 1..nj.saturating_sub(1) {
            for i in 1..ni.saturating_sub(1) {
                let n = g.index(i, j, k);
                if c[n] <= -200.0 || !m[n].is_finite() {
                    continue;
                }
                let d = |a: usize, b: usize, h: f64| (m[a] as f64 - m[b] as f64) / (2.0 * h);
                let (gx, gy, gz) = (
                    d(n + 1, n - 1, s.x),
                    d(n + ni, n - ni, s.y),
                    d(n + ni * nj, n - ni * nj, s.z),
                );
                let mag = (gx * gx + gy * gy + gz * gz).sqrt();
                if !mag.is_finite() {
                    continue;
                }
                body += mag;
                n_body += 1;
                let b = bones[n];
                if b == srrd_segmentation::bones::FEMUR || b == srrd_segmentation::bones::TIBIA {
                    let on_surface = [n - 1, n + 1, n - ni, n + ni, n - ni * nj, n + ni * nj]
                        .iter()
                        .any(|&q| bones[q] != b);
                    if on_surface {
                        surf += mag;
                        n_surf += 1;
                    }
                }
            }
        }
    }
    if n_surf == 0 || n_body == 0 || body <= 0.0 {
        return 0.0;
    }
    (surf / n_surf as f64) / (body / n_body as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_seen_spans_the_training_knees_whatever_their_axis_order() {
        // A sagittal-sliced knee (slices along x) and two axial ones.
        let r = TrainedRange::seen(
            [0.977, 0.977, 1.0],
            &[[3.0, 0.4, 0.4], [0.6, 0.6, 0.625], [0.32, 0.32, 1.25]],
        );
        assert_eq!(r.pixel_mm, [0.32, 0.6]);
        assert_eq!(r.slice_mm, [0.625, 3.0]);
        assert!(r.source.contains("3 knees"), "{}", r.source);
        assert_eq!(spacing_check([0.5, 0.5, 2.5], &r).status, Status::Pass);
        assert_eq!(spacing_check([0.5, 0.5, 4.0], &r).status, Status::Fail);
        // Nothing recorded: the training grid alone.
        assert_eq!(
            TrainedRange::seen([0.977, 0.977, 1.0], &[]).slice_mm,
            [1.0, 1.0]
        );
    }

    fn range() -> TrainedRange {
        TrainedRange {
            spacing_mm: [0.977, 0.977, 1.0],
            pixel_mm: [0.3, 1.0],
            slice_mm: [0.5, 3.0],
            source: "test".into(),
        }
    }

    #[test]
    fn spacing_fails_beyond_the_range_and_passes_within() {
        assert_eq!(
            spacing_check([0.5, 0.5, 1.0], &range()).status,
            Status::Pass
        );
        assert_eq!(
            spacing_check([0.7, 0.7, 3.0], &range()).status,
            Status::Pass
        );
        let f = spacing_check([0.7, 0.7, 4.0], &range());
        assert_eq!(f.status, Status::Fail);
        assert!(f.reason.contains("0.5-3.0"), "{}", f.reason);
        assert_eq!(
            spacing_check([1.5, 1.5, 1.0], &range()).status,
            Status::Fail
        );
        assert_eq!(
            spacing_check([0.2, 0.2, 0.5], &range()).status,
            Status::Warn
        );
        // Orientation does not matter: a sagittal CT's slice axis is the first.
        assert_eq!(
            spacing_check([4.0, 0.7, 0.7], &range()).status,
            Status::Fail
        );
    }

    #[test]
    fn bones_joint_subregions_and_frame() {
        assert_eq!(bones_check(150.0, 120.0).status, Status::Pass);
        assert_eq!(bones_check(150.0, 3.0).status, Status::Fail);
        assert_eq!(joint_check(None).status, Status::Pass);
        assert_eq!(joint_check(Some(10.0)).status, Status::Warn);
        let mut rows: Vec<(String, f64, usize)> =
            (0..12).map(|n| (format!("s{n}"), 2.0, 10)).collect();
        assert_eq!(subregion_check(&rows).status, Status::Pass);
        rows[3].2 = 1;
        assert_eq!(subregion_check(&rows).status, Status::Warn);
        rows[5].2 = 0;
        let c = subregion_check(&rows);
        assert_eq!(c.status, Status::Fail);
        assert!(c.reason.contains("s5"));
        assert_eq!(frame_check("", true).status, Status::Pass);
        assert_eq!(frame_check("no fibula", false).status, Status::Warn);
        assert_eq!(registration_check(-0.1, -0.5, 2.0).status, Status::Fail);
        assert_eq!(registration_check(0.5, -0.5, 1.0).status, Status::Warn);
        assert_eq!(registration_check(0.5, -0.5, 2.0).status, Status::Pass);
        let checks = vec![
            Check::new("a", Status::Pass, "ok"),
            Check::new("b", Status::Fail, "why"),
        ];
        assert_eq!(withheld_because(&checks).as_deref(), Some("b: why"));
    }

    #[test]
    fn calibration_finds_air_fat_and_muscle_and_fails_without_air() {
        use srrd_base::volume::Geometry;
        let g = Geometry::new([40, 40, 10], [1.0; 3], [0.0; 3]);
        let ct = Volume::from_fn(g.clone(), |i, _, _| match i {
            0..=9 => -1000.0 + (i as f32 - 5.0),
            10..=19 => -100.0 + (i as f32 - 15.0),
            20..=29 => 40.0,
            _ => 700.0,
        });
        let c = calibration_check(&ct, &[300.0; 10]);
        assert_eq!(c.status, Status::Pass, "{}", c.reason);
        let shifted = Volume::from_fn(g, |i, _, _| match i {
            0..=9 => 24.0,
            10..=19 => 924.0,
            20..=29 => 1064.0,
            _ => 1724.0,
        });
        let c = calibration_check(&shifted, &[1300.0; 10]);
        assert_eq!(c.status, Status::Fail, "{}", c.reason);
    }
}
