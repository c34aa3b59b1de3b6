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
//!
//! Layout: `read` parses headers and decodes voxels, `geometry` turns the qform/sform
//! into a [`Geometry`](crate::volume::Geometry) and back, `write` writes volumes and
//! label maps, `field` reads and writes displacement fields. The header fields and the
//! voxel types they share live here.

use crate::error::{Error, Result};

mod field;
mod geometry;
mod read;
mod write;

pub use field::{read_displacement_field, write_displacement_field};
pub use read::{is_gzip, read_nifti, read_nifti_bytes};
pub use write::{WriteDtype, write_labels, write_nifti};

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

#[cfg(test)]
mod tests;
