//! C-STORE of DICOM files and folders to a node: one association, one presentation
//! context per (SOP class, transfer syntax) found in the files, each file sent as its own
//! bytes when its transfer syntax was accepted, re-encoded only between uncompressed ones.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use dicom_object::FileMetaTable;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use dicom_ul::pdu::PresentationContextResultReason;
use srrd_base::progress::Progress;

use crate::command::{self, Command, HAS_DATA_SET, field, tag};
use crate::config::{LocalConfig, NodeConfig};
use crate::error::{NodeError, Result};
use crate::message::connect;
use crate::uids::{EXPLICIT_LE, IMPLICIT_LE};

/// One file to send, as its meta group describes it.
#[derive(Debug, Clone)]
pub struct StoreItem {
    /// The file.
    pub path: PathBuf,
    /// Media Storage SOP Class UID.
    pub sop_class: String,
    /// Media Storage SOP Instance UID.
    pub sop_instance: String,
    /// Transfer syntax of the file.
    pub transfer_syntax: String,
    /// Where the data set starts (after the meta group), when the group length says.
    pub dataset_offset: Option<u64>,
}

/// What a C-STORE run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StoreSummary {
    /// Instances stored (success or warning).
    pub sent: usize,
    /// Bytes sent.
    pub bytes: u64,
    /// Files not stored, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Files skipped as not DICOM Part 10.
    pub skipped: Vec<PathBuf>,
    /// Wall time, seconds.
    pub seconds: f64,
}

fn is_uncompressed(ts: &str) -> bool {
    matches!(ts, EXPLICIT_LE | IMPLICIT_LE | "1.2.840.10008.1.2.2")
}

/// Reads the meta group of a Part 10 file; `Ok(None)` when the file is not Part 10.
pub fn read_item(path: &Path) -> Result<Option<StoreItem>> {
    let mut f = std::fs::File::open(path).map_err(|e| NodeError::file(path, e))?;
    let mut head = [0u8; 132];
    if f.read_exact(&mut head).is_err() || &head[128..] != b"DICM" {
        return Ok(None);
    }
    let mut prefix = [0u8; 12];
    let group_len = if f.read_exact(&mut prefix).is_ok()
        && prefix[..4] == [2, 0, 0, 0]
        && &prefix[4..6] == b"UL"
    {
        Some(u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as u64)
    } else {
        None
    };
    f.seek(SeekFrom::Start(128))
        .map_err(|e| NodeError::file(path, e))?;
    let meta = FileMetaTable::from_reader(std::io::BufReader::new(&mut f))
        .map_err(|e| NodeError::file(path, format!("unreadable file meta group: {e}")))?;
    let clean = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
    Ok(Some(StoreItem {
        path: path.to_path_buf(),
        sop_class: clean(meta.media_storage_sop_class_uid()),
        sop_instance: clean(meta.media_storage_sop_instance_uid()),
        transfer_syntax: clean(meta.transfer_syntax()),
        dataset_offset: group_len.map(|g| 132 + 12 + g),
    }))
}

/// The files under each path (folders recursively, sorted), as store items; files that
/// are not DICOM Part 10 are returned apart.
pub fn collect(paths: &[PathBuf]) -> Result<(Vec<StoreItem>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    for p in paths {
        walk(p, &mut files)?;
    }
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        match read_item(&f)? {
            Some(i) => items.push(i),
            None => skipped.push(f),
        }
    }
    Ok((items, skipped))
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let md = std::fs::metadata(p).map_err(|e| NodeError::file(p, e))?;
    if md.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| NodeError::file(p, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// The data set bytes of an item in transfer syntax `ts`: the file's own bytes when it
/// is already in `ts`, else re-encoded (uncompressed to uncompressed only).
fn dataset_bytes(item: &StoreItem, ts_uid: &str) -> std::result::Result<Vec<u8>, String> {
    if ts_uid == item.transfer_syntax
        && let Some(off) = item.dataset_offset
    {
        let mut f = std::fs::File::open(&item.path).map_err(|e| e.to_string())?;
        f.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
        let mut v = Vec::new();
        f.read_to_end(&mut v).map_err(|e| e.to_string())?;
        return Ok(v);
    }
    if !(is_uncompressed(ts_uid) && is_uncompressed(&item.transfer_syntax)) {
        return Err(format!(
            "cannot transcode {} to {ts_uid}",
            item.transfer_syntax
        ));
    }
    let obj = dicom_object::open_file(&item.path).map_err(|e| e.to_string())?;
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| format!("unknown transfer syntax {ts_uid}"))?;
    let mut v = Vec::new();
    obj.write_dataset_with_ts(&mut v, ts)
        .map_err(|e| e.to_string())?;
    Ok(v)
}

