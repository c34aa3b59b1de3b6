//! Reading NIfTI-1 and NIfTI-2: gunzip, header parsing (either byte order), voxel decoding
//! with ITK's scaling rules, and the scalar-volume readers.

use std::io::Read;
use std::path::Path;

use ndarray::Array3;
use rayon::prelude::*;

use super::geometry::nifti_geometry;
use super::{Header, NiftiDtype};
use crate::error::{Error, Result};
use crate::io::LoadedImage;
use crate::volume::Volume;

/// Reads a `.nii` or `.nii.gz` file (NIfTI-1 or NIfTI-2) as a 3D scalar volume. A 4D file
/// gives its first volume (with a warning).
pub fn read_nifti(path: &Path) -> Result<LoadedImage> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = maybe_gunzip(raw).map_err(|e| e.in_file(path))?;
    parse_nifti(&bytes).map_err(|e| e.in_file(path))
}

/// Whether these bytes start a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

pub(super) fn maybe_gunzip(raw: Vec<u8>) -> Result<Vec<u8>> {
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    // Fast path: one gzip member whose trailer gives the size (libdeflate, whole buffer).
    if raw.len() >= 18 {
        let n = raw.len();
        let isize = u32::from_le_bytes([raw[n - 4], raw[n - 3], raw[n - 2], raw[n - 1]]) as usize;
        // Deflate cannot expand more than 1032:1, so a hostile trailer cannot force a huge buffer.
        if isize > 0 && isize <= raw.len().saturating_mul(1032) {
            let mut out = vec![0u8; isize];
            let mut d = libdeflater::Decompressor::new();
            if let Ok(written) = d.gzip_decompress(&raw, &mut out)
                && written == isize
            {
                return Ok(out);
            }
        }
    }
    // General path: streaming, several members, sizes over 4 GiB, and clear errors.
    let mut out = Vec::with_capacity(raw.len() * 3);
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::invalid("gzip stream is truncated"),
            _ => Error::invalid(format!("gzip stream is corrupt ({e})")),
        })?;
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn arr<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[off..off + N]);
        if self.big {
            a.reverse();
        }
        a
    }
    fn i16(&self, off: usize) -> i16 {
        i16::from_le_bytes(self.arr(off))
    }
    fn i32(&self, off: usize) -> i32 {
        i32::from_le_bytes(self.arr(off))
    }
    fn i64(&self, off: usize) -> i64 {
        i64::from_le_bytes(self.arr(off))
    }
    fn f32(&self, off: usize) -> f64 {
        f32::from_le_bytes(self.arr(off)) as f64
    }
    fn f64(&self, off: usize) -> f64 {
        f64::from_le_bytes(self.arr(off))
    }
}

