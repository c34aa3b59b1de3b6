//! Extra shapes of the 3D view: landmark spheres and the crosshair planes' outlines.

use std::sync::OnceLock;

use nalgebra::Vector3;

use super::render::Prims;
use super::scene::KneeSurfaces;

/// A unit icosphere (one subdivision, 80 triangles), wound outward.
fn unit_sphere() -> &'static [[[f32; 3]; 3]] {
    static SPHERE: OnceLock<Vec<[[f32; 3]; 3]>> = OnceLock::new();
    SPHERE.get_or_init(|| {
        let t = (1.0 + 5f32.sqrt()) / 2.0;
        let v: Vec<Vector3<f32>> = [
            [-1.0, t, 0.0],
            [1.0, t, 0.0],
            [-1.0, -t, 0.0],
            [1.0, -t, 0.0],
            [0.0, -1.0, t],
            [0.0, 1.0, t],
            [0.0, -1.0, -t],
            [0.0, 1.0, -t],
            [t, 0.0, -1.0],
            [t, 0.0, 1.0],
            [-t, 0.0, -1.0],
            [-t, 0.0, 1.0],
        ]
        .iter()
        .map(|p| Vector3::from(*p).normalize())
        .collect();
        const FACES: [[usize; 3]; 20] = [
            [0, 11, 5],
            [0, 5, 1],
            [0, 1, 7],
            [0, 7, 10],
            [0, 10, 11],
            [1, 5, 9],
            [5, 11, 4],
            [11, 10, 2],
            [10, 7, 6],
            [7, 1, 8],
            [3, 9, 4],
            [3, 4, 2],
            [3, 2, 6],
            [3, 6, 8],
            [3, 8, 9],
            [4, 9, 5],
            [2, 4, 11],
            [6, 2, 10],
            [8, 6, 7],
            [9, 8, 1],
        ];
        let mut out = Vec::with_capacity(80);
        for f in FACES {
            let [a, b, c] = f.map(|n| v[n]);
            let (ab, bc, ca) = (
                (a + b).normalize(),
                (b + c).normalize(),
                (c + a).normalize(),
            );
            for tri in [[a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca]] {
                let [p, q, r] = tri;
                let tri = if (q - p).cross(&(r - p)).dot(&(p + q + r)) < 0.0 {
                    [p, r, q]
                } else {
                    tri
                };
                out.push(tri.map(|x| [x.x, x.y, x.z]));
            }
        }
        out
    })
}

pub(super) fn push_sphere(out: &mut Prims, centre: [f32; 3], radius: f32, colour: [u8; 4]) {
    for tri in unit_sphere() {
        for n in tri {
            let p = std::array::from_fn(|a| centre[a] + n[a] * radius);
            out.push(p, *n, colour);
        }
    }
}

/// Outlines of the axial (red), coronal (green) and sagittal (yellow) planes through the
/// crosshair, spanning the surfaces' bounding box (grown by 8%), as in 3D Slicer.
pub(super) fn push_planes(out: &mut Prims, s: &KneeSurfaces, crosshair: [f64; 3]) {
    let (lo, hi) = s.bounds_mm;
    let grow = |n: usize| (hi[n] - lo[n]) * 0.04;
    let lo: [f32; 3] = std::array::from_fn(|n| lo[n] - grow(n));
    let hi: [f32; 3] = std::array::from_fn(|n| hi[n] + grow(n));
    let c = crosshair.map(|x| x as f32);
    // (normal axis, colour)
    for (axis, colour) in [
        (2, [220, 70, 70, 255]),
        (1, [90, 190, 90, 255]),
        (0, [230, 200, 60, 255]),
    ] {
        let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
        let corner = |a: f32, b: f32| {
            let mut p = c;
            p[u] = a;
            p[v] = b;
            p
        };
        let ring = [
            corner(lo[u], lo[v]),
            corner(hi[u], lo[v]),
            corner(hi[u], hi[v]),
            corner(lo[u], hi[v]),
        ];
        for n in 0..4 {
            out.push(ring[n], [0.0; 3], colour);
            out.push(ring[(n + 1) % 4], [0.0; 3], colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_is_closed_and_outward() {
        let s = unit_sphere();
        assert_eq!(s.len(), 80);
        let area: f32 = s
            .iter()
            .map(|[a, b, c]| {
                let (a, b, c) = (Vector3::from(*a), Vector3::from(*b), Vector3::from(*c));
                let n = (b - a).cross(&(c - a));
                assert!(n.dot(&(a + b + c)) > 0.0);
                n.norm() / 2.0
            })
            .sum();
        assert!(
            (area / (4.0 * std::f32::consts::PI) - 1.0).abs() < 0.1,
            "{area}"
        );
    }
}