/// Sends every item to the node on one association.
pub fn store(
    local: &LocalConfig,
    name: &str,
    node: &NodeConfig,
    items: &[StoreItem],
    progress: &Progress,
) -> Result<StoreSummary> {
    let start = Instant::now();
    let mut summary = StoreSummary::default();
    if items.is_empty() {
        return Ok(summary);
    }
    // One context per (SOP class, file transfer syntax); uncompressed files also offer
    // the two little-endian syntaxes so the node may pick.
    let mut proposals: Vec<(String, Vec<String>)> = Vec::new();
    for it in items {
        let mut ts = vec![it.transfer_syntax.clone()];
        if is_uncompressed(&it.transfer_syntax) {
            for t in [EXPLICIT_LE, IMPLICIT_LE] {
                if !ts.iter().any(|x| x == t) {
                    ts.push(t.to_string());
                }
            }
        }
        if !proposals
            .iter()
            .any(|(a, t)| *a == it.sop_class && t[0] == ts[0])
        {
            proposals.push((it.sop_class.clone(), ts));
        }
    }
    if proposals.len() > 127 {
        return Err(NodeError::Invalid(format!(
            "{} kinds of object (SOP class x transfer syntax) in one send; at most 127",
            proposals.len()
        )));
    }
    let ts_refs: Vec<Vec<&str>> = proposals
        .iter()
        .map(|(_, t)| t.iter().map(|s| s.as_str()).collect())
        .collect();
    let contexts: Vec<(&str, &[&str])> = proposals
        .iter()
        .zip(&ts_refs)
        .map(|((a, _), t)| (a.as_str(), t.as_slice()))
        .collect();
    let mut link = connect(local, name, node, &contexts, &[])?;
    let accepted: Vec<(u8, String, String)> = link
        .assoc
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .map(|pc| {
            (
                pc.id,
                pc.abstract_syntax.trim_end_matches('\0').to_string(),
                pc.transfer_syntax.trim_end_matches('\0').to_string(),
            )
        })
        .collect();
    progress.start("sending", items.len() as u64);
    for it in items {
        if progress.is_cancelled() {
            let _ = dicom_ul::association::SyncAssociation::abort(link.assoc);
            return Err(NodeError::Cancelled);
        }
        // Prefer a context that carries the file's own syntax.
        let choice = accepted
            .iter()
            .filter(|(_, a, _)| *a == it.sop_class)
            .min_by_key(|(_, _, t)| if *t == it.transfer_syntax { 0 } else { 1 });
        let Some((ctx, _, ts)) = choice else {
            summary.failed.push((
                it.path.clone(),
                format!("the node refused SOP class {}", it.sop_class),
            ));
            progress.advance(1);
            continue;
        };
        let data = match dataset_bytes(it, ts) {
            Ok(d) => d,
            Err(e) => {
                summary.failed.push((it.path.clone(), e));
                progress.advance(1);
                continue;
            }
        };
        let mut rq = Command::new(field::C_STORE_RQ);
        let id = link.next_message_id();
        rq.set_uid(tag::AFFECTED_SOP_CLASS, &it.sop_class)
            .set_u16(tag::MESSAGE_ID, id)
            .set_u16(tag::PRIORITY, 0)
            .set_u16(tag::DATA_SET_TYPE, HAS_DATA_SET)
            .set_uid(tag::AFFECTED_SOP_INSTANCE, &it.sop_instance);
        link.send(*ctx, &rq, Some(&data))?;
        let rsp = link.receive()?;
        if rsp.command.command_field() != field::C_STORE_RSP {
            return Err(NodeError::Protocol {
                node: name.to_string(),
                problem: format!(
                    "expected C-STORE-RSP, got command 0x{:04X}",
                    rsp.command.command_field()
                ),
            });
        }
        let status = rsp.command.status();
        if command::is_success_or_warning(status) {
            summary.sent += 1;
            summary.bytes += data.len() as u64;
        } else {
            summary.failed.push((
                it.path.clone(),
                link.status_error("C-STORE", &rsp.command).to_string(),
            ));
        }
        progress.advance(1);
    }
    link.release()?;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}
