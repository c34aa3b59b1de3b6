//! Label maps and masks: one value per voxel of a [`Geometry`], carried with it, so a map
//! cannot be read on the wrong grid or indexed in the wrong order.

use rayon::prelude::*;

use super::components::morph_box;
use super::geometry::Geometry;
use super::image::Volume;
use crate::error::{Error, Result};

/// Checks that a voxel buffer has one entry per voxel of its grid.
fn check_len(what: &str, len: usize, geometry: &Geometry) -> Result<()> {
    if len != geometry.num_voxels() {
        return Err(Error::invalid(format!(
            "{what} of {len} voxels does not match grid size {:?} ({} voxels)",
            geometry.size,
            geometry.num_voxels()
        )));
    }
    Ok(())
}

/// Fills a `[k][j][i]` buffer with `f(i, j, k)`, in parallel over slices.
fn fill<T: Copy + Default + Send>(
    geometry: &Geometry,
    f: impl Fn(usize, usize, usize) -> T + Sync,
) -> Vec<T> {
    let [ni, nj, nk] = geometry.size;
    let mut data = vec![T::default(); ni * nj * nk];
    data.par_chunks_mut((ni * nj).max(1))
        .enumerate()
        .for_each(|(k, slab)| {
            for j in 0..nj {
                for i in 0..ni {
                    slab[j * ni + i] = f(i, j, k);
                }
            }
        });
    data
}

/// A label per voxel (0 = background) on a grid: bones, regions, subregions.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelMap {
    geometry: Geometry,
    labels: Vec<u8>,
}

impl LabelMap {
    /// Wraps labels in `[k][j][i]` order on a grid, checking there is one per voxel.
    pub fn new(geometry: Geometry, labels: Vec<u8>) -> Result<Self> {
        check_len("label map", labels.len(), &geometry)?;
        Ok(LabelMap { geometry, labels })
    }

    /// Labels computed inside `volume` for every voxel of `geometry` (a resampling): one
    /// per voxel by construction, so no check.
    pub(super) fn filled_by(geometry: Geometry, labels: Vec<u8>) -> Self {
        debug_assert_eq!(labels.len(), geometry.num_voxels());
        LabelMap { geometry, labels }
    }

    /// All background.
    pub fn zeros(geometry: Geometry) -> Self {
        let labels = vec![0; geometry.num_voxels()];
        LabelMap { geometry, labels }
    }

    /// The map whose voxel (i, j, k) holds `f(i, j, k)`.
    pub fn from_fn(geometry: Geometry, f: impl Fn(usize, usize, usize) -> u8 + Sync) -> Self {
        let labels = fill(&geometry, f);
        LabelMap { geometry, labels }
    }

    /// A label volume read as scalars (a NIfTI label file, a nearest-neighbour
    /// resampling): each value cast to u8 (fractions dropped, clamped to 0-255, NaN 0).
    pub fn from_volume(v: &Volume) -> LabelMap {
        LabelMap::from_fn(v.geometry.clone(), |i, j, k| v.data[[k, j, i]] as u8)
    }

    /// The grid the labels live on.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The labels in `[k][j][i]` order (see [`Geometry::index`]).
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Label of voxel (i, j, k); panics outside the grid, like slice indexing.
    #[inline]
    pub fn at(&self, i: usize, j: usize, k: usize) -> u8 {
        self.labels[self.geometry.index(i, j, k)]
    }

    /// The voxels holding `label`.
    pub fn mask(&self, label: u8) -> Mask {
        let inside = self.labels.iter().map(|l| *l == label).collect();
        Mask {
            geometry: self.geometry.clone(),
            inside,
        }
    }

    /// Number of voxels holding `label`.
    pub fn count(&self, label: u8) -> usize {
        self.labels.iter().filter(|l| **l == label).count()
    }

    /// The same grid with every label passed through `f`.
    pub fn map(&self, f: impl Fn(u8) -> u8) -> LabelMap {
        let labels = self.labels.iter().map(|l| f(*l)).collect();
        LabelMap {
            geometry: self.geometry.clone(),
            labels,
        }
    }

    /// The same voxels on another grid of the same size (the grid moved or mirrored).
    pub fn with_geometry(self, geometry: Geometry) -> Result<LabelMap> {
        LabelMap::new(geometry, self.labels)
    }

    /// The labels as a scalar volume (for display, resampling and NIfTI).
    pub fn to_volume(&self) -> Volume {
        Volume::from_fn(self.geometry.clone(), |i, j, k| f32::from(self.at(i, j, k)))
    }
}

/// Read as a slice in storage order, as a `Vec<u8>` reads (iterate, count, compare).
impl std::ops::Deref for LabelMap {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.labels
    }
}

impl<'a> IntoIterator for &'a LabelMap {
    type Item = &'a u8;
    type IntoIter = std::slice::Iter<'a, u8>;
    fn into_iter(self) -> Self::IntoIter {
        self.labels.iter()
    }
}

