//! C-GET of chosen studies or series into a local cache folder: the node sends each
//! instance back on the same association (C-STORE sub-operations, we take the SCP role);
//! each is written as `CACHE/<study>/<series>/<instance>.dcm` (names sanitized, written
//! through a temporary name) with progress and cancel.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_ul::ClientAssociation;
use srrd_base::progress::Progress;

use crate::cache::write_received;
use crate::command::{self, Command, HAS_DATA_SET, NO_DATA_SET, field, tag};
use crate::config::{LocalConfig, NodeConfig};
use crate::error::{NodeError, Result};
use crate::message::{Link, connect};
use crate::uids::{
    ACCEPTED_TRANSFER_SYNTAXES, EXPLICIT_LE, IMPLICIT_LE, RETRIEVED_STORAGE_CLASSES, STUDY_ROOT_GET,
};

/// What to retrieve: a whole study, or one series of it.
#[derive(Debug, Clone, PartialEq)]
pub struct GetTarget {
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID (None: the whole study).
    pub series_uid: Option<String>,
}

/// What a retrieval brought.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GetSummary {
    /// Files written (one per instance), in arrival order.
    pub files: Vec<PathBuf>,
    /// Instances received and written.
    pub instances: usize,
    /// Bytes of data sets received.
    pub bytes: u64,
    /// Sub-operations the node reported failed.
    pub failed: u32,
    /// Sub-operations with warnings.
    pub warnings: u32,
    /// Instances we could not write or read (refused with a failure status).
    pub refused: Vec<String>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Retrieves every target into `cache` on one association.
pub fn get(
    local: &LocalConfig,
    name: &str,
    node: &NodeConfig,
    targets: &[GetTarget],
    cache: &Path,
    progress: &Progress,
) -> Result<GetSummary> {
    let start = Instant::now();
    let mut contexts: Vec<(&str, &[&str])> = vec![(STUDY_ROOT_GET, &[EXPLICIT_LE, IMPLICIT_LE])];
    for sop in RETRIEVED_STORAGE_CLASSES {
        contexts.push((sop, ACCEPTED_TRANSFER_SYNTAXES));
    }
    let mut link = connect(local, name, node, &contexts, RETRIEVED_STORAGE_CLASSES)?;
    let (ctx, ts) = link.required_context(STUDY_ROOT_GET, "Study Root C-GET", name)?;
    std::fs::create_dir_all(cache).map_err(|e| NodeError::file(cache, e))?;
    let mut summary = GetSummary::default();
    progress.start("retrieving", 1);
    for target in targets {
        let mut id = InMemDicomObject::new_empty();
        let level = if target.series_uid.is_some() {
            "SERIES"
        } else {
            "STUDY"
        };
        id.put(DataElement::new(
            tags::QUERY_RETRIEVE_LEVEL,
            VR::CS,
            PrimitiveValue::from(level),
        ));
        id.put(DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(target.study_uid.as_str()),
        ));
        if let Some(s) = &target.series_uid {
            id.put(DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(s.as_str()),
            ));
        }
        let mut bytes = Vec::new();
        id.write_dataset_with_ts(&mut bytes, ts)
            .map_err(|e| NodeError::Invalid(format!("encoding the C-GET identifier: {e}")))?;
        let mut rq = Command::new(field::C_GET_RQ);
        let msg_id = link.next_message_id();
        rq.set_uid(tag::AFFECTED_SOP_CLASS, STUDY_ROOT_GET)
            .set_u16(tag::MESSAGE_ID, msg_id)
            .set_u16(tag::PRIORITY, 0)
            .set_u16(tag::DATA_SET_TYPE, HAS_DATA_SET);
        let r = link
            .send(ctx, &rq, Some(&bytes))
            .and_then(|_| run_one_get(&mut link, name, cache, progress, &mut summary));
        if let Err(e) = r {
            // An abort ends the node's sub-operations at once; files written stay.
            let _ = dicom_ul::association::SyncAssociation::abort(link.assoc);
            return Err(e);
        }
    }
    link.release()?;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Serves the C-STORE sub-operations of one C-GET until its final response.
