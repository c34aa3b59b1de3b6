//! Files written from network data: names built from UIDs are sanitized (only digits,
//! dots and a few safe characters, never `..`, never a path separator), and every file
//! is written through a temporary name and renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{NodeError, Result};

/// A file or folder name from a value in the data (a UID, mostly): characters other
/// than ASCII letters, digits, `.`, `-` and `_` become `_`; leading dots are dropped
/// (no `.`, `..` or hidden files); an empty result becomes `unknown`; at most 64
/// characters.
pub fn safe_name(value: &str) -> String {
    let mapped: String = value
        .trim_matches(['\0', ' '])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut trimmed = mapped.trim_start_matches('.').to_string();
    while trimmed.contains("..") {
        trimmed = trimmed.replace("..", "__");
    }
    let mut s: String = trimmed.chars().take(64).collect();
    if s.is_empty() {
        s = "unknown".into();
    }
    s
}

/// The path of one retrieved instance: `ROOT/<study>/<series>/<instance>.dcm`, each part
/// through [`safe_name`], so it is always inside `root`.
pub fn instance_path(root: &Path, study: &str, series: &str, instance: &str) -> PathBuf {
    root.join(safe_name(study))
        .join(safe_name(series))
        .join(format!("{}.dcm", safe_name(instance)))
}

/// The folder of one retrieved series, `ROOT/<study>/<series>` (sanitized as
/// [`instance_path`] does).
pub fn series_dir(root: &Path, study: &str, series: &str) -> PathBuf {
    root.join(safe_name(study)).join(safe_name(series))
}

/// The default retrieval cache: `$XDG_CACHE_HOME/srrd/pacs` or `~/.cache/srrd/pacs`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("srrd").join("pacs");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache").join("srrd").join("pacs")
}

/// Writes a DICOM Part 10 file: preamble, `DICM`, the file meta group for this SOP class,
/// instance and transfer syntax, then the data set bytes as received (no re-encoding);
/// through a temporary name, renamed into place.
pub fn write_part10(
    path: &Path,
    sop_class: &str,
    sop_instance: &str,
    transfer_syntax: &str,
    dataset: &[u8],
) -> Result<()> {
    let meta = dicom_object::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(transfer_syntax)
        .implementation_class_uid("1.2.826.0.1.3680043.10.1442.1")
        .implementation_version_name("SRRD")
        .build()
        .map_err(|e| NodeError::file(path, format!("file meta: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NodeError::file(dir, e))?;
    }
    srrd_base::io::atomic_write(path, |w: &mut dyn Write| {
        w.write_all(&[0u8; 128])?;
        w.write_all(b"DICM")?;
        meta.write(&mut *w)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        w.write_all(dataset)
    })
    .map_err(|e| NodeError::file(path, e))
}

/// Writes one instance received in a C-STORE (data set bytes in `ts_uid`) as
/// `ROOT/<study>/<series>/<instance>.dcm`, the study and series read from the data set;
/// returns the path and the data set (for the caller's checks).
pub fn write_received(
    root: &Path,
    sop_class: &str,
    instance: &str,
    ts_uid: &str,
    data: &[u8],
) -> std::result::Result<(PathBuf, dicom_object::InMemDicomObject), String> {
    use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| format!("transfer syntax {ts_uid} unknown"))?;
    let obj = dicom_object::InMemDicomObject::read_dataset_with_ts(data, ts)
        .map_err(|e| format!("unreadable data set ({e})"))?;
    let text = |tag| {
        obj.element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_matches(['\0', ' ']).to_string())
            .unwrap_or_default()
    };
    use dicom_dictionary_std::tags;
    let study = text(tags::STUDY_INSTANCE_UID);
    let series = text(tags::SERIES_INSTANCE_UID);
    let path = instance_path(root, &study, &series, instance);
    write_part10(&path, sop_class, instance, ts_uid, data).map_err(|e| e.to_string())?;
    Ok((path, obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_hostile_uids_stay_inside_the_root() {
        assert_eq!(safe_name("1.2.840.113619.2.55"), "1.2.840.113619.2.55");
        assert_eq!(safe_name("../../x"), "____x");
        assert_eq!(safe_name(".."), "unknown");
        assert_eq!(safe_name("/etc/passwd"), "_etc_passwd");
        assert_eq!(safe_name("a\\b"), "a_b");
        assert_eq!(safe_name(""), "unknown");
        assert_eq!(safe_name(&"9".repeat(200)).len(), 64);
        let root = Path::new("/cache");
        for bad in ["../../x", "..", "/abs", "a/../../b", "\0", "x/.."] {
            let p = instance_path(root, bad, bad, bad);
            assert!(p.starts_with(root), "{p:?}");
            assert_eq!(p.components().count(), 5, "{p:?}");
            for c in p.components().skip(2) {
                let s = c.as_os_str().to_string_lossy();
                assert!(!s.contains("..") && s != "." && !s.contains('/'), "{p:?}");
            }
        }
    }

    #[test]
    fn part10_file_reads_back() {
        use dicom_core::{DataElement, PrimitiveValue, VR};
        use dicom_dictionary_std::tags;
        let d = tempfile::tempdir().unwrap();
        let mut obj = dicom_object::InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from("P1"),
        ));
        let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
        let mut bytes = Vec::new();
        obj.write_dataset_with_ts(&mut bytes, &ts).unwrap();
        let p = instance_path(d.path(), "1.2", "1.2.3", "1.2.3.4");
        write_part10(
            &p,
            "1.2.840.10008.5.1.4.1.1.7",
            "1.2.3.4",
            "1.2.840.10008.1.2.1",
            &bytes,
        )
        .unwrap();
        let back = dicom_object::open_file(&p).unwrap();
        assert_eq!(back.meta().media_storage_sop_instance_uid(), "1.2.3.4");
        assert_eq!(
            back.element(tags::PATIENT_ID).unwrap().to_str().unwrap(),
            "P1"
        );
        // no temporary file left beside it
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
