//! `srrd resample`: an image on another image's grid.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::common::check_nifti_name;
use crate::io::{self, WriteDtype};
use crate::volume::{self, Interpolation};

/// Arguments of `srrd resample`.
#[derive(Debug, clap::Args)]
pub struct ResampleArgs {
    /// Image to resample.
    input: PathBuf,
    /// Image whose grid (size, spacing, origin, direction) the output takes.
    #[arg(long)]
    like: PathBuf,
    /// Output .nii or .nii.gz (float32).
    output: PathBuf,
    /// linear or nearest.
    #[arg(long, value_enum, default_value = "linear")]
    interpolation: InterpolationArg,
    /// ITK transform file (.tfm/.txt), or a displacement field (.nii/.nii.gz), mapping
    /// output (fixed) points to input (moving) points.
    #[arg(long)]
    transform: Option<PathBuf>,
    /// Value outside the input.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    fill: f32,
}

/// `--interpolation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InterpolationArg {
    Linear,
    Nearest,
}

impl ResampleArgs {
    /// Runs `srrd resample`.
    pub fn run(self) -> Result<()> {
        let how = match self.interpolation {
            InterpolationArg::Linear => Interpolation::Linear,
            InterpolationArg::Nearest => Interpolation::Nearest,
        };
        resample(
            &self.input,
            &self.like,
            &self.output,
            how,
            self.transform.as_deref(),
            self.fill,
        )
    }
}

/// Resamples `input` onto the grid of `like`, through an ITK transform file if given
/// (else the identity: world stays world).
pub fn resample(
    input: &Path,
    like: &Path,
    output: &Path,
    how: Interpolation,
    transform: Option<&Path>,
    fill: f32,
) -> Result<()> {
    check_nifti_name(output)?;
    let moving = io::read_image(input, None)?;
    let reference = io::read_image(like, None)?;
    let transform = io::read_any_transform(transform)?;
    let out = volume::resample(
        &moving.volume,
        &reference.volume.geometry,
        &transform,
        how,
        fill,
    );
    io::write_nifti(output, &out, WriteDtype::F32)?;
    Ok(())
}
