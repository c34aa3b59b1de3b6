//! C-FIND in the Study Root model, at study level (by patient ID, name, date range,
//! modality, accession number) and at series level (the series of one study).

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::command::{self, Command, HAS_DATA_SET, field, tag};
use crate::config::{LocalConfig, NodeConfig};
use crate::error::{NodeError, Result};
use crate::message::connect;
use crate::uids::{EXPLICIT_LE, IMPLICIT_LE, STUDY_ROOT_FIND};

/// What to search for; empty fields match anything. DICOM wildcards (`*`, `?`) pass through.
#[derive(Debug, Clone, Default)]
pub struct StudyQuery {
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Patient's name (e.g. `Knee*`).
    pub patient_name: Option<String>,
    /// Study date or range, `YYYYMMDD`, `YYYYMMDD-`, `-YYYYMMDD` or `YYYYMMDD-YYYYMMDD`.
    pub date: Option<String>,
    /// A modality in the study (CT, MR).
    pub modality: Option<String>,
    /// Accession number.
    pub accession: Option<String>,
    /// One study by its UID.
    pub study_uid: Option<String>,
}

/// One study found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StudyRecord {
    pub study_instance_uid: String,
    pub patient_id: String,
    pub patient_name: String,
    pub study_date: String,
    pub study_time: String,
    pub accession_number: String,
    pub study_description: String,
    pub modalities_in_study: Vec<String>,
    pub number_of_series: Option<u32>,
    pub number_of_instances: Option<u32>,
}

/// One series found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SeriesRecord {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub modality: String,
    pub series_number: Option<i32>,
    pub series_description: String,
    pub number_of_instances: Option<u32>,
}

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: Option<&str>) {
    let v = match value {
        Some(s) if !s.is_empty() => PrimitiveValue::from(s),
        _ => PrimitiveValue::Empty,
    };
    obj.put(DataElement::new(tag, vr, v));
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

fn number<T: std::str::FromStr>(obj: &InMemDicomObject, tag: Tag) -> Option<T> {
    text(obj, tag).trim().parse().ok()
}

/// Checks a date range argument: `YYYYMMDD` pieces around at most one `-`.
pub fn check_date_range(range: &str) -> std::result::Result<(), String> {
    let ok = |d: &str| d.is_empty() || (d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
    let parts: Vec<&str> = range.split('-').collect();
    if parts.len() > 2 || !parts.iter().all(|p| ok(p)) || parts.iter().all(|p| p.is_empty()) {
        return Err(format!(
            "date {range:?}: expected YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD"
        ));
    }
    Ok(())
}

/// The study-level identifier of a query.
pub fn study_identifier(q: &StudyQuery) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    put(&mut o, tags::QUERY_RETRIEVE_LEVEL, VR::CS, Some("STUDY"));
    put(
        &mut o,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        q.study_uid.as_deref(),
    );
    put(&mut o, tags::PATIENT_ID, VR::LO, q.patient_id.as_deref());
    put(
        &mut o,
        tags::PATIENT_NAME,
        VR::PN,
        q.patient_name.as_deref(),
    );
    put(&mut o, tags::STUDY_DATE, VR::DA, q.date.as_deref());
    put(&mut o, tags::STUDY_TIME, VR::TM, None);
    put(
        &mut o,
        tags::ACCESSION_NUMBER,
        VR::SH,
        q.accession.as_deref(),
    );
    put(&mut o, tags::STUDY_DESCRIPTION, VR::LO, None);
    put(
        &mut o,
        tags::MODALITIES_IN_STUDY,
        VR::CS,
        q.modality.as_deref(),
    );
    put(&mut o, tags::NUMBER_OF_STUDY_RELATED_SERIES, VR::IS, None);
    put(
        &mut o,
        tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
        VR::IS,
        None,
    );
    o
}

/// The series-level identifier for the series of one study.
pub fn series_identifier(study_uid: &str, modality: Option<&str>) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    put(&mut o, tags::QUERY_RETRIEVE_LEVEL, VR::CS, Some("SERIES"));
    put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, Some(study_uid));
    put(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, None);
    put(&mut o, tags::MODALITY, VR::CS, modality);
    put(&mut o, tags::SERIES_NUMBER, VR::IS, None);
    put(&mut o, tags::SERIES_DESCRIPTION, VR::LO, None);
    put(
        &mut o,
        tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
        VR::IS,
        None,
    );
    o
}

