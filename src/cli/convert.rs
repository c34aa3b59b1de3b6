//! `srrd convert`: any readable image to NIfTI.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::common::check_nifti_name;
use crate::io::{self, ReadOptions, WriteDtype};

/// Arguments of `srrd convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input image.
    input: PathBuf,
    /// Output .nii or .nii.gz.
    output: PathBuf,
    /// In a DICOM folder with several series: the series to read (an id from
    /// `srrd series`).
    #[arg(long)]
    series: Option<String>,
    /// Load a series with missing slices or uneven spacing whole, resampled onto a
    /// regular grid.
    #[arg(long)]
    accept_uneven: bool,
    /// Voxel type written: float32, int16 or uint8.
    #[arg(long, value_enum, default_value = "float32")]
    dtype: DtypeArg,
}

/// `--dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DtypeArg {
    Float32,
    Int16,
    Uint8,
}

impl ConvertArgs {
    /// Runs `srrd convert`.
    pub fn run(self) -> Result<()> {
        let dtype = match self.dtype {
            DtypeArg::Float32 => WriteDtype::F32,
            DtypeArg::Int16 => WriteDtype::I16,
            DtypeArg::Uint8 => WriteDtype::U8,
        };
        convert(
            &self.input,
            &self.output,
            self.series.as_deref(),
            self.accept_uneven,
            dtype,
        )
    }
}

/// Converts any readable image to NIfTI.
pub fn convert(
    input: &Path,
    output: &Path,
    series: Option<&str>,
    accept_uneven: bool,
    dtype: WriteDtype,
) -> Result<()> {
    check_nifti_name(output)?;
    let image = io::read_image_with(
        input,
        &ReadOptions {
            series,
            accept_uneven,
            modality: None,
        },
    )?;
    for w in &image.warnings {
        eprintln!("warning: {w}");
    }
    io::write_nifti(output, &image.volume, dtype)?;
    Ok(())
}
