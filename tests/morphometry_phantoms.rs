//! Morphometry against analytic phantoms with exact answers: parallel plates of every
//! orientation with anisotropic voxels, a rod lattice, a sphere; the paper's 2D method on
//! plates; and the refusals.

use srrd::morphometry::{Method, parameters, parameters_in};
use srrd::volume::voxel_index;

/// Plates of `t` bone voxels and `g` marrow voxels along `axis`, 5 periods; the count mask
/// is the middle 3 periods (the outer ones are context, so no plate is cut by a face).
fn plates(t: usize, g: usize, axis: usize) -> (Vec<bool>, Vec<bool>, [usize; 3]) {
    plates_sized(t, g, axis, [9, 8, 7])
}

fn plates_sized(
    t: usize,
    g: usize,
    axis: usize,
    mut size: [usize; 3],
) -> (Vec<bool>, Vec<bool>, [usize; 3]) {
    let period = t + g;
    size[axis] = 5 * period;
    let n = size.iter().product();
    let mut bone = vec![false; n];
    let mut count = vec![false; n];
    for k in 0..size[2] {
        for j in 0..size[1] {
            for i in 0..size[0] {
                let x = [i, j, k][axis];
                let c = voxel_index(size, i, j, k);
                bone[c] = x % period < t;
                count[c] = x >= period && x < 4 * period;
            }
        }
    }
    (bone, count, size)
}

#[test]
fn plates_read_exactly_in_every_orientation_with_anisotropic_voxels() {
    let spacing = [0.5, 0.8, 1.3];
    for axis in 0..3 {
        for (t, g) in [
            (3, 4),
            (4, 3),
            (5, 11),
            (8, 8),
            (7, 10),
            (10, 13),
            (12, 20),
            (20, 3),
        ] {
            let (bone, count, size) = plates(t, g, axis);
            let domain = vec![true; bone.len()];
            let (p, maps) = parameters_in(&bone, &domain, &count, size, spacing, Method::BoneJ)
                .expect("measure");
            let s = spacing[axis];
            let msg = format!("axis {axis} t {t} g {g}: {p:?}");
            assert!((p.bv_tv - t as f64 / (t + g) as f64).abs() < 1e-12, "{msg}");
            assert!((p.tb_th_mm - t as f64 * s).abs() < 1e-6, "{msg}");
            assert!((p.tb_sp_mm - g as f64 * s).abs() < 1e-6, "{msg}");
            assert!(
                (p.tb_n_per_mm - 1.0 / ((t + g) as f64 * s)).abs() < 1e-6,
                "{msg}"
            );
            let maps = maps.expect("bonej maps");
            let max_t = maps
                .bone_thickness_mm
                .iter()
                .zip(&count)
                .filter(|(_, c)| **c)
                .fold(0f32, |m, (v, _)| m.max(*v)) as f64;
            assert!(
                (max_t - t as f64 * s).abs() < 1e-5,
                "{msg}: map max {max_t}"
            );
        }
    }
}

#[test]
fn rod_lattice_reads_its_diameter() {
    // Rods along k of diameter 8 voxels on a 16-voxel square pitch, 1 mm voxels.
    let (d, pitch) = (8.0f64, 16usize);
    let size = [4 * pitch, 4 * pitch, 12];
    let n = size.iter().product();
    let mut bone = vec![false; n];
    let mut count = vec![false; n];
    for k in 0..size[2] {
        for j in 0..size[1] {
            for i in 0..size[0] {
                let c = voxel_index(size, i, j, k);
                let (x, y) = (
                    (i % pitch) as f64 + 0.5 - pitch as f64 / 2.0,
                    (j % pitch) as f64 + 0.5 - pitch as f64 / 2.0,
                );
                bone[c] = x * x + y * y < (d / 2.0) * (d / 2.0);
                count[c] = (pitch..3 * pitch).contains(&i) && (pitch..3 * pitch).contains(&j);
            }
        }
    }
    let domain = vec![true; n];
    let (p, _) =
        parameters_in(&bone, &domain, &count, size, [1.0; 3], Method::BoneJ).expect("measure");
    assert!(
        (p.tb_th_mm - d).abs() <= 1.0,
        "rod Tb.Th {} vs {d}",
        p.tb_th_mm
    );
    // True BV/TV of the pixelated discs: count them.
    let expected = bone.iter().zip(&count).filter(|(b, c)| **b && **c).count() as f64
        / count.iter().filter(|c| **c).count() as f64;
    assert!((p.bv_tv - expected).abs() < 1e-12);
    assert!(
        (p.bv_tv - std::f64::consts::PI * 16.0 / 256.0).abs() < 0.01,
        "close to pi r^2 / pitch^2"
    );
}

#[test]
fn sphere_maximum_thickness_is_its_diameter() {
    let size = [32, 32, 32];
    let n = size.iter().product();
    let d = 17.0f64;
    let bone: Vec<bool> = (0..n)
        .map(|c| {
            let (i, j, k) = (
                (c % 32) as f64 - 16.0,
                ((c / 32) % 32) as f64 - 16.0,
                (c / 1024) as f64 - 16.0,
            );
            i * i + j * j + k * k < (d / 2.0).powi(2)
        })
        .collect();
    let mask = vec![true; n];
    let (_, maps) = parameters(&bone, &mask, size, [1.0; 3], Method::BoneJ).expect("measure");
    let maps = maps.expect("maps");
    let max = maps.bone_thickness_mm.iter().cloned().fold(0f32, f32::max) as f64;
    assert!((max - d).abs() <= 1.0, "sphere max thickness {max} vs {d}");
}

