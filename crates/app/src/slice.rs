//! World-space slice extraction for display: a plane through a point, sampled on a grid
//! of the volume's in-plane spacing, in radiological orientation.

use nalgebra::{Point3, Vector3};

use srrd_base::volume::{Geometry, Interpolation, Volume, interpolate::sample};

/// The three standard planes, in LPS world space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plane {
    /// Screen right = patient left, screen down = posterior.
    Axial,
    /// Screen right = patient left, screen down = inferior.
    Coronal,
    /// Screen right = posterior, screen down = inferior.
    Sagittal,
}

impl Plane {
    /// World directions of screen right, screen down, and the plane normal.
    pub fn axes(self) -> (Vector3<f64>, Vector3<f64>, Vector3<f64>) {
        let l = Vector3::x();
        let p = Vector3::y();
        let s = Vector3::z();
        match self {
            Plane::Axial => (l, p, s),
            Plane::Coronal => (l, -s, p),
            Plane::Sagittal => (p, -s, l),
        }
    }

    /// Orientation letters at the (left, right, top, bottom) edges.
    pub fn edge_letters(self) -> [&'static str; 4] {
        match self {
            Plane::Axial => ["R", "L", "A", "P"],
            Plane::Coronal => ["R", "L", "S", "I"],
            Plane::Sagittal => ["A", "P", "S", "I"],
        }
    }

    /// Name shown on the view.
    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "Axial",
            Plane::Coronal => "Coronal",
            Plane::Sagittal => "Sagittal",
        }
    }
}

/// A sampled slice: values row by row, with the world position of pixel (0, 0) and the
/// pixel size in mm.
#[derive(Clone, Debug)]
pub struct SliceImage {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
    pub corner_mm: Point3<f64>,
    pub pixel_mm: f64,
}

/// The pixel grid of a slice of `volume` on `plane` through `center`, over the volume's
/// whole extent, with square pixels of the volume's finest spacing (no values).
pub fn slice_grid(volume: &Volume, plane: Plane, center: Point3<f64>) -> SliceImage {
    let g = &volume.geometry;
    let (u, v, _) = plane.axes();
    let pixel_mm = g.spacing_mm.min();
    let (umin, umax, vmin, vmax) = extent_along(g, &u, &v);
    let width = (((umax - umin) / pixel_mm).ceil() as usize + 1).clamp(1, 2048);
    let height = (((vmax - vmin) / pixel_mm).ceil() as usize + 1).clamp(1, 2048);
    // Corner: the plane through `center`, offset to the extent's minimum along u and v.
    let corner = center + u * (umin - u.dot(&center.coords)) + v * (vmin - v.dot(&center.coords));
    SliceImage {
        width,
        height,
        values: Vec::new(),
        corner_mm: corner,
        pixel_mm,
    }
}

/// Samples `volume` on `plane` through `center` over the volume's whole extent.
/// Pixels outside the volume are NaN.
pub fn render_slice(
    volume: &Volume,
    plane: Plane,
    center: Point3<f64>,
    interpolation: Interpolation,
) -> SliceImage {
    let mut slice = slice_grid(volume, plane, center);
    slice.values = sample_on_slice(volume, plane, &slice, interpolation);
    slice
}

/// Samples any volume on the pixel grid of an existing slice (NaN outside the volume), so
/// layers on different grids line up where their world coordinates agree.
pub fn sample_on_slice(
    volume: &Volume,
    plane: Plane,
    grid: &SliceImage,
    interpolation: Interpolation,
) -> Vec<f32> {
    sample_on_slice_moved(volume, plane, grid, interpolation, None)
}

/// [`sample_on_slice`] of an image shown moved: the view's world point p shows the
/// image's value at `moved_by(p)` (a fixed -> moving transform, as ITK's), so a nudged
/// or corrected MR is seen where that transform puts it.
pub fn sample_on_slice_moved(
    volume: &Volume,
    plane: Plane,
    grid: &SliceImage,
    interpolation: Interpolation,
    moved_by: Option<&srrd_base::volume::RigidTransform>,
) -> Vec<f32> {
    use srrd_base::volume::PointTransform;
    let g = &volume.geometry;
    let (u, v, _) = plane.axes();
    let data = volume.data.as_standard_layout();
    let data = data.as_slice().expect("standard layout");
    let mut values = vec![f32::NAN; grid.width * grid.height];
    for (y, row) in values.chunks_mut(grid.width).enumerate() {
        for (x, out) in row.iter_mut().enumerate() {
            let mut p =
                grid.corner_mm + u * (x as f64 * grid.pixel_mm) + v * (y as f64 * grid.pixel_mm);
            if let Some(t) = moved_by {
                p = t.transform_point(&p);
            }
            if let Some(s) = sample(data, g.size, g.world_to_index(&p), interpolation) {
                *out = s;
            }
        }
    }
    values
}

impl SliceImage {
    /// World position of a (fractional) pixel.
    pub fn world_at(&self, plane: Plane, x: f64, y: f64) -> Point3<f64> {
        let (u, v, _) = plane.axes();
        self.corner_mm + u * (x * self.pixel_mm) + v * (y * self.pixel_mm)
    }

    /// Pixel position of a world point projected on the slice.
    pub fn pixel_of(&self, plane: Plane, p: &Point3<f64>) -> (f64, f64) {
        let (u, v, _) = plane.axes();
        let d = p - self.corner_mm;
        (u.dot(&d) / self.pixel_mm, v.dot(&d) / self.pixel_mm)
    }
}

/// The range of the grid's corners projected on u and v.
fn extent_along(g: &Geometry, u: &Vector3<f64>, v: &Vector3<f64>) -> (f64, f64, f64, f64) {
    let mut r = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    // Corner voxel centres: pixel centres then fall on voxel centres where the grid is
    // aligned with the plane, so nearest-neighbour display shows each voxel once.
    for c in 0..8 {
        let idx = Vector3::new(
            if c & 1 == 0 {
                0.0
            } else {
                g.size[0] as f64 - 1.0
            },
            if c & 2 == 0 {
                0.0
            } else {
                g.size[1] as f64 - 1.0
            },
            if c & 4 == 0 {
                0.0
            } else {
                g.size[2] as f64 - 1.0
            },
        );
        let p = g.index_to_world(idx).coords;
        r.0 = r.0.min(u.dot(&p));
        r.1 = r.1.max(u.dot(&p));
        r.2 = r.2.min(v.dot(&p));
        r.3 = r.3.max(v.dot(&p));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axial_slice_is_radiological_and_through_the_point() {
        // Value = world x (LPS: grows to patient left).
        let g = Geometry::new([20, 10, 5], [1.0, 1.0, 2.0], [-10.0, -5.0, 0.0]);
        let geo = g.clone();
        let v = Volume::from_fn(g, move |i, j, k| {
            let p = geo.index_to_world(Vector3::new(i as f64, j as f64, k as f64));
            (p.x + 100.0 * p.z) as f32
        });
        let s = render_slice(
            &v,
            Plane::Axial,
            Point3::new(0.0, 0.0, 4.0),
            Interpolation::Linear,
        );
        // Left of the screen is patient right (small x), right is patient left.
        let row = s.height / 2;
        let first = s.values[row * s.width + 1];
        let last = s.values[row * s.width + s.width - 2];
        assert!(first < last, "{first} {last}");
        // The slice sits at z = 4 mm.
        assert!((s.corner_mm.z - 4.0).abs() < 1e-9);
        assert!(((first - (s.corner_mm.x as f32 + 1.0)) - 400.0).abs() < 1e-3);
    }
}
