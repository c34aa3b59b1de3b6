//! NIfTI-1 and NIfTI-2 (`.nii`, `.nii.gz`): reading with ITK's rules (so geometry equals
//! SimpleITK's `ReadImage`), writing NIfTI-1 with matching sform and qform.
//!
//! Written here rather than taken from the `nifti` crate, which panics on complex/RGB
//! data, reads no NIfTI-2 and writes no scaling; the format is small and fully specified.
//!
//! ITK's rules followed (itkNiftiImageIO.cxx, nifti1_io.c, ITK 5.4):
//! - spacing = |pixdim| scaled by `xyzt_units` (m, mm, um); a negative pixdim flips that axis;
//! - sform is used when its code is SCANNER_ANAT (1), when there is no qform, or when it
//!   agrees with the qform; it must be orthonormal up to scaling, else the qform is used;
//! - with neither form, origin 0 and identity direction (in LPS);
//! - RAS -> LPS: origin (-x, -y, z), direction rows 0 and 1 negated;
//! - `scl_slope` 0 counts as 1, the intercept is still applied; any scaling makes
//!   integer data float32.

use std::io::Read;
use std::path::Path;

use nalgebra::{Matrix3, Matrix4, Point3, UnitQuaternion, Vector3};
use ndarray::Array3;
use rayon::prelude::*;

use super::LoadedImage;
use crate::error::{Error, Result};
use crate::volume::{DisplacementField, Geometry, Volume};

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

fn maybe_gunzip(raw: Vec<u8>) -> Result<Vec<u8>> {
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

/// The header fields the reader uses, from either NIfTI version.
#[derive(Clone, Debug)]
struct Header {
    version: u8,
    dim: [i64; 8],
    pixdim: [f64; 8],
    datatype: i16,
    vox_offset: f64,
    scl_slope: f64,
    scl_inter: f64,
    xyzt_units: u32,
    intent_code: i32,
    qform_code: i32,
    sform_code: i32,
    quatern: [f64; 3],
    qoffset: [f64; 3],
    srow: [[f64; 4]; 3],
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

fn parse_header(b: &[u8]) -> Result<Header> {
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

/// A NIfTI voxel type this reader supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NiftiDtype {
    /// uint8 (code 2)
    U8,
    /// int8 (code 256)
    I8,
    /// int16 (code 4)
    I16,
    /// uint16 (code 512)
    U16,
    /// int32 (code 8)
    I32,
    /// uint32 (code 768)
    U32,
    /// int64 (code 1024)
    I64,
    /// uint64 (code 1280)
    U64,
    /// float32 (code 16)
    F32,
    /// float64 (code 64)
    F64,
}

impl NiftiDtype {
    fn from_code(code: i16) -> Result<Self> {
        Ok(match code {
            2 => Self::U8,
            256 => Self::I8,
            4 => Self::I16,
            512 => Self::U16,
            8 => Self::I32,
            768 => Self::U32,
            1024 => Self::I64,
            1280 => Self::U64,
            16 => Self::F32,
            64 => Self::F64,
            1 => return Err(Error::invalid("1-bit (binary) NIfTI data is not supported")),
            32 | 1792 | 2048 => {
                return Err(Error::invalid(
                    "complex-valued NIfTI data is not a scalar volume",
                ));
            }
            128 | 2304 => {
                return Err(Error::invalid("RGB/RGBA NIfTI data is not a scalar volume"));
            }
            1536 => return Err(Error::invalid("float128 NIfTI data is not supported")),
            other => {
                return Err(Error::invalid(format!(
                    "unknown NIfTI datatype code {other}"
                )));
            }
        })
    }

    /// Bytes per voxel.
    pub fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 => 8,
        }
    }

    /// Name as numpy spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::U16 => "uint16",
            Self::I32 => "int32",
            Self::U32 => "uint32",
            Self::I64 => "int64",
            Self::U64 => "uint64",
            Self::F32 => "float32",
            Self::F64 => "float64",
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }
}

