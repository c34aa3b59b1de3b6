//! A small analytic knee-like CT shown when the app starts without an image, until the
//! synthetic knee phantom (its own module) replaces it: femur and tibia shafts with rounded
//! condyles and a plateau, cortical shell, marrow, soft tissue and fat, in HU.

use nalgebra::Vector3;

use srrd_base::volume::{Geometry, Volume};

/// The demo CT on the paper's CT grid (150 x 150 x 90 at 0.977 x 0.977 x 1.0 mm).
pub fn demo_ct() -> Volume {
    let g = Geometry::new([150, 150, 90], [0.977, 0.977, 1.0], [-73.0, -73.0, -45.0]);
    let geometry = g.clone();
    Volume::from_fn(g, move |i, j, k| {
        let p = geometry.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
        hu_at(p.x, p.y, p.z) as f32
    })
}

/// Signed distance (mm, negative inside) to a bone: a vertical shaft ending in two
/// condyle spheres (femur, above z = 0) or a flat plateau (tibia, below).
fn bone_distance(x: f64, y: f64, z: f64) -> f64 {
    let shaft = ((x * x + y * y).sqrt() - 14.0).max(if z > 0.0 { 10.0 - z } else { z + 10.0 });
    if z > 0.0 {
        let condyle =
            |cx: f64| ((x - cx).powi(2) + (y - 2.0).powi(2) + (z - 14.0).powi(2)).sqrt() - 12.5;
        shaft.min(condyle(-13.0)).min(condyle(13.0))
    } else {
        let plateau_r = ((x / 1.4).powi(2) + y.powi(2)).sqrt() - 22.0;
        let plateau = plateau_r.max(-z - 16.0).max(z + 3.5);
        shaft.min(plateau)
    }
}

fn hu_at(x: f64, y: f64, z: f64) -> f64 {
    let r = (x * x / 1.2 + (y - 3.0).powi(2)).sqrt();
    if r > 60.0 {
        return -1000.0;
    }
    let d = bone_distance(x, y, z);
    if d < 0.0 {
        if d > -1.8 {
            return 1400.0; // cortex
        }
        // Marrow with a faint trabecular texture.
        let t = (x * 1.3).sin() * (y * 1.1).sin() * (z * 1.2).sin();
        return 250.0 + 120.0 * t;
    }
    if r > 54.0 { -100.0 } else { 45.0 }
}