fn run_one_get(
    link: &mut Link<ClientAssociation<TcpStream>>,
    name: &str,
    cache: &Path,
    progress: &Progress,
    summary: &mut GetSummary,
) -> Result<()> {
    let done_before = summary.instances;
    loop {
        if progress.is_cancelled() {
            return Err(NodeError::Cancelled);
        }
        let msg = link.receive()?;
        match msg.command.command_field() {
            field::C_STORE_RQ => {
                let status = store_instance(link, cache, &msg, summary);
                let mut rsp = Command::new(field::C_STORE_RSP);
                rsp.set_uid(
                    tag::AFFECTED_SOP_CLASS,
                    &msg.command
                        .text(tag::AFFECTED_SOP_CLASS)
                        .unwrap_or_default(),
                )
                .set_u16(
                    tag::RESPONDED_TO,
                    msg.command.u16(tag::MESSAGE_ID).unwrap_or(0),
                )
                .set_u16(tag::DATA_SET_TYPE, NO_DATA_SET)
                .set_u16(tag::STATUS, status)
                .set_uid(
                    tag::AFFECTED_SOP_INSTANCE,
                    &msg.command
                        .text(tag::AFFECTED_SOP_INSTANCE)
                        .unwrap_or_default(),
                );
                link.send(msg.context_id, &rsp, None)?;
                progress.advance(1);
            }
            field::C_GET_RSP => {
                let status = msg.command.status();
                let remaining = msg.command.u16(tag::REMAINING).unwrap_or(0) as u64;
                let completed = msg.command.u16(tag::COMPLETED).unwrap_or(0) as u64;
                if command::is_pending(status) {
                    let here = (summary.instances - done_before) as u64;
                    progress.start(
                        "retrieving",
                        (completed + remaining).max(here + remaining).max(1),
                    );
                    progress.advance(here);
                    continue;
                }
                summary.failed += msg.command.u16(tag::FAILED).unwrap_or(0) as u32;
                summary.warnings += msg.command.u16(tag::WARNING).unwrap_or(0) as u32;
                if command::is_success_or_warning(status) {
                    return Ok(());
                }
                return Err(link.status_error("C-GET", &msg.command));
            }
            other => {
                return Err(NodeError::Protocol {
                    node: name.to_string(),
                    problem: format!("unexpected command 0x{other:04X} during C-GET"),
                });
            }
        }
    }
}

/// Writes one received instance; returns the C-STORE status to answer with.
fn store_instance(
    link: &Link<ClientAssociation<TcpStream>>,
    cache: &Path,
    msg: &crate::message::Message,
    summary: &mut GetSummary,
) -> u16 {
    let sop_class = msg
        .command
        .text(tag::AFFECTED_SOP_CLASS)
        .unwrap_or_default();
    let instance = msg
        .command
        .text(tag::AFFECTED_SOP_INSTANCE)
        .unwrap_or_default();
    if let Some(n) = msg.oversize {
        summary.refused.push(format!(
            "{instance}: {n} bytes, over the limit of {} bytes",
            link.max_data_bytes
        ));
        return 0xA700;
    }
    let Some(data) = msg.data.as_deref() else {
        summary
            .refused
            .push(format!("{instance}: C-STORE without a data set"));
        return 0xC210;
    };
    let Some(ts_uid) = link.transfer_syntax_of(msg.context_id) else {
        summary
            .refused
            .push(format!("{instance}: on an unknown presentation context"));
        return 0xC210;
    };
    match write_received(cache, &sop_class, &instance, &ts_uid, data) {
        Ok((path, _)) => {
            summary.instances += 1;
            summary.bytes += data.len() as u64;
            summary.files.push(path);
            0x0000
        }
        Err(e) => {
            summary.refused.push(format!("{instance}: {e}"));
            0xA700
        }
    }
}