/// A yes/no per voxel on a grid: body, bone, a region of interest.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    geometry: Geometry,
    inside: Vec<bool>,
}

impl Mask {
    /// Wraps a `[k][j][i]` buffer on a grid, checking there is one value per voxel.
    pub fn new(geometry: Geometry, inside: Vec<bool>) -> Result<Self> {
        check_len("mask", inside.len(), &geometry)?;
        Ok(Mask { geometry, inside })
    }

    /// The mask whose voxel (i, j, k) is `f(i, j, k)`.
    pub fn from_fn(geometry: Geometry, f: impl Fn(usize, usize, usize) -> bool + Sync) -> Self {
        let inside = fill(&geometry, f);
        Mask { geometry, inside }
    }

    /// The grid the mask lives on.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The values in `[k][j][i]` order (see [`Geometry::index`]).
    pub fn inside(&self) -> &[bool] {
        &self.inside
    }

    /// The buffer, giving up the grid.
    pub fn into_inside(self) -> Vec<bool> {
        self.inside
    }

    /// Whether voxel (i, j, k) is inside; panics outside the grid, like slice indexing.
    #[inline]
    pub fn at(&self, i: usize, j: usize, k: usize) -> bool {
        self.inside[self.geometry.index(i, j, k)]
    }

    /// Number of voxels inside.
    pub fn count(&self) -> usize {
        self.inside.iter().filter(|b| **b).count()
    }

    /// As a label map: 1 inside, 0 outside.
    pub fn to_labels(&self) -> LabelMap {
        let labels = self.inside.iter().map(|b| u8::from(*b)).collect();
        LabelMap {
            geometry: self.geometry.clone(),
            labels,
        }
    }

    /// Dilated by a box of half-widths `radius_vox` voxels.
    pub fn dilate(&self, radius_vox: [usize; 3]) -> Mask {
        let inside = morph_box(&self.inside, self.geometry.size, radius_vox, true);
        Mask {
            geometry: self.geometry.clone(),
            inside,
        }
    }

    /// World centroid (LPS, mm) of the voxels inside; the grid's first voxel when empty.
    pub fn centroid_mm(&self) -> nalgebra::Point3<f64> {
        let (mut sum, mut n) = (nalgebra::Vector3::zeros(), 0usize);
        for (v, m) in self.inside.iter().enumerate() {
            if *m {
                let [i, j, k] = self.geometry.ijk(v);
                sum += nalgebra::Vector3::new(i as f64, j as f64, k as f64);
                n += 1;
            }
        }
        self.geometry.index_to_world(sum / n.max(1) as f64)
    }

    /// The complement on the same grid.
    pub fn not(&self) -> Mask {
        let inside = self.inside.iter().map(|b| !*b).collect();
        Mask {
            geometry: self.geometry.clone(),
            inside,
        }
    }
}

/// Read as a slice in storage order, as a `Vec<bool>` reads.
impl std::ops::Deref for Mask {
    type Target = [bool];
    fn deref(&self) -> &[bool] {
        &self.inside
    }
}

impl<'a> IntoIterator for &'a Mask {
    type Item = &'a bool;
    type IntoIter = std::slice::Iter<'a, bool>;
    fn into_iter(self) -> Self::IntoIter {
        self.inside.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Geometry {
        Geometry::new([4, 3, 2], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    }

    #[test]
    fn index_and_ijk_are_inverse_and_i_fastest() {
        let g = grid();
        assert_eq!(g.index(1, 0, 0), 1);
        assert_eq!(g.index(0, 1, 0), 4);
        assert_eq!(g.index(0, 0, 1), 12);
        for n in 0..g.num_voxels() {
            let [i, j, k] = g.ijk(n);
            assert_eq!(g.index(i, j, k), n);
        }
    }

    #[test]
    fn label_map_checks_its_length_and_reads_by_index() {
        let g = grid();
        let err = LabelMap::new(g.clone(), vec![0; 5])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("5 voxels") && err.contains("[4, 3, 2]"),
            "{err}"
        );
        let map = LabelMap::from_fn(g.clone(), |i, j, k| (i + 10 * j + 100 * k) as u8);
        assert_eq!(map.at(3, 2, 1), 123);
        assert_eq!(map.labels()[g.index(2, 1, 0)], 12);
        assert_eq!(map.mask(123).count(), 1);
        assert!(map.mask(123).at(3, 2, 1));
        assert_eq!(map.map(|l| u8::from(l >= 100)).count(1), 12);
        assert_eq!(map.to_volume().get(3, 2, 1), Some(123.0));
    }

    #[test]
    fn mask_complement_and_length_check() {
        let g = grid();
        assert!(Mask::new(g.clone(), vec![true; 23]).is_err());
        let m = Mask::from_fn(g, |i, _, _| i == 0);
        assert_eq!(m.count(), 6);
        assert_eq!(m.not().count(), 18);
    }
}
