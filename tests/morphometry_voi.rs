//! The volume-of-interest convention (`parameters_voi`, `srrd morph --mask`) on analytic
//! phantoms with exact answers: Tb.Sp is measured in the marrow inside the VOI only, its
//! spheres bounded by the VOI as by bone; Tb.Th keeps the bone as the image has it; with
//! a VOI that is the whole grid nothing changes.

use srrd::morphometry::{Method, parameters, parameters_voi};
use srrd::volume::voxel_index;

/// A stack of `plates` plates `t` voxels thick, `g` apart, normal to `axis`, starting at
/// `g` voxels from the low face, then open marrow (soft tissue) of `open` voxels to the
/// grid's high face. The VOI runs from the first plate's outer face to `g` voxels beyond
/// the last plate (the marrow between the last trabecula and the contour).
struct Stack {
    bone: Vec<bool>,
    voi: Vec<bool>,
    size: [usize; 3],
}

fn stack(t: usize, g: usize, plates: usize, open: usize, axis: usize) -> Stack {
    let period = t + g;
    let mut size = [7, 6, 5];
    let end = g + plates * period - g; // just past the last plate
    size[axis] = end + g + open;
    let n = size.iter().product();
    let mut bone = vec![false; n];
    let mut voi = vec![false; n];
    for k in 0..size[2] {
        for j in 0..size[1] {
            for i in 0..size[0] {
                let x = [i, j, k][axis];
                let c = voxel_index(size, i, j, k);
                bone[c] = x >= g && x < end && (x - g) % period < t;
                voi[c] = x >= g && x < end + g;
            }
        }
    }
    Stack { bone, voi, size }
}

#[test]
fn separation_stops_at_the_voi_and_reads_the_gap() {
    let spacing = [0.5, 0.8, 1.3];
    for axis in 0..3 {
        for (t, g) in [(3, 4), (4, 7), (5, 10), (8, 6)] {
            let s = stack(t, g, 4, 40, axis);
            let sp = spacing[axis];
            let msg = format!("axis {axis} t {t} g {g}");
            let (voi, maps) =
                parameters_voi(&s.bone, &s.voi, s.size, spacing, Method::BoneJ).expect("voi");
            assert!(
                (voi.tb_sp_mm - g as f64 * sp).abs() < 1e-6,
                "{msg}: {voi:?}"
            );
            assert!(
                (voi.tb_th_mm - t as f64 * sp).abs() < 1e-6,
                "{msg}: {voi:?}"
            );
            let expected_bv = (4 * t) as f64 / (4 * t + 4 * g) as f64;
            assert!((voi.bv_tv - expected_bv).abs() < 1e-12, "{msg}: {voi:?}");
            // The marrow map is the gap everywhere inside, nothing outside.
            let maps = maps.expect("maps");
            for (c, v) in maps.marrow_thickness_mm.iter().enumerate() {
                if s.voi[c] && !s.bone[c] {
                    assert!(
                        (*v as f64 - g as f64 * sp).abs() < 1e-5,
                        "{msg}: {v} at {c}"
                    );
                } else {
                    assert_eq!(*v, 0.0, "{msg}: marrow map outside the VOI at {c}");
                }
            }
            // The other reading: the last gap opens into the soft tissue beyond the VOI
            // and its spheres grow there; BV/TV and Tb.Th are the same.
            let (count, _) =
                parameters(&s.bone, &s.voi, s.size, spacing, Method::BoneJ).expect("count");
            assert!(count.tb_sp_mm > 1.2 * voi.tb_sp_mm, "{msg}: {count:?}");
            assert_eq!(count.bv_tv, voi.bv_tv, "{msg}");
            assert_eq!(count.tb_th_mm, voi.tb_th_mm, "{msg}");
        }
    }
}

/// A VOI whose faces cut the marrow halfway between plates: the two half gaps at its
/// ends are bounded by the VOI and read their own widths a and b, so Tb.Sp is the
/// volume-weighted mean (a^2 + g^2 + b^2) / (a + g + b); the count reading sees whole gaps.
#[test]
fn a_voi_cutting_the_marrow_bounds_it_there() {
    let spacing = [0.6, 0.9, 1.1];
    for axis in 0..3 {
        for (t, g) in [(3, 8), (4, 6), (7, 10)] {
            let period = t + g;
            let mut size = [6, 5, 7];
            size[axis] = 5 * period;
            let n: usize = size.iter().product();
            let h = g / 2;
            let (mut bone, mut voi) = (vec![false; n], vec![false; n]);
            for c in 0..n {
                let idx = [
                    c % size[0],
                    (c / size[0]) % size[1],
                    c / (size[0] * size[1]),
                ];
                let x = idx[axis];
                bone[c] = x % period < t;
                // From inside the gap after plate 1 to the middle of the gap after plate
                // 3: a part gap (g - h), plate 2, a whole gap, plate 3, a half gap (h).
                voi[c] = x >= period + t + h && x < 3 * period + t + h;
            }
            let (p, _) = parameters_voi(&bone, &voi, size, spacing, Method::BoneJ).expect("voi");
            let sp = spacing[axis];
            // Inside: half gap (g - h), plate 2, gap g, plate 3, half gap h.
            let (a, b) = ((g - h) as f64, h as f64);
            let g = g as f64;
            let expected = (a * a + g * g + b * b) / (a + g + b) * sp;
            let msg = format!("axis {axis} t {t} g {g}: {p:?}");
            assert!(
                (p.tb_sp_mm - expected).abs() < 1e-6,
                "{msg}: expected {expected}"
            );
            assert!((p.tb_th_mm - t as f64 * sp).abs() < 1e-6, "{msg}");
            let (count, _) = parameters(&bone, &voi, size, spacing, Method::BoneJ).expect("count");
            assert!(
                (count.tb_sp_mm - g * sp).abs() < 1e-6,
                "count reading: {count:?}"
            );
        }
    }
}