/// Decodes voxels of type `dtype` into f32, applying `v * slope + inter`, in parallel.
fn decode(bytes: &[u8], dtype: NiftiDtype, big: bool, slope: f64, inter: f64, out: &mut [f32]) {
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

fn parse_nifti(b: &[u8]) -> Result<LoadedImage> {
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

/// The qform matrix (RAS, 4x4) as nifti1_io builds it.
fn qform_matrix(h: &Header) -> Matrix4<f64> {
    let [mut b, mut c, mut d] = h.quatern;
    let mut a = 1.0 - (b * b + c * c + d * d);
    if a < 1e-7 {
        a = 1.0 / (b * b + c * c + d * d).sqrt();
        b *= a;
        c *= a;
        d *= a;
        a = 0.0;
    } else {
        a = a.sqrt();
    }
    let pd = |n: usize| {
        let v = h.pixdim[n];
        if v > 0.0 && v.is_finite() { v } else { 1.0 }
    };
    let (xd, yd) = (pd(1), pd(2));
    let mut zd = pd(3);
    if h.pixdim[0] < 0.0 {
        zd = -zd;
    }
    let r = Matrix3::new(
        a * a + b * b - c * c - d * d,
        2.0 * (b * c - a * d),
        2.0 * (b * d + a * c),
        2.0 * (b * c + a * d),
        a * a + c * c - b * b - d * d,
        2.0 * (c * d - a * b),
        2.0 * (b * d - a * c),
        2.0 * (c * d + a * b),
        a * a + d * d - c * c - b * b,
    );
    let m = r * Matrix3::from_diagonal(&Vector3::new(xd, yd, zd));
    let mut out = m.to_homogeneous();
    out.fixed_view_mut::<3, 1>(0, 3)
        .copy_from(&Vector3::from(h.qoffset));
    out
}

fn normalized_columns(m: &Matrix3<f64>) -> Option<Matrix3<f64>> {
    let mut out = *m;
    for c in 0..3 {
        let n = m.column(c).norm();
        if !(n > 0.0 && n.is_finite()) {
            return None;
        }
        out.set_column(c, &(m.column(c) / n));
    }
    Some(out)
}

/// Whether the sform is a rotation (or reflection) times a scaling, as ITK requires.
fn sform_is_orthonormal(s: &Matrix4<f64>) -> bool {
    let m: Matrix3<f64> = s.fixed_view::<3, 3>(0, 0).into();
    if m.iter().any(|v| !v.is_finite()) || m.determinant().abs() < 1e-12 {
        return false;
    }
    match normalized_columns(&m) {
        Some(r) => (r * r.transpose() - Matrix3::identity()).abs().max() <= 1e-4,
        None => false,
    }
}

fn nifti_geometry(h: &Header, ndim: usize) -> Result<Geometry> {
    let space_scale = match h.xyzt_units & 7 {
        1 => 1000.0,
        3 => 1e-3,
        _ => 1.0,
    };
    let mut spacing = [1f64; 3];
    let mut flip = [false; 3];
    for a in 0..3 {
        let p = h.pixdim[a + 1];
        let used = a < ndim;
        if used && (!p.is_finite() || p == 0.0) {
            return Err(Error::invalid(format!(
                "pixdim[{}] (voxel spacing along axis {a}) is {p}",
                a + 1
            )));
        }
        if p.is_finite() && p != 0.0 {
            spacing[a] = p.abs() * space_scale;
            flip[a] = p < 0.0;
        }
    }
    let mut geometry = Geometry::new([1, 1, 1], spacing, [0.0; 3]);
    geometry.size = [
        h.dim[1].max(1) as usize,
        if ndim >= 2 {
            h.dim[2].max(1) as usize
        } else {
            1
        },
        if ndim >= 3 {
            h.dim[3].max(1) as usize
        } else {
            1
        },
    ];
    let qcode = h.qform_code.max(0);
    let scode = h.sform_code.max(0);
    if qcode == 0 && scode == 0 {
        return Ok(geometry);
    }
    let q = if qcode > 0 {
        qform_matrix(h)
    } else {
        Matrix4::from_diagonal(&nalgebra::Vector4::new(
            h.pixdim[1],
            h.pixdim[2],
            h.pixdim[3],
            1.0,
        ))
    };
    let s = if scode > 0 {
        let mut m = Matrix4::identity();
        for row in 0..3 {
            for c in 0..4 {
                m[(row, c)] = h.srow[row][c];
            }
        }
        m
    } else {
        Matrix4::zeros()
    };
    let similar = (s.fixed_view::<3, 3>(0, 0) - q.fixed_view::<3, 3>(0, 0))
        .abs()
        .max()
        <= 1e-5
        && (s.fixed_view::<3, 1>(0, 3) - q.fixed_view::<3, 1>(0, 3))
            .abs()
            .sum()
            <= 1e-7;
    let mut use_s = similar;
    if !similar || scode != 0 {
        if sform_is_orthonormal(&s) {
            use_s = if qcode == 0 || scode == 1 {
                true
            } else {
                forms_agree(&s, &q)
            };
        } else {
            use_s = false;
        }
    }
    let m = if use_s {
        s
    } else if qcode > 0 {
        q
    } else {
        return Err(Error::invalid(
            "sform is not orthonormal (sheared or skewed axes) and there is no qform",
        ));
    };
    let lin: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into();
    let mut lps = lin;
    for c in 0..3 {
        lps[(0, c)] = -lin[(0, c)];
        lps[(1, c)] = -lin[(1, c)];
    }
    let mut dir = normalized_columns(&lps)
        .ok_or_else(|| Error::invalid("spatial transform has a zero axis"))?;
    for (a, flipped) in flip.iter().enumerate() {
        if *flipped {
            let col = -dir.column(a);
            dir.set_column(a, &col);
        }
    }
    if ndim < 3 {
        // ITK keeps only the in-plane block for 2D images.
        for a in ndim..3 {
            for b in 0..3 {
                dir[(a, b)] = if a == b { 1.0 } else { 0.0 };
                dir[(b, a)] = if a == b { 1.0 } else { 0.0 };
            }
        }
    }
    geometry.origin_mm = Point3::new(-m[(0, 3)], -m[(1, 3)], m[(2, 3)]) * space_scale;
    if ndim < 3 {
        geometry.origin_mm.z = 0.0;
    }
    if ndim < 2 {
        geometry.origin_mm.y = 0.0;
    }
    geometry.direction = dir;
    Ok(geometry)
}

/// ITK's test for an sform that describes the same grid as the qform.
fn forms_agree(s: &Matrix4<f64>, q: &Matrix4<f64>) -> bool {
    let sl: Matrix3<f64> = s.fixed_view::<3, 3>(0, 0).into();
    let ql: Matrix3<f64> = q.fixed_view::<3, 3>(0, 0).into();
    let (Some(sd), Some(qd)) = (normalized_columns(&sl), normalized_columns(&ql)) else {
        return false;
    };
    let norms_agree = (0..3).all(|c| (sl.column(c).norm() - ql.column(c).norm()).abs() <= 1e-4);
    let offsets_agree = (s.fixed_view::<3, 1>(0, 3) - q.fixed_view::<3, 1>(0, 3))
        .abs()
        .max()
        <= 1e-4;
    norms_agree && offsets_agree && (sd - qd).abs().max() <= 1e-4
}

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

/// Writes a label map (one byte per voxel, `[k][j][i]`) as uint8 NIfTI, atomically.
pub fn write_labels(path: &Path, geometry: &Geometry, labels: &[u8]) -> Result<()> {
    geometry.validate().map_err(|e| e.in_file(path))?;
    if geometry.size.iter().any(|&n| n > i16::MAX as usize) {
        return Err(Error::file(
            path,
            format!("size {:?} is too large for NIfTI-1", geometry.size),
        ));
    }
    if labels.len() != geometry.num_voxels() {
        return Err(Error::file(path, "label count differs from the grid size"));
    }
    write_file(path, &build_header(geometry, WriteDtype::U8), labels)
}

/// The 352 bytes (header + empty extension flag) of a NIfTI-1 file for this grid.
fn build_header(g: &Geometry, dtype: WriteDtype) -> Vec<u8> {
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
    // RAS rotation from the LPS direction; a reflection goes into qfac.
    let mut ras = g.direction;
    for c in 0..3 {
        ras[(0, c)] = -ras[(0, c)];
        ras[(1, c)] = -ras[(1, c)];
    }
    let ras = orthonormalize(&ras);
    let mut rot = ras;
    let qfac = if ras.determinant() < 0.0 {
        let col = -rot.column(2);
        rot.set_column(2, &col);
        -1.0
    } else {
        1.0
    };
    let q = UnitQuaternion::from_matrix(&rot);
    let q = if q.w < 0.0 {
        -q.into_inner()
    } else {
        q.into_inner()
    };
    put_f32(&mut h, 76, qfac);
    for a in 0..3 {
        put_f32(&mut h, 80 + 4 * a, g.spacing_mm[a]);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, 1.0);
    h[123] = 10; // mm and seconds
    put_i16(&mut h, 252, 1);
    put_i16(&mut h, 254, 1);
    put_f32(&mut h, 256, q.i);
    put_f32(&mut h, 260, q.j);
    put_f32(&mut h, 264, q.k);
    let o = [-g.origin_mm.x, -g.origin_mm.y, g.origin_mm.z];
    for (a, v) in o.iter().enumerate() {
        put_f32(&mut h, 268 + 4 * a, *v);
    }
    let s = ras * Matrix3::from_diagonal(&g.spacing_mm);
    for row in 0..3 {
        for c in 0..3 {
            put_f32(&mut h, 280 + 16 * row + 4 * c, s[(row, c)]);
        }
        put_f32(&mut h, 280 + 16 * row + 12, o[row]);
    }
    h[148..148 + 4].copy_from_slice(b"srrd");
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// The nearest orthonormal matrix (polar decomposition), keeping the determinant's sign.
fn orthonormalize(m: &Matrix3<f64>) -> Matrix3<f64> {
    let svd = m.svd(true, true);
    match (svd.u, svd.v_t) {
        (Some(u), Some(vt)) => u * vt,
        _ => *m,
    }
}

/// Writes header and voxels, gzip-compressed when the name ends in `.gz`, atomically.
fn write_file(path: &Path, header: &[u8], payload: &[u8]) -> Result<()> {
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    super::atomic_write(path, |w| {
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

/// Whether a NIfTI header in `b` is big-endian (its size field reads 348/540 swapped).
fn is_big_endian(b: &[u8]) -> bool {
    let le = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    le != 348 && le != 540
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Rotation3;

    fn oblique_volume() -> Volume {
        let rot = Rotation3::from_euler_angles(0.2, -0.4, 0.9).into_inner();
        let g = Geometry::new([7, 5, 4], [0.5, 0.8, 1.5], [12.0, -33.5, 7.25]).with_direction(rot);
        Volume::from_fn(g, |i, j, k| {
            (i as f32 - 3.0) * 10.0 + j as f32 * 0.25 + k as f32 * 100.0
        })
    }

    #[test]
    fn round_trip_geometry_and_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = oblique_volume();
        for (name, dt) in [
            ("a.nii", WriteDtype::F32),
            ("b.nii.gz", WriteDtype::F32),
            ("c.nii.gz", WriteDtype::I16),
        ] {
            let p = dir.path().join(name);
            write_nifti(&p, &v, dt).expect("write");
            let back = read_nifti(&p).expect("read");
            let g = &back.volume.geometry;
            assert_eq!(g.size, v.geometry.size);
            assert!((g.spacing_mm - v.geometry.spacing_mm).norm() < 1e-5);
            assert!((g.origin_mm - v.geometry.origin_mm).norm() < 1e-4);
            assert!((g.direction - v.geometry.direction).norm() < 1e-5, "{name}");
            let tol = if dt == WriteDtype::I16 { 0.5 } else { 1e-5 };
            for (a, b) in back.volume.data.iter().zip(v.data.iter()) {
                assert!((a - b).abs() <= tol);
            }
        }
    }

    #[test]
    fn reflected_direction_round_trips_through_qfac() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut v = oblique_volume();
        let col = -v.geometry.direction.column(2);
        v.geometry.direction.set_column(2, &col);
        let p = dir.path().join("r.nii");
        write_nifti(&p, &v, WriteDtype::F32).expect("write");
        // Force the reader onto the qform by zeroing the sform code.
        let mut bytes = std::fs::read(&p).expect("read back");
        bytes[254] = 0;
        bytes[255] = 0;
        let back = parse_nifti(&bytes).expect("parse");
        assert!((back.volume.geometry.direction - v.geometry.direction).norm() < 1e-5);
    }

    #[test]
    fn bad_headers_are_refused_not_panicking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = oblique_volume();
        let p = dir.path().join("x.nii");
        write_nifti(&p, &v, WriteDtype::F32).expect("write");
        let good = std::fs::read(&p).expect("read");
        // Truncated data.
        let e = parse_nifti(&good[..good.len() - 10])
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        // Zero spacing.
        let mut z = good.clone();
        z[80..84].copy_from_slice(&0f32.to_le_bytes());
        assert!(parse_nifti(&z).unwrap_err().to_string().contains("spacing"));
        // NaN spacing.
        let mut n = good.clone();
        n[84..88].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(parse_nifti(&n).is_err());
        // Complex data.
        let mut c = good.clone();
        c[70..72].copy_from_slice(&32i16.to_le_bytes());
        assert!(parse_nifti(&c).unwrap_err().to_string().contains("complex"));
        // Not an image at all.
        assert!(
            parse_nifti(b"hello world")
                .unwrap_err()
                .to_string()
                .contains("not a NIfTI")
        );
        // Dims larger than the data.
        let mut d = good.clone();
        d[46..48].copy_from_slice(&400i16.to_le_bytes());
        assert!(parse_nifti(&d).unwrap_err().to_string().contains("need"));
    }

    #[test]
    fn displacement_field_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = oblique_volume().geometry;
        let mut f = DisplacementField::zeros(g.clone());
        for ((k, j, i, c), v) in f.vectors_mm.indexed_iter_mut() {
            *v = (i as f32 - j as f32 * 0.5 + k as f32 * 0.25) * (c as f32 + 1.0);
        }
        let p = dir.path().join("f.nii.gz");
        write_displacement_field(&p, &f).expect("write");
        let back = read_displacement_field(&p).expect("read");
        assert!((back.geometry.direction - g.direction).norm() < 1e-5);
        assert!((back.geometry.origin_mm - g.origin_mm).norm() < 1e-4);
        assert_eq!(back.vectors_mm, f.vectors_mm);
        // A scalar image is not a field, and says so.
        let s = dir.path().join("s.nii");
        write_nifti(&s, &oblique_volume(), WriteDtype::F32).expect("write");
        let e = read_displacement_field(&s).unwrap_err().to_string();
        assert!(e.contains("not a 3D displacement field"), "{e}");
    }

    #[test]
    fn scaling_follows_itk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = oblique_volume();
        let p = dir.path().join("s.nii");
        write_nifti(&p, &v, WriteDtype::I16).expect("write");
        let mut bytes = std::fs::read(&p).expect("read");
        bytes[112..116].copy_from_slice(&2f32.to_le_bytes());
        bytes[116..120].copy_from_slice(&(-5f32).to_le_bytes());
        let s = parse_nifti(&bytes).expect("parse");
        assert_eq!(s.pixel_type, "float32");
        let expect = v.data[[1, 2, 3]].round() * 2.0 - 5.0;
        assert!((s.volume.data[[1, 2, 3]] - expect).abs() < 1e-4);
        // Slope 0 counts as 1, the intercept still applies.
        bytes[112..116].copy_from_slice(&0f32.to_le_bytes());
        let z = parse_nifti(&bytes).expect("parse");
        assert!((z.volume.data[[1, 2, 3]] - (v.data[[1, 2, 3]].round() - 5.0)).abs() < 1e-4);
    }
}
