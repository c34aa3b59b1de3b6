//! Writing NIfTI-1: volumes and label maps, the 352-byte header, and the file itself
//! (gzip-compressed for `.gz` names), always atomically.

use std::path::Path;

use rayon::prelude::*;

use super::geometry::put_forms;
use crate::error::{Error, Result};
use crate::volume::{Geometry, LabelMap, Volume};

/// Voxel type of a written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteDtype {
    /// Labels and masks (values rounded, clamped to 0..255).
    U8,
    /// CT in HU (values rounded, clamped to the int16 range).
    I16,
    /// Anything else.
    F32,
}

/// Writes a volume as NIfTI-1 (`.nii`, or gzip-compressed when the name ends in `.gz`),
/// with sform and qform both set (code 1, scanner), to a temporary name then renamed,
/// so a failure never leaves a half-written file.
pub fn write_nifti(path: &Path, volume: &Volume, dtype: WriteDtype) -> Result<()> {
    volume.geometry.validate().map_err(|e| e.in_file(path))?;
    if volume.geometry.size.iter().any(|&n| n > i16::MAX as usize) {
        return Err(Error::file(
            path,
            format!("size {:?} is too large for NIfTI-1", volume.geometry.size),
        ));
    }
    let header = build_header(&volume.geometry, dtype);
    let bytes_per_voxel = match dtype {
        WriteDtype::U8 => 1,
        WriteDtype::I16 => 2,
        WriteDtype::F32 => 4,
    };
    let std = volume.data.as_standard_layout();
    let src = std
        .as_slice()
        .ok_or_else(|| Error::file(path, "voxels are not contiguous"))?;
    let mut payload = vec![0u8; src.len() * bytes_per_voxel];
    payload
        .par_chunks_mut(bytes_per_voxel * 4096)
        .zip(src.par_chunks(4096))
        .for_each(|(dst, s)| {
            for (n, v) in s.iter().enumerate() {
                match dtype {
                    WriteDtype::U8 => dst[n] = v.round().clamp(0.0, 255.0) as u8,
                    WriteDtype::I16 => {
                        let x = v.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16;
                        dst[2 * n..2 * n + 2].copy_from_slice(&x.to_le_bytes());
                    }
                    WriteDtype::F32 => dst[4 * n..4 * n + 4].copy_from_slice(&v.to_le_bytes()),
                }
            }
        });
    write_file(path, &header, &payload)
}

/// Writes a label map as uint8 NIfTI, atomically.
pub fn write_labels(path: &Path, labels: &LabelMap) -> Result<()> {
    let geometry = labels.geometry();
    geometry.validate().map_err(|e| e.in_file(path))?;
    if geometry.size.iter().any(|&n| n > i16::MAX as usize) {
        return Err(Error::file(
            path,
            format!("size {:?} is too large for NIfTI-1", geometry.size),
        ));
    }
    write_file(
        path,
        &build_header(geometry, WriteDtype::U8),
        labels.labels(),
    )
}

/// The 352 bytes (header + empty extension flag) of a NIfTI-1 file for this grid.
pub(super) fn build_header(g: &Geometry, dtype: WriteDtype) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    let put_i16 =
        |h: &mut Vec<u8>, off: usize, v: i16| h[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut Vec<u8>, off: usize, v: f64| {
        h[off..off + 4].copy_from_slice(&(v as f32).to_le_bytes())
    };
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let (code, bitpix) = match dtype {
        WriteDtype::U8 => (2i16, 8i16),
        WriteDtype::I16 => (4, 16),
        WriteDtype::F32 => (16, 32),
    };
    let dims = [
        3i16,
        g.size[0] as i16,
        g.size[1] as i16,
        g.size[2] as i16,
        1,
        1,
        1,
        1,
    ];
    for (n, d) in dims.iter().enumerate() {
        put_i16(&mut h, 40 + 2 * n, *d);
    }
    put_i16(&mut h, 70, code);
    put_i16(&mut h, 72, bitpix);
    for a in 0..3 {
        put_f32(&mut h, 80 + 4 * a, g.spacing_mm[a]);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, 1.0);
    h[123] = 10; // mm and seconds
    put_forms(&mut h, g);
    h[148..148 + 4].copy_from_slice(b"srrd");
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// Writes header and voxels, gzip-compressed when the name ends in `.gz`, atomically.
pub(super) fn write_file(path: &Path, header: &[u8], payload: &[u8]) -> Result<()> {
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    crate::io::atomic_write(path, |w| {
        if gz {
            // libdeflate (whole buffer, about twice zlib's speed at the same ratio); the
            // gzip header it writes carries no time stamp, so output bytes are reproducible.
            let mut data = Vec::with_capacity(header.len() + payload.len());
            data.extend_from_slice(header);
            data.extend_from_slice(payload);
            let lvl = libdeflater::CompressionLvl::new(4).unwrap_or_default();
            let mut c = libdeflater::Compressor::new(lvl);
            let mut out = vec![0u8; c.gzip_compress_bound(data.len())];
            let n = c
                .gzip_compress(&data, &mut out)
                .map_err(|e| std::io::Error::other(format!("gzip: {e:?}")))?;
            w.write_all(&out[..n])?;
        } else {
            w.write_all(header)?;
            w.write_all(payload)?;
        }
        Ok(())
    })
}
