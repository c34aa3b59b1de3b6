//! DICOM Structured Report: a TID 1500 Measurement Report (Comprehensive SR) holding
//! measurement groups (TID 1411 when they refer to a segment of a Segmentation, TID 1501
//! otherwise), each with numeric measurements, and free-text qualitative evaluations.
//! The content tree is built from [`Item`]s, one per content item.

use std::path::Path;

use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

use super::{
    Code, Identity, InstanceHeader, new_uid, put_code, put_ds, put_seq, put_str, write_instance,
};
use crate::error::Result;

/// The value of a content item.
#[derive(Clone, Debug)]
pub enum Value {
    Container,
    Text(String),
    Code(Code),
    Num {
        value: f64,
        unit: Code,
    },
    UidRef(String),
    /// An image, or a segment of a Segmentation.
    Image {
        sop_class_uid: String,
        sop_instance_uid: String,
        segment: Option<u16>,
    },
}

/// One content item and its children.
#[derive(Clone, Debug)]
pub struct Item {
    /// CONTAINS, HAS CONCEPT MOD, HAS OBS CONTEXT, ...
    pub relationship: &'static str,
    pub name: Code,
    pub value: Value,
    pub children: Vec<Item>,
}

impl Item {
    pub fn new(relationship: &'static str, name: Code, value: Value) -> Self {
        Item {
            relationship,
            name,
            value,
            children: Vec::new(),
        }
    }

    /// Adds a child.
    pub fn with(mut self, child: Item) -> Self {
        self.children.push(child);
        self
    }

    fn dataset(&self) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        put_str(
            &mut o,
            tags::RELATIONSHIP_TYPE,
            dicom_core::VR::CS,
            self.relationship,
        );
        let value_type = match &self.value {
            Value::Container => "CONTAINER",
            Value::Text(_) => "TEXT",
            Value::Code(_) => "CODE",
            Value::Num { .. } => "NUM",
            Value::UidRef(_) => "UIDREF",
            Value::Image { .. } => "IMAGE",
        };
        put_str(&mut o, tags::VALUE_TYPE, dicom_core::VR::CS, value_type);
        put_code(&mut o, tags::CONCEPT_NAME_CODE_SEQUENCE, &self.name);
        fill_value(&mut o, &self.value);
        if !self.children.is_empty() {
            put_seq(
                &mut o,
                tags::CONTENT_SEQUENCE,
                self.children.iter().map(Item::dataset).collect(),
            );
        }
        o
    }
}

