//! The header of one DICOM image file: the fields that series assembly needs, and the
//! identifiers that derived objects (SEG, parametric map, SR) refer back to.

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use nalgebra::Vector3;

use super::source::StudyInfo;
use crate::error::{Error, Result};
use crate::io::guard_panics;

/// The header fields of one image file that assembly needs.
#[derive(Clone, Debug)]
pub(crate) struct SliceHeader {
    pub path: PathBuf,
    pub series_uid: String,
    pub description: String,
    pub modality: String,
    /// ConvolutionKernel (CT reconstruction kernel; empty when absent).
    pub kernel: String,
    /// ImageType values, upper case, backslash-separated (e.g. `ORIGINAL\PRIMARY\LOCALIZER`).
    pub image_type: String,
    pub rows: usize,
    pub cols: usize,
    pub frames: usize,
    pub samples_per_pixel: u16,
    pub ipp: Option<Vector3<f64>>,
    pub iop: Option<[f64; 6]>,
    pub pixel_spacing: Option<[f64; 2]>,
    pub spacing_between_slices: Option<f64>,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
    pub rescale: (f64, f64),
    /// MONOCHROME1: low values are bright.
    pub monochrome1: bool,
    /// PhotometricInterpretation PALETTE COLOR (indices into a colour table).
    pub palette: bool,
    /// RT Dose frame offsets (GridFrameOffsetVector), in mm.
    pub grid_frame_offsets: Vec<f64>,
    /// Per-frame positions of an enhanced multi-frame file.
    pub frame_positions: Vec<Vector3<f64>>,
    /// SOPInstanceUID and SOPClassUID (empty when absent).
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    /// InstanceNumber (orders slices that share a position).
    pub instance_number: Option<i64>,
    /// FrameOfReferenceUID.
    pub frame_of_reference_uid: Option<String>,
    /// Patient and study identity, copied into derived objects.
    pub study: StudyInfo,
}

pub(crate) fn open(path: &Path, header_only: bool) -> Result<DefaultDicomObject> {
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

pub(crate) fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_str()
        .ok()
        .map(|s| s.trim().trim_end_matches('\0').to_string())
}

pub(crate) fn get_f64s(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_multi_float64()
        .ok()
        .filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
}

pub(crate) fn get_f64(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    get_f64s(obj, tag).map(|v| v[0])
}

pub(crate) fn get_int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_int::<i64>().ok()
}

/// The first item of a sequence.
pub(crate) fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.element_opt(tag).ok().flatten()?.items()?.first()
}

/// Looks a tag up inside a functional-group macro: `group_item -> macro_seq[0] -> tag`.
fn in_macro(group: Option<&InMemDicomObject>, macro_seq: Tag, tag: Tag) -> Option<Vec<f64>> {
    get_f64s(first_item(group?, macro_seq)?, tag)
}

pub(crate) fn read_header(obj: &DefaultDicomObject, path: &Path) -> SliceHeader {
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
        kernel: get_str(o, tags::CONVOLUTION_KERNEL).unwrap_or_default(),
        image_type: get_str(o, tags::IMAGE_TYPE)
            .unwrap_or_default()
            .to_ascii_uppercase(),
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
        sop_instance_uid: get_str(o, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        sop_class_uid: get_str(o, tags::SOP_CLASS_UID).unwrap_or_default(),
        instance_number: get_int(o, tags::INSTANCE_NUMBER),
        frame_of_reference_uid: get_str(o, tags::FRAME_OF_REFERENCE_UID).filter(|s| !s.is_empty()),
        study: StudyInfo::read(o),
    }
}

pub(crate) fn check_image(h: &SliceHeader) -> Result<()> {
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
