//! DICOM Segmentation (BINARY): label values of one or more label maps on a volume's
//! grid, one segment each, one frame per (segment, slice) that holds any of it. Frames
//! carry their plane position and, when the CT was DICOM, the source slice they derive
//! from; the segments carry their label and SNOMED CT codes.

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use super::{
    Code, Identity, InstanceHeader, Planes, new_uid, put_code, put_dimensions,
    put_monochrome_frames, put_seq, put_str, put_u16, write_instance,
};
use crate::error::{Error, Result};
use crate::volume::{Geometry, LabelMap};

/// What one segment is.
#[derive(Clone, Debug)]
pub struct SegmentDef {
    /// SegmentLabel ("femur", "F-MC (medial femoral condyle)", ...).
    pub label: String,
    pub description: String,
    /// Segmented Property Category (e.g. SCT 91723000 "Anatomical structure").
    pub category: Code,
    /// Segmented Property Type (e.g. SCT 71341001 "Bone structure of femur").
    pub property_type: Code,
    /// Display colour (sRGB); written as the recommended CIELab value.
    pub rgb: [u8; 3],
}

/// One segment: where it is (voxels of `labels` equal to `value`) and what it is.
pub struct Segment<'a> {
    pub def: SegmentDef,
    /// A label map on the request's grid.
    pub labels: &'a LabelMap,
    pub value: u8,
}

/// What the Segmentation describes.
pub struct SegRequest<'a> {
    pub geometry: &'a Geometry,
    pub segments: Vec<Segment<'a>>,
    pub series_description: String,
    pub series_number: u32,
    pub algorithm_name: String,
    pub algorithm_version: String,
}

/// The written Segmentation: its UIDs and which input segments got which number (segments
/// without voxels are left out).
#[derive(Clone, Debug)]
pub struct WrittenSeg {
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    /// (index into the request's segments, SegmentNumber).
    pub numbers: Vec<(usize, u16)>,
    pub frames: usize,
}

/// CIELab (DICOM scaled 0-65535) of an sRGB colour, D65.
pub fn srgb_to_dicom_lab(rgb: [u8; 3]) -> [u16; 3] {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.950_47;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.088_83;
    let f = |t: f64| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    let (l, a, bb) = (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz));
    [
        (l / 100.0 * 65535.0).round().clamp(0.0, 65535.0) as u16,
        ((a + 128.0) / 255.0 * 65535.0).round().clamp(0.0, 65535.0) as u16,
        ((bb + 128.0) / 255.0 * 65535.0).round().clamp(0.0, 65535.0) as u16,
    ]
}

