//! A DICOM slice writer for tests: CT slices with known stored values, geometry and
//! series, written with dicom-object (shared by the series and viewer tests).
#![allow(dead_code)]

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use nalgebra::Vector3;

pub const ROWS: usize = 8;
pub const COLS: usize = 6;

/// The stored value of pixel (col, row) of slice `n` (before rescale).
pub fn stored(n: usize, row: usize, col: usize) -> i16 {
    (n * 100 + row * 10 + col) as i16
}

fn ds(values: &[f64]) -> PrimitiveValue {
    PrimitiveValue::from(
        values
            .iter()
            .map(|v| format!("{v}"))
            .collect::<Vec<_>>()
            .join("\\"),
    )
}

pub struct SliceSpec {
    pub n: usize,
    pub ipp: Vector3<f64>,
    pub rows: usize,
    pub series: &'static str,
}

pub fn write_slice(dir: &Path, iop: [f64; 6], s: &SliceSpec) {
    let mut obj = InMemDicomObject::new_empty();
    let put = |obj: &mut InMemDicomObject, tag, vr, v: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, v));
    };
    let sop_uid = format!("1.2.826.0.1.3680043.2.1125.9.{}.{}", s.series.len(), s.n);
    put(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
    );
    put(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(sop_uid.as_str()),
    );
    put(&mut obj, tags::MODALITY, VR::CS, PrimitiveValue::from("CT"));
    put(
        &mut obj,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(s.series),
    );
    put(
        &mut obj,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        PrimitiveValue::from("test knee"),
    );
    put(
        &mut obj,
        tags::INSTANCE_NUMBER,
        VR::IS,
        PrimitiveValue::from(format!("{}", s.n + 1)),
    );
    put(
        &mut obj,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        ds(&[s.ipp.x, s.ipp.y, s.ipp.z]),
    );
    put(&mut obj, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&iop));
    put(&mut obj, tags::PIXEL_SPACING, VR::DS, ds(&[0.8, 0.6]));
    put(&mut obj, tags::SLICE_THICKNESS, VR::DS, ds(&[5.0]));
    put(
        &mut obj,
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    );
    put(
        &mut obj,
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(s.rows as u16),
    );
    put(
        &mut obj,
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(COLS as u16),
    );
    put(
        &mut obj,
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16u16),
    );
    put(
        &mut obj,
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(12u16),
    );
    put(
        &mut obj,
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(11u16),
    );
    put(
        &mut obj,
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(&mut obj, tags::RESCALE_SLOPE, VR::DS, ds(&[1.0]));
    put(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, ds(&[-1024.0]));
    let mut bytes = Vec::with_capacity(s.rows * COLS * 2);
    for row in 0..s.rows {
        for col in 0..COLS {
            bytes.extend_from_slice(&stored(s.n, row, col).to_le_bytes());
        }
    }
    put(
        &mut obj,
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U8(bytes.into()),
    );
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .expect("meta");
    file.write_to_file(dir.join(format!("{}-{:03}.dcm", s.series, s.n)))
        .expect("write dicom");
}

/// What a scanner writes about a series, for [`write_volume_series`].
pub struct SeriesTags<'a> {
    pub modality: &'a str,
    pub series_uid: &'a str,
    pub study_uid: &'a str,
    pub description: &'a str,
    /// ConvolutionKernel (CT), or empty.
    pub kernel: &'a str,
    /// ImageType values, e.g. `ORIGINAL\PRIMARY\AXIAL`.
    pub image_type: &'a str,
    /// Stored = (value - intercept) / slope, as int16.
    pub intercept: f64,
    pub slope: f64,
}

/// Writes a volume as a DICOM series, one file per slice k, at `name(k)` under `dir`
/// (folders made as needed), with the volume's geometry (LPS) and the tags given.
pub fn write_volume_series(
    dir: &Path,
    v: &srrd::volume::Volume,
    t: &SeriesTags,
    name: impl Fn(usize) -> String,
) {
    let g = &v.geometry;
    let [ni, nj, nk] = g.size;
    let d = g.direction;
    let iop = [
        d[(0, 0)],
        d[(1, 0)],
        d[(2, 0)],
        d[(0, 1)],
        d[(1, 1)],
        d[(2, 1)],
    ];
    let sop_class = if t.modality == "MR" {
        uids::MR_IMAGE_STORAGE
    } else {
        uids::CT_IMAGE_STORAGE
    };
    for k in 0..nk {
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag, vr, v: PrimitiveValue| {
            obj.put(DataElement::new(tag, vr, v));
        };
        let text = |s: &str| PrimitiveValue::from(s.to_string());
        let ipp = g.origin_mm.coords + d.column(2) * (g.spacing_mm[2] * k as f64);
        put(tags::SOP_CLASS_UID, VR::UI, text(sop_class));
        put(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            text(&format!("{}.{}", t.series_uid, k + 1)),
        );
        put(tags::STUDY_INSTANCE_UID, VR::UI, text(t.study_uid));
        put(tags::SERIES_INSTANCE_UID, VR::UI, text(t.series_uid));
        put(tags::MODALITY, VR::CS, text(t.modality));
        put(tags::PATIENT_ID, VR::LO, text("KNEE-0042"));
        put(tags::SERIES_DESCRIPTION, VR::LO, text(t.description));
        put(tags::IMAGE_TYPE, VR::CS, text(t.image_type));
        if !t.kernel.is_empty() {
            put(tags::CONVOLUTION_KERNEL, VR::SH, text(t.kernel));
        }
        put(tags::INSTANCE_NUMBER, VR::IS, text(&format!("{}", k + 1)));
        put(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            ds(&[ipp.x, ipp.y, ipp.z]),
        );
        put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&iop));
        put(
            tags::PIXEL_SPACING,
            VR::DS,
            ds(&[g.spacing_mm[1], g.spacing_mm[0]]),
        );
        put(tags::SLICE_THICKNESS, VR::DS, ds(&[g.spacing_mm[2]]));
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            text("MONOCHROME2"),
        );
        put(tags::ROWS, VR::US, PrimitiveValue::from(nj as u16));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(ni as u16));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        );
        put(tags::RESCALE_SLOPE, VR::DS, ds(&[t.slope]));
        put(tags::RESCALE_INTERCEPT, VR::DS, ds(&[t.intercept]));
        let mut bytes = Vec::with_capacity(ni * nj * 2);
        for j in 0..nj {
            for i in 0..ni {
                let s = ((v.data[[k, j, i]] as f64 - t.intercept) / t.slope).round();
                bytes.extend_from_slice(&(s.clamp(-32768.0, 32767.0) as i16).to_le_bytes());
            }
        }
        put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(bytes.into()));
        let file = obj
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .expect("meta");
        let path = dir.join(name(k));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("series folder");
        }
        file.write_to_file(&path).expect("write dicom");
    }
}
