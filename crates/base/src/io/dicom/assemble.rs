//! Assembly of a volume from the headers of one series (or one file): slice order,
//! spacing, the largest evenly spaced block or a regular regrid, decoding and rescale.

use std::path::Path;

use dicom_object::DefaultDicomObject;
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use nalgebra::{Matrix3, Point3, Vector3};
use ndarray::Array3;
use rayon::prelude::*;

use super::header::{SliceHeader, check_image};
use super::source::{DicomSource, SourceSlice};
use crate::error::{Error, Result};
use crate::io::{LoadedImage, guard_panics};
use crate::volume::{Geometry, Volume};

/// Direction columns (row, column, normal) from ImageOrientationPatient, orthogonalised as
/// GDCM does (keeps the column vector).
pub(crate) fn direction_from_iop(iop: Option<[f64; 6]>) -> Matrix3<f64> {
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

/// A slice in order along the normal.
struct Placed<'a> {
    depth_mm: f64,
    header: &'a SliceHeader,
    position: Vector3<f64>,
}

/// The spacing problems of a sorted series, in words, given its typical step.
fn spacing_problem(order: &[Placed], typical: f64, regular: &dyn Fn(f64) -> bool) -> String {
    let mut parts = Vec::new();
    for w in order.windows(2) {
        let step = w[1].depth_mm - w[0].depth_mm;
        if regular(step) {
            continue;
        }
        let ratio = step / typical;
        let missing = ratio.round() - 1.0;
        if missing >= 1.0 && ((ratio - ratio.round()).abs() * typical) < 0.02 * typical + 1e-3 {
            parts.push(format!(
                "a gap of {step:.3} mm ({missing:.0} missing slice{}) between {:.3} and {:.3} mm",
                if missing > 1.0 { "s" } else { "" },
                w[0].depth_mm,
                w[1].depth_mm
            ));
        } else {
            parts.push(format!(
                "a step of {step:.3} mm between {:.3} and {:.3} mm",
                w[0].depth_mm, w[1].depth_mm
            ));
        }
    }
    let shown = parts.len().min(3);
    let more = if parts.len() > shown {
        format!(" and {} more", parts.len() - shown)
    } else {
        String::new()
    };
    format!(
        "slices are {typical:.3} mm apart but with {}{more}",
        parts[..shown].join(", ")
    )
}

/// The longest run of slices whose steps are all regular: (first, last) indices.
fn largest_block(order: &[Placed], regular: &dyn Fn(f64) -> bool) -> (usize, usize) {
    let mut best = (0, 0);
    let mut start = 0;
    for i in 1..order.len() {
        if !regular(order[i].depth_mm - order[i - 1].depth_mm) {
            start = i;
        }
        if i - start > best.1 - best.0 {
            best = (start, i);
        }
    }
    best
}

