//! Displacement fields as vector NIfTI (5 dims, 3 components, LPS mm vectors), the layout
//! ITK, SimpleITK and ANTs read and write.

use std::path::Path;

use super::NiftiDtype;
use super::geometry::nifti_geometry;
use super::read::{decode, is_big_endian, maybe_gunzip, parse_header};
use super::write::{WriteDtype, build_header, write_file};
use crate::error::{Error, Result};
use crate::volume::DisplacementField;

/// Reads a displacement field stored as a vector NIfTI (5 dims, 3 components in dim 5,
/// vectors in LPS mm: the layout ITK, SimpleITK and ANTs write).
pub fn read_displacement_field(path: &Path) -> Result<DisplacementField> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = maybe_gunzip(raw).map_err(|e| e.in_file(path))?;
    parse_field(&bytes).map_err(|e| e.in_file(path))
}

fn parse_field(b: &[u8]) -> Result<DisplacementField> {
    let h = parse_header(b)?;
    let big = is_big_endian(b);
    let ok_shape = h.dim[0] == 5 && h.dim[4] <= 1 && h.dim[5] == 3 && (1..=3).all(|d| h.dim[d] > 0);
    if !ok_shape {
        return Err(Error::invalid(format!(
            "not a 3D displacement field: dims {:?} (expected 5 dims with 3 vector components in the 5th)",
            &h.dim[..(h.dim[0].clamp(0, 7) as usize + 1)]
        )));
    }
    let dtype = NiftiDtype::from_code(h.datatype)?;
    let size = [h.dim[1] as usize, h.dim[2] as usize, h.dim[3] as usize];
    let nvox = size
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .ok_or_else(|| Error::invalid("image dimensions overflow"))?;
    let min_offset = if h.version == 1 { 348.0 } else { 540.0 };
    if !h.vox_offset.is_finite() || h.vox_offset < min_offset {
        return Err(Error::invalid(format!(
            "vox_offset {} points inside the header",
            h.vox_offset
        )));
    }
    let off = h.vox_offset as usize;
    let needed = nvox
        .checked_mul(3 * dtype.bytes())
        .ok_or_else(|| Error::invalid("image dimensions overflow"))?;
    if b.len().saturating_sub(off) < needed {
        return Err(Error::invalid(format!(
            "a {size:?} field of 3 {} components needs {needed} bytes but the file holds {} (truncated?)",
            dtype.name(),
            b.len().saturating_sub(off)
        )));
    }
    let geometry = nifti_geometry(&h, 3)?;
    let slope = if h.scl_slope.is_finite() && h.scl_slope.abs() >= f64::EPSILON {
        h.scl_slope
    } else {
        1.0
    };
    let inter = if h.scl_inter.is_finite() {
        h.scl_inter
    } else {
        0.0
    };
    let mut planes = vec![0f32; 3 * nvox];
    decode(&b[off..off + needed], dtype, big, slope, inter, &mut planes);
    let mut vectors = vec![0f32; 3 * nvox];
    for (n, v) in vectors.chunks_exact_mut(3).enumerate() {
        for c in 0..3 {
            v[c] = planes[c * nvox + n];
        }
    }
    let [nk, nj, ni] = geometry.shape_kji();
    let array = ndarray::Array4::from_shape_vec((nk, nj, ni, 3), vectors)
        .map_err(|e| Error::invalid(e.to_string()))?;
    DisplacementField::from_data(geometry, array)
}

/// Writes a displacement field as a vector NIfTI-1 (float32, 5 dims, intent VECTOR, LPS mm
/// vectors), the layout SimpleITK reads as a displacement field image; atomically.
pub fn write_displacement_field(path: &Path, field: &DisplacementField) -> Result<()> {
    let g = &field.geometry;
    g.validate().map_err(|e| e.in_file(path))?;
    if g.size.iter().any(|&n| n > i16::MAX as usize) {
        return Err(Error::file(
            path,
            format!("size {:?} is too large for NIfTI-1", g.size),
        ));
    }
    let mut header = build_header(g, WriteDtype::F32);
    let dims = [
        5i16,
        g.size[0] as i16,
        g.size[1] as i16,
        g.size[2] as i16,
        1,
        3,
        1,
        1,
    ];
    for (n, d) in dims.iter().enumerate() {
        header[40 + 2 * n..42 + 2 * n].copy_from_slice(&d.to_le_bytes());
    }
    header[68..70].copy_from_slice(&1007i16.to_le_bytes()); // NIFTI_INTENT_VECTOR
    let nvox = g.num_voxels();
    let src = field.vectors_mm.as_standard_layout();
    let src = src
        .as_slice()
        .ok_or_else(|| Error::file(path, "vectors are not contiguous"))?;
    let mut payload = vec![0u8; 3 * nvox * 4];
    for c in 0..3 {
        for n in 0..nvox {
            let o = (c * nvox + n) * 4;
            payload[o..o + 4].copy_from_slice(&src[3 * n + c].to_le_bytes());
        }
    }
    write_file(path, &header, &payload)
}
