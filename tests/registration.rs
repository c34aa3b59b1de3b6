//! Rigid registration on phantoms with known answers: a mono-modal pair made by a known
//! transform, and the phantom's MR onto its CT (multi-modal) from 15 degrees and 20 mm
//! off, restricted to the tibia whose true transform is known. Also the CT body mask.

use nalgebra::{Point3, Vector3};
use srrd::phantom::anatomy::Tissue;
use srrd::phantom::{Config, Grade, Phantom, Preset, generate};
use srrd::progress::Progress;
use srrd::registration::rigid::mean_displacement;
use srrd::registration::{EulerRigid, Metric, RigidOptions, register_rigid};
use srrd::segmentation::body::ct_body_mask;
use srrd::volume::components::morph_box;
use srrd::volume::{Interpolation, Mask, RigidTransform, resample};

fn phantom() -> Phantom {
    generate(
        Config {
            seed: 4,
            grade: Grade::Mild,
            preset: Preset::Small,
        },
        &Progress::new(),
    )
    .expect("phantom")
}

fn points(p: &Phantom, prefix: &[&str]) -> Vec<Point3<f64>> {
    p.landmarks_ct
        .iter()
        .filter(|l| prefix.iter().any(|s| l.label.starts_with(s)))
        .map(|l| Point3::from(l.position_mm))
        .collect()
}

#[test]
fn recovers_a_known_rigid_transform_mono_modal() {
    let p = phantom();
    let c = p.ct.geometry.center_mm();
    let truth = RigidTransform::from_euler_zxy(
        [5f64.to_radians(), -4f64.to_radians(), 10f64.to_radians()],
        Vector3::new(8.0, -5.0, 6.0),
        c,
    );
    // moving(truth(x)) = fixed(x): resample the CT through the inverse.
    let moving = resample(
        &p.ct,
        &p.ct.geometry,
        &truth.inverse(),
        Interpolation::Linear,
        -1000.0,
    );
    let options = RigidOptions {
        metric: Metric::Ncc,
        ..Default::default()
    };
    let r =
        register_rigid(&p.ct, &moving, None, None, &options, &Progress::new()).expect("register");
    let tre = mean_displacement(
        &r.transform,
        &truth,
        &points(&p, &["femur", "tibia", "patella", "fibula"]),
    );
    assert!(tre < 0.5, "TRE {tre} mm; levels {:?}", r.levels);
}

#[test]
fn mr_to_ct_mutual_information_converges_from_15_degrees_and_20_mm() {
    let p = phantom();
    let tibia = Mask::new(
        p.ct.geometry.clone(),
        (p.ct_labels.iter())
            .map(|l| *l == Tissue::Tibia as u8 || *l == Tissue::Fibula as u8)
            .collect(),
    )
    .expect("mask");
    let mask = tibia.dilate([3, 3, 3]);
    let truth = &p.ct_to_mr_global;
    let mut start = EulerRigid::from_rigid(truth, p.ct.geometry.center_mm());
    start.add(2, 15f64.to_radians());
    for a in 0..3 {
        start.add(3 + a, 20.0 / 3f64.sqrt());
    }
    let start = start.to_rigid();
    let pts = points(&p, &["tibia", "fibula"]);
    let before = mean_displacement(&start, truth, &pts);
    assert!(before > 15.0, "start is {before} mm off");
    let r = register_rigid(
        &p.ct,
        &p.mr,
        Some(&mask),
        Some(&start),
        &RigidOptions::default(),
        &Progress::new(),
    )
    .expect("register");
    let tre = mean_displacement(&r.transform, truth, &pts);
    assert!(
        tre < 1.0,
        "tibia TRE {tre} mm (from {before}); levels {:?}",
        r.levels
    );
}

#[test]
fn body_mask_drops_the_table_and_clothing() {
    let p = phantom();
    let body = ct_body_mask(&p.ct).expect("body");
    let size = p.ct.geometry.size;
    let tissue_mask: Vec<bool> = p.ct_labels.iter().map(|l| (1..=11).contains(l)).collect();
    // Voxels within one voxel of tissue share its partial volume: judged apart.
    let near_tissue = morph_box(&tissue_mask, size, [1, 1, 1], true);
    let (mut inside, mut tissue, mut table, mut clothing) = (0usize, 0usize, 0usize, 0usize);
    for ((b, l), near) in body.iter().zip(&p.ct_labels).zip(&near_tissue) {
        tissue += tissue_mask_of(*l) as usize;
        inside += (*b && tissue_mask_of(*l)) as usize;
        if *b && !*near {
            table += [Tissue::Table as u8, Tissue::TableCore as u8].contains(l) as usize;
            clothing += (*l == Tissue::Clothing as u8) as usize;
        }
    }
    assert!(
        inside as f64 > 0.98 * tissue as f64,
        "{inside} of {tissue} tissue voxels kept"
    );
    assert_eq!(
        (table, clothing),
        (0, 0),
        "table and clothing voxels kept away from the skin"
    );
}

fn tissue_mask_of(l: u8) -> bool {
    (1..=11).contains(&l)
}