pub(crate) fn read_series(
    folder: &Path,
    slices: &[&SliceHeader],
    accept_uneven: bool,
    mut warnings: Vec<String>,
) -> Result<LoadedImage> {
    let first = slices[0];
    for h in slices {
        check_image(h)?;
        if h.ipp.is_none() {
            return Err(Error::file(
                &h.path,
                "slice has no ImagePositionPatient; cannot place it",
            ));
        }
    }
    let direction = direction_from_iop(first.iop);
    let normal = direction.column(2).into_owned();
    let mut order: Vec<Placed> = slices
        .iter()
        .filter_map(|h| {
            h.ipp.map(|p| Placed {
                depth_mm: normal.dot(&p),
                header: h,
                position: p,
            })
        })
        .collect();
    order.sort_by(|a, b| a.depth_mm.total_cmp(&b.depth_mm));
    let steps: Vec<f64> = order
        .windows(2)
        .map(|w| w[1].depth_mm - w[0].depth_mm)
        .collect();
    if let Some(at) = steps.iter().position(|s| *s < 1e-4) {
        return Err(Error::file(
            folder,
            format!(
                "two slices share the position {:.3} mm along the normal ({} and {}) and positions do not repeat evenly: several volumes in one series?",
                order[at].depth_mm,
                order[at].header.path.display(),
                order[at + 1].header.path.display()
            ),
        ));
    }
    let mut sorted_steps = steps.clone();
    sorted_steps.sort_by(f64::total_cmp);
    let typical = sorted_steps[sorted_steps.len() / 2];
    let tolerance = 0.01 * typical + 1e-3;
    let regular = |s: f64| (s - typical).abs() <= tolerance;
    let mut resample_to: Option<usize> = None;
    if !steps.iter().all(|s| regular(*s)) {
        let problem = spacing_problem(&order, typical, &regular);
        if accept_uneven {
            let span = order[order.len() - 1].depth_mm - order[0].depth_mm;
            let n = (span / typical).round() as usize + 1;
            warnings.push(format!(
                "{problem}; resampled the whole series onto a regular grid of {n} slices {:.3} mm apart (linear between neighbouring slices), as asked",
                span / (n - 1) as f64
            ));
            resample_to = Some(n);
        } else {
            let (a, b) = largest_block(&order, &regular);
            if b - a + 1 < 3.min(order.len()) {
                return Err(Error::file(
                    folder,
                    format!(
                        "{problem}: no three neighbouring slices are evenly spaced; pass --accept-uneven to resample the series onto a regular grid"
                    ),
                ));
            }
            warnings.push(format!(
                "{problem}; loaded the largest evenly spaced block, slices {}-{} of {} ({} slices, {:.3} to {:.3} mm along the normal); pass --accept-uneven to load the whole series resampled onto a regular grid",
                a + 1,
                b + 1,
                order.len(),
                b - a + 1,
                order[a].depth_mm,
                order[b].depth_mm
            ));
            order = order.drain(a..=b).collect();
        }
    }
    let n = order.len();
    let first_pos = order[0].position;
    let last_pos = order[n - 1].position;
    let span = order[n - 1].depth_mm - order[0].depth_mm;
    // Gantry tilt: positions that drift sideways from the normal through the first slice.
    let [sx, sy] = in_plane_spacing(first)?;
    let drift = (last_pos - first_pos) - normal * span;
    if drift.norm() > 0.25 * sx.min(sy) {
        let angle = drift.norm().atan2(span.abs()).to_degrees();
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
        .map(|p| {
            let obj = super::header::open(&p.header.path, false)?;
            decode_frames(&obj, p.header).map_err(|e| e.in_file(&p.header.path))
        })
        .collect();
    let mut planes = Vec::with_capacity(n);
    for d in decoded {
        let mut d = d?;
        d.truncate(plane);
        planes.push(d);
    }
    let source_slice = |p: &Placed| {
        Some(SourceSlice {
            sop_instance_uid: p.header.sop_instance_uid.clone(),
            frame: None,
        })
    };
    let (nk, spacing_z, data, slice_sources) = match resample_to {
        None => {
            let mut data = Vec::with_capacity(plane * n);
            for p in &planes {
                data.extend_from_slice(p);
            }
            let sz = (last_pos - first_pos).norm() / (n - 1) as f64;
            (n, sz, data, order.iter().map(source_slice).collect())
        }
        Some(nk) => {
            let sz = span / (nk - 1) as f64;
            let mut data = Vec::with_capacity(plane * nk);
            let mut sources = Vec::with_capacity(nk);
            let mut below = 0;
            for k in 0..nk {
                let d = order[0].depth_mm + k as f64 * sz;
                while below + 2 < n && order[below + 1].depth_mm <= d {
                    below += 1;
                }
                let (d0, d1) = (order[below].depth_mm, order[below + 1].depth_mm);
                let t = ((d - d0) / (d1 - d0)).clamp(0.0, 1.0);
                let (a, b) = (&planes[below], &planes[below + 1]);
                data.extend(
                    a.iter()
                        .zip(b.iter())
                        .map(|(x, y)| ((1.0 - t) * *x as f64 + t * *y as f64) as f32),
                );
                sources.push(if t < 1e-3 {
                    source_slice(&order[below])
                } else if t > 1.0 - 1e-3 {
                    source_slice(&order[below + 1])
                } else {
                    None
                });
            }
            (nk, sz, data, sources)
        }
    };
    let geometry = Geometry {
        size: [ni, nj, nk],
        spacing_mm: Vector3::new(sx, sy, if spacing_z > 0.0 { spacing_z } else { 1.0 }),
        origin_mm: Point3::from(first_pos),
        direction,
    };
    let volume = Volume::from_data(
        geometry,
        Array3::from_shape_vec((nk, nj, ni), data)
            .map_err(|e| Error::file(folder, e.to_string()))?,
    )
    .map_err(|e| e.in_file(folder))?;
    let source = DicomSource {
        study: first.study.clone(),
        series_instance_uid: first.series_uid.clone(),
        sop_class_uid: first.sop_class_uid.clone(),
        modality: first.modality.clone(),
        frame_of_reference_uid: first.frame_of_reference_uid.clone(),
        slices: slice_sources,
        instances: order
            .iter()
            .map(|p| p.header.sop_instance_uid.clone())
            .collect(),
    };
    Ok(LoadedImage {
        volume,
        pixel_type: if resample_to.is_some() {
            "float32".to_string()
        } else {
            pixel_type_name(first)
        },
        format: "dicom",
        series: None,
        warnings,
        dicom: Some(source),
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

pub(crate) fn read_single(
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
        // SimpleITK 2.5 (GDCM 3) takes SpacingBetweenSlices for any modality and ignores
        // SliceThickness: checked on pydicom's CT_small (5), 693_J2KI (20, thickness 5)
        // and J2K_pixelrep_mismatch (thickness 5 only: 1).
        if let Some(s) = h.spacing_between_slices {
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
    let source = DicomSource {
        study: h.study.clone(),
        series_instance_uid: h.series_uid.clone(),
        sop_class_uid: h.sop_class_uid.clone(),
        modality: h.modality.clone(),
        frame_of_reference_uid: h.frame_of_reference_uid.clone(),
        slices: (0..nf)
            .map(|k| {
                Some(SourceSlice {
                    sop_instance_uid: h.sop_instance_uid.clone(),
                    frame: (nf > 1).then_some(k as u32 + 1),
                })
            })
            .collect(),
        instances: vec![h.sop_instance_uid.clone()],
    };
    Ok(LoadedImage {
        volume,
        pixel_type: pixel_type_name(h),
        format: "dicom",
        series: None,
        warnings,
        dicom: Some(source),
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
