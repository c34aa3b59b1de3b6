//! `srrd info`, `srrd series` and `srrd convert`.

use std::path::Path;

use anyhow::{Result, bail};

use crate::io::{self, ReadOptions, WriteDtype};
use crate::volume::{self, Interpolation};

/// Prints an image's geometry and range.
pub fn info(path: &Path, series: Option<&str>, accept_uneven: bool, json: bool) -> Result<()> {
    let image = io::read_image_with(
        path,
        &ReadOptions {
            series,
            accept_uneven,
        },
    )?;
    let info = image.info(path);
    if json {
        println!("{}", serde_json::to_string(&info)?);
        return Ok(());
    }
    for w in &info.warnings {
        eprintln!("warning: {w}");
    }
    let d = info.direction;
    println!("{}", info.path);
    println!("  format      {}", info.format);
    if let Some(s) = &info.series {
        println!(
            "  series      {} ({} files, {} {} {})",
            s.id, s.files, s.modality, s.plane, s.description
        );
    }
    println!(
        "  size        {} x {} x {}",
        info.size[0], info.size[1], info.size[2]
    );
    println!(
        "  spacing     {} x {} x {} mm",
        fmt(info.spacing[0]),
        fmt(info.spacing[1]),
        fmt(info.spacing[2])
    );
    println!(
        "  origin      ({}, {}, {}) mm LPS",
        fmt(info.origin[0]),
        fmt(info.origin[1]),
        fmt(info.origin[2])
    );
    println!("  direction   [{} {} {}]", fmt(d[0]), fmt(d[1]), fmt(d[2]));
    println!("              [{} {} {}]", fmt(d[3]), fmt(d[4]), fmt(d[5]));
    println!("              [{} {} {}]", fmt(d[6]), fmt(d[7]), fmt(d[8]));
    println!("  pixel type  {}", info.pixel_type);
    println!("  range       {} .. {}", fmt(info.min), fmt(info.max));
    Ok(())
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Lists the DICOM series of a folder.
pub fn series(folder: &Path, json: bool) -> Result<()> {
    let list = io::list_series(folder)?;
    if json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        bail!("{}: no DICOM image series found", folder.display());
    }
    for s in list {
        let split = if s.split.is_empty() {
            String::new()
        } else {
            format!("  [part of a series that {}]", s.split)
        };
        println!(
            "{}  {:>5} files  {:>4}x{:<4} {:<8} {:<3} {}{split}",
            s.id, s.files, s.size[0], s.size[1], s.plane, s.modality, s.description
        );
    }
    Ok(())
}

/// Resamples `input` onto the grid of `like`, through an ITK transform file if given
/// (else the identity: world stays world).
pub fn resample(
    input: &Path,
    like: &Path,
    output: &Path,
    interpolation: &str,
    transform: Option<&Path>,
    fill: f32,
) -> Result<()> {
    let how = match interpolation {
        "linear" => Interpolation::Linear,
        "nearest" => Interpolation::Nearest,
        other => bail!("unknown --interpolation {other} (use linear or nearest)"),
    };
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

fn check_nifti_name(output: &Path) -> Result<()> {
    let name = output.to_string_lossy();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        bail!("{}: output must end in .nii or .nii.gz", output.display());
    }
    Ok(())
}

/// Converts any readable image to NIfTI.
pub fn convert(
    input: &Path,
    output: &Path,
    series: Option<&str>,
    accept_uneven: bool,
    dtype: &str,
) -> Result<()> {
    let dtype = match dtype {
        "float32" => WriteDtype::F32,
        "int16" => WriteDtype::I16,
        "uint8" => WriteDtype::U8,
        other => bail!("unknown --dtype {other} (use float32, int16 or uint8)"),
    };
    check_nifti_name(output)?;
    let image = io::read_image_with(
        input,
        &ReadOptions {
            series,
            accept_uneven,
        },
    )?;
    for w in &image.warnings {
        eprintln!("warning: {w}");
    }
    io::write_nifti(output, &image.volume, dtype)?;
    Ok(())
}
