//! Image geometry: the grid of a volume in world space (DICOM patient space, LPS, mm).
//!
//! A voxel index (i, j, k), fastest to slowest in the file, maps to world as
//! `world = origin + direction * diag(spacing) * index`, exactly as in ITK.

use nalgebra::{Matrix3, Matrix4, Point3, Vector3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Position of voxel (i, j, k) in a `[k][j][i]` buffer of grid size `size` (i fastest): the
/// one place the storage order is written, for buffers that have a size but no world grid
/// (patches, lattices). Grids use [`Geometry::index`].
#[inline]
pub fn voxel_index(size: [usize; 3], i: usize, j: usize, k: usize) -> usize {
    (k * size[1] + j) * size[0] + i
}

/// Voxel (i, j, k) at position `n` of a `[k][j][i]` buffer of grid size `size`: the
/// inverse of [`voxel_index`].
#[inline]
pub fn voxel_ijk(size: [usize; 3], n: usize) -> [usize; 3] {
    let [ni, nj, _] = size;
    [n % ni, (n / ni) % nj, n / (ni * nj)]
}

/// The sampling grid of a 3D image in LPS millimetres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Number of voxels along i, j, k.
    pub size: [usize; 3],
    /// Distance between voxel centres along i, j, k, in mm.
    pub spacing_mm: Vector3<f64>,
    /// World position (LPS, mm) of the centre of voxel (0, 0, 0).
    pub origin_mm: Point3<f64>,
    /// Direction cosines: column c is the world direction of index axis c.
    pub direction: Matrix3<f64>,
}

impl Geometry {
    /// An axis-aligned grid (identity direction).
    pub fn new(size: [usize; 3], spacing_mm: [f64; 3], origin_mm: [f64; 3]) -> Self {
        Geometry {
            size,
            spacing_mm: Vector3::from(spacing_mm),
            origin_mm: Point3::from(origin_mm),
            direction: Matrix3::identity(),
        }
    }

    /// Same grid with another direction matrix.
    pub fn with_direction(mut self, direction: Matrix3<f64>) -> Self {
        self.direction = direction;
        self
    }

    /// Total number of voxels.
    pub fn num_voxels(&self) -> usize {
        self.size[0] * self.size[1] * self.size[2]
    }

