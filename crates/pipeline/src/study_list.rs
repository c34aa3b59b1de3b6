//! A study as a list of knees: the manifest the cohort workflow, `srrd analyze
//! --manifest` and the reading room share. Either a CSV file (columns `subject`, `ct`,
//! optional `mr`, `side` and `label`; paths relative to the file's folder) or a folder
//! of subjects (each subfolder holding `ct.nii.gz`, `ct.nii` or a DICOM folder `ct/`, and
//! optionally the same for `mr`). Whole-list problems (a wrong column, a duplicated or
//! empty subject id, a bad side) refuse the list with the row number; a missing file is a
//! problem of its row only, reported when that knee is reached.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use srrd_base::error::{Error, Result};
use srrd_segmentation::knees::Side;

/// The columns a manifest may have.
pub const COLUMNS: [&str; 5] = ["subject", "ct", "mr", "side", "label"];

/// One knee of the study.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StudyRow {
    /// Unique id; also the name of the knee's output folder.
    pub subject: String,
    pub ct: PathBuf,
    pub mr: Option<PathBuf>,
    /// Which knee of a bilateral CT (None: the only one).
    pub side: Option<Side>,
    /// A group for the cohort report (e.g. normal, KOA, or a KL grade).
    pub label: Option<String>,
    /// 1-based line in the CSV (the folder's order for a folder).
    pub row: usize,
}

impl StudyRow {
    /// The input files this row names that do not exist.
    pub fn missing_files(&self) -> Vec<&Path> {
        std::iter::once(self.ct.as_path())
            .chain(self.mr.as_deref())
            .filter(|p| !p.exists())
            .collect()
    }
}

/// Reads a manifest CSV or a folder of subjects.
pub fn read_study_list(path: &Path) -> Result<Vec<StudyRow>> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let path = absolute.as_path();
    let rows = if path.is_dir() {
        from_folder(path)?
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        from_csv(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| Error::file(path, e))?
    };
    if rows.is_empty() {
        return Err(Error::file(path, "no subjects in it"));
    }
    Ok(rows)
}

/// Splits one CSV line (commas; double quotes around fields that hold commas or quotes).
fn split_csv(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => out.push(std::mem::take(&mut field).trim().to_string()),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    out.push(field.trim().to_string());
    Ok(out)
}

/// Parses manifest CSV text; relative paths are taken from `base`.
pub fn from_csv(text: &str, base: &Path) -> std::result::Result<Vec<StudyRow>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Err("empty: expected a header line `subject,ct,mr,side,label`".into());
    };
    let header: Vec<String> = split_csv(header)
        .map_err(|e| format!("header: {e}"))?
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(format!(
                "unknown column {h:?}: the columns are {} (subject and ct required)",
                COLUMNS.join(", ")
            ));
        }
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(c_subject), Some(c_ct)) = (col("subject"), col("ct")) else {
        return Err(format!(
            "the header {:?} lacks a required column: subject and ct are required",
            header.join(",")
        ));
    };
    let resolve = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for (n, line) in lines {
        let f = split_csv(line).map_err(|e| format!("row {n}: {e}"))?;
        if f.len() != header.len() {
            return Err(format!(
                "row {n}: {} fields where the header has {}",
                f.len(),
                header.len()
            ));
        }
        let get = |c: Option<usize>| c.map(|c| f[c].clone()).filter(|v| !v.is_empty());
        let subject = get(Some(c_subject)).ok_or(format!("row {n}: no subject id"))?;
        if subject.contains(['/', '\\']) || subject.starts_with('.') {
            return Err(format!(
                "row {n}: subject {subject:?} cannot name a folder (no slashes, no leading dot)"
            ));
        }
        if !seen.insert(subject.clone()) {
            return Err(format!("row {n}: subject {subject:?} appears twice"));
        }
        let ct = get(Some(c_ct)).ok_or(format!("row {n}: no ct path for {subject}"))?;
        let side = match get(col("side")) {
            None => None,
            Some(s) => Some(
                Side::parse(&s)
                    .map_err(|_| format!("row {n}: side {s:?}: expected left, right or empty"))?,
            ),
        };
        rows.push(StudyRow {
            subject,
            ct: resolve(&ct),
            mr: get(col("mr")).map(|m| resolve(&m)),
            side,
            label: get(col("label")),
            row: n,
        });
    }
    Ok(rows)
}

/// The image of `name` in a subject folder: `name.nii.gz`, `name.nii` or a folder `name/`.
fn image_in(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        format!("{name}.nii.gz"),
        format!("{name}.nii"),
        name.to_string(),
    ]
    .into_iter()
    .map(|f| dir.join(f))
    .find(|p| p.exists())
}

/// Subjects of a folder: every subfolder with a CT, in name order.
fn from_folder(dir: &Path) -> Result<Vec<StudyRow>> {
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    Ok(subdirs
        .into_iter()
        .filter_map(|d| {
            let ct = image_in(&d, "ct")?;
            let subject = d.file_name()?.to_string_lossy().to_string();
            Some((subject, ct, image_in(&d, "mr")))
        })
        .enumerate()
        .map(|(n, (subject, ct, mr))| StudyRow {
            subject,
            ct,
            mr,
            side: None,
            label: None,
            row: n + 1,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_resolve_paths_and_keep_optional_columns() {
        let rows = from_csv(
            "subject,ct,mr,side,label\n# a comment\nk1,a/ct.nii.gz,,left,KOA\nk2,/abs/ct.nii,\"m,r.nii\",,normal\n",
            Path::new("/base"),
        )
        .expect("parses");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].ct, PathBuf::from("/base/a/ct.nii.gz"));
        assert_eq!(rows[0].mr, None);
        assert_eq!(rows[0].side, Some(Side::Left));
        assert_eq!(rows[0].row, 3);
        assert_eq!(rows[1].ct, PathBuf::from("/abs/ct.nii"));
        assert_eq!(rows[1].mr, Some(PathBuf::from("/base/m,r.nii")));
        assert_eq!(rows[1].label.as_deref(), Some("normal"));
    }

    #[test]
    fn bad_lists_are_refused_with_the_row() {
        let base = Path::new("/b");
        for (text, expect) in [
            (
                "subject,ct\nk1,a\nk1,b\n",
                "row 3: subject \"k1\" appears twice",
            ),
            ("subject,ct,scanner\nk1,a,x\n", "unknown column \"scanner\""),
            ("subject,mr\nk1,a\n", "lacks a required column"),
            ("subject,ct\nk1\n", "row 2: 1 fields"),
            ("subject,ct,side\nk1,a,up\n", "row 2: side \"up\""),
            ("subject,ct\n,a\n", "row 2: no subject id"),
            ("subject,ct\n../x,a\n", "cannot name a folder"),
            ("", "empty"),
        ] {
            let e = from_csv(text, base).expect_err(text);
            assert!(e.contains(expect), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_folder_of_subjects_is_a_study() {
        let dir = tempfile::tempdir().expect("tmp");
        for (s, files) in [
            ("b", &["ct.nii.gz", "mr.nii"][..]),
            ("a", &["ct.nii"][..]),
            ("c", &[][..]),
        ] {
            std::fs::create_dir_all(dir.path().join(s)).expect("dir");
            for f in files {
                std::fs::write(dir.path().join(s).join(f), b"x").expect("file");
            }
        }
        let rows = read_study_list(dir.path()).expect("folder");
        let names: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(names, ["a", "b"], "sorted; c has no CT");
        assert!(rows[1].mr.as_ref().is_some_and(|m| m.ends_with("b/mr.nii")));
        assert!(rows[0].missing_files().is_empty());
    }
}
