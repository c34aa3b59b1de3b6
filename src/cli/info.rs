//! `srrd info`: an image's geometry, pixel type and range.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::io::{self, ReadOptions};

/// Arguments of `srrd info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// .nii/.nii.gz file, DICOM file or DICOM folder.
    path: PathBuf,
    /// In a DICOM folder with several series: the series to read (an id from
    /// `srrd series`: a SeriesInstanceUID, or UID#k for a part of a split series).
    #[arg(long)]
    series: Option<String>,
    /// Load a series with missing slices or uneven spacing whole, resampled onto a
    /// regular grid (default: its largest evenly spaced block, with a warning).
    #[arg(long)]
    accept_uneven: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl InfoArgs {
    /// Runs `srrd info`.
    pub fn run(self) -> Result<()> {
        info(
            &self.path,
            self.series.as_deref(),
            self.accept_uneven,
            self.json,
        )
    }
}

/// Prints an image's geometry and range.
pub fn info(path: &Path, series: Option<&str>, accept_uneven: bool, json: bool) -> Result<()> {
    let image = io::read_image_with(
        path,
        &ReadOptions {
            series,
            accept_uneven,
            modality: None,
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
