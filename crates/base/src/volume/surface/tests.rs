//! Surface nets against analytic truth: voxelised spheres on anisotropic, oblique grids.

use std::collections::HashMap;

use nalgebra::{Matrix3, Point3, Rotation3, Vector3};

use super::*;
use crate::volume::Geometry;

const R: f64 = 20.0;

fn oblique_grid(spacing: [f64; 3], flip: bool) -> Geometry {
    let mut rot = Rotation3::from_euler_angles(0.3, -0.2, 0.7).into_inner();
    if flip {
        rot *= Matrix3::from_diagonal(&Vector3::new(1.0, -1.0, 1.0));
    }
    let size: [usize; 3] = std::array::from_fn(|a| (52.0 / spacing[a]).ceil() as usize);
    let g = Geometry::new(size, spacing, [0.0; 3]).with_direction(rot);
    // Put the grid's centre at (10, -20, 30) mm.
    let shift = Point3::new(10.0, -20.0, 30.0) - g.center_mm();
    Geometry {
        origin_mm: g.origin_mm + shift,
        ..g
    }
}

/// Voxels within `r` of each centre get that centre's label.
fn balls(g: &Geometry, balls: &[(Point3<f64>, f64, u8)]) -> LabelMap {
    LabelMap::from_fn(g.clone(), |i, j, k| {
        let p = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
        // The last ball containing the voxel wins.
        (balls.iter().rev())
            .find(|(c, r, _)| (p - c).norm() <= *r)
            .map_or(0, |(_, _, l)| *l)
    })
}

/// Every undirected edge in exactly two triangles, once in each direction (closed and
/// consistently wound).
fn assert_closed(mesh: &SurfaceMesh) {
    let mut directed: HashMap<(u32, u32), u32> = HashMap::new();
    for t in mesh.indices.chunks_exact(3) {
        for n in 0..3 {
            *directed.entry((t[n], t[(n + 1) % 3])).or_default() += 1;
        }
    }
    for (&(a, b), &count) in &directed {
        assert_eq!(count, 1, "edge {a}->{b} used {count} times");
        assert_eq!(
            directed.get(&(b, a)),
            Some(&1),
            "edge {a}-{b} has no opposite half"
        );
    }
}

fn components(mesh: &SurfaceMesh) -> Vec<Vec<u32>> {
    let mut parent: Vec<u32> = (0..mesh.positions_mm.len() as u32).collect();
    fn find(p: &mut [u32], x: u32) -> u32 {
        let mut x = x;
        while p[x as usize] != x {
            p[x as usize] = p[p[x as usize] as usize];
            x = p[x as usize];
        }
        x
    }
    for t in mesh.indices.chunks_exact(3) {
        for n in 1..3 {
            let (a, b) = (find(&mut parent, t[0]), find(&mut parent, t[n]));
            parent[a as usize] = b;
        }
    }
    let mut groups: HashMap<u32, Vec<u32>> = HashMap::new();
    for v in 0..parent.len() as u32 {
        let root = find(&mut parent, v);
        groups.entry(root).or_default().push(v);
    }
    groups.into_values().collect()
}

fn check_sphere(g: &Geometry, step: usize, area_tol: f64, volume_tol: f64) -> SurfaceMesh {
    let c = Point3::new(12.0, -19.0, 28.5);
    let labels = balls(g, &[(c, R, 3)]);
    let mesh = label_surface(&labels, &[3], step);
    assert!(
        mesh.num_triangles() > 1000,
        "{} triangles",
        mesh.num_triangles()
    );
    assert_closed(&mesh);
    let area = mesh.area_mm2();
    let want_area = 4.0 * std::f64::consts::PI * R * R;
    assert!(
        (area / want_area - 1.0).abs() < area_tol,
        "area {area:.0} vs {want_area:.0}"
    );
    let volume = mesh.enclosed_volume_mm3();
    let want_volume = 4.0 / 3.0 * std::f64::consts::PI * R.powi(3);
    assert!(
        (volume / want_volume - 1.0).abs() < volume_tol,
        "volume {volume:.0} vs {want_volume:.0}"
    );
    eprintln!(
        "step {step}: {} triangles, area {:+.2}%, volume {:+.2}%",
        mesh.num_triangles(),
        (area / want_area - 1.0) * 100.0,
        (volume / want_volume - 1.0) * 100.0
    );
    let diag = (g.spacing_mm * step as f64).norm();
    let mut outward = 0;
    for (p, n) in mesh.positions_mm.iter().zip(&mesh.normals) {
        let p = Point3::new(p[0] as f64, p[1] as f64, p[2] as f64);
        let d = p - c;
        assert!(
            (d.norm() - R).abs() < diag,
            "vertex {p} is {:.2} mm from the centre",
            d.norm()
        );
        let n = Vector3::new(n[0] as f64, n[1] as f64, n[2] as f64);
        assert!((n.norm() - 1.0).abs() < 1e-4);
        if n.dot(&d) > 0.0 {
            outward += 1;
        }
    }
    let frac = outward as f64 / mesh.positions_mm.len() as f64;
    assert!(frac > 0.99, "{:.1}% of normals point outward", frac * 100.0);
    assert!(mesh.labels.iter().all(|&l| l == 3));
    mesh
}

