//! Acquisitions as clinics make them, on the phantom: the options of `srrd phantom` and
//! `srrd cohort` (grid, slice thickness, coverage, feet first, turned leg, left knee,
//! bilateral field of view, MR protocols), each checked against the reference scan of the
//! same knee; the knee finder on one and two knees; segmentation in millimetres at 0.5
//! and 2 mm grids against the phantom's labels.

use nalgebra::{Point3, Vector3};
use srrd::phantom::acquisition::{Acquisition, MrProtocol, generate_acquired_with};
use srrd::phantom::{CohortCt, Config, Grade, Phantom, Preset, generate};
use srrd::progress::Progress;
use srrd::segmentation::bones::{CT_BONE_HU, FEMUR, TIBIA, dice, segment_bones};
use srrd::segmentation::knees::{Side, find_knees};
use srrd::volume::PointTransform;

const SEED: u64 = 21;

fn config(preset: Preset) -> Config {
    Config {
        seed: SEED,
        grade: Grade::Advanced,
        preset,
    }
}

fn small_with(acq: &Acquisition, with_mr: bool) -> Phantom {
    generate_acquired_with(
        config(Preset::Small),
        CohortCt::default(),
        acq,
        with_mr,
        &Progress::new(),
    )
    .expect("phantom")
}

fn label_at(p: &Phantom, labels: &[u8], world: &Point3<f64>) -> Option<u8> {
    let g = &p.ct.geometry;
    let idx = g.world_to_index(world);
    if !g.contains_index(&idx) {
        return None;
    }
    let [i, j, k] = [idx.x, idx.y, idx.z].map(|v| v.round() as usize);
    Some(labels[g.index(i, j, k)])
}

#[test]
fn the_default_acquisition_is_the_preset_byte_for_byte() {
    let a = generate(config(Preset::Small), &Progress::new()).expect("preset");
    let b = small_with(&Acquisition::default(), true);
    assert_eq!(a.ct.data, b.ct.data);
    assert_eq!(a.mr.data, b.mr.data);
    assert_eq!(a.ct.geometry, b.ct.geometry);
    assert!(b.truth.acquisition.is_none());
}

#[test]
fn grid_thickness_and_coverage_change_the_ct_as_asked() {
    let reference = small_with(&Acquisition::default(), false);
    let acq = Acquisition {
        ct_pixel_mm: Some(1.0),
        ct_slice_mm: Some(3.0),
        ct_thickness_mm: Some(4.5),
        ct_fov_z_mm: Some(60.0),
        ..Default::default()
    };
    let p = small_with(&acq, false);
    let g = &p.ct.geometry;
    assert_eq!(g.spacing_mm, Vector3::new(1.0, 1.0, 3.0));
    let (e, e_ref) = (g.extent_mm(), reference.ct.geometry.extent_mm());
    assert!((e.x - e_ref.x).abs() <= 1.0 && (e.y - e_ref.y).abs() <= 1.0);
    assert!((e.z - 60.0).abs() <= 1.5, "coverage {}", e.z);
    assert!((g.center_mm() - reference.ct.geometry.center_mm()).norm() < 1e-9);
    // The thick slice widens the z PSF by the box of its extra width.
    let psf = p.truth.scanners["ct"].psf_sd_mm;
    let want = (0.45f64.powi(2) + (4.5f64.powi(2) - 9.0) / 12.0).sqrt();
    assert!((psf[2] - want).abs() < 1e-9, "{psf:?}");
    // The same anatomy at the same world points (labels carry no noise).
    let mut agree = (0, 0);
    for k in (0..g.size[2]).step_by(3) {
        for j in (0..g.size[1]).step_by(7) {
            for i in (0..g.size[0]).step_by(7) {
                let w = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                let here = p.ct_labels.at(i, j, k);
                if let Some(there) = label_at(&reference, &reference.ct_labels, &w)
                    && (here == FEMUR || here == TIBIA)
                {
                    agree.0 += (there == here) as usize;
                    agree.1 += 1;
                }
            }
        }
    }
    assert!(
        agree.1 > 100 && agree.0 as f64 > 0.9 * agree.1 as f64,
        "{agree:?}"
    );
    assert_eq!(
        p.truth.acquisition.as_ref().and_then(|a| a.ct_slice_mm),
        Some(3.0)
    );
}

