//! The synthetic knee phantom: determinism, geometry, intensities per tissue, labels,
//! landmarks on their anatomy in both scans, the true transforms, and the trabecular truth
//! moving with grade. All on the `small` preset (same physics as `paper`, fewer voxels).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use nalgebra::{Point3, Vector3};
use srrd::io::{read_image, read_landmarks, read_transform};
use srrd::phantom::anatomy::Tissue;
use srrd::phantom::{Config, Grade, Phantom, Preset, cohort_grades, generate};
use srrd::progress::Progress;
use srrd::volume::{Geometry, PointTransform};

fn small(seed: u64, grade: Grade) -> Phantom {
    generate(
        Config {
            seed,
            grade,
            preset: Preset::Small,
        },
        &Progress::new(),
    )
    .expect("phantom")
}

/// One advanced-grade phantom written to disk, shared by the tests that read files.
fn written() -> &'static (tempfile::TempDir, Phantom) {
    static W: OnceLock<(tempfile::TempDir, Phantom)> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = small(11, Grade::Advanced);
        p.write(dir.path(), &Progress::new()).expect("write");
        (dir, p)
    })
}

fn bytes_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

#[test]
fn same_seed_gives_the_same_bytes() {
    let (dir, _) = written();
    let again = tempfile::tempdir().expect("tempdir");
    small(11, Grade::Advanced)
        .write(again.path(), &Progress::new())
        .expect("write");
    let a = bytes_of(dir.path());
    let b = bytes_of(again.path());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert_eq!(a.len(), 13, "files: {:?}", a.keys());
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs between two runs of one seed"
        );
    }
    let other = small(12, Grade::Advanced);
    assert_ne!(
        other.ct.data,
        written().1.ct.data,
        "another seed, another knee"
    );
}

fn index_of(g: &Geometry, p: &[f64; 3]) -> Option<usize> {
    let c = g.world_to_index(&Point3::from(*p));
    let r: Vec<i64> = c.iter().map(|v| v.round() as i64).collect();
    if (0..3).any(|a| r[a] < 0 || r[a] >= g.size[a] as i64) {
        return None;
    }
    Some((r[2] as usize * g.size[1] + r[1] as usize) * g.size[0] + r[0] as usize)
}

#[test]
fn files_read_back_with_the_scanners_geometry() {
    let (dir, p) = written();
    let ct = read_image(&dir.path().join("ct.nii.gz"), None).expect("ct");
    let mr = read_image(&dir.path().join("mr.nii.gz"), None).expect("mr");
    let g = &ct.volume.geometry;
    assert_eq!(g.size, [75, 75, 45]);
    assert!((g.spacing_mm - Vector3::new(1.954, 1.954, 2.0)).abs().max() < 1e-5);
    assert!((g.direction - nalgebra::Matrix3::identity()).abs().max() < 1e-6);
    let m = &mr.volume.geometry;
    assert_eq!(m.size, [192, 192, 48]);
    // Sagittal: i -> posterior (+y), j -> inferior (-z), k -> right (-x), in LPS.
    assert!((m.direction.column(0) - Vector3::y()).norm() < 1e-6);
    assert!((m.direction.column(1) + Vector3::z()).norm() < 1e-6);
    assert!((m.direction.column(2) + Vector3::x()).norm() < 1e-6);
    assert!((m.origin_mm - p.mr.geometry.origin_mm).norm() < 1e-3);
    // Written as int16, the values round-trip to the nearest integer.
    let n = p.ct.data.len();
    let worst = ct
        .volume
        .data
        .iter()
        .zip(p.ct.data.iter())
        .map(|(a, b)| (a - b.round()).abs())
        .fold(0.0f32, f32::max);
    assert_eq!(ct.volume.data.len(), n);
    assert!(worst < 1e-3, "CT round trip off by {worst}");
    let labels = read_image(&dir.path().join("mr_labels.nii.gz"), None).expect("labels");
    assert!(
        labels
            .volume
            .data
            .iter()
            .zip(&p.mr_labels)
            .all(|(a, b)| *a == *b as f32)
    );
}

