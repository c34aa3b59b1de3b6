//! DICOM: one file (single- or multi-frame) or a folder of one or more series, assembled
//! into a 3D volume in LPS mm with the geometry SimpleITK's `ImageSeriesReader` reports.
//!
//! Rules (as ITK/GDCM, with stricter checks so no slice is ever silently misplaced):
//! - a folder is grouped by SeriesInstanceUID; the largest series is taken unless one is named;
//! - slices are sorted along the slice normal (row x column of ImageOrientationPatient) by
//!   ImagePositionPatient; z spacing = distance first-to-last / (n - 1);
//! - uneven spacing, missing slices, repeated positions, gantry tilt, mixed sizes or
//!   orientations are refused with a message saying which;
//! - RescaleSlope/Intercept are applied per file (slope 0 counts as 1);
//! - a single file's z spacing is SpacingBetweenSlices for MR/NM, else 1 (as GDCM);
//!   enhanced multi-frame files take per-frame positions from their functional groups.

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use nalgebra::{Matrix3, Point3, Vector3};
use ndarray::Array3;
use rayon::prelude::*;
use serde::Serialize;

use super::{LoadedImage, guard_panics};
use crate::error::{Error, Result};
use crate::volume::{Geometry, Volume};

/// One series found in a folder.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SeriesInfo {
    /// SeriesInstanceUID.
    pub uid: String,
    /// SeriesDescription (may be empty).
    pub description: String,
    /// Modality (CT, MR, ...).
    pub modality: String,
    /// Number of image files in the series.
    pub files: usize,
}

/// The header fields of one image file that assembly needs.
#[derive(Clone, Debug)]
struct SliceHeader {
    path: PathBuf,
    series_uid: String,
    description: String,
    modality: String,
    rows: usize,
    cols: usize,
    frames: usize,
    samples_per_pixel: u16,
    ipp: Option<Vector3<f64>>,
    iop: Option<[f64; 6]>,
    pixel_spacing: Option<[f64; 2]>,
    spacing_between_slices: Option<f64>,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    rescale: (f64, f64),
    /// MONOCHROME1: low values are bright.
    monochrome1: bool,
    /// PhotometricInterpretation PALETTE COLOR (indices into a colour table).
    palette: bool,
    /// RT Dose frame offsets (GridFrameOffsetVector), in mm.
    grid_frame_offsets: Vec<f64>,
    /// Per-frame positions of an enhanced multi-frame file.
    frame_positions: Vec<Vector3<f64>>,
}

fn open(path: &Path, header_only: bool) -> Result<DefaultDicomObject> {
    let opts = OpenFileOptions::new();
    let opts = if header_only {
        opts.read_until(tags::PIXEL_DATA)
    } else {
        opts
    };
    guard_panics(|| opts.open_file(path))
        .and_then(|r| r.map_err(|e| Error::invalid(format!("not a readable DICOM file ({e})"))))
        .map_err(|e| e.in_file(path))
}

fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_str()
        .ok()
        .map(|s| s.trim().trim_end_matches('\0').to_string())
}

fn get_f64s(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_multi_float64()
        .ok()
        .filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
}

fn get_f64(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    get_f64s(obj, tag).map(|v| v[0])
}

fn get_int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_int::<i64>().ok()
}

/// The first item of a sequence.
fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.element_opt(tag).ok().flatten()?.items()?.first()
}

/// Looks a tag up inside a functional-group macro: `group_item -> macro_seq[0] -> tag`.
fn in_macro(group: Option<&InMemDicomObject>, macro_seq: Tag, tag: Tag) -> Option<Vec<f64>> {
    get_f64s(first_item(group?, macro_seq)?, tag)
}

