//! DICOM in: one file (single- or multi-frame) or a folder of one or more series, assembled
//! into a 3D volume in LPS mm with the geometry SimpleITK's `ImageSeriesReader` reports,
//! and what it came from ([`DicomSource`]) so that results can be written back as DICOM.
//!
//! Rules (as ITK/GDCM, with the splitting Slicer and dcm2niix do, and checks so that no
//! slice is ever silently misplaced):
//! - a folder is grouped by SeriesInstanceUID, and a series that mixes orientations, image
//!   sizes or repeats positions is split into parts (`UID#k`, see [`series`]); the series
//!   named is read, else the best of the modality asked for (see [`choose`]: no localizer,
//!   bone kernel for a CT, the most images), else the largest;
//! - slices are sorted along the slice normal (row x column of ImageOrientationPatient) by
//!   ImagePositionPatient; z spacing = distance first-to-last / (n - 1);
//! - a missing slice or uneven spacing loads the largest evenly spaced block, with a warning
//!   naming the gap, or, when asked ([`ReadOptions::accept_uneven`]), the whole series
//!   resampled onto a regular grid (linear between neighbouring slices);
//! - gantry tilt and positions repeated unevenly are refused with a message saying which;
//! - RescaleSlope/Intercept are applied per file (slope 0 counts as 1);
//! - a single file's z spacing is SpacingBetweenSlices when present, else 1, as SimpleITK
//!   2.5 reports it; enhanced multi-frame files take per-frame positions from their
//!   functional groups.

mod assemble;
pub mod choose;
mod header;
pub mod series;
pub mod source;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use series::SeriesInfo;
pub use source::{DicomSource, SourceSlice, StudyInfo};

use super::LoadedImage;
use crate::error::{Error, Result};
use header::{SliceHeader, check_image, open, read_header};

/// How to read a DICOM folder.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions<'a> {
    /// The series to read: a SeriesInstanceUID, a part `UID#k`, or its number in the
    /// folder's list (`srrd series`); chosen by `modality` when None.
    pub series: Option<&'a str>,
    /// The modality wanted (`CT`, `MR`) in a folder holding several series: the best
    /// series of it is read, and the choice said in a warning. None: the largest series.
    pub modality: Option<&'a str>,
    /// Load a series with missing slices or uneven spacing whole, resampled onto a
    /// regular grid, instead of its largest evenly spaced block.
    pub accept_uneven: bool,
}

/// Whether a file looks like DICOM (the "DICM" marker after the 128-byte preamble).
pub fn has_dicom_marker(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// Reads a DICOM file or folder. In a folder holding several series, `series` picks one
/// (a SeriesInstanceUID, a part `UID#k` or its number); without it the largest is used,
/// with a warning.
pub fn read_dicom(path: &Path, series: Option<&str>) -> Result<LoadedImage> {
    read_dicom_with(
        path,
        &ReadOptions {
            series,
            ..Default::default()
        },
    )
}

/// [`read_dicom`] with every option.
pub fn read_dicom_with(path: &Path, opts: &ReadOptions) -> Result<LoadedImage> {
    if path.is_dir() {
        read_folder(path, opts)
    } else {
        let obj = open(path, false)?;
        let h = read_header(&obj, path);
        check_image(&h)?;
        assemble::read_single(&obj, &h, Vec::new())
    }
}

/// Lists the image series (and parts of split series) in a folder, recursively, largest
/// first.
pub fn list_series(folder: &Path) -> Result<Vec<SeriesInfo>> {
    let (headers, _) = scan_folder(folder)?;
    Ok(series::group_series(folder, &headers)
        .into_iter()
        .map(|g| g.info)
        .collect())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.eq_ignore_ascii_case("DICOMDIR") {
            continue;
        }
        if p.is_dir() {
            collect_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads the headers of every DICOM image file under a folder; returns them and the
/// number of files that were not DICOM images.
fn scan_folder(folder: &Path) -> Result<(Vec<SliceHeader>, usize)> {
    let mut files = Vec::new();
    collect_files(folder, &mut files)?;
    files.sort();
    let parsed: Vec<Option<SliceHeader>> = files
        .par_iter()
        .map(|p| open(p, true).ok().map(|o| read_header(&o, p)))
        .collect();
    let total = parsed.len();
    let headers: Vec<SliceHeader> = parsed
        .into_iter()
        .flatten()
        .filter(|h| h.rows > 0 && h.cols > 0)
        .collect();
    let skipped = total - headers.len();
    Ok((headers, skipped))
}

fn read_folder(folder: &Path, opts: &ReadOptions) -> Result<LoadedImage> {
    let (headers, skipped) = scan_folder(folder)?;
    let groups = series::group_series(folder, &headers);
    if groups.is_empty() {
        return Err(Error::file(
            folder,
            format!("no DICOM image series found ({skipped} files were not DICOM images)"),
        ));
    }
    let (chosen, warning) = choose::choose(folder, &groups, opts.series, opts.modality)?;
    let mut warnings: Vec<String> = warning.into_iter().collect();
    let info = &chosen.info;
    if !info.split.is_empty() {
        let parts = groups.iter().filter(|g| g.info.uid == info.uid).count();
        warnings.push(format!(
            "series {} {}: split into {parts} parts as Slicer and dcm2niix do; reading {}",
            info.uid,
            info.split,
            choose::describe(info)
        ));
    }
    let slices: Vec<&SliceHeader> = chosen.members.iter().map(|&n| &headers[n]).collect();
    let mut loaded = if slices.len() == 1 {
        let obj = open(&slices[0].path, false)?;
        check_image(slices[0])?;
        assemble::read_single(&obj, slices[0], warnings)?
    } else {
        assemble::read_series(folder, &slices, opts.accept_uneven, warnings)?
    };
    loaded.series = Some(info.clone());
    Ok(loaded)
}