fn median_by_label(values: &[f32], labels: &[u8], label: Tissue) -> f32 {
    let mut v: Vec<f32> = values
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l == label as u8)
        .map(|(v, _)| *v)
        .collect();
    assert!(v.len() > 20, "{label:?}: only {} voxels", v.len());
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[test]
fn intensities_follow_the_tissues() {
    let p = &written().1;
    let ct = |t| median_by_label(p.ct.data.as_slice().expect("std"), &p.ct_labels, t);
    assert!(ct(Tissue::Air) < -900.0);
    assert!(
        (-150.0..-40.0).contains(&ct(Tissue::Fat)),
        "fat {}",
        ct(Tissue::Fat)
    );
    assert!(
        (10.0..90.0).contains(&ct(Tissue::Muscle)),
        "muscle {}",
        ct(Tissue::Muscle)
    );
    for bone in [Tissue::Femur, Tissue::Tibia] {
        let v = ct(bone);
        assert!((150.0..900.0).contains(&v), "{bone:?} median {v} HU");
    }
    assert!(
        ct(Tissue::TableCore) < -600.0,
        "the table is there, foam core"
    );
    let max = p.ct.data.iter().cloned().fold(f32::MIN, f32::max);
    assert!((1100.0..1700.0).contains(&max), "max HU {max}");
    let mr = |t| median_by_label(p.mr.data.as_slice().expect("std"), &p.mr_labels, t);
    // Balanced FFE: fluid and fat bright, marrow bright but darkened by trabeculae,
    // cartilage intermediate, muscle darker, cortex/tendon dark.
    assert!(mr(Tissue::Fat) > mr(Tissue::Muscle) + 300.0);
    assert!(mr(Tissue::Fluid) > mr(Tissue::Cartilage));
    assert!(mr(Tissue::Cartilage) > mr(Tissue::Muscle));
    assert!(mr(Tissue::Femur) > mr(Tissue::Muscle), "marrow is bright");
    assert!(
        mr(Tissue::Femur) < mr(Tissue::Fat),
        "trabeculae darken the marrow"
    );
    assert!(mr(Tissue::Tendon) < mr(Tissue::Muscle));
    assert!(mr(Tissue::Air) < 80.0, "Rician noise floor");
    assert!(
        !p.mr_labels.contains(&(Tissue::Table as u8)),
        "no table on the MR"
    );
    // Subregions lie inside their bones.
    for (sub, lab) in p.ct_subregions.iter().zip(&p.ct_labels) {
        if *sub > 0 {
            let bone = if *sub <= 6 {
                Tissue::Femur
            } else {
                Tissue::Tibia
            };
            assert_eq!(*lab, bone as u8);
        }
    }
    for s in 1..=12u8 {
        assert!(p.mr_subregions.contains(&s), "subregion {s} missing on MR");
    }
}

fn bone_of(label: &str) -> Tissue {
    match label.split('_').next() {
        Some("femur") => Tissue::Femur,
        Some("tibia") => Tissue::Tibia,
        Some("patella") => Tissue::Patella,
        Some("fibula") => Tissue::Fibula,
        _ => panic!("unexpected landmark {label}"),
    }
}

#[test]
fn landmarks_land_on_their_bone_in_both_scans() {
    let (dir, p) = written();
    let ct_l = read_landmarks(&dir.path().join("landmarks_ct.json")).expect("ct landmarks");
    let mr_l = read_landmarks(&dir.path().join("landmarks_mr.mrk.json")).expect("slicer file");
    assert!(ct_l.len() >= 20);
    assert_eq!(ct_l.len(), mr_l.len());
    for (c, m) in ct_l.iter().zip(&mr_l) {
        assert_eq!(c.label, m.label);
        let want = bone_of(&c.label) as u8;
        let ic = index_of(&p.ct.geometry, &c.position_mm)
            .unwrap_or_else(|| panic!("{} outside the CT", c.label));
        let im = index_of(&p.mr.geometry, &m.position_mm)
            .unwrap_or_else(|| panic!("{} outside the MR", m.label));
        assert_eq!(
            p.ct_labels[ic], want,
            "{} on CT at {:?}",
            c.label, c.position_mm
        );
        assert_eq!(p.mr_labels[im], want, "{} on MR", m.label);
        assert!(
            p.ct.data.as_slice().expect("std")[ic] > 100.0,
            "{}: bone on CT",
            c.label
        );
    }
    // Distinct points, spread over the knee.
    for (a, la) in ct_l.iter().enumerate() {
        for lb in &ct_l[a + 1..] {
            let d = (Point3::from(la.position_mm) - Point3::from(lb.position_mm)).norm();
            assert!(d > 3.0, "{} and {} are {d:.1} mm apart", la.label, lb.label);
        }
    }
}