fn read_header(obj: &DefaultDicomObject, path: &Path) -> SliceHeader {
    let o: &InMemDicomObject = obj;
    let shared = first_item(o, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame: Vec<&InMemDicomObject> = o
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .map(|items| items.iter().collect())
        .unwrap_or_default();
    let first_frame = per_frame.first().copied();
    let from_groups =
        |seq: Tag, tag: Tag| in_macro(shared, seq, tag).or_else(|| in_macro(first_frame, seq, tag));
    let iop = get_f64s(o, tags::IMAGE_ORIENTATION_PATIENT)
        .or_else(|| {
            from_groups(
                tags::PLANE_ORIENTATION_SEQUENCE,
                tags::IMAGE_ORIENTATION_PATIENT,
            )
        })
        .filter(|v| v.len() >= 6)
        .map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]]);
    let pixel_spacing = get_f64s(o, tags::PIXEL_SPACING)
        .or_else(|| from_groups(tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING))
        .or_else(|| get_f64s(o, tags::IMAGER_PIXEL_SPACING))
        .filter(|v| v.len() >= 2)
        .map(|v| [v[0], v[1]]);
    let spacing_between_slices = get_f64(o, tags::SPACING_BETWEEN_SLICES).or_else(|| {
        from_groups(tags::PIXEL_MEASURES_SEQUENCE, tags::SPACING_BETWEEN_SLICES).map(|v| v[0])
    });
    let frame_positions: Vec<Vector3<f64>> = per_frame
        .iter()
        .filter_map(|f| {
            in_macro(
                Some(f),
                tags::PLANE_POSITION_SEQUENCE,
                tags::IMAGE_POSITION_PATIENT,
            )
        })
        .filter(|v| v.len() >= 3)
        .map(|v| Vector3::new(v[0], v[1], v[2]))
        .collect();
    let ipp = get_f64s(o, tags::IMAGE_POSITION_PATIENT)
        .filter(|v| v.len() >= 3)
        .map(|v| Vector3::new(v[0], v[1], v[2]))
        .or_else(|| frame_positions.first().copied());
    let slope = get_f64(o, tags::RESCALE_SLOPE).or_else(|| {
        from_groups(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            tags::RESCALE_SLOPE,
        )
        .map(|v| v[0])
    });
    let inter = get_f64(o, tags::RESCALE_INTERCEPT).or_else(|| {
        from_groups(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            tags::RESCALE_INTERCEPT,
        )
        .map(|v| v[0])
    });
    let slope = match slope {
        Some(s) if s != 0.0 => s,
        _ => 1.0,
    };
    SliceHeader {
        path: path.to_path_buf(),
        series_uid: get_str(o, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        description: get_str(o, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        modality: get_str(o, tags::MODALITY).unwrap_or_default(),
        rows: get_int(o, tags::ROWS).unwrap_or(0).max(0) as usize,
        cols: get_int(o, tags::COLUMNS).unwrap_or(0).max(0) as usize,
        frames: get_int(o, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize,
        samples_per_pixel: get_int(o, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
        ipp,
        iop,
        pixel_spacing,
        spacing_between_slices,
        bits_allocated: get_int(o, tags::BITS_ALLOCATED).unwrap_or(16) as u16,
        bits_stored: get_int(o, tags::BITS_STORED)
            .or_else(|| get_int(o, tags::BITS_ALLOCATED))
            .unwrap_or(16) as u16,
        signed: get_int(o, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1,
        rescale: (slope, inter.unwrap_or(0.0)),
        monochrome1: get_str(o, tags::PHOTOMETRIC_INTERPRETATION)
            .is_some_and(|p| p == "MONOCHROME1"),
        palette: get_str(o, tags::PHOTOMETRIC_INTERPRETATION)
            .is_some_and(|p| p.starts_with("PALETTE")),
        grid_frame_offsets: get_f64s(o, tags::GRID_FRAME_OFFSET_VECTOR).unwrap_or_default(),
        frame_positions,
    }
}

/// Whether a file looks like DICOM (the "DICM" marker after the 128-byte preamble).
pub fn has_dicom_marker(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// Reads a DICOM file or folder. In a folder holding several series, `series_uid` picks
/// one; without it the series with the most files is used (and a warning says so).
pub fn read_dicom(path: &Path, series_uid: Option<&str>) -> Result<LoadedImage> {
    if path.is_dir() {
        read_folder(path, series_uid)
    } else {
        let obj = open(path, false)?;
        let h = read_header(&obj, path);
        check_image(&h)?;
        read_single(&obj, &h, Vec::new())
    }
}

fn check_image(h: &SliceHeader) -> Result<()> {
    if h.rows == 0 || h.cols == 0 {
        return Err(Error::file(
            &h.path,
            "DICOM file holds no image (no Rows/Columns)",
        ));
    }
    if (h.rows as u64) * (h.cols as u64) * (h.frames as u64) > 1 << 31 {
        return Err(Error::file(
            &h.path,
            format!(
                "implausible image size {}x{} with {} frames",
                h.cols, h.rows, h.frames
            ),
        ));
    }
    if h.palette {
        return Err(Error::file(
            &h.path,
            "palette colour DICOM image is not a scalar volume",
        ));
    }
    if h.samples_per_pixel != 1 {
        return Err(Error::file(
            &h.path,
            format!(
                "colour DICOM image ({} samples per pixel) is not a scalar volume",
                h.samples_per_pixel
            ),
        ));
    }
    Ok(())
}

/// Lists the image series in a folder (recursively), largest first.
pub fn list_series(folder: &Path) -> Result<Vec<SeriesInfo>> {
    let (headers, _) = scan_folder(folder)?;
    Ok(group_series(&headers)
        .into_iter()
        .map(|(info, _)| info)
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

fn group_series(headers: &[SliceHeader]) -> Vec<(SeriesInfo, Vec<usize>)> {
    let mut groups: Vec<(SeriesInfo, Vec<usize>)> = Vec::new();
    for (n, h) in headers.iter().enumerate() {
        match groups.iter_mut().find(|(s, _)| s.uid == h.series_uid) {
            Some((s, members)) => {
                s.files += 1;
                members.push(n);
            }
            None => groups.push((
                SeriesInfo {
                    uid: h.series_uid.clone(),
                    description: h.description.clone(),
                    modality: h.modality.clone(),
                    files: 1,
                },
                vec![n],
            )),
        }
    }
    groups.sort_by(|a, b| {
        b.0.files
            .cmp(&a.0.files)
            .then_with(|| a.0.uid.cmp(&b.0.uid))
    });
    groups
}

fn read_folder(folder: &Path, series_uid: Option<&str>) -> Result<LoadedImage> {
    let (headers, skipped) = scan_folder(folder)?;
    let groups = group_series(&headers);
    if groups.is_empty() {
        return Err(Error::file(
            folder,
            format!("no DICOM image series found ({skipped} files were not DICOM images)"),
        ));
    }
    let mut warnings = Vec::new();
    let chosen = match series_uid {
        Some(uid) => groups.iter().find(|(s, _)| s.uid == uid).ok_or_else(|| {
            Error::file(
                folder,
                format!(
                    "no series with UID {uid}; the folder holds: {}",
                    groups
                        .iter()
                        .map(|(s, _)| s.uid.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
        None => {
            if groups.len() > 1 {
                warnings.push(format!(
                    "folder holds {} series; using the largest, {} ({} files{}); pick another with --series UID",
                    groups.len(),
                    groups[0].0.uid,
                    groups[0].0.files,
                    if groups[0].0.description.is_empty() {
                        String::new()
                    } else {
                        format!(", \"{}\"", groups[0].0.description)
                    }
                ));
            }
            &groups[0]
        }
    };
    let (info, members) = chosen;
    let slices: Vec<&SliceHeader> = members.iter().map(|&n| &headers[n]).collect();
    let mut loaded = if slices.len() == 1 {
        let obj = open(&slices[0].path, false)?;
        check_image(slices[0])?;
        read_single(&obj, slices[0], warnings)?
    } else {
        read_series(folder, &slices, warnings)?
    };
    loaded.series = Some(info.clone());
    Ok(loaded)
}

/// Direction columns (row, column, normal) from ImageOrientationPatient, orthogonalised as
/// GDCM does (keeps the column vector).
fn direction_from_iop(iop: Option<[f64; 6]>) -> Matrix3<f64> {
    let Some(v) = iop else {
        return Matrix3::identity();
    };
    let r = Vector3::new(v[0], v[1], v[2]);
    let c = Vector3::new(v[3], v[4], v[5]);
    let n = r.cross(&c);
    if n.norm() < 1e-6 || (r.norm() - 1.0).abs() > 0.1 || (c.norm() - 1.0).abs() > 0.1 {
        return Matrix3::identity();
    }
    let n = n.normalize();
    let r = c.cross(&n).normalize();
    let c = n.cross(&r);
    Matrix3::from_columns(&[r, c, n])
}

fn in_plane_spacing(h: &SliceHeader) -> Result<[f64; 2]> {
    let ps = h.pixel_spacing.unwrap_or([1.0, 1.0]);
    let fix = |v: f64| if v == 0.0 { 1.0 } else { v };
    let (row_spacing, col_spacing) = (fix(ps[0]), fix(ps[1]));
    if !(row_spacing > 0.0 && col_spacing > 0.0) {
        return Err(Error::file(
            &h.path,
            format!("PixelSpacing {ps:?} is not positive"),
        ));
    }
    // PixelSpacing is (between rows, between columns) = (y, x).
    Ok([col_spacing, row_spacing])
}

fn read_series(
    folder: &Path,
    slices: &[&SliceHeader],
    warnings: Vec<String>,
) -> Result<LoadedImage> {
    let first = slices[0];
    for h in slices {
        check_image(h)?;
        if h.frames > 1 {
            return Err(Error::file(
                folder,
                "series mixes multi-frame files with other files",
            ));
        }
        if (h.rows, h.cols) != (first.rows, first.cols) {
            return Err(Error::file(
                folder,
                format!(
                    "series mixes image sizes: {}x{} ({}) and {}x{} ({})",
                    first.cols,
                    first.rows,
                    first.path.display(),
                    h.cols,
                    h.rows,
                    h.path.display()
                ),
            ));
        }
        let same_iop = match (h.iop, first.iop) {
            (Some(a), Some(b)) => a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-4),
            (None, None) => true,
            _ => false,
        };
        if !same_iop {
            return Err(Error::file(
                folder,
                "series mixes slice orientations (ImageOrientationPatient differs between files)",
            ));
        }
        if h.ipp.is_none() {
            return Err(Error::file(
                &h.path,
                "slice has no ImagePositionPatient; cannot place it",
            ));
        }
    }
    let direction = direction_from_iop(first.iop);
    let normal = direction.column(2).into_owned();
    // (position along the normal, header, ImagePositionPatient); every ipp was checked above.
    let mut order: Vec<(f64, &SliceHeader, Vector3<f64>)> = slices
        .iter()
        .filter_map(|h| h.ipp.map(|p| (normal.dot(&p), *h, p)))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = order.len();
    let steps: Vec<f64> = order.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let min_step = steps.iter().cloned().fold(f64::INFINITY, f64::min);
    if min_step < 1e-4 {
        let at = steps.iter().position(|s| *s < 1e-4).unwrap_or(0);
        return Err(Error::file(
            folder,
            format!(
                "two slices share the position {:.3} mm along the normal ({} and {}): several volumes in one series?",
                order[at].0,
                order[at].1.path.display(),
                order[at + 1].1.path.display()
            ),
        ));
    }
    let first_pos = order[0].2;
    let last_pos = order[n - 1].2;
    let spacing_z = (last_pos - first_pos).norm() / (n - 1) as f64;
    let mean_step = (order[n - 1].0 - order[0].0) / (n - 1) as f64;
    let tolerance = 0.01 * mean_step.abs().max(1e-3) + 1e-3;
    if steps.iter().any(|s| (s - mean_step).abs() > tolerance) {
        let max_step = steps.iter().cloned().fold(0.0, f64::max);
        let multiple =
            |s: f64| ((s / min_step).round() - s / min_step).abs() * min_step <= tolerance;
        let at = steps.iter().position(|s| *s == max_step).unwrap_or(0);
        let problem = if steps.iter().all(|s| multiple(*s)) {
            format!(
                "missing slice(s): a gap of {max_step:.3} mm between {:.3} and {:.3} mm where slices are {min_step:.3} mm apart",
                order[at].0,
                order[at + 1].0
            )
        } else {
            format!("uneven slice spacing: steps from {min_step:.3} to {max_step:.3} mm")
        };
        return Err(Error::file(folder, problem));
    }
    // Gantry tilt: positions that drift sideways from the normal through the first slice.
    let [sx, sy] = in_plane_spacing(first)?;
    let drift = (last_pos - first_pos) - normal * (order[n - 1].0 - order[0].0);
    if drift.norm() > 0.25 * sx.min(sy) {
        let angle = drift
            .norm()
            .atan2((order[n - 1].0 - order[0].0).abs())
            .to_degrees();
        return Err(Error::file(
            folder,
            format!(
                "slices are sheared ({angle:.2} degrees: gantry tilt?); positions drift {:.2} mm off the slice normal",
                drift.norm()
            ),
        ));
    }
    let (ni, nj) = (first.cols, first.rows);
    let plane = ni * nj;
    let decoded: Vec<Result<Vec<f32>>> = order
        .par_iter()
        .map(|(_, h, _)| {
            let obj = open(&h.path, false)?;
            decode_frames(&obj, h).map_err(|e| e.in_file(&h.path))
        })
        .collect();
    let mut data = Vec::with_capacity(plane * n);
    for d in decoded {
        let d = d?;
        data.extend_from_slice(&d[..plane]);
    }
    let geometry = Geometry {
        size: [ni, nj, n],
        spacing_mm: Vector3::new(sx, sy, if spacing_z > 0.0 { spacing_z } else { 1.0 }),
        origin_mm: Point3::from(first_pos),
        direction,
    };
    let volume = Volume::from_data(
        geometry,
        Array3::from_shape_vec((n, nj, ni), data)
            .map_err(|e| Error::file(folder, e.to_string()))?,
    )
    .map_err(|e| e.in_file(folder))?;
    Ok(LoadedImage {
        volume,
        pixel_type: pixel_type_name(first),
        format: "dicom",
        series: None,
        warnings,
    })
}

/// Decodes every frame of one file to f32 with that file's rescale applied.
fn decode_frames(obj: &DefaultDicomObject, h: &SliceHeader) -> Result<Vec<f32>> {
    // Explicit VR Big Endian pixel data is decoded as 16-bit words.
    let big_endian = obj.meta().transfer_syntax().trim_end_matches('\0') == "1.2.840.10008.1.2.2";
    let pixels = guard_panics(|| obj.decode_pixel_data())?
        .map_err(|e| Error::invalid(format!("cannot decode pixel data ({e})")))?;
    if pixels.samples_per_pixel() != 1 {
        return Err(Error::invalid("colour pixel data is not a scalar volume"));
    }
    let opts = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
    let converted = guard_panics(|| pixels.to_vec_with_options::<f32>(&opts))?;
    let mut raw: Vec<f32> = match converted {
        Ok(v) => v,
        // 32-bit integer pixels: dicom-pixeldata converts only 8 and 16 bits.
        Err(_) if h.bits_allocated == 32 => pixels
            .data()
            .chunks_exact(4)
            .map(|b| {
                // Big-endian OW data arrives as swapped 16-bit words: high word first.
                let b = if big_endian {
                    [b[2], b[3], b[0], b[1]]
                } else {
                    [b[0], b[1], b[2], b[3]]
                };
                if h.signed {
                    i32::from_le_bytes(b) as f32
                } else {
                    u32::from_le_bytes(b) as f32
                }
            })
            .collect(),
        Err(e) => return Err(Error::invalid(format!("cannot convert pixel data ({e})"))),
    };
    let expected = h.rows * h.cols * h.frames;
    if raw.len() < expected {
        return Err(Error::invalid(format!(
            "pixel data holds {} values, expected {} ({}x{}x{} frames)",
            raw.len(),
            expected,
            h.cols,
            h.rows,
            h.frames
        )));
    }
    let bits = h.bits_stored.clamp(1, 32) as i32;
    if h.signed && bits < 32 {
        // A decoder that ignored PixelRepresentation (seen with JPEG 2000) leaves values
        // above the signed range: sign-extend them from BitsStored, as the header says.
        let half = 2f64.powi(bits - 1) as f32;
        let full = 2f64.powi(bits) as f32;
        raw.par_iter_mut().for_each(|v| {
            if *v >= half {
                *v -= full;
            }
        });
    }
    if h.monochrome1 && !h.signed {
        // As GDCM (and so SimpleITK): invert MONOCHROME1 before the rescale.
        let max = (2f64.powi(bits) - 1.0) as f32;
        raw.par_iter_mut().for_each(|v| *v = max - *v);
    }
    let (slope, inter) = h.rescale;
    raw.truncate(expected);
    if slope != 1.0 || inter != 0.0 {
        raw.par_iter_mut()
            .for_each(|v| *v = (*v as f64 * slope + inter) as f32);
    }
    Ok(raw)
}

fn read_single(
    obj: &DefaultDicomObject,
    h: &SliceHeader,
    mut warnings: Vec<String>,
) -> Result<LoadedImage> {
    let data = decode_frames(obj, h).map_err(|e| e.in_file(&h.path))?;
    let [sx, sy] = in_plane_spacing(h)?;
    let mut direction = direction_from_iop(h.iop);
    let mut origin = h.ipp.unwrap_or_else(Vector3::zeros);
    let nf = h.frames;
    let mut sz = 1.0;
    if nf > 1 && h.frame_positions.len() == nf {
        // Enhanced multi-frame: frames in file order, spacing from their positions.
        let normal = direction.column(2).into_owned();
        let d: Vec<f64> = h.frame_positions.iter().map(|p| normal.dot(p)).collect();
        let mean = (d[nf - 1] - d[0]) / (nf - 1) as f64;
        if d.windows(2)
            .any(|w| ((w[1] - w[0]) - mean).abs() > 1e-3 + 0.01 * mean.abs())
        {
            return Err(Error::file(
                &h.path,
                "frames are unevenly spaced or out of order",
            ));
        }
        origin = h.frame_positions[0];
        if mean.abs() > 0.0 {
            sz = mean.abs();
            if mean < 0.0 {
                let col = -direction.column(2);
                direction.set_column(2, &col);
            }
        }
    } else if h.modality.eq_ignore_ascii_case("RTDOSE") && nf > 1 && h.grid_frame_offsets.len() >= 2
    {
        // RT Dose: frames at GridFrameOffsetVector along the normal.
        let step = h.grid_frame_offsets[1] - h.grid_frame_offsets[0];
        if step != 0.0 {
            sz = step.abs();
            if step < 0.0 {
                let col = -direction.column(2);
                direction.set_column(2, &col);
            }
        }
    } else {
        let modality = h.modality.to_ascii_uppercase();
        if (modality == "MR" || modality == "NM") && h.spacing_between_slices.is_some() {
            let s = h.spacing_between_slices.unwrap_or(1.0);
            if s < 0.0 {
                let col = -direction.column(2);
                direction.set_column(2, &col);
            }
            if s != 0.0 {
                sz = s.abs();
            }
        }
        if nf > 1 {
            warnings.push(format!(
                "multi-frame file without per-frame positions: {nf} frames stacked {sz} mm apart"
            ));
        }
    }
    let geometry = Geometry {
        size: [h.cols, h.rows, nf],
        spacing_mm: Vector3::new(sx, sy, sz),
        origin_mm: Point3::from(origin),
        direction,
    };
    let volume = Volume::from_data(
        geometry,
        Array3::from_shape_vec((nf, h.rows, h.cols), data)
            .map_err(|e| Error::file(&h.path, e.to_string()))?,
    )
    .map_err(|e| e.in_file(&h.path))?;
    Ok(LoadedImage {
        volume,
        pixel_type: pixel_type_name(h),
        format: "dicom",
        series: None,
        warnings,
    })
}

/// The pixel type ITK's GDCMImageIO reports: the stored type, or after rescaling the
/// smallest integer type that holds the rescaled range, or float64 for non-integer scaling.
fn pixel_type_name(h: &SliceHeader) -> String {
    let stored = match (h.bits_allocated, h.signed) {
        (8, false) => "uint8",
        (8, true) => "int8",
        (16, false) => "uint16",
        (16, true) => "int16",
        (32, false) => "uint32",
        (32, true) => "int32",
        _ => "float64",
    };
    let (slope, inter) = h.rescale;
    if slope == 1.0 && inter == 0.0 {
        return stored.to_string();
    }
    if slope.fract() != 0.0 || inter.fract() != 0.0 {
        return "float64".to_string();
    }
    let bits = h.bits_stored.clamp(1, 32) as i32;
    let (lo, hi) = if h.signed {
        (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
    } else {
        (0.0, 2f64.powi(bits) - 1.0)
    };
    let (a, b) = (slope * lo + inter, slope * hi + inter);
    let (lo, hi) = (a.min(b), a.max(b));
    let name = if lo >= 0.0 {
        if hi <= u8::MAX as f64 {
            "uint8"
        } else if hi <= u16::MAX as f64 {
            "uint16"
        } else {
            "uint32"
        }
    } else if lo >= i8::MIN as f64 && hi <= i8::MAX as f64 {
        "int8"
    } else if lo >= i16::MIN as f64 && hi <= i16::MAX as f64 {
        "int16"
    } else {
        "int32"
    };
    name.to_string()
}