/// Packs bits LSB first, as BINARY segmentations store them (frames run on without
/// padding; the whole stream is padded to an even length).
pub fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (n, b) in bits.iter().enumerate() {
        if *b {
            out[n / 8] |= 1 << (n % 8);
        }
    }
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// Writes the Segmentation to `path`.
pub fn write_seg(id: &Identity, req: &SegRequest, path: &Path) -> Result<WrittenSeg> {
    let g = req.geometry;
    let [ni, nj, nk] = g.size;
    let plane = ni * nj;
    for s in &req.segments {
        if s.labels.geometry().size != g.size {
            return Err(Error::invalid(format!(
                "segment {}: label map of size {:?}, the grid {:?}",
                s.def.label,
                s.labels.geometry().size,
                g.size
            )));
        }
    }
    let header = InstanceHeader {
        sop_class_uid: uids::SEGMENTATION_STORAGE,
        sop_instance_uid: new_uid(),
        modality: "SEG",
        series_instance_uid: new_uid(),
        series_number: req.series_number,
        series_description: req.series_description.clone(),
    };
    let mut o = id.base(&header);
    id.put_frame_of_reference(&mut o);
    id.put_references(&mut o);
    let planes = Planes::new(g);

    let mut segment_items = Vec::new();
    let mut numbers = Vec::new();
    let mut bits: Vec<bool> = Vec::new();
    let mut per_frame = Vec::new();
    let derivation = Code::new("113076", "DCM", "Segmentation");
    for (n, s) in req.segments.iter().enumerate() {
        let slices: Vec<usize> = (0..nk)
            .filter(|&k| s.labels.labels()[k * plane..(k + 1) * plane].contains(&s.value))
            .collect();
        if slices.is_empty() {
            continue;
        }
        let number = numbers.len() as u16 + 1;
        numbers.push((n, number));
        let mut item = InMemDicomObject::new_empty();
        put_u16(&mut item, tags::SEGMENT_NUMBER, number);
        put_str(&mut item, tags::SEGMENT_LABEL, VR::LO, &s.def.label);
        if !s.def.description.is_empty() {
            put_str(
                &mut item,
                tags::SEGMENT_DESCRIPTION,
                VR::ST,
                &s.def.description,
            );
        }
        put_str(&mut item, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC");
        put_str(
            &mut item,
            tags::SEGMENT_ALGORITHM_NAME,
            VR::LO,
            &req.algorithm_name,
        );
        put_code(
            &mut item,
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            &s.def.category,
        );
        put_code(
            &mut item,
            tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
            &s.def.property_type,
        );
        let lab = srgb_to_dicom_lab(s.def.rgb);
        item.put(DataElement::new(
            tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
            VR::US,
            PrimitiveValue::U16(lab.to_vec().into()),
        ));
        segment_items.push(item);
        for k in slices {
            bits.extend(
                s.labels.labels()[k * plane..(k + 1) * plane]
                    .iter()
                    .map(|v| *v == s.value),
            );
            let mut frame = InMemDicomObject::new_empty();
            let mut content = InMemDicomObject::new_empty();
            content.put(DataElement::new(
                tags::DIMENSION_INDEX_VALUES,
                VR::UL,
                PrimitiveValue::U32(vec![u32::from(number), k as u32 + 1].into()),
            ));
            put_seq(&mut frame, tags::FRAME_CONTENT_SEQUENCE, vec![content]);
            planes.position_group(&mut frame, k);
            let mut ident = InMemDicomObject::new_empty();
            put_u16(&mut ident, tags::REFERENCED_SEGMENT_NUMBER, number);
            put_seq(
                &mut frame,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                vec![ident],
            );
            if let Some(d) = id.derivation_item(k, &derivation) {
                put_seq(&mut frame, tags::DERIVATION_IMAGE_SEQUENCE, vec![d]);
            }
            per_frame.push(frame);
        }
    }
    if numbers.is_empty() {
        return Err(Error::invalid(
            "nothing to write: every segment of the Segmentation is empty",
        ));
    }
    let frames = per_frame.len();
    put_str(&mut o, tags::IMAGE_TYPE, VR::CS, "DERIVED\\PRIMARY");
    put_str(&mut o, tags::CONTENT_LABEL, VR::CS, "SRRD_SEGMENTS");
    put_str(
        &mut o,
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        "bones and subchondral subregions (research use)",
    );
    put_monochrome_frames(&mut o, &planes, 1);
    put_u16(&mut o, tags::BITS_STORED, 1);
    put_u16(&mut o, tags::HIGH_BIT, 0);
    put_u16(&mut o, tags::PIXEL_REPRESENTATION, 0);
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put_str(&mut o, tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    put_str(&mut o, tags::NUMBER_OF_FRAMES, VR::IS, &frames.to_string());
    let mut shared = InMemDicomObject::new_empty();
    planes.shared_groups(&mut shared);
    put_seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    );
    put_seq(
        &mut o,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    );
    put_dimensions(
        &mut o,
        &[
            (
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "Segment Number",
            ),
            (
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "Image Position Patient",
            ),
        ],
    );
    put_seq(&mut o, tags::SEGMENT_SEQUENCE, segment_items);
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(pack_bits(&bits).into()),
    ));
    write_instance(o, path)?;
    Ok(WrittenSeg {
        sop_instance_uid: header.sop_instance_uid,
        series_instance_uid: header.series_instance_uid,
        numbers,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_pack_lsb_first_and_pad_to_even() {
        let bits = [true, false, false, false, false, false, false, true, true];
        assert_eq!(pack_bits(&bits), vec![0b1000_0001, 0b0000_0001]);
        assert_eq!(pack_bits(&[true; 3]), vec![0b111, 0]);
    }

    #[test]
    fn white_and_red_in_dicom_lab() {
        let w = srgb_to_dicom_lab([255, 255, 255]);
        assert!(w[0] > 65_400, "{w:?}");
        assert!((i32::from(w[1]) - 32_896).abs() < 200, "{w:?}");
        let r = srgb_to_dicom_lab([255, 0, 0]);
        // L* 53.2, a* 80.1, b* 67.2
        assert!((f64::from(r[0]) / 65535.0 * 100.0 - 53.2).abs() < 0.5);
        assert!((f64::from(r[1]) / 65535.0 * 255.0 - 128.0 - 80.1).abs() < 0.5);
    }
}