#[test]
fn true_transforms_map_ct_landmarks_onto_mr_landmarks() {
    let (dir, p) = written();
    let global = read_transform(&dir.path().join("ct_to_mr_global.tfm")).expect("tfm");
    let femur = read_transform(&dir.path().join("ct_to_mr_femur.tfm")).expect("tfm");
    let mut femoral_error_with_global = 0.0f64;
    for (c, m) in p.landmarks_ct.iter().zip(&p.landmarks_mr) {
        let femoral = matches!(bone_of(&c.label), Tissue::Femur | Tissue::Patella);
        let t: &dyn PointTransform = if femoral { &femur } else { &global };
        let mapped = t.transform_point(&Point3::from(c.position_mm));
        let err = (mapped - Point3::from(m.position_mm)).norm();
        // The files store 17 significant digits: far below a voxel.
        assert!(err < 1e-6, "{}: {err} mm", c.label);
        if femoral {
            let e = (global.transform_point(&Point3::from(c.position_mm))
                - Point3::from(m.position_mm))
            .norm();
            femoral_error_with_global = femoral_error_with_global.max(e);
        }
    }
    // The extra flexion moves the femur: the global transform alone misses it.
    let extra = p.truth.flexion_deg.femur_extra;
    assert!((3.0..=19.0).contains(&extra), "extra flexion {extra} deg");
    assert!(
        femoral_error_with_global > 2.0,
        "{femoral_error_with_global} mm"
    );
    // The femur transform's rotation differs from the global one by exactly the extra
    // flexion, about the flexion axis.
    let rg = p.ct_to_mr_global.rotation;
    let rf = p.ct_to_mr_femur.rotation;
    let rel = rg.inverse() * rf;
    assert!((rel.angle().to_degrees() - extra).abs() < 1e-6);
    let axis = Vector3::from(p.truth.transforms.flexion_axis_ct[1]);
    let rel_axis = rel.axis().expect("a rotation").into_inner();
    assert!(rel_axis.dot(&axis).abs() > 1.0 - 1e-9);
}

