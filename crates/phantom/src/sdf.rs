//! Signed distance primitives (mm, negative inside) for the phantom's implicit anatomy.
//! Ellipsoid distances are the usual first-order approximation (exact on the axes).

use nalgebra::{Point3, Vector3};

/// Sphere of `radius` about `c`.
pub fn sphere(p: &Point3<f64>, c: &Point3<f64>, radius: f64) -> f64 {
    (p - c).norm() - radius
}

/// Ellipsoid with semi-axes `r` about `c` (axis-aligned), first-order distance.
pub fn ellipsoid(p: &Point3<f64>, c: &Point3<f64>, r: &Vector3<f64>) -> f64 {
    let q = p - c;
    let k0 = Vector3::new(q.x / r.x, q.y / r.y, q.z / r.z).norm();
    let k1 = Vector3::new(q.x / (r.x * r.x), q.y / (r.y * r.y), q.z / (r.z * r.z)).norm();
    if k1 < 1e-12 {
        return -r.min();
    }
    k0 * (k0 - 1.0) / k1
}

/// Capsule (segment a-b with `radius`).
pub fn capsule(p: &Point3<f64>, a: &Point3<f64>, b: &Point3<f64>, radius: f64) -> f64 {
    let pa = p - a;
    let ba = b - a;
    let h = (pa.dot(&ba) / ba.norm_squared()).clamp(0.0, 1.0);
    (pa - ba * h).norm() - radius
}

/// Cylinder along x about `c` with `radius` in the y-z plane and `half_width` along x, its
/// edges rounded by `edge`.
pub fn rounded_cylinder_x(
    p: &Point3<f64>,
    c: &Point3<f64>,
    radius: f64,
    half_width: f64,
    edge: f64,
) -> f64 {
    let q = p - c;
    let dr = (q.y * q.y + q.z * q.z).sqrt() - (radius - edge);
    let dx = q.x.abs() - (half_width - edge);
    let outside = (dr.max(0.0).powi(2) + dx.max(0.0).powi(2)).sqrt();
    outside + dr.max(dx).min(0.0) - edge
}

/// Axis-aligned box with half-sizes `h` about `c`, edges rounded by `edge`.
pub fn rounded_box(p: &Point3<f64>, c: &Point3<f64>, h: &Vector3<f64>, edge: f64) -> f64 {
    let q = (p - c).abs() - (h - Vector3::repeat(edge));
    let outside = q.map(|v| v.max(0.0)).norm();
    outside + q.max().min(0.0) - edge
}

/// Elliptic cylinder along z through `c` with semi-axes (rx, ry), first-order distance.
pub fn elliptic_cylinder_z(p: &Point3<f64>, c: &Point3<f64>, rx: f64, ry: f64) -> f64 {
    let (x, y) = (p.x - c.x, p.y - c.y);
    let k0 = ((x / rx).powi(2) + (y / ry).powi(2)).sqrt();
    let k1 = ((x / (rx * rx)).powi(2) + (y / (ry * ry)).powi(2)).sqrt();
    if k1 < 1e-12 {
        return -rx.min(ry);
    }
    k0 * (k0 - 1.0) / k1
}

/// Polynomial smooth minimum (union) with blend width `k` mm.
pub fn smin(a: f64, b: f64, k: f64) -> f64 {
    let h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0);
    b + (a - b) * h - k * h * (1.0 - h)
}

/// Smooth maximum (intersection) with blend width `k` mm.
pub fn smax(a: f64, b: f64, k: f64) -> f64 {
    -smin(-a, -b, k)
}

/// Hermite smoothstep of `x` between `e0` and `e1`.
pub fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_distances_on_their_axes() {
        let o = Point3::origin();
        assert!((sphere(&Point3::new(3.0, 4.0, 0.0), &o, 2.0) - 3.0).abs() < 1e-12);
        let r = Vector3::new(3.0, 2.0, 1.0);
        assert!((ellipsoid(&Point3::new(5.0, 0.0, 0.0), &o, &r) - 2.0).abs() < 1e-9);
        assert!((ellipsoid(&Point3::new(0.0, 0.0, 0.5), &o, &r) + 0.5).abs() < 1e-9);
        let a = Point3::new(0.0, 0.0, 0.0);
        let b = Point3::new(0.0, 0.0, 10.0);
        assert!((capsule(&Point3::new(4.0, 0.0, 5.0), &a, &b, 1.0) - 3.0).abs() < 1e-12);
        let d = rounded_cylinder_x(&Point3::new(0.0, 0.0, -7.0), &o, 5.0, 3.0, 1.0);
        assert!((d - 2.0).abs() < 1e-12);
        let d = rounded_cylinder_x(&Point3::new(4.0, 0.0, 0.0), &o, 5.0, 3.0, 1.0);
        assert!((d - 1.0).abs() < 1e-12);
        let d = rounded_box(
            &Point3::new(0.0, 0.0, 0.0),
            &o,
            &Vector3::new(1.0, 2.0, 3.0),
            0.2,
        );
        assert!((d + 1.0).abs() < 1e-12);
        assert!((smin(1.0, 5.0, 0.5) - 1.0).abs() < 1e-12);
        assert!(smin(1.0, 1.0, 0.5) < 1.0);
    }
}
