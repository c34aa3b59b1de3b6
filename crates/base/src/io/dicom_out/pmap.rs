//! DICOM Parametric Map: one float map on a volume's grid (32-bit Float Pixel Data), with
//! its quantity and UCUM unit in a Real World Value Mapping, written for the slices where
//! the map has values (the subchondral regions span a few centimetres of the knee).

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use super::{
    Code, Identity, InstanceHeader, Planes, new_uid, put_code, put_dimensions, put_ds,
    put_monochrome_frames, put_seq, put_str, write_instance,
};
use crate::error::{Error, Result};
use crate::volume::Volume;

/// What one map is.
pub struct MapRequest<'a> {
    pub map: &'a Volume,
    /// Short name ("Tb.Th"): LUT label and explanation.
    pub name: String,
    /// The quantity (a local 99SRRD code where no standard one exists).
    pub quantity: Code,
    /// UCUM unit.
    pub unit: Code,
    /// "R" or "L": the knee's side.
    pub laterality: &'static str,
    pub series_number: u32,
    pub series_description: String,
}

/// The written map: UIDs and the slices written.
#[derive(Clone, Debug)]
pub struct WrittenMap {
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    /// The volume's slices k that became frames, in order.
    pub slices: Vec<usize>,
}

/// Writes the Parametric Map to `path`.
pub fn write_parametric_map(id: &Identity, req: &MapRequest, path: &Path) -> Result<WrittenMap> {
    let g = &req.map.geometry;
    let [ni, nj, nk] = g.size;
    let plane = ni * nj;
    let data = req
        .map
        .data
        .as_slice()
        .ok_or_else(|| Error::invalid("map is not contiguous"))?;
    let has_values = |k: usize| {
        data[k * plane..(k + 1) * plane]
            .iter()
            .any(|v| *v != 0.0 && v.is_finite())
    };
    let slices: Vec<usize> = (0..nk).filter(|&k| has_values(k)).collect();
    let (Some(&first), Some(&last)) = (slices.first(), slices.last()) else {
        return Err(Error::invalid(format!("map {} holds no values", req.name)));
    };
    // A contiguous block from the first slice with values to the last.
    let slices: Vec<usize> = (first..=last).collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut pixels = Vec::with_capacity(plane * slices.len());
    for &k in &slices {
        for v in &data[k * plane..(k + 1) * plane] {
            let v = if v.is_finite() { *v } else { 0.0 };
            lo = lo.min(f64::from(v));
            hi = hi.max(f64::from(v));
            pixels.push(v);
        }
    }
    let header = InstanceHeader {
        sop_class_uid: uids::PARAMETRIC_MAP_STORAGE,
        sop_instance_uid: new_uid(),
        modality: "CT",
        series_instance_uid: new_uid(),
        series_number: req.series_number,
        series_description: req.series_description.clone(),
    };
    let mut o = id.base(&header);
    id.put_frame_of_reference(&mut o);
    id.put_references(&mut o);
    super::put_local_scheme(&mut o);
    let planes = Planes::new(g);
    let kinds = "DERIVED\\PRIMARY\\VOLUME\\NONE";
    put_str(&mut o, tags::IMAGE_TYPE, VR::CS, kinds);
    put_str(&mut o, tags::CONTENT_LABEL, VR::CS, "SRRD_MAP");
    put_str(
        &mut o,
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        &format!("{} regressed from the CT (research use)", req.name),
    );
    put_str(&mut o, tags::CONTENT_QUALIFICATION, VR::CS, "RESEARCH");
    put_monochrome_frames(&mut o, &planes, 32);
    put_str(&mut o, tags::PRESENTATION_LUT_SHAPE, VR::CS, "IDENTITY");
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put_str(&mut o, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
    put_str(&mut o, tags::RECOGNIZABLE_VISUAL_FEATURES, VR::CS, "NO");
    put_seq(&mut o, tags::ACQUISITION_CONTEXT_SEQUENCE, Vec::new());
    put_str(
        &mut o,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &slices.len().to_string(),
    );

    let mut shared = InMemDicomObject::new_empty();
    planes.shared_groups(&mut shared);
    let mut mapping = InMemDicomObject::new_empty();
    put_str(&mut mapping, tags::LUT_EXPLANATION, VR::LO, &req.name);
    put_str(
        &mut mapping,
        tags::LUT_LABEL,
        VR::SH,
        &req.name.replace(['.', '/'], "_"),
    );
    put_code(
        &mut mapping,
        tags::MEASUREMENT_UNITS_CODE_SEQUENCE,
        &req.unit,
    );
    let fd = |v: f64| PrimitiveValue::F64(vec![v].into());
    mapping.put(DataElement::new(
        tags::DOUBLE_FLOAT_REAL_WORLD_VALUE_FIRST_VALUE_MAPPED,
        VR::FD,
        fd(lo),
    ));
    mapping.put(DataElement::new(
        tags::DOUBLE_FLOAT_REAL_WORLD_VALUE_LAST_VALUE_MAPPED,
        VR::FD,
        fd(hi),
    ));
    mapping.put(DataElement::new(
        tags::REAL_WORLD_VALUE_INTERCEPT,
        VR::FD,
        fd(0.0),
    ));
    mapping.put(DataElement::new(
        tags::REAL_WORLD_VALUE_SLOPE,
        VR::FD,
        fd(1.0),
    ));
    let mut quantity = InMemDicomObject::new_empty();
    put_str(&mut quantity, tags::VALUE_TYPE, VR::CS, "CODE");
    put_code(
        &mut quantity,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        &Code::new("246205007", "SCT", "Quantity"),
    );
    put_code(&mut quantity, tags::CONCEPT_CODE_SEQUENCE, &req.quantity);
    put_seq(
        &mut mapping,
        tags::QUANTITY_DEFINITION_SEQUENCE,
        vec![quantity],
    );
    put_seq(
        &mut shared,
        tags::REAL_WORLD_VALUE_MAPPING_SEQUENCE,
        vec![mapping],
    );
    let mut frame_type = InMemDicomObject::new_empty();
    put_str(&mut frame_type, tags::FRAME_TYPE, VR::CS, kinds);
    put_seq(
        &mut shared,
        tags::PARAMETRIC_MAP_FRAME_TYPE_SEQUENCE,
        vec![frame_type],
    );
    let mut anatomy = InMemDicomObject::new_empty();
    put_code(
        &mut anatomy,
        tags::ANATOMIC_REGION_SEQUENCE,
        &Code::new("72696002", "SCT", "Knee"),
    );
    put_str(&mut anatomy, tags::FRAME_LATERALITY, VR::CS, req.laterality);
    put_seq(&mut shared, tags::FRAME_ANATOMY_SEQUENCE, vec![anatomy]);
    let mut voi = InMemDicomObject::new_empty();
    put_ds(&mut voi, tags::WINDOW_CENTER, &[(lo + hi) / 2.0]);
    put_ds(&mut voi, tags::WINDOW_WIDTH, &[(hi - lo).max(1e-6)]);
    // Parameter ranges are below 1 (BV/TV 0-1): LINEAR_EXACT allows a window that narrow.
    put_str(&mut voi, tags::VOILUT_FUNCTION, VR::CS, "LINEAR_EXACT");
    put_seq(&mut shared, tags::FRAME_VOILUT_SEQUENCE, vec![voi]);
    // Identity Pixel Value Transformation: the stored floats are the values.
    let mut identity = InMemDicomObject::new_empty();
    put_ds(&mut identity, tags::RESCALE_INTERCEPT, &[0.0]);
    put_ds(&mut identity, tags::RESCALE_SLOPE, &[1.0]);
    put_str(&mut identity, tags::RESCALE_TYPE, VR::LO, "US");
    put_seq(
        &mut shared,
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        vec![identity],
    );
    put_seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    );

    let derivation = Code::new("110001", "DCM", "Image Processing");
    let per_frame = slices
        .iter()
        .enumerate()
        .map(|(n, &k)| {
            let mut frame = InMemDicomObject::new_empty();
            let mut content = InMemDicomObject::new_empty();
            content.put(DataElement::new(
                tags::DIMENSION_INDEX_VALUES,
                VR::UL,
                PrimitiveValue::U32(vec![n as u32 + 1].into()),
            ));
            put_seq(&mut frame, tags::FRAME_CONTENT_SEQUENCE, vec![content]);
            planes.position_group(&mut frame, k);
            if let Some(d) = id.derivation_item(k, &derivation) {
                put_seq(&mut frame, tags::DERIVATION_IMAGE_SEQUENCE, vec![d]);
            }
            frame
        })
        .collect();
    put_seq(
        &mut o,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    );
    put_dimensions(
        &mut o,
        &[(
            tags::IMAGE_POSITION_PATIENT,
            tags::PLANE_POSITION_SEQUENCE,
            "Image Position Patient",
        )],
    );
    o.put(DataElement::new(
        tags::FLOAT_PIXEL_DATA,
        VR::OF,
        PrimitiveValue::F32(pixels.into()),
    ));
    write_instance(o, path)?;
    Ok(WrittenMap {
        sop_instance_uid: header.sop_instance_uid,
        series_instance_uid: header.series_instance_uid,
        slices,
    })
}
