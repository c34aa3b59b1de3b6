//! The scalar volume: voxels on a [`Geometry`], stored as f32 in `[k][j][i]` order.

use ndarray::Array3;
use rayon::prelude::*;

use super::geometry::Geometry;
use crate::error::{Error, Result};

/// A 3D scalar image in world space. Voxel values are f32 (CT in HU, MR raw).
#[derive(Clone, Debug)]
pub struct Volume {
    /// Where the voxels are.
    pub geometry: Geometry,
    /// Voxel values, shape `[nk, nj, ni]` (like SimpleITK's `GetArrayFromImage`).
    pub data: Array3<f32>,
}

impl Volume {
    /// A volume filled with one value.
    pub fn filled(geometry: Geometry, value: f32) -> Self {
        let data = Array3::from_elem(geometry.shape_kji(), value);
        Volume { geometry, data }
    }

    /// Wraps voxels on a grid, checking that their shape matches it.
    pub fn from_data(geometry: Geometry, data: Array3<f32>) -> Result<Self> {
        if data.shape() != geometry.shape_kji() {
            return Err(Error::invalid(format!(
                "voxel array of shape {:?} does not match grid size {:?} (expected [k][j][i] = {:?})",
                data.shape(),
                geometry.size,
                geometry.shape_kji()
            )));
        }
        Ok(Volume { geometry, data })
    }

    /// A volume whose voxel (i, j, k) holds `f(i, j, k)`, evaluated in parallel over slices.
    pub fn from_fn(geometry: Geometry, f: impl Fn(usize, usize, usize) -> f32 + Sync) -> Self {
        let [ni, nj, nk] = geometry.size;
        let mut data = vec![0f32; ni * nj * nk];
        data.par_chunks_mut(ni * nj.max(1))
            .enumerate()
            .for_each(|(k, slab)| {
                for j in 0..nj {
                    for i in 0..ni {
                        slab[j * ni + i] = f(i, j, k);
                    }
                }
            });
        let data = Array3::from_shape_vec((nk, nj, ni), data).expect("shape matches length");
        Volume { geometry, data }
    }

    /// The content id of the image (its grid and voxel values, not its file's name or
    /// format): the same knee's CT read from a copy, a renamed file or another study list
    /// has the same id.
    pub fn content_id(&self) -> String {
        let mut h = crate::hash::ContentHash::default();
        let g = &self.geometry;
        for n in g.size {
            h.write(&(n as u64).to_le_bytes());
        }
        let numbers = g
            .spacing_mm
            .iter()
            .chain(g.origin_mm.iter())
            .chain(g.direction.iter());
        for x in numbers {
            h.write(&x.to_le_bytes());
        }
        for v in self.data.iter() {
            h.write(&v.to_le_bytes());
        }
        h.hex()
    }

    /// Value at integer index (i, j, k), or None outside the grid.
    pub fn get(&self, i: usize, j: usize, k: usize) -> Option<f32> {
        self.data.get([k, j, i]).copied()
    }

    /// Smallest and largest finite voxel value; None when no value is finite.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        let slice = self.data.as_slice();
        let reduce = |it: &mut dyn Iterator<Item = f32>| {
            it.filter(|v| v.is_finite())
                .fold(None, |acc: Option<(f32, f32)>, v| match acc {
                    None => Some((v, v)),
                    Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
                })
        };
        match slice {
            Some(s) => s
                .par_chunks(1 << 16)
                .map(|c| reduce(&mut c.iter().copied()))
                .reduce(
                    || None,
                    |a, b| match (a, b) {
                        (None, x) | (x, None) => x,
                        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
                    },
                ),
            None => reduce(&mut self.data.iter().copied()),
        }
    }

    /// Number of voxels that are NaN or infinite.
    pub fn count_non_finite(&self) -> usize {
        self.data.iter().filter(|v| !v.is_finite()).count()
    }
}