#[test]
fn paper_method_reports_radii_and_its_own_formulas() {
    let spacing = [0.1, 0.1, 1.5];
    for (t, g) in [(5usize, 11usize), (8, 8), (7, 13)] {
        // Bands in each slice must be long compared with their width for a mid-line skeleton.
        let (bone, count, size) = plates_sized(t, g, 0, [0, 60, 3]);
        let domain = vec![true; bone.len()];
        let (p, maps) =
            parameters_in(&bone, &domain, &count, size, spacing, Method::Paper).expect("measure");
        assert!(maps.is_none());
        // The skeleton sits on the mid-line: distance to the nearest background pixel centre
        // is ceil(t / 2) pixels (odd t: (t + 1) / 2).
        let th_expect = t.div_ceil(2) as f64 * 0.1;
        let sp_expect = g.div_ceil(2) as f64 * 0.1;
        assert!((p.tb_th_mm - th_expect).abs() < 1e-9, "t {t}: {p:?}");
        assert!((p.tb_sp_mm - sp_expect).abs() < 1e-9, "g {g}: {p:?}");
        assert!((p.bv_tv - th_expect / (th_expect + sp_expect)).abs() < 1e-9);
        assert!((p.tb_n_per_mm - 1.0 / (th_expect + sp_expect)).abs() < 1e-9);
        assert_eq!(p.method, "paper");
    }
}

#[test]
fn degenerate_inputs_are_refused_with_reasons() {
    let size = [6, 6, 6];
    let n = 216;
    let some_bone: Vec<bool> = (0..n).map(|c| c % 6 < 2).collect();
    let empty = vec![false; n];
    let full = vec![true; n];
    let e = parameters(&some_bone, &empty, size, [1.0; 3], Method::BoneJ)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mask is empty"), "{e}");
    let e = parameters(&full, &full, size, [1.0; 3], Method::BoneJ)
        .unwrap_err()
        .to_string();
    assert!(e.contains("all bone"), "{e}");
    let e = parameters(&empty, &full, size, [1.0; 3], Method::BoneJ)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no bone"), "{e}");
    let e = parameters(&some_bone[..10], &full, size, [1.0; 3], Method::BoneJ)
        .unwrap_err()
        .to_string();
    assert!(e.contains("differ"), "{e}");
}

/// The mask is not a cut where the image goes on: plates whose outer faces are the mask's
/// faces, with marrow beyond them in the image, read their own thickness (a cut would
/// let the end plates read 2t), with anisotropic voxels and in every orientation.
#[test]
fn plates_along_the_mask_faces_read_their_thickness_with_marrow_beyond() {
    let spacing = [0.5, 0.8, 1.3];
    for axis in 0..3 {
        for (t, g) in [(3, 4), (5, 11), (8, 8)] {
            let (bone, _, size) = plates(t, g, axis);
            let period = t + g;
            // From the first face of plate 1 to the last face of plate 3.
            let mask: Vec<bool> = (0..bone.len())
                .map(|c| {
                    let idx = [
                        c % size[0],
                        (c / size[0]) % size[1],
                        c / (size[0] * size[1]),
                    ];
                    (period..3 * period + t).contains(&idx[axis])
                })
                .collect();
            let (p, _) = parameters(&bone, &mask, size, spacing, Method::BoneJ).expect("measure");
            let s = spacing[axis];
            let msg = format!("axis {axis} t {t} g {g}: {p:?}");
            assert!((p.tb_th_mm - t as f64 * s).abs() < 1e-6, "{msg}");
            assert!((p.tb_sp_mm - g as f64 * s).abs() < 1e-6, "{msg}");
            // The old reading, with the mask as a cut: the two end plates read 2t.
            let (cut, _) =
                parameters_in(&bone, &mask, &mask, size, spacing, Method::BoneJ).expect("measure");
            assert!(
                cut.tb_th_mm > t as f64 * s * 1.2,
                "{msg}: a cut mask reads {}",
                cut.tb_th_mm
            );
        }
    }
}

/// Rods (anisotropic voxels) whose sides touch the mask's faces, marrow beyond: they read
/// their diameter. (A rod is bounded across in two directions, so even a cut mask reads
/// it right: the mask's faces matter for plates, as the test above shows.)
#[test]
fn rods_along_the_mask_face_read_their_diameter() {
    let (d, pitch) = (8usize, 16usize);
    let spacing = [0.6, 0.6, 1.4];
    let size = [4 * pitch, 4 * pitch, 10];
    let n = size.iter().product();
    let mut bone = vec![false; n];
    let mut mask = vec![false; n];
    let lo = pitch + (pitch - d) / 2; // the left side of the rods of the second column
    for k in 0..size[2] {
        for j in 0..size[1] {
            for i in 0..size[0] {
                let c = voxel_index(size, i, j, k);
                let (x, y) = (
                    (i % pitch) as f64 + 0.5 - pitch as f64 / 2.0,
                    (j % pitch) as f64 + 0.5 - pitch as f64 / 2.0,
                );
                bone[c] = x * x + y * y < (d as f64 / 2.0).powi(2);
                mask[c] = (lo..3 * pitch).contains(&i) && (pitch..3 * pitch).contains(&j);
            }
        }
    }
    let (p, _) = parameters(&bone, &mask, size, spacing, Method::BoneJ).expect("measure");
    let d_mm = d as f64 * spacing[0];
    assert!(
        (p.tb_th_mm - d_mm).abs() <= spacing[0],
        "rods read {} vs {d_mm}",
        p.tb_th_mm
    );
}