pub(super) fn parse_header(b: &[u8]) -> Result<Header> {
    if b.len() < 348 {
        return Err(Error::invalid(format!(
            "not a NIfTI file: {} bytes is shorter than a NIfTI header (348)",
            b.len()
        )));
    }
    let le = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (size, big) = match (le, be) {
        (348 | 540, _) => (le, false),
        (_, 348 | 540) => (be, true),
        _ => {
            return Err(Error::invalid(
                "not a NIfTI file (the header size field is neither 348 nor 540)",
            ));
        }
    };
    let r = Reader { b, big };
    if size == 348 {
        let magic = &b[344..348];
        match magic {
            b"n+1\0" => {}
            b"ni1\0" => {
                return Err(Error::invalid(
                    "NIfTI-1 header/image pair (.hdr + .img) is not supported; convert it to a single .nii",
                ));
            }
            _ => {
                return Err(Error::invalid(
                    "Analyze 7.5 or unknown header (no NIfTI-1 magic 'n+1') is not supported",
                ));
            }
        }
        let mut dim = [0i64; 8];
        let mut pixdim = [0f64; 8];
        for n in 0..8 {
            dim[n] = r.i16(40 + 2 * n) as i64;
            pixdim[n] = r.f32(76 + 4 * n);
        }
        let mut srow = [[0f64; 4]; 3];
        for (row, s) in srow.iter_mut().enumerate() {
            for (c, v) in s.iter_mut().enumerate() {
                *v = r.f32(280 + 16 * row + 4 * c);
            }
        }
        Ok(Header {
            version: 1,
            dim,
            pixdim,
            datatype: r.i16(70),
            vox_offset: r.f32(108),
            scl_slope: r.f32(112),
            scl_inter: r.f32(116),
            xyzt_units: b[123] as u32,
            intent_code: r.i16(68) as i32,
            qform_code: r.i16(252) as i32,
            sform_code: r.i16(254) as i32,
            quatern: [r.f32(256), r.f32(260), r.f32(264)],
            qoffset: [r.f32(268), r.f32(272), r.f32(276)],
            srow,
        })
    } else {
        if b.len() < 540 {
            return Err(Error::invalid("NIfTI-2 header is truncated"));
        }
        if &b[4..7] != b"n+2" {
            return Err(Error::invalid(
                "NIfTI-2 header without single-file magic 'n+2' (pairs are not supported)",
            ));
        }
        let mut dim = [0i64; 8];
        let mut pixdim = [0f64; 8];
        for n in 0..8 {
            dim[n] = r.i64(16 + 8 * n);
            pixdim[n] = r.f64(104 + 8 * n);
        }
        let mut srow = [[0f64; 4]; 3];
        for (row, s) in srow.iter_mut().enumerate() {
            for (c, v) in s.iter_mut().enumerate() {
                *v = r.f64(400 + 32 * row + 8 * c);
            }
        }
        Ok(Header {
            version: 2,
            dim,
            pixdim,
            datatype: r.i16(12),
            vox_offset: r.i64(168) as f64,
            scl_slope: r.f64(176),
            scl_inter: r.f64(184),
            xyzt_units: r.i32(500) as u32,
            intent_code: r.i32(504),
            qform_code: r.i32(344),
            sform_code: r.i32(348),
            quatern: [r.f64(352), r.f64(360), r.f64(368)],
            qoffset: [r.f64(376), r.f64(384), r.f64(392)],
            srow,
        })
    }
}

/// Decodes voxels of type `dtype` into f32, applying `v * slope + inter`, in parallel.
pub(super) fn decode(
    bytes: &[u8],
    dtype: NiftiDtype,
    big: bool,
    slope: f64,
    inter: f64,
    out: &mut [f32],
) {
    const CHUNK: usize = 1 << 16;
    let w = dtype.bytes();
    let scale = slope != 1.0 || inter != 0.0;
    out.par_chunks_mut(CHUNK)
        .zip(bytes.par_chunks(CHUNK * w))
        .for_each(|(o, b)| {
            // One tight loop per type: the compiler vectorises these.
            macro_rules! convert {
                ($t:ty, $n:expr) => {
                    for (dst, src) in o.iter_mut().zip(b.chunks_exact($n)) {
                        let mut a = [0u8; $n];
                        a.copy_from_slice(src);
                        let v = if big {
                            <$t>::from_be_bytes(a)
                        } else {
                            <$t>::from_le_bytes(a)
                        };
                        *dst = v as f32;
                    }
                };
            }
            match dtype {
                NiftiDtype::U8 => o.iter_mut().zip(b).for_each(|(d, s)| *d = *s as f32),
                NiftiDtype::I8 => o.iter_mut().zip(b).for_each(|(d, s)| *d = *s as i8 as f32),
                NiftiDtype::I16 => convert!(i16, 2),
                NiftiDtype::U16 => convert!(u16, 2),
                NiftiDtype::I32 => convert!(i32, 4),
                NiftiDtype::U32 => convert!(u32, 4),
                NiftiDtype::F32 => convert!(f32, 4),
                NiftiDtype::I64 => convert!(i64, 8),
                NiftiDtype::U64 => convert!(u64, 8),
                NiftiDtype::F64 => convert!(f64, 8),
            }
            if scale {
                if dtype == NiftiDtype::F64 || dtype.bytes() == 8 {
                    // Re-read in f64 for precision.
                    for (dst, src) in o.iter_mut().zip(b.chunks_exact(8)) {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(src);
                        let v = match (dtype, big) {
                            (NiftiDtype::F64, false) => f64::from_le_bytes(a),
                            (NiftiDtype::F64, true) => f64::from_be_bytes(a),
                            (NiftiDtype::I64, false) => i64::from_le_bytes(a) as f64,
                            (NiftiDtype::I64, true) => i64::from_be_bytes(a) as f64,
                            (_, false) => u64::from_le_bytes(a) as f64,
                            (_, true) => u64::from_be_bytes(a) as f64,
                        };
                        *dst = (v * slope + inter) as f32;
                    }
                } else {
                    for d in o.iter_mut() {
                        *d = (*d as f64 * slope + inter) as f32;
                    }
                }
            }
        });
}