#[test]
fn refined_registration_fixes_the_knee_bend_the_rigid_step_cannot() {
    use srrd::registration::register_refined;
    use srrd::segmentation::bones::{CT_BONE_HU, segment_bones};
    use srrd::volume::PointTransform;
    let p = generate(
        Config {
            seed: 8,
            grade: Grade::Normal,
            preset: Preset::Small,
        },
        &Progress::new(),
    )
    .expect("phantom");
    let body = ct_body_mask(&p.ct).expect("body");
    let mask = body.dilate([2, 2, 2]);
    let coarse = register_rigid(
        &p.ct,
        &p.mr,
        Some(&mask),
        None,
        &RigidOptions::default(),
        &Progress::new(),
    )
    .expect("coarse")
    .transform;
    let cr = resample(&p.mr, &p.ct.geometry, &coarse, Interpolation::Linear, 0.0);
    let bones = segment_bones(&p.ct, CT_BONE_HU).expect("bones");
    let r = register_refined(
        &p.ct,
        &cr,
        &bones,
        &coarse.to_affine(),
        Metric::MattesMi { bins: 32 },
        &Progress::new(),
    )
    .expect("refined");
    assert!(
        r.min_jacobian > 0.0,
        "the blended field folds: {}",
        r.min_jacobian
    );
    let field = srrd::volume::Transform::Field(r.field.clone());
    let tre = |t: &dyn PointTransform, prefix: &str| -> f64 {
        let pairs: Vec<f64> = p
            .landmarks_ct
            .iter()
            .zip(&p.landmarks_mr)
            .filter(|(c, _)| c.label.starts_with(prefix))
            .map(|(c, m)| {
                (t.transform_point(&Point3::from(c.position_mm)) - Point3::from(m.position_mm))
                    .norm()
            })
            .collect();
        pairs.iter().sum::<f64>() / pairs.len() as f64
    };
    let (rigid_f, refined_f) = (tre(&coarse, "femur"), tre(&field, "femur"));
    let (rigid_t, refined_t) = (tre(&coarse, "tibia"), tre(&field, "tibia"));
    eprintln!("femur {rigid_f:.2} -> {refined_f:.2} mm, tibia {rigid_t:.2} -> {refined_t:.2} mm");
    assert!(
        refined_f < 0.6 * rigid_f,
        "femur TRE {rigid_f} -> {refined_f}"
    );
    assert!(
        refined_f < 1.5 && refined_t < 1.5,
        "femur {refined_f}, tibia {refined_t}"
    );
}

#[test]
fn recovers_a_known_affine_transform() {
    use srrd::volume::AffineTransform;
    let p = phantom();
    let c = p.ct.geometry.center_mm();
    let r = nalgebra::Rotation3::from_euler_angles(0.05, -0.04, 0.08).into_inner();
    let scale_shear = nalgebra::Matrix3::new(1.05, 0.03, 0.0, 0.0, 0.97, 0.02, 0.0, 0.0, 1.02);
    let truth = AffineTransform {
        matrix: r * scale_shear,
        translation_mm: Vector3::new(4.0, -3.0, 2.0),
        center_mm: c,
    };
    let moving = resample(
        &p.ct,
        &p.ct.geometry,
        &truth.inverse().expect("invertible"),
        Interpolation::Linear,
        -1000.0,
    );
    let options = RigidOptions {
        metric: Metric::Ncc,
        affine: true,
        ..Default::default()
    };
    let r =
        register_rigid(&p.ct, &moving, None, None, &options, &Progress::new()).expect("register");
    let found = r.affine.expect("affine result");
    use srrd::volume::PointTransform;
    let pts = points(&p, &["femur", "tibia", "patella", "fibula"]);
    let tre = pts
        .iter()
        .map(|x| (found.transform_point(x) - truth.transform_point(x)).norm())
        .sum::<f64>()
        / pts.len() as f64;
    let rigid_tre = pts
        .iter()
        .map(|x| (r.transform.transform_point(x) - truth.transform_point(x)).norm())
        .sum::<f64>()
        / pts.len() as f64;
    eprintln!("affine TRE {tre:.3} mm (rigid stage {rigid_tre:.3} mm)");
    assert!(tre < 0.5, "affine TRE {tre} mm");
    assert!(
        tre < rigid_tre,
        "the affine stage improves on the rigid one"
    );
}

/// A moving mask hides what the fixed image lacks (here a bright object added to the
/// moving image next to the knee): the registration ignores it.
#[test]
fn moving_mask_hides_a_distractor() {
    use srrd::registration::mask_moving;
    let p = phantom();
    let c = p.ct.geometry.center_mm();
    let truth = RigidTransform::from_euler_zxy([0.0, 0.05, -0.1], Vector3::new(-6.0, 4.0, 3.0), c);
    let mut moving = resample(
        &p.ct,
        &p.ct.geometry,
        &truth.inverse(),
        Interpolation::Linear,
        -1000.0,
    );
    let g = moving.geometry.clone();
    let mut mask = vec![true; g.num_voxels()];
    for (n, v) in moving.data.iter_mut().enumerate() {
        if (g.voxel_world(n) - (c + Vector3::new(30.0, -20.0, 0.0))).norm() < 18.0 {
            *v = 3000.0;
            mask[n] = false;
        }
    }
    let masked = mask_moving(&moving, &Mask::new(g, mask).expect("mask"));
    let options = RigidOptions {
        metric: Metric::MeanSquares,
        ..Default::default()
    };
    let r =
        register_rigid(&p.ct, &masked, None, None, &options, &Progress::new()).expect("register");
    let tre = mean_displacement(&r.transform, &truth, &points(&p, &["femur", "tibia"]));
    let unmasked =
        register_rigid(&p.ct, &moving, None, None, &options, &Progress::new()).expect("register");
    let tre_unmasked = mean_displacement(
        &unmasked.transform,
        &truth,
        &points(&p, &["femur", "tibia"]),
    );
    eprintln!("TRE with mask {tre:.3} mm, without {tre_unmasked:.3} mm");
    assert!(tre < 0.5, "TRE with the moving mask {tre} mm");
    assert!(
        tre < tre_unmasked,
        "the mask helps: {tre} vs {tre_unmasked}"
    );
}