#[test]
fn a_left_knee_is_the_right_knee_mirrored_with_its_truth() {
    let right = small_with(&Acquisition::default(), true);
    let left = small_with(
        &Acquisition {
            left: true,
            ..Default::default()
        },
        true,
    );
    assert_eq!(left.truth.side, "left");
    let m = |p: [f64; 3]| Point3::new(-p[0], p[1], p[2]);
    for (l, r) in left.landmarks_ct.iter().zip(&right.landmarks_ct) {
        assert_eq!(l.label, r.label);
        assert!((Point3::from(l.position_mm) - m(r.position_mm)).norm() < 1e-9);
    }
    // Every voxel of the left CT holds the right CT's value at the mirrored point; labels
    // and subregions too.
    let g = &left.ct.geometry;
    for n in (0..g.num_voxels()).step_by(997) {
        let w = g.voxel_world(n);
        let mirrored = Point3::new(-w.x, w.y, w.z);
        assert_eq!(
            label_at(&right, &right.ct_subregions, &mirrored),
            Some(left.ct_subregions[n])
        );
        assert_eq!(
            label_at(&right, &right.ct_labels, &mirrored),
            Some(left.ct_labels[n])
        );
    }
    // The true CT -> MR transforms are the mirrored ones: T_left(M p) = M T_right(p).
    let p = Point3::new(12.0, -7.0, 20.0);
    let a = left.ct_to_mr_femur.transform_point(&m(p.coords.into()));
    let b = right.ct_to_mr_femur.transform_point(&p);
    assert!((a - m(b.coords.into())).norm() < 1e-9);
    // The MR is mirrored the same way.
    let gm = &left.mr.geometry;
    assert_eq!(gm.direction, right.mr.geometry.direction);
}

#[test]
fn feet_first_turns_the_image_axes_not_the_anatomy() {
    let head = small_with(&Acquisition::default(), false);
    let feet = small_with(
        &Acquisition {
            feet_first: true,
            ..Default::default()
        },
        false,
    );
    let g = &feet.ct.geometry;
    assert_eq!(g.direction[(0, 0)], -1.0);
    assert_eq!(g.direction[(2, 2)], -1.0);
    let [ni, nj, nk] = g.size;
    let mut same = 0usize;
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let a = feet.ct_labels.at(i, j, k);
                let b = head.ct_labels.at(ni - 1 - i, j, nk - 1 - k);
                same += (a == b) as usize;
            }
        }
    }
    assert_eq!(same, g.num_voxels());
}

#[test]
fn a_turned_leg_turns_the_landmarks_about_the_long_axis() {
    let straight = small_with(&Acquisition::default(), false);
    let turned = small_with(
        &Acquisition {
            leg_rotation_deg: 15.0,
            ..Default::default()
        },
        false,
    );
    let v = |p: &Phantom, a: usize, b: usize| {
        Point3::from(p.landmarks_ct[b].position_mm) - Point3::from(p.landmarks_ct[a].position_mm)
    };
    let (a, b) = (0, 1);
    let (s, t) = (v(&straight, a, b), v(&turned, a, b));
    assert!((s.norm() - t.norm()).abs() < 1e-9);
    let angle = |w: Vector3<f64>| w.y.atan2(w.x);
    let d = (angle(t) - angle(s)).to_degrees();
    assert!((d - 15.0).abs() < 1e-6, "turned by {d} degrees");
    assert!((t.z - s.z).abs() < 1e-9);
}

#[test]
fn a_bilateral_ct_holds_both_knees_and_the_finder_cuts_between_them() {
    let alone = small_with(&Acquisition::default(), false);
    let both = small_with(
        &Acquisition {
            bilateral: true,
            ..Default::default()
        },
        false,
    );
    let other = both.other_knee.as_ref().expect("the other knee");
    assert_eq!(other.truth.side, "left");
    let g = &both.ct.geometry;
    let n = alone.ct.geometry.size[0];
    assert!(g.size[0] > 2 * n);
    assert_eq!(g.origin_mm, alone.ct.geometry.origin_mm);
    // The right knee's part is the knee alone, voxel for voxel.
    let [_, nj, nk] = g.size;
    let a = alone.ct.data.as_slice().expect("contiguous");
    let b = both.ct.data.as_slice().expect("contiguous");
    for k in (0..nk).step_by(5) {
        for j in (0..nj).step_by(5) {
            for i in 0..n {
                assert_eq!(b[g.index(i, j, k)], a[alone.ct.geometry.index(i, j, k)]);
            }
        }
    }
    // The other knee's own CT sits where it is in the bilateral one.
    let w = other.ct.geometry.center_mm();
    let idx = g.world_to_index(&w);
    assert!(g.contains_index(&idx) && idx.x > n as f64);
    let layout = find_knees(&both.ct, CT_BONE_HU).expect("knees");
    assert!(layout.is_bilateral(), "{layout:?}");
    let right = layout.knee(Side::Right).expect("right");
    let left = layout.knee(Side::Left).expect("left");
    assert!(right.hi[0] < left.lo[0]);
    // Each box holds all of its knee's femur and tibia.
    for (n_bone, (&label, _)) in both.ct_labels.iter().zip(both.ct.data.iter()).enumerate() {
        if label == FEMUR || label == TIBIA {
            let idx = g.ijk(n_bone);
            let b = if idx[0] < n { right } else { left };
            assert!(
                (0..3).all(|a| (b.lo[a]..=b.hi[a]).contains(&idx[a])),
                "{idx:?}"
            );
        }
    }
    let single = find_knees(&alone.ct, CT_BONE_HU).expect("knee");
    assert!(!single.is_bilateral(), "{single:?}");
}