/// Parses a whole NIfTI file already in memory (gzip-compressed or not).
pub fn read_nifti_bytes(bytes: Vec<u8>) -> Result<LoadedImage> {
    parse_nifti(&maybe_gunzip(bytes)?)
}

pub(super) fn parse_nifti(b: &[u8]) -> Result<LoadedImage> {
    let h = parse_header(b)?;
    let big = is_big_endian(b);
    let mut warnings = Vec::new();
    let ndim = h.dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(Error::invalid(format!(
            "dim[0] = {ndim} is not between 1 and 7"
        )));
    }
    let ndim = ndim as usize;
    let mut dims = [1i64; 7];
    for (d, slot) in dims.iter_mut().enumerate().take(ndim) {
        let n = h.dim[d + 1];
        if n <= 0 {
            return Err(Error::invalid(format!("dimension {} has size {n}", d + 1)));
        }
        *slot = n;
    }
    if dims[4..].iter().any(|&n| n > 1) || matches!(h.intent_code, 1005..=1007) {
        return Err(Error::invalid(format!(
            "vector- or matrix-valued image ({} components per voxel) is not a scalar volume",
            dims[4..].iter().product::<i64>()
        )));
    }
    let dtype = NiftiDtype::from_code(h.datatype)?;
    let vox_offset = h.vox_offset;
    let min_offset = if h.version == 1 { 348.0 } else { 540.0 };
    if !vox_offset.is_finite() || vox_offset < min_offset {
        return Err(Error::invalid(format!(
            "vox_offset {vox_offset} points inside the header"
        )));
    }
    let vox_offset = vox_offset as usize;
    let size = [dims[0] as usize, dims[1] as usize, dims[2] as usize];
    let nvox3 = size
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .ok_or_else(|| Error::invalid("image dimensions overflow"))?;
    let nvol = dims[3] as usize;
    let needed = nvox3
        .checked_mul(nvol)
        .and_then(|n| n.checked_mul(dtype.bytes()))
        .ok_or_else(|| Error::invalid("image dimensions overflow"))?;
    let held = b.len().saturating_sub(vox_offset);
    if held < needed {
        return Err(Error::invalid(format!(
            "header dims {:?} of {} need {needed} bytes of voxel data but the file holds {held} (truncated?)",
            &dims[..ndim],
            dtype.name()
        )));
    }
    if nvol > 1 {
        warnings.push(format!("4D image with {nvol} volumes: using the first"));
    }
    let geometry = nifti_geometry(&h, ndim)?;
    let (slope, inter) = {
        let s = if h.scl_slope.is_finite() {
            h.scl_slope
        } else {
            0.0
        };
        let i = if h.scl_inter.is_finite() {
            h.scl_inter
        } else {
            0.0
        };
        (if s.abs() < f64::EPSILON { 1.0 } else { s }, i)
    };
    let scaled = slope != 1.0 || inter != 0.0;
    let mut out = vec![0f32; nvox3];
    decode(
        &b[vox_offset..vox_offset + nvox3 * dtype.bytes()],
        dtype,
        big,
        slope,
        inter,
        &mut out,
    );
    let data = Array3::from_shape_vec((size[2], size[1], size[0]), out)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let pixel_type = if scaled && !dtype.is_float() {
        "float32"
    } else {
        dtype.name()
    };
    Ok(LoadedImage {
        volume: Volume { geometry, data },
        pixel_type: pixel_type.to_string(),
        format: if h.version == 1 { "nifti1" } else { "nifti2" },
        series: None,
        warnings,
        dicom: None,
    })
}

/// Whether a NIfTI header in `b` is big-endian (its size field reads 348/540 swapped).
pub(super) fn is_big_endian(b: &[u8]) -> bool {
    let le = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    le != 348 && le != 540
}