    /// Position of voxel (i, j, k) in storage order `[k][j][i]` (i fastest), as in every
    /// voxel buffer on this grid.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        voxel_index(self.size, i, j, k)
    }

    /// Voxel (i, j, k) at a storage position: the inverse of [`Geometry::index`].
    #[inline]
    pub fn ijk(&self, n: usize) -> [usize; 3] {
        voxel_ijk(self.size, n)
    }

    /// World position (LPS, mm) of the voxel at storage position `n`.
    pub fn voxel_world(&self, n: usize) -> Point3<f64> {
        let [i, j, k] = self.ijk(n);
        self.index_to_world(Vector3::new(i as f64, j as f64, k as f64))
    }

    /// Shape of the voxel array in storage order `[k][j][i]`.
    pub fn shape_kji(&self) -> [usize; 3] {
        [self.size[2], self.size[1], self.size[0]]
    }

    /// Checks that the grid can be used: positive finite spacing, finite origin, and an
    /// invertible direction matrix with unit columns.
    pub fn validate(&self) -> Result<()> {
        if self.size.contains(&0) {
            return Err(Error::invalid(format!(
                "empty grid of size {:?}",
                self.size
            )));
        }
        for (axis, s) in self.spacing_mm.iter().enumerate() {
            if !s.is_finite() || *s <= 0.0 {
                return Err(Error::invalid(format!(
                    "spacing along axis {axis} is {s} (must be a positive number of mm)"
                )));
            }
        }
        if self.origin_mm.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("origin is not finite"));
        }
        if self.direction.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("direction matrix is not finite"));
        }
        let det = self.direction.determinant();
        if det.abs() < 1e-6 {
            return Err(Error::invalid("direction matrix is singular"));
        }
        Ok(())
    }

    /// The 4x4 homogeneous matrix mapping continuous index to world (LPS mm).
    pub fn index_to_world_matrix(&self) -> Matrix4<f64> {
        let m = self.direction * Matrix3::from_diagonal(&self.spacing_mm);
        let mut out = m.to_homogeneous();
        out.fixed_view_mut::<3, 1>(0, 3)
            .copy_from(&self.origin_mm.coords);
        out
    }

    /// The 4x4 homogeneous matrix mapping world (LPS mm) to continuous index.
    pub fn world_to_index_matrix(&self) -> Matrix4<f64> {
        let m = self.direction * Matrix3::from_diagonal(&self.spacing_mm);
        let inv = m.try_inverse().unwrap_or_else(Matrix3::zeros);
        let mut out = inv.to_homogeneous();
        out.fixed_view_mut::<3, 1>(0, 3)
            .copy_from(&(-(inv * self.origin_mm.coords)));
        out
    }

    /// World position of a continuous index (i, j, k).
    pub fn index_to_world(&self, index: Vector3<f64>) -> Point3<f64> {
        self.origin_mm + self.direction * self.spacing_mm.component_mul(&index)
    }

    /// Continuous index (i, j, k) of a world position.
    pub fn world_to_index(&self, world: &Point3<f64>) -> Vector3<f64> {
        let d = world - self.origin_mm;
        let inv = self.direction.try_inverse().unwrap_or_else(Matrix3::zeros);
        (inv * d).component_div(&self.spacing_mm)
    }

    /// World position of the centre of the grid (halfway between the first and last voxel).
    pub fn center_mm(&self) -> Point3<f64> {
        let half = Vector3::new(
            (self.size[0] as f64 - 1.0) / 2.0,
            (self.size[1] as f64 - 1.0) / 2.0,
            (self.size[2] as f64 - 1.0) / 2.0,
        );
        self.index_to_world(half)
    }

    /// Whether a continuous index lies inside the image buffer, using ITK's rule: each
    /// coordinate in `[-0.5, size - 0.5)`.
    pub fn contains_index(&self, index: &Vector3<f64>) -> bool {
        (0..3).all(|a| index[a] >= -0.5 && index[a] < self.size[a] as f64 - 0.5)
    }

    /// Physical extent of the grid along each index axis, in mm (first to last voxel centre).
    pub fn extent_mm(&self) -> Vector3<f64> {
        Vector3::new(
            (self.size[0].saturating_sub(1)) as f64 * self.spacing_mm[0],
            (self.size[1].saturating_sub(1)) as f64 * self.spacing_mm[1],
            (self.size[2].saturating_sub(1)) as f64 * self.spacing_mm[2],
        )
    }

    /// Direction matrix as 9 numbers, row-major (as SimpleITK's `GetDirection`).
    pub fn direction_row_major(&self) -> [f64; 9] {
        let d = &self.direction;
        [
            d[(0, 0)],
            d[(0, 1)],
            d[(0, 2)],
            d[(1, 0)],
            d[(1, 1)],
            d[(1, 2)],
            d[(2, 0)],
            d[(2, 1)],
            d[(2, 2)],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Rotation3;

    fn oblique() -> Geometry {
        let rot = Rotation3::from_euler_angles(0.3, -0.2, 0.7).into_inner();
        Geometry::new([10, 20, 30], [0.5, 0.75, 2.0], [-10.0, 5.0, 3.0]).with_direction(rot)
    }

    #[test]
    fn index_world_round_trip() {
        let g = oblique();
        let idx = Vector3::new(3.25, -1.5, 17.0);
        let w = g.index_to_world(idx);
        let back = g.world_to_index(&w);
        assert!((back - idx).norm() < 1e-10);
        let h = g.index_to_world_matrix() * idx.push(1.0);
        assert!((h.xyz() - w.coords).norm() < 1e-10);
        let b2 = g.world_to_index_matrix() * w.coords.push(1.0);
        assert!((b2.xyz() - idx).norm() < 1e-10);
    }

    #[test]
    fn unit_step_along_axis_moves_by_spacing() {
        let g = oblique();
        let a = g.index_to_world(Vector3::new(1.0, 1.0, 1.0));
        let b = g.index_to_world(Vector3::new(1.0, 1.0, 2.0));
        assert!(((b - a).norm() - 2.0).abs() < 1e-12);
        assert!(((b - a) / 2.0 - g.direction.column(2)).norm() < 1e-12);
    }

    #[test]
    fn validate_rejects_bad_spacing() {
        let mut g = oblique();
        assert!(g.validate().is_ok());
        g.spacing_mm[1] = 0.0;
        assert!(g.validate().is_err());
        g.spacing_mm[1] = f64::NAN;
        assert!(g.validate().is_err());
    }

    #[test]
    fn center_is_mid_voxel() {
        let g = Geometry::new([3, 5, 7], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]);
        let c = g.center_mm();
        assert_eq!(c, Point3::new(1.0, 4.0, 9.0));
    }
}