#[test]
fn sphere_on_an_oblique_anisotropic_grid() {
    let g = oblique_grid([0.9, 1.2, 1.5], false);
    check_sphere(&g, 1, 0.08, 0.03);
}

#[test]
fn sphere_at_step_two_and_on_a_mirrored_grid() {
    let g = oblique_grid([0.6, 0.7, 0.8], false);
    check_sphere(&g, 2, 0.08, 0.04);
    let g = oblique_grid([0.9, 1.2, 1.5], true);
    assert!(g.direction.determinant() < 0.0);
    check_sphere(&g, 1, 0.08, 0.03);
}

#[test]
fn sphere_touching_the_grid_edge_is_closed() {
    let g = Geometry::new([30, 30, 30], [1.0; 3], [0.0; 3]);
    let labels = balls(&g, &[(Point3::new(5.0, 15.0, 15.0), 12.0, 1)]);
    let mesh = label_surface(&labels, &[1], 1);
    assert_closed(&mesh);
    assert!(mesh.enclosed_volume_mm3() > 0.0);
}

#[test]
fn two_labels_give_two_components_and_empty_gives_nothing() {
    let g = Geometry::new([60, 40, 40], [1.0, 1.0, 1.25], [0.0; 3]);
    let labels = balls(
        &g,
        &[
            (Point3::new(15.0, 20.0, 25.0), 10.0, 1),
            (Point3::new(43.0, 20.0, 25.0), 8.0, 2),
        ],
    );
    let mesh = label_surface(&labels, &[2, 1, 2], 1);
    assert_closed(&mesh);
    let parts = components(&mesh);
    assert_eq!(parts.len(), 2);
    for part in &parts {
        let l = mesh.labels[part[0] as usize];
        assert!(part.iter().all(|&v| mesh.labels[v as usize] == l));
    }
    let mut seen: Vec<u8> = parts.iter().map(|p| mesh.labels[p[0] as usize]).collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2]);
    assert!(label_surface(&labels, &[4], 1).is_empty());
    assert!(label_surface(&labels, &[], 1).is_empty());
    let only_one = label_surface(&labels, &[1], 1);
    assert_eq!(components(&only_one).len(), 1);
}

#[test]
fn samples_inside_the_surface() {
    let g = oblique_grid([0.9, 1.2, 1.5], false);
    let c = Point3::new(12.0, -19.0, 28.5);
    let labels = balls(&g, &[(c, R, 1)]);
    let mesh = label_surface(&labels, &[1], 1);
    // A map with 7 in a shell 2-8 mm deep on the +x side, 5 on the -x side, nothing
    // (NaN) elsewhere; 0 counts as no value.
    let map = Volume::from_fn(g.clone(), |i, j, k| {
        let p = g.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
        let d = R - (p - c).norm();
        if (2.0..8.0).contains(&d) {
            if p.x > c.x { 7.0 } else { 5.0 }
        } else if d > 8.0 {
            0.0
        } else {
            f32::NAN
        }
    });
    let values = sample_at_vertices(&mesh, &map, 3.0);
    assert_eq!(values.len(), mesh.positions_mm.len());
    let mut agree = 0;
    for (p, v) in mesh.positions_mm.iter().zip(&values) {
        let want = if f64::from(p[0]) > c.x { 7.0 } else { 5.0 };
        if *v == want {
            agree += 1;
        }
    }
    assert!(
        agree as f64 > 0.97 * values.len() as f64,
        "{agree} of {}",
        values.len()
    );
    // Too shallow for every depth tried: NaN.
    let none = sample_at_vertices(&mesh, &map, 0.1);
    assert!(none.iter().filter(|v| v.is_nan()).count() as f64 > 0.9 * none.len() as f64);
}