fn study_record(o: &InMemDicomObject) -> StudyRecord {
    let modalities = o
        .element_opt(tags::MODALITIES_IN_STUDY)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_str().ok())
        .map(|v| {
            v.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    StudyRecord {
        study_instance_uid: text(o, tags::STUDY_INSTANCE_UID),
        patient_id: text(o, tags::PATIENT_ID),
        patient_name: text(o, tags::PATIENT_NAME),
        study_date: text(o, tags::STUDY_DATE),
        study_time: text(o, tags::STUDY_TIME),
        accession_number: text(o, tags::ACCESSION_NUMBER),
        study_description: text(o, tags::STUDY_DESCRIPTION),
        modalities_in_study: modalities,
        number_of_series: number(o, tags::NUMBER_OF_STUDY_RELATED_SERIES),
        number_of_instances: number(o, tags::NUMBER_OF_STUDY_RELATED_INSTANCES),
    }
}

fn series_record(o: &InMemDicomObject) -> SeriesRecord {
    SeriesRecord {
        study_instance_uid: text(o, tags::STUDY_INSTANCE_UID),
        series_instance_uid: text(o, tags::SERIES_INSTANCE_UID),
        modality: text(o, tags::MODALITY),
        series_number: number(o, tags::SERIES_NUMBER),
        series_description: text(o, tags::SERIES_DESCRIPTION),
        number_of_instances: number(o, tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
    }
}

/// Runs C-FINDs on one association: each identifier in turn; returns the matches of each.
fn run_finds(
    local: &LocalConfig,
    name: &str,
    node: &NodeConfig,
    identifiers: &[InMemDicomObject],
) -> Result<Vec<Vec<InMemDicomObject>>> {
    let mut link = connect(
        local,
        name,
        node,
        &[(STUDY_ROOT_FIND, &[EXPLICIT_LE, IMPLICIT_LE])],
        &[],
    )?;
    let (ctx, ts) = link.required_context(STUDY_ROOT_FIND, "Study Root C-FIND", name)?;
    let mut all = Vec::new();
    for identifier in identifiers {
        let mut bytes = Vec::new();
        identifier
            .write_dataset_with_ts(&mut bytes, ts)
            .map_err(|e| NodeError::Invalid(format!("encoding the query: {e}")))?;
        let mut rq = Command::new(field::C_FIND_RQ);
        let id = link.next_message_id();
        rq.set_uid(tag::AFFECTED_SOP_CLASS, STUDY_ROOT_FIND)
            .set_u16(tag::MESSAGE_ID, id)
            .set_u16(tag::PRIORITY, 0)
            .set_u16(tag::DATA_SET_TYPE, HAS_DATA_SET);
        link.send(ctx, &rq, Some(&bytes))?;
        let mut found = Vec::new();
        loop {
            let rsp = link.receive()?;
            if rsp.command.command_field() != field::C_FIND_RSP {
                return Err(NodeError::Protocol {
                    node: name.to_string(),
                    problem: format!(
                        "expected C-FIND-RSP, got command 0x{:04X}",
                        rsp.command.command_field()
                    ),
                });
            }
            let status = rsp.command.status();
            if command::is_pending(status) {
                let data = rsp.data.ok_or_else(|| NodeError::Protocol {
                    node: name.to_string(),
                    problem: "a pending C-FIND response without its identifier".into(),
                })?;
                let obj =
                    InMemDicomObject::read_dataset_with_ts(data.as_slice(), ts).map_err(|e| {
                        NodeError::Protocol {
                            node: name.to_string(),
                            problem: format!("an unreadable C-FIND match: {e}"),
                        }
                    })?;
                found.push(obj);
            } else if status == 0 {
                break;
            } else {
                return Err(link.status_error("C-FIND", &rsp.command));
            }
        }
        all.push(found);
    }
    link.release()?;
    Ok(all)
}

/// Studies matching a query.
pub fn find_studies(
    local: &LocalConfig,
    name: &str,
    node: &NodeConfig,
    query: &StudyQuery,
) -> Result<Vec<StudyRecord>> {
    if let Some(d) = &query.date {
        check_date_range(d).map_err(NodeError::Invalid)?;
    }
    let mut found = run_finds(local, name, node, &[study_identifier(query)])?;
    let mut studies: Vec<StudyRecord> = found
        .pop()
        .unwrap_or_default()
        .iter()
        .map(study_record)
        .collect();
    studies.sort_by(|a, b| {
        (&a.study_date, &a.study_time, &a.study_instance_uid).cmp(&(
            &b.study_date,
            &b.study_time,
            &b.study_instance_uid,
        ))
    });
    Ok(studies)
}

/// The series of each study (one association), optionally of one modality.
pub fn find_series(
    local: &LocalConfig,
    name: &str,
    node: &NodeConfig,
    study_uids: &[String],
    modality: Option<&str>,
) -> Result<Vec<SeriesRecord>> {
    if study_uids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<InMemDicomObject> = study_uids
        .iter()
        .map(|u| series_identifier(u, modality))
        .collect();
    let found = run_finds(local, name, node, &ids)?;
    let mut series: Vec<SeriesRecord> = found.iter().flatten().map(series_record).collect();
    series.sort_by(|a, b| {
        (
            &a.study_instance_uid,
            a.series_number,
            &a.series_instance_uid,
        )
            .cmp(&(
                &b.study_instance_uid,
                b.series_number,
                &b.series_instance_uid,
            ))
    });
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges() {
        for ok in ["20261201", "20261201-20261231", "20261201-", "-20261231"] {
            assert!(check_date_range(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2026-12-01",
            "202612",
            "-",
            "20261201-20261231-1",
            "yesterday",
        ] {
            assert!(check_date_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn study_identifier_carries_the_keys_and_return_fields() {
        let q = StudyQuery {
            patient_id: Some("KNEE-1".into()),
            modality: Some("CT".into()),
            ..Default::default()
        };
        let o = study_identifier(&q);
        assert_eq!(text(&o, tags::QUERY_RETRIEVE_LEVEL), "STUDY");
        assert_eq!(text(&o, tags::PATIENT_ID), "KNEE-1");
        assert_eq!(text(&o, tags::MODALITIES_IN_STUDY), "CT");
        assert!(o.element(tags::NUMBER_OF_STUDY_RELATED_INSTANCES).is_ok());
        assert_eq!(text(&o, tags::ACCESSION_NUMBER), "");
    }
}