#[test]
fn trabecular_truth_moves_with_grade_as_in_osteoarthritis() {
    let normal = small(21, Grade::Normal);
    let advanced = small(21, Grade::Advanced);
    assert_eq!(normal.truth.kl_grade, 0);
    assert!(advanced.truth.kl_grade >= 3);
    let mean = |p: &Phantom, side: &str, f: fn(&srrd::phantom::truth::SubregionTruth) -> f64| {
        let v: Vec<f64> = p
            .truth
            .trabecular
            .subregions
            .iter()
            .filter(|s| s.subregion.starts_with(side))
            .map(f)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let bv = |p: &Phantom, s| mean(p, s, |t| t.bv_tv);
    let th = |p: &Phantom, s| mean(p, s, |t| t.tb_th_mm);
    let sp = |p: &Phantom, s| mean(p, s, |t| t.tb_sp_mm);
    // Subchondral sclerosis: more and thicker bone, smaller spaces, mostly medial.
    assert!(
        bv(&advanced, "medial") > bv(&normal, "medial") * 1.15,
        "BV/TV {} vs {}",
        bv(&advanced, "medial"),
        bv(&normal, "medial")
    );
    assert!(th(&advanced, "medial") > th(&normal, "medial") * 1.05);
    assert!(sp(&advanced, "medial") < sp(&normal, "medial"));
    let gain_medial = bv(&advanced, "medial") / bv(&normal, "medial");
    let gain_lateral = bv(&advanced, "lateral") / bv(&normal, "lateral");
    assert!(
        gain_medial > gain_lateral,
        "medial {gain_medial} lateral {gain_lateral}"
    );
    // Values in the range of human subchondral trabecular bone.
    for s in &normal.truth.trabecular.subregions {
        assert!((0.12..0.45).contains(&s.bv_tv), "{s:?}");
        assert!((0.08..0.35).contains(&s.tb_th_mm), "{s:?}");
        assert!((0.3..1.2).contains(&s.tb_sp_mm), "{s:?}");
    }
}

#[test]
fn cohort_follows_the_paper_mix() {
    let g = cohort_grades(80, 3);
    let count = |x| g.iter().filter(|v| **v == x).count();
    assert_eq!(
        (
            count(Grade::Normal),
            count(Grade::Mild),
            count(Grade::Advanced)
        ),
        (30, 25, 25)
    );
    assert_ne!(g, cohort_grades(80, 4), "shuffled by seed");
    let g8 = cohort_grades(8, 3);
    assert_eq!(g8.iter().filter(|v| **v == Grade::Normal).count(), 3);
}

/// Mean squared difference of neighbouring voxels along i: falls as the image blurs.
fn roughness(values: &[f32], ni: usize) -> f64 {
    let d: Vec<f64> = values
        .chunks(ni)
        .flat_map(|row| row.windows(2).map(|w| f64::from(w[1] - w[0]).powi(2)))
        .collect();
    d.iter().sum::<f64>() / d.len() as f64
}

#[test]
fn a_cohort_can_blur_its_ct_more_than_the_preset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let progress = Progress::new();
    srrd::phantom::write_cohort(
        dir.path(),
        1,
        11,
        Preset::Small,
        srrd::phantom::CohortCt {
            psf_sd_mm: Some(1.5),
            ..Default::default()
        },
        &Default::default(),
        &progress,
        |_, _| {},
    )
    .expect("cohort");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).expect("read"))
            .expect("json");
    assert_eq!(manifest["ct_psf_sd_mm"], serde_json::json!([1.5, 1.5, 1.5]));
    // Written again with the same settings, the knee is taken as it is; with another
    // CT blur it is drawn again.
    let ct_path = dir.path().join("sub-000").join("ct.nii.gz");
    let before = std::fs::metadata(&ct_path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let rewrite = |psf: f64| {
        let mut reused = Vec::new();
        srrd::phantom::write_cohort(
            dir.path(),
            1,
            11,
            Preset::Small,
            srrd::phantom::CohortCt {
                psf_sd_mm: Some(psf),
                ..Default::default()
            },
            &Default::default(),
            &progress,
            |e, r| reused.push((e.kl_grade, r)),
        )
        .expect("cohort again");
        reused
    };
    let first_kl = manifest["subjects"][0]["kl_grade"].as_u64().expect("kl");
    assert_eq!(rewrite(1.5), vec![(first_kl as u8, true)]);
    let after = std::fs::metadata(&ct_path)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(before, after, "the CT was not written again");
    assert_eq!(rewrite(1.2), vec![(first_kl as u8, false)]);
    // Put back as the rest of the test expects it.
    assert_eq!(rewrite(1.5), vec![(first_kl as u8, false)]);
    assert_eq!(manifest["ct_marrow_hu_sd"], serde_json::json!(0.0));
    // What the manifest recorded is what later stages (the ideal sCT) scan with.
    let read = srrd::phantom::CohortCt::read(dir.path(), Preset::Small).expect("read back");
    assert_eq!(read.psf_sd_mm, Some(1.5));
    assert_eq!(read.spec(Preset::Small).psf_sd_mm, [1.5; 3]);
    let entry = &manifest["subjects"][0];
    let grade = Grade::parse(entry["grade"].as_str().expect("grade")).expect("grade name");
    let seed = entry["seed"].as_u64().expect("seed");
    let blurred = read_image(&dir.path().join("sub-000").join("ct.nii.gz"), None)
        .expect("ct")
        .volume;
    // The same subject on the preset's CT: same anatomy, sharper image.
    let sharp = small(seed, grade);
    assert_eq!(blurred.geometry.size, sharp.ct.geometry.size);
    let ni = sharp.ct.geometry.size[0];
    let blurred = blurred.data.as_slice().expect("contiguous");
    let sharp = sharp.ct.data.as_slice().expect("contiguous");
    let (r_blur, r_sharp) = (roughness(blurred, ni), roughness(sharp, ni));
    assert!(r_blur < 0.6 * r_sharp, "roughness {r_blur} vs {r_sharp}");
    // Blurring keeps the mean signal.
    let mean = |v: &[f32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
    assert!(
        (mean(blurred) - mean(sharp)).abs() < 5.0,
        "{} vs {}",
        mean(blurred),
        mean(sharp)
    );
}

#[test]
fn ct_marrow_and_tissue_composition_vary_as_the_subject_drew_them() {
    use srrd::phantom::scanner::{ScanSpec, render};
    use srrd::phantom::{Subject, scan_specs};
    let subject = Subject::draw(Config {
        seed: 11,
        grade: Grade::Mild,
        preset: Preset::Small,
    });
    let knee = subject.knee_ct();
    // No noise, no PSF: each voxel is its own footprint, so the values can be checked.
    let base = ScanSpec {
        noise_sd: 0.0,
        psf_sd_mm: [0.0; 3],
        ..scan_specs(Preset::Small).0
    };
    let ct = |marrow_hu_sd: f32, bone_hu_sd: f32| {
        let spec = ScanSpec {
            marrow_hu_sd,
            bone_hu_sd,
            ..base.clone()
        };
        let scan = render(
            &spec,
            &knee,
            &subject.structure,
            &subject.model,
            &subject.tissue,
            1,
            &Progress::new(),
        )
        .expect("render");
        scan.values
    };
    let (fixed, marrow, tissue) = (ct(0.0, 0.0), ct(60.0, 0.0), ct(0.0, 90.0));
    let g = &base.geometry;
    let [ni, nj, nk] = g.size;
    let half_diag = 0.5 * g.spacing_mm.iter().map(|s| s * s).sum::<f64>().sqrt();
    let (mut checked, mut outside) = (0, 0);
    let mut units = Vec::new();
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let p = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
                let s = knee.sample(&p);
                if s.margin_mm <= 1.25 * half_diag {
                    continue;
                }
                let o = g.index(i, j, k);
                let Some(int) = &s.interior else {
                    // Outside the marrow cavities nothing changes.
                    assert_eq!(marrow[o], fixed[o]);
                    assert_eq!(tissue[o], fixed[o]);
                    outside += 1;
                    continue;
                };
                // v = marrow + (tissue - marrow) * coverage, at -20 and 1150 HU when fixed.
                let cov = (fixed[o] + 20.0) / 1170.0;
                let unit = subject.tissue.marrow_unit(int.bone, &int.p_bone);
                let want_marrow = fixed[o] + 60.0 * unit * (1.0 - cov);
                let want_tissue = fixed[o] + 90.0 * subject.tissue.bone_unit() * cov;
                assert!(
                    (marrow[o] - want_marrow).abs() < 0.05,
                    "{} vs {want_marrow}",
                    marrow[o]
                );
                assert!(
                    (tissue[o] - want_tissue).abs() < 0.05,
                    "{} vs {want_tissue}",
                    tissue[o]
                );
                units.push(f64::from(unit));
                checked += 1;
            }
        }
    }
    assert!(checked > 200 && outside > 1000, "{checked} / {outside}");
    // The marrow varies within the knee, not only between knees.
    let mean = units.iter().sum::<f64>() / units.len() as f64;
    let sd = (units.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / units.len() as f64).sqrt();
    assert!(sd > 0.1, "within-knee SD of the marrow field {sd}");
    // And the draw differs between subjects.
    let other = Subject::draw(Config {
        seed: 12,
        grade: Grade::Mild,
        preset: Preset::Small,
    });
    assert_ne!(other.tissue.bone_unit(), subject.tissue.bone_unit());
}
