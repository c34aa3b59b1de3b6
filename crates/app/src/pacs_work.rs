//! What the PACS window's background tasks do, on their worker threads: retrieve chosen
//! series and say which to open as the CT and MR, retrieve the studies found for a
//! worklist and write its study list, send a folder of exported results. The DICOM
//! exchanges themselves are srrd-node's; this file turns their summaries into the files
//! to open and the lines the user reads.

use std::path::{Path, PathBuf};

use super::loading::ImageFile;
use srrd_base::progress::Progress;
use srrd_node::NodesFile;
use srrd_node::find::{SeriesRecord, StudyRecord};
use srrd_node::get::GetTarget;

/// Retrieves `picked` into `cache` (worker thread): the layers to open (the first CT
/// and the first MR series) and the line that says what came.
pub(super) fn retrieve(
    nodes: &NodesFile,
    node: &srrd_node::NodeConfig,
    name: &str,
    picked: &[SeriesRecord],
    cache: &Path,
    progress: &Progress,
) -> Result<(Vec<ImageFile>, String), String> {
    let targets: Vec<GetTarget> = picked
        .iter()
        .map(|s| GetTarget {
            study_uid: s.study_instance_uid.clone(),
            series_uid: Some(s.series_instance_uid.clone()),
        })
        .collect();
    let summary = srrd_node::get::get(&nodes.local, name, node, &targets, cache, progress)
        .map_err(|e| format!("retrieving from {name} into {}: {e}", cache.display()))?;
    if summary.instances == 0 {
        return Err(format!(
            "node {name}: nothing retrieved ({} failed sub-operations{})",
            summary.failed,
            if summary.refused.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", summary.refused.join("; "))
            }
        ));
    }
    let mut files = Vec::new();
    for modality in ["CT", "MR"] {
        if let Some(s) = picked.iter().find(|s| s.modality == modality) {
            let dir =
                srrd_node::cache::series_dir(cache, &s.study_instance_uid, &s.series_instance_uid);
            if summary.files.iter().any(|f| f.starts_with(&dir)) {
                files.push(ImageFile::named(modality, dir));
            }
        }
    }
    if files.is_empty() {
        return Err(format!(
            "node {name}: {} images retrieved into {}, but no CT or MR series among them to open",
            summary.instances,
            cache.display()
        ));
    }
    let mut line = format!(
        "{name}: {} images ({:.1} MB) retrieved into {} in {:.1} s; opening {}",
        summary.instances,
        summary.bytes as f64 / 1e6,
        cache.display(),
        summary.seconds,
        files
            .iter()
            .filter_map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    if summary.failed > 0 || !summary.refused.is_empty() {
        line.push_str(&format!(
            " (warning: {} failed at the node, {} refused here)",
            summary.failed,
            summary.refused.len()
        ));
    }
    Ok((files, line))
}

/// Retrieves whole `studies` into `dir` (worker thread) and writes the study list there:
/// its path and the line that says what came.
pub(super) fn worklist(
    nodes: &NodesFile,
    node: &srrd_node::NodeConfig,
    name: &str,
    studies: &[StudyRecord],
    dir: &Path,
    progress: &Progress,
) -> Result<(PathBuf, String), String> {
    let targets: Vec<GetTarget> = studies
        .iter()
        .map(|s| GetTarget {
            study_uid: s.study_instance_uid.clone(),
            series_uid: None,
        })
        .collect();
    let summary = srrd_node::get::get(&nodes.local, name, node, &targets, dir, progress)
        .map_err(|e| format!("retrieving from {name} into {}: {e}", dir.display()))?;
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let mut csv = String::from("subject,patient,study\n");
    let mut cases = 0;
    for s in studies {
        let folder = dir.join(srrd_node::cache::safe_name(&s.study_instance_uid));
        if !summary.files.iter().any(|f| f.starts_with(&folder)) {
            continue;
        }
        let uid = &s.study_instance_uid;
        let tail: String = uid
            .chars()
            .skip(uid.chars().count().saturating_sub(6))
            .collect();
        let subject =
            srrd_node::cache::safe_name(&format!("{}_{}_{tail}", s.patient_id, s.study_date));
        csv.push_str(&format!(
            "{},{},{}\n",
            quote(&subject),
            quote(&s.patient_id),
            quote(&folder.display().to_string())
        ));
        cases += 1;
    }
    if cases == 0 {
        return Err(format!(
            "node {name}: none of the {} studies came ({} failed sub-operations)",
            studies.len(),
            summary.failed
        ));
    }
    let list = dir.join("study.csv");
    std::fs::write(&list, csv).map_err(|e| format!("writing {}: {e}", list.display()))?;
    let line = format!(
        "{name}: worklist of {cases} studies ({} images) in {}",
        summary.instances,
        list.display()
    );
    Ok((list, line))
}

/// Sends the DICOM files under `dir` (worker thread): the status line, or why not.
pub(super) fn send(
    nodes: &NodesFile,
    node: &srrd_node::NodeConfig,
    name: &str,
    dir: &Path,
    progress: &Progress,
) -> Result<String, String> {
    let (items, _) = srrd_node::store::collect(&[dir.to_path_buf()])
        .map_err(|e| format!("reading {}: {e}", dir.display()))?;
    if items.is_empty() {
        return Err(format!("no DICOM files in {}", dir.display()));
    }
    let s = srrd_node::store::store(&nodes.local, name, node, &items, progress)
        .map_err(|e| format!("node {name}: {e}"))?;
    if let Some((p, e)) = s.failed.first() {
        return Err(format!(
            "node {name}: {} of {} files not stored (first: {}: {e})",
            s.failed.len(),
            items.len(),
            p.display()
        ));
    }
    Ok(format!(
        "sent to {name}: {} files (SEG, parametric maps, SR) from {}",
        s.sent,
        dir.display()
    ))
}
