//! Tests of local thickness: the ridge-pruned map against painting every ball, empty
//! grids, and thick structures (the unbounded distance transform).

use super::*;
use srrd_base::volume::voxel_ijk;

/// Every ball of every foreground voxel painted, no ridge: the definition itself.
fn brute(
    fg: &[bool],
    bg: &[bool],
    size: [usize; 3],
    sp: [f64; 3],
    convention: Convention,
) -> Vec<f32> {
    let exact = crate::edt::tests::brute_squared_edt(bg, size, sp);
    let mut out = vec![0f32; fg.len()];
    for c in 0..fg.len() {
        if !fg[c] {
            continue;
        }
        let [ci, cj, ck] = voxel_ijk(size, c);
        let shape = match convention {
            Convention::Surface => ball_shape(|m| exact[m], c, [ci, cj, ck], size),
            Convention::Centre => 0,
        };
        let rc = ball_radius(exact[c], shape, sp);
        for (n, o) in out.iter_mut().enumerate() {
            let [i, j, k] = voxel_ijk(size, n);
            let q = ((i as f64 - ci as f64) * sp[0]).powi(2)
                + ((j as f64 - cj as f64) * sp[1]).powi(2)
                + ((k as f64 - ck as f64) * sp[2]).powi(2);
            if fg[n] && q < coverage_r2(rc) {
                *o = o.max((2.0 * rc) as f32);
            }
        }
    }
    out
}

#[test]
fn ridge_pruning_changes_nothing() {
    let size = [24, 20, 14];
    let mut state = 99u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % 1000) as f64 / 1000.0
    };
    for sp in [[1.0, 1.0, 1.0], [0.5, 0.7, 1.3]] {
        // Smooth random blobs: a sum of random balls.
        let balls: Vec<[f64; 4]> = (0..12)
            .map(|_| {
                [
                    noise() * 24.0,
                    noise() * 20.0,
                    noise() * 14.0,
                    1.5 + 4.0 * noise(),
                ]
            })
            .collect();
        let fg: Vec<bool> = (0..size[0] * size[1] * size[2])
            .map(|n| {
                let (i, j, k) = (n % 24, (n / 24) % 20, n / 480);
                balls.iter().any(|b| {
                    (i as f64 - b[0]).powi(2)
                        + (j as f64 - b[1]).powi(2)
                        + (k as f64 - b[2]).powi(2)
                        < b[3] * b[3]
                })
            })
            .collect();
        let bg: Vec<bool> = fg.iter().map(|f| !f).collect();
        assert_matches_definition(&fg, &bg, size, sp);
        // A block of cut voxels (neither structure nor background): balls cross it
        // but never paint it.
        let cut = |n: usize| n % 24 < 6 && (n / 24) % 20 < 8;
        let bg_cut: Vec<bool> = (0..fg.len()).map(|n| bg[n] && !cut(n)).collect();
        assert_matches_definition(&fg, &bg_cut, size, sp);
    }
}

fn assert_matches_definition(fg: &[bool], bg: &[bool], size: [usize; 3], sp: [f64; 3]) {
    for convention in [Convention::Surface, Convention::Centre] {
        let slow = brute(fg, bg, size, sp, convention);
        // Every ball painted with max, every ball painted largest first, and the default.
        for large_radius in [f64::INFINITY, 0.0, LARGE_RADIUS] {
            let fast =
                local_thickness_with(fg, bg, size, sp, large_radius, convention).expect("bounded");
            for (n, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{a} vs {b} at spacing {sp:?} n={n} fg={} large from {large_radius}, \
                     {convention:?}",
                    fg[n]
                );
            }
        }
    }
}

/// Two plates of t voxels, normal to each axis in turn, 12 voxels apart and clear of the
/// grid's faces (which are cuts, not background): the surface
/// convention reads t, the centre convention (ORMIR_XCT, porespy) t + 1 when t is odd.
#[test]
fn plates_read_their_thickness_by_either_convention() {
    let size = [32, 32, 32];
    for t in 2..=7usize {
        for axis in 0..3 {
            let fg: Vec<bool> = (0..size.iter().product())
                .map(|c: usize| {
                    let x = voxel_ijk(size, c)[axis];
                    (4..28).contains(&x) && (x - 4) % 12 < t
                })
                .collect();
            let bg: Vec<bool> = fg.iter().map(|f| !f).collect();
            for (convention, expected) in [
                (Convention::Surface, t as f64),
                (Convention::Centre, (t + t % 2) as f64),
            ] {
                let map =
                    local_thickness_as(&fg, &bg, size, [0.5; 3], convention).expect("bounded");
                let inside: Vec<f32> = map
                    .iter()
                    .zip(&fg)
                    .filter(|(_, f)| **f)
                    .map(|(v, _)| *v)
                    .collect();
                let mean = inside.iter().map(|v| f64::from(*v)).sum::<f64>() / inside.len() as f64;
                assert!(
                    (mean - 0.5 * expected).abs() < 1e-5,
                    "plate {t} voxels along axis {axis}, {convention:?}: {mean} mm"
                );
            }
        }
    }
}