/// A VOI that is the whole grid is no VOI: every field the same, bit for bit, as the
/// unmasked reading (the regression's MR ground truth is measured that way).
#[test]
fn a_whole_grid_voi_changes_nothing() {
    let size = [30, 26, 22];
    let n: usize = size.iter().product();
    let mut state = 5u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % 1000) as f64 / 1000.0
    };
    let balls: Vec<[f64; 4]> = (0..25)
        .map(|_| {
            [
                noise() * 30.0,
                noise() * 26.0,
                noise() * 22.0,
                1.5 + 3.0 * noise(),
            ]
        })
        .collect();
    let bone: Vec<bool> = (0..n)
        .map(|c| {
            let (i, j, k) = (c % 30, (c / 30) % 26, c / 780);
            balls.iter().any(|b| {
                (i as f64 - b[0]).powi(2) + (j as f64 - b[1]).powi(2) + (k as f64 - b[2]).powi(2)
                    < b[3] * b[3]
            })
        })
        .collect();
    let all = vec![true; n];
    for method in [Method::BoneJ, Method::Paper] {
        for spacing in [[1.0; 3], [0.4, 0.5, 0.9]] {
            let (a, ma) = parameters(&bone, &all, size, spacing, method).expect("image");
            let (b, mb) = parameters_voi(&bone, &all, size, spacing, method).expect("voi");
            assert_eq!(a, b, "{method:?} {spacing:?}");
            if let (Some(ma), Some(mb)) = (ma, mb) {
                assert_eq!(ma.bone_thickness_mm, mb.bone_thickness_mm);
                assert_eq!(ma.marrow_thickness_mm, mb.marrow_thickness_mm);
            }
        }
    }
}

/// Tb.Th keeps the bone beyond the VOI: a plate crossing the VOI's face reads its own
/// thickness (the face is not a cut for the bone, nor a boundary).
#[test]
fn bone_crossing_the_voi_keeps_its_thickness() {
    let (t, g) = (6usize, 9usize);
    let period = t + g;
    let size = [5 * period, 24, 6];
    let n: usize = size.iter().product();
    // Plates normal to i; the VOI is the middle three periods in i and half the grid in
    // j, so plates cross its j face.
    let (mut bone, mut voi) = (vec![false; n], vec![false; n]);
    for c in 0..n {
        let (i, j) = (c % size[0], (c / size[0]) % size[1]);
        bone[c] = i % period < t;
        voi[c] = (period..4 * period).contains(&i) && j < 12;
    }
    let (p, maps) = parameters_voi(&bone, &voi, size, [1.0; 3], Method::BoneJ).expect("voi");
    assert!((p.tb_th_mm - t as f64).abs() < 1e-6, "{p:?}");
    let maps = maps.expect("maps");
    // The bone map is the image's: the same inside and beyond the VOI.
    let beyond = voxel_index(size, period + 2, 20, 3);
    assert!((maps.bone_thickness_mm[beyond] - t as f32).abs() < 1e-5);
    // Marrow in the VOI: gaps of g between plates, and corners at the VOI's j face where
    // the face meets the plates are bounded by both, so Tb.Sp is at most g.
    assert!(
        p.tb_sp_mm <= g as f64 + 1e-9 && p.tb_sp_mm > 0.8 * g as f64,
        "{p:?}"
    );
}

/// The refusals name the problem: an empty VOI, a VOI with no marrow in it, grids that
/// differ.
#[test]
fn voi_refusals() {
    let size = [8, 8, 8];
    let n = 512;
    let bone: Vec<bool> = (0..n).map(|c| c % 8 < 3).collect();
    let empty = vec![false; n];
    let e = parameters_voi(&bone, &empty, size, [1.0; 3], Method::BoneJ)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mask is empty"), "{e}");
    let e = parameters_voi(&bone, &bone, size, [1.0; 3], Method::BoneJ)
        .unwrap_err()
        .to_string();
    assert!(e.contains("all bone"), "{e}");
    let e = parameters_voi(&bone, &empty[..10], size, [1.0; 3], Method::BoneJ)
        .unwrap_err()
        .to_string();
    assert!(e.contains("differ"), "{e}");
}