fn fill_value(o: &mut InMemDicomObject, value: &Value) {
    use dicom_core::VR;
    match value {
        Value::Container => put_str(o, tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"),
        Value::Text(t) => put_str(o, tags::TEXT_VALUE, VR::UT, t),
        Value::Code(c) => put_code(o, tags::CONCEPT_CODE_SEQUENCE, c),
        Value::Num { value, unit } => {
            let mut m = InMemDicomObject::new_empty();
            put_code(&mut m, tags::MEASUREMENT_UNITS_CODE_SEQUENCE, unit);
            put_ds(&mut m, tags::NUMERIC_VALUE, &[*value]);
            m.put(dicom_core::DataElement::new(
                tags::FLOATING_POINT_VALUE,
                VR::FD,
                dicom_core::PrimitiveValue::F64(vec![*value].into()),
            ));
            put_seq(o, tags::MEASURED_VALUE_SEQUENCE, vec![m]);
        }
        Value::UidRef(u) => put_str(o, tags::UID, VR::UI, u),
        Value::Image {
            sop_class_uid,
            sop_instance_uid,
            segment,
        } => {
            let mut r = InMemDicomObject::new_empty();
            put_str(
                &mut r,
                tags::REFERENCED_SOP_CLASS_UID,
                VR::UI,
                sop_class_uid,
            );
            put_str(
                &mut r,
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                sop_instance_uid,
            );
            if let Some(n) = segment {
                super::put_u16(&mut r, tags::REFERENCED_SEGMENT_NUMBER, *n);
            }
            put_seq(o, tags::REFERENCED_SOP_SEQUENCE, vec![r]);
        }
    }
}

/// One measurement: a named number with its unit and how it was derived (mean, SD).
#[derive(Clone, Debug)]
pub struct Measurement {
    pub name: Code,
    pub value: f64,
    pub unit: Code,
    pub derivation: Option<Code>,
}

/// One measurement group: what it measures (a segment, or nothing), where, and the numbers.
#[derive(Clone, Debug)]
pub struct Group {
    pub tracking_id: String,
    /// (SEG SOP instance UID, segment number) when the group measures a segment.
    pub segment: Option<(String, u16)>,
    pub finding_site: Option<Code>,
    pub measurements: Vec<Measurement>,
}

/// The whole report.
pub struct ReportRequest {
    pub procedure: Code,
    pub groups: Vec<Group>,
    /// (concept, text) under "Qualitative Evaluations".
    pub evaluations: Vec<(Code, String)>,
    /// Algorithm name and version, attached to every measurement.
    pub algorithm: (String, String),
    /// Other instances the report refers to: (study UID, series UID, SOP class, SOP instance).
    pub evidence: Vec<(String, String, String, String)>,
    pub series_number: u32,
    pub series_description: String,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct WrittenReport {
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
}

/// A series and its (SOP class, SOP instance) references.
type SeriesRefs = (String, Vec<(String, String)>);

fn dcm(value: &str, meaning: &str) -> Code {
    Code::new(value, "DCM", meaning)
}

fn group_item(id: &Identity, g: &Group, algorithm: &(String, String)) -> Item {
    let mut item = Item::new(
        "CONTAINS",
        dcm("125007", "Measurement Group"),
        Value::Container,
    )
    .with(Item::new(
        "HAS OBS CONTEXT",
        dcm("112039", "Tracking Identifier"),
        Value::Text(g.tracking_id.clone()),
    ))
    .with(Item::new(
        "HAS OBS CONTEXT",
        dcm("112040", "Tracking Unique Identifier"),
        Value::UidRef(new_uid()),
    ));
    // TID 1411 (volumetric ROI) needs the segment's source series: with a DICOM CT the
    // group points at its segment; without one it is a TID 1501 group (no ROI reference).
    if let (Some((seg_uid, number)), Some(src)) = (&g.segment, &id.source) {
        item = item
            .with(Item::new(
                "CONTAINS",
                dcm("121191", "Referenced Segment"),
                Value::Image {
                    sop_class_uid: uids::SEGMENTATION_STORAGE.into(),
                    sop_instance_uid: seg_uid.clone(),
                    segment: Some(*number),
                },
            ))
            .with(Item::new(
                "CONTAINS",
                dcm("121232", "Source series for segmentation"),
                Value::UidRef(src.series_instance_uid.clone()),
            ));
    }
    if let Some(site) = &g.finding_site {
        item = item.with(Item::new(
            "HAS CONCEPT MOD",
            Code::new("363698007", "SCT", "Finding Site"),
            Value::Code(site.clone()),
        ));
    }
    for m in &g.measurements {
        let mut num = Item::new(
            "CONTAINS",
            m.name.clone(),
            Value::Num {
                value: m.value,
                unit: m.unit.clone(),
            },
        );
        if let Some(d) = &m.derivation {
            num = num.with(Item::new(
                "HAS CONCEPT MOD",
                dcm("121401", "Derivation"),
                Value::Code(d.clone()),
            ));
        }
        num = num
            .with(Item::new(
                "HAS CONCEPT MOD",
                dcm("111001", "Algorithm Name"),
                Value::Text(algorithm.0.clone()),
            ))
            .with(Item::new(
                "HAS CONCEPT MOD",
                dcm("111003", "Algorithm Version"),
                Value::Text(algorithm.1.clone()),
            ));
        item = item.with(num);
    }
    item
}

/// Writes the Measurement Report to `path`.
pub fn write_measurement_report(
    id: &Identity,
    req: &ReportRequest,
    path: &Path,
) -> Result<WrittenReport> {
    use dicom_core::VR;
    let header = InstanceHeader {
        sop_class_uid: uids::COMPREHENSIVE_SR_STORAGE,
        sop_instance_uid: new_uid(),
        modality: "SR",
        series_instance_uid: new_uid(),
        series_number: req.series_number,
        series_description: req.series_description.clone(),
    };
    let mut o = id.base(&header);
    super::put_local_scheme(&mut o);
    put_seq(
        &mut o,
        tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
        Vec::new(),
    );
    put_str(&mut o, tags::COMPLETION_FLAG, VR::CS, "COMPLETE");
    put_str(&mut o, tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED");
    put_seq(&mut o, tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, Vec::new());
    // Evidence: every instance referenced, grouped by study and series.
    let mut evidence: Vec<(String, Vec<SeriesRefs>)> = Vec::new();
    for (study, series, class, instance) in &req.evidence {
        let i = match evidence.iter().position(|(u, _)| u == study) {
            Some(i) => i,
            None => {
                evidence.push((study.clone(), Vec::new()));
                evidence.len() - 1
            }
        };
        let s = &mut evidence[i].1;
        match s.iter_mut().find(|(u, _)| u == series) {
            Some((_, list)) => list.push((class.clone(), instance.clone())),
            None => s.push((series.clone(), vec![(class.clone(), instance.clone())])),
        }
    }
    if !evidence.is_empty() {
        let studies = evidence
            .iter()
            .map(|(study, series)| {
                let mut st = InMemDicomObject::new_empty();
                put_str(&mut st, tags::STUDY_INSTANCE_UID, VR::UI, study);
                let series_items = series
                    .iter()
                    .map(|(uid, list)| {
                        let mut se = InMemDicomObject::new_empty();
                        put_str(&mut se, tags::SERIES_INSTANCE_UID, VR::UI, uid);
                        let refs = list
                            .iter()
                            .map(|(class, inst)| {
                                let mut r = InMemDicomObject::new_empty();
                                put_str(&mut r, tags::REFERENCED_SOP_CLASS_UID, VR::UI, class);
                                put_str(&mut r, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, inst);
                                r
                            })
                            .collect();
                        put_seq(&mut se, tags::REFERENCED_SOP_SEQUENCE, refs);
                        se
                    })
                    .collect();
                put_seq(&mut st, tags::REFERENCED_SERIES_SEQUENCE, series_items);
                st
            })
            .collect();
        put_seq(
            &mut o,
            tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
            studies,
        );
    }
    // The document: TID 1500.
    put_str(&mut o, tags::VALUE_TYPE, VR::CS, "CONTAINER");
    put_code(
        &mut o,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        &dcm("126000", "Imaging Measurement Report"),
    );
    put_str(&mut o, tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    let mut template = InMemDicomObject::new_empty();
    put_str(&mut template, tags::MAPPING_RESOURCE, VR::CS, "DCMR");
    put_str(&mut template, tags::TEMPLATE_IDENTIFIER, VR::CS, "1500");
    put_seq(&mut o, tags::CONTENT_TEMPLATE_SEQUENCE, vec![template]);
    let mut root: Vec<Item> = vec![
        Item::new(
            "HAS CONCEPT MOD",
            dcm("121049", "Language of Content Item and Descendants"),
            Value::Code(Code::new("en-US", "RFC5646", "English (United States)")),
        ),
        Item::new(
            "HAS OBS CONTEXT",
            dcm("121005", "Observer Type"),
            Value::Code(dcm("121007", "Device")),
        ),
        Item::new(
            "HAS OBS CONTEXT",
            dcm("121012", "Device Observer UID"),
            Value::UidRef("2.25.302934812273490201982736402927361830".into()),
        ),
        Item::new(
            "HAS OBS CONTEXT",
            dcm("121013", "Device Observer Name"),
            Value::Text(super::MANUFACTURER.into()),
        ),
        Item::new(
            "HAS CONCEPT MOD",
            dcm("121058", "Procedure reported"),
            Value::Code(req.procedure.clone()),
        ),
    ];
    let mut library = Item::new("CONTAINS", dcm("111028", "Image Library"), Value::Container);
    if let Some(src) = &id.source {
        let mut group = Item::new(
            "CONTAINS",
            dcm("126200", "Image Library Group"),
            Value::Container,
        );
        for inst in &src.instances {
            group = group.with(Item::new(
                "CONTAINS",
                Code::new("260753009", "SCT", "Source"),
                Value::Image {
                    sop_class_uid: src.sop_class_uid.clone(),
                    sop_instance_uid: inst.clone(),
                    segment: None,
                },
            ));
        }
        library = library.with(group);
    }
    root.push(library);
    let mut measurements = Item::new(
        "CONTAINS",
        dcm("126010", "Imaging Measurements"),
        Value::Container,
    );
    for g in &req.groups {
        measurements = measurements.with(group_item(id, g, &req.algorithm));
    }
    root.push(measurements);
    if !req.evaluations.is_empty() {
        let mut q = Item::new(
            "CONTAINS",
            Code::new("C0034375", "UMLS", "Qualitative Evaluations"),
            Value::Container,
        );
        for (name, text) in &req.evaluations {
            q = q.with(Item::new(
                "CONTAINS",
                name.clone(),
                Value::Text(text.clone()),
            ));
        }
        root.push(q);
    }
    put_seq(
        &mut o,
        tags::CONTENT_SEQUENCE,
        root.iter().map(Item::dataset).collect(),
    );
    write_instance(o, path)?;
    Ok(WrittenReport {
        sop_instance_uid: header.sop_instance_uid,
        series_instance_uid: header.series_instance_uid,
    })
}