/// Thin shells and plates with marrow spaces up to ~20 voxels across, the marrow as the
/// structure: painting the large balls largest first gives the same map, bit for bit,
/// as painting every ball with max, isotropic or not, with cut voxels or not.
#[test]
fn largest_first_painting_is_the_same_map() {
    let size = [56, 48, 40];
    let n: usize = size.iter().product();
    let mut state = 17u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % 100_000) as f64 / 100_000.0
    };
    // Bone: thin shells of a few random spheres and planes.
    let spheres: Vec<[f64; 4]> = (0..6)
        .map(|_| {
            [
                noise() * 56.0,
                noise() * 48.0,
                noise() * 40.0,
                8.0 + 16.0 * noise(),
            ]
        })
        .collect();
    let bone: Vec<bool> = (0..n)
        .map(|c| {
            let [i, j, k] = voxel_ijk(size, c).map(|x| x as f64);
            spheres.iter().any(|s| {
                let d = ((i - s[0]).powi(2) + (j - s[1]).powi(2) + (k - s[2]).powi(2)).sqrt();
                (d - s[3]).abs() < 1.5
            }) || (i + 0.5 * j - 0.3 * k).rem_euclid(37.0) < 2.5
        })
        .collect();
    let marrow: Vec<bool> = bone.iter().map(|b| !b).collect();
    let cut: Vec<bool> = (0..n).map(|c| bone[c] && c % 56 >= 46).collect();
    for sp in [[1.0; 3], [0.5, 0.6, 0.9]] {
        for bg in [&bone, &cut] {
            let all =
                local_thickness_with(&marrow, bg, size, sp, f64::INFINITY, Convention::Surface)
                    .expect("map");
            for large_radius in [0.0, LARGE_RADIUS] {
                let first =
                    local_thickness_with(&marrow, bg, size, sp, large_radius, Convention::Surface)
                        .expect("map");
                let same = all
                    .iter()
                    .zip(&first)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "spacing {sp:?}, large from {large_radius}");
            }
            let max = all.iter().cloned().fold(0f32, f32::max);
            assert!(
                max > 16.0 * sp[0] as f32,
                "large balls were exercised: {max}"
            );
        }
    }
}

#[test]
fn an_empty_grid_has_an_empty_map() {
    assert_eq!(
        local_thickness(&[], &[], [0, 4, 4], [1.0; 3]),
        Some(Vec::new())
    );
}

#[test]
fn thick_structures_take_the_unbounded_transform() {
    // Plates 30 voxels thick: deeper than the capped transform's 12 voxels, so the
    // exact unbounded one must take over (the answer is 30 voxels either way).
    let size = [36, 9, 7];
    for sp in [[1.0; 3], [0.6, 0.8, 1.0]] {
        let fg: Vec<bool> = (0..size.iter().product())
            .map(|n| (3..33).contains(&(n % 36)))
            .collect();
        let bg: Vec<bool> = fg.iter().map(|f| !f).collect();
        assert_matches_definition(&fg, &bg, size, sp);
        let map = local_thickness(&fg, &bg, size, sp).expect("bounded");
        assert!((map[9 * 36 * 3 + 36 * 4 + 18] - 30.0 * sp[0] as f32).abs() < 1e-4);
    }
}

/// The mean run that decides whether the capped transform is tried: plates of t voxels
/// normal to any axis have runs of t along it (and longer ones along the others).
#[test]
fn the_shortest_mean_run_of_plates_is_their_thickness() {
    let size = [30, 20, 40];
    for axis in 0..3 {
        let fg: Vec<bool> = (0..size.iter().product())
            .map(|c: usize| voxel_ijk(size, c)[axis] % 10 < 4)
            .collect();
        let run = shortest_mean_run(&fg, size);
        assert!((run - 4.0).abs() < 1e-12, "axis {axis}: {run}");
    }
    assert!(shortest_mean_run(&[false; 8], [2, 2, 2]).is_infinite());
}