#[test]
fn mr_protocols_change_the_mr_grid() {
    let base = srrd::phantom::scan_specs(Preset::Small).1;
    for (protocol, slice) in [
        (MrProtocol::Thick2d, 3.0),
        (MrProtocol::Coronal, base.geometry.spacing_mm.z),
        (MrProtocol::Axial, base.geometry.spacing_mm.z),
    ] {
        let acq = Acquisition {
            mr: protocol,
            ..Default::default()
        };
        let spec = acq.mr_spec(&base);
        assert_eq!(spec.geometry.spacing_mm.z, slice, "{protocol:?}");
        assert!((spec.geometry.center_mm() - base.geometry.center_mm()).norm() < 1e-9);
        assert!((spec.geometry.direction.determinant() - 1.0).abs() < 1e-9);
    }
    let axial = Acquisition {
        mr: MrProtocol::Axial,
        ..Default::default()
    };
    assert_eq!(
        axial.mr_spec(&base).geometry.direction,
        nalgebra::Matrix3::identity()
    );
}

/// Femur and tibia from CT intensities at a 0.5 mm grid (Dice >= 0.94) and at 2 mm slices
/// (>= 0.90): every size in segmentation is in millimetres, so both find the bones.
#[test]
fn segmentation_dice_at_half_and_two_millimetre_grids() {
    // 2 mm slices lose more of the tibial plateau to partial volume: a lower bar there.
    for (pixel, slice, fov, bar) in [(0.5, 0.5, Some(70.0), 0.94), (1.0, 2.0, None, 0.9)] {
        let p = small_with(
            &Acquisition {
                ct_pixel_mm: Some(pixel),
                ct_slice_mm: Some(slice),
                ct_fov_z_mm: fov,
                ..Default::default()
            },
            false,
        );
        let labels = segment_bones(&p.ct, CT_BONE_HU).expect("segment");
        let df = dice(&labels, &p.ct_labels, FEMUR);
        let dt = dice(&labels, &p.ct_labels, TIBIA);
        eprintln!("{pixel} x {slice} mm: Dice femur {df:.4} tibia {dt:.4}");
        assert!(df >= bar && dt >= bar, "{pixel}x{slice}: {df} {dt}");
    }
}

/// Coarse TRE (mm) of the tibia and fibula landmarks after `register_knee`.
fn coarse_tre(p: &Phantom, mr: &srrd::volume::Volume) -> f64 {
    let r = srrd::pipeline::registration::register_knee(&p.ct, mr, None, false, &Progress::new())
        .expect("register");
    let t = r.coarse.result.final_transform();
    let mut errors = Vec::new();
    for (c, m) in p.landmarks_ct.iter().zip(&p.landmarks_mr) {
        if c.label.starts_with("tibia") || c.label.starts_with("fibula") {
            let moved = t.transform_point(&Point3::from(c.position_mm));
            errors.push((moved - Point3::from(m.position_mm)).norm());
        }
    }
    errors.iter().sum::<f64>() / errors.len() as f64
}

/// An MR standardized to mean 0 and SD 1 registers as the raw one does, and so does one
/// whose values are all negative; the thick-slice 2D and coronal MR protocols register too.
#[test]
fn registration_takes_any_mr_intensity_range_and_other_protocols() {
    let p = small_with(&Acquisition::default(), true);
    let raw = coarse_tre(&p, &p.mr);
    let values: Vec<f64> = p.mr.data.iter().map(|v| *v as f64).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    let mut standardized = p.mr.clone();
    standardized
        .data
        .mapv_inplace(|v| ((v as f64 - mean) / sd) as f32);
    let mut negative = p.mr.clone();
    let max = p.mr.min_max().expect("range").1;
    negative.data.mapv_inplace(|v| v - max - 100.0);
    let std_tre = coarse_tre(&p, &standardized);
    let neg_tre = coarse_tre(&p, &negative);
    eprintln!("coarse TRE raw {raw:.2}, standardized {std_tre:.2}, all negative {neg_tre:.2} mm");
    assert!(raw < 2.5, "raw {raw}");
    assert!(
        (std_tre - raw).abs() < 0.5,
        "standardized {std_tre} vs raw {raw}"
    );
    assert!(
        (neg_tre - raw).abs() < 0.5,
        "negative {neg_tre} vs raw {raw}"
    );
    for protocol in [MrProtocol::Thick2d, MrProtocol::Coronal] {
        let q = small_with(
            &Acquisition {
                mr: protocol,
                ..Default::default()
            },
            true,
        );
        let tre = coarse_tre(&q, &q.mr);
        eprintln!("{protocol:?}: coarse TRE {tre:.2} mm");
        assert!(tre < 3.0, "{protocol:?}: {tre}");
    }
}
