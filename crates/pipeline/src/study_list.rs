//! A study as a list of knees: the manifest the cohort workflow, `srrd analyze
//! --manifest` and the reading room share. Either a CSV file (columns `subject`, `ct`,
//! optional `mr`, `side` and `label`, in any order; paths relative to the file's folder)
//! or a folder of subjects (each subfolder holding `ct.nii.gz`, `ct.nii` or a DICOM folder
//! `ct/`, and optionally the same for `mr`; or a PACS export of the subject's study). A PACS export's folder holding a knee's CT and
//! MR series may be named once, in a `study` column (the CT and MR are then picked by
//! Modality; `ct_series`/`mr_series` name others). Labels are KL grades or class words
//! ([`Label`]; a `kl` column takes grades only). Annotators' landmarks of a knee may be
//! named in `ct_landmarks` and `mr_landmarks` (our JSON, Slicer `.mrk.json` or `.fcsv`;
//! paired by label): the registration table's truth. Whole-list problems (a wrong column,
//! a duplicated or empty subject id, a bad side or label) refuse the list with the row
//! number; a missing file is a problem of its row only, reported when that knee is reached.

mod label;

pub use label::{ACCEPTED, ACCEPTED_KL, Group, KlGrade, Label, LabelError};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use srrd_base::error::{Error, Result};
use srrd_segmentation::knees::Side;

/// The columns a manifest may have.
pub const COLUMNS: [&str; 12] = [
    "subject",
    "patient",
    "ct",
    "mr",
    "side",
    "label",
    "kl",
    "study",
    "ct_series",
    "mr_series",
    "ct_landmarks",
    "mr_landmarks",
];

/// One knee of the study.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StudyRow {
    /// Unique id; also the name of the knee's output folder.
    pub subject: String,
    /// The CT: a NIfTI file, a DICOM file, or a DICOM folder (its CT series is read).
    pub ct: PathBuf,
    /// The MR; the same folder as the CT for a `study` column (its MR series, if any).
    pub mr: Option<PathBuf>,
    /// The CT series to read in a folder of several (`--series`: a UID or number).
    pub ct_series: Option<String>,
    /// The MR series to read in a folder of several.
    pub mr_series: Option<String>,
    /// Which knee of a bilateral CT (None: the only one).
    pub side: Option<Side>,
    /// KL grade or class (None: unlabelled, left out of the classifier).
    pub label: Option<Label>,
    /// Landmarks an annotator placed on the CT (our JSON, `.mrk.json` or `.fcsv`).
    pub ct_landmarks: Option<PathBuf>,
    /// The same landmarks placed on the MR, paired with the CT's by label.
    pub mr_landmarks: Option<PathBuf>,
    /// Who the knee belongs to, when rows share one (`patient` column: both knees of a
    /// patient, or one knee scanned twice): cross-validation keeps a patient's rows in one
    /// fold. None: the subject is its own patient.
    pub patient: Option<String>,
    /// 1-based line in the CSV (the folder's order for a folder).
    pub row: usize,
}

impl StudyRow {
    /// Whether the CT and MR are one folder (a PACS export of the study).
    pub fn one_folder(&self) -> bool {
        self.mr.as_ref() == Some(&self.ct)
    }

    /// The input files this row names that do not exist.
    pub fn missing_files(&self) -> Vec<&Path> {
        std::iter::once(self.ct.as_path())
            .chain(self.mr.as_deref())
            .filter(|p| !p.exists())
            .collect()
    }
}

/// The subjects without a label: used for the regression, left out of the classifier.
pub fn unlabelled(rows: &[StudyRow]) -> Vec<&str> {
    rows.iter()
        .filter(|r| r.label.is_none())
        .map(|r| r.subject.as_str())
        .collect()
}

/// The warning that lists the knees without a label, when there are any.
pub fn unlabelled_warning(rows: &[StudyRow]) -> Option<String> {
    let ids = unlabelled(rows);
    (!ids.is_empty()).then(|| {
        format!(
            "{} of {} knees have no label and are left out of the classifier (used for the regression): {}",
            ids.len(),
            rows.len(),
            ids.join(", ")
        )
    })
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
        return Err("empty: expected a header line such as `subject,ct,mr,side,label`".into());
    };
    let header: Vec<String> = split_csv(header)
        .map_err(|e| format!("header: {e}"))?
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(format!(
                "unknown column {h:?}: the columns are {} (subject, and ct or study, required)",
                COLUMNS.join(", ")
            ));
        }
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(c_subject), true) = (col("subject"), col("ct").or(col("study")).is_some()) else {
        return Err(format!(
            "the header {:?} lacks a required column: subject, and ct or study, are required",
            header.join(",")
        ));
    };
    for h in &header {
        if header.iter().filter(|x| *x == h).count() > 1 {
            return Err(format!("column {h:?} appears twice in the header"));
        }
    }
    if col("label").is_some() && col("kl").is_some() {
        return Err("both a label and a kl column: keep one (label takes grades and words)".into());
    }
    match (col("ct_landmarks").is_some(), col("mr_landmarks").is_some()) {
        (true, false) => {
            return Err(
                "a ct_landmarks column without mr_landmarks: the CT's landmarks pair with the MR's"
                    .into(),
            );
        }
        (false, true) => {
            return Err("an mr_landmarks column without ct_landmarks: the MR's landmarks pair with the CT's".into());
        }
        _ => {}
    }
    let resolve = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
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
        if let Some(first) = seen.insert(subject.clone(), n) {
            return Err(format!(
                "subject {subject:?} appears twice, in rows {first} and {n}: each knee needs its own id"
            ));
        }
        let study = get(col("study")).map(|p| resolve(&p));
        let ct = get(col("ct"))
            .map(|p| resolve(&p))
            .or_else(|| study.clone())
            .ok_or(format!(
                "row {n}: no ct path (nor study folder) for {subject}"
            ))?;
        let mr = get(col("mr")).map(|p| resolve(&p)).or(study);
        let label = match (get(col("label")), get(col("kl"))) {
            (Some(l), _) => Some(Label::parse(&l).map_err(|e| format!("row {n}: {e}"))?),
            (_, Some(k)) => Some(Label::parse_grade(&k).map_err(|e| format!("row {n}: {e}"))?),
            _ => None,
        };
        let side = match get(col("side")) {
            None => None,
            Some(s) => Some(
                Side::parse(&s)
                    .map_err(|_| format!("row {n}: side {s:?}: expected left, right or empty"))?,
            ),
        };
        rows.push(StudyRow {
            subject,
            ct,
            mr,
            ct_series: get(col("ct_series")),
            mr_series: get(col("mr_series")),
            side,
            label,
            ct_landmarks: get(col("ct_landmarks")).map(|p| resolve(&p)),
            mr_landmarks: get(col("mr_landmarks")).map(|p| resolve(&p)),
            patient: get(col("patient")),
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

/// Whether a folder holds a DICOM file (the DICM marker), looking at most `depth` levels
/// down: a PACS export of a subject's study.
fn holds_dicom(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths.iter().any(|p| {
        if p.is_dir() {
            depth > 0 && holds_dicom(p, depth - 1)
        } else {
            let mut head = [0u8; 132];
            std::fs::File::open(p)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .is_ok_and(|_| srrd_base::io::dicom::has_dicom_marker(&head))
        }
    })
}

/// Subjects of a folder: every subfolder with a CT (`ct.nii.gz`, `ct.nii`, `ct/`), in name
/// order; a subfolder with neither `ct` nor `mr` that holds DICOM files is a PACS export of
/// the subject's study (its CT and MR picked by Modality).
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
            let subject = d.file_name()?.to_string_lossy().to_string();
            let (ct, mr) = match (image_in(&d, "ct"), image_in(&d, "mr")) {
                (None, None) if holds_dicom(&d, 4) => (d.clone(), Some(d)),
                (ct, mr) => (ct?, mr),
            };
            Some((subject, ct, mr))
        })
        .enumerate()
        .map(|(n, (subject, ct, mr))| StudyRow {
            subject,
            ct,
            mr,
            ct_series: None,
            mr_series: None,
            side: None,
            label: None,
            ct_landmarks: None,
            mr_landmarks: None,
            patient: None,
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
        assert_eq!(rows[1].label, Some(Label::Group(Group::Normal)));
    }

    #[test]
    fn bad_lists_are_refused_with_the_row() {
        let base = Path::new("/b");
        for (text, expect) in [
            (
                "subject,ct\nk1,a\nk2,c\nk1,b\n",
                "subject \"k1\" appears twice, in rows 2 and 4",
            ),
            (
                "subject,ct,ct_landmarks\nk1,a,m.fcsv\n",
                "a ct_landmarks column without mr_landmarks",
            ),
            (
                "subject,ct,mr_landmarks\nk1,a,m.fcsv\n",
                "an mr_landmarks column without ct_landmarks",
            ),
            ("subject,ct,scanner\nk1,a,x\n", "unknown column \"scanner\""),
            ("subject,mr\nk1,a\n", "lacks a required column"),
            (
                "subject,ct,label,kl\nk1,a,1,1\n",
                "both a label and a kl column",
            ),
            ("subject,ct,ct\nk1,a,b\n", "column \"ct\" appears twice"),
            (
                "subject,study\nk1,\n",
                "row 2: no ct path (nor study folder) for k1",
            ),
            (
                "subject,ct,label\nk1,a,5\n",
                "row 2: label \"5\": expected a KL grade",
            ),
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
    fn a_patient_column_may_repeat_where_subjects_may_not() {
        let rows = from_csv(
            "subject,patient,ct,kl\np1-preset,p1,a.nii,2\np1-clinical,p1,b.nii,2\np2,,c.nii,0\n",
            Path::new("/b"),
        )
        .expect("parses");
        let patients: Vec<Option<&str>> = rows.iter().map(|r| r.patient.as_deref()).collect();
        assert_eq!(patients, [Some("p1"), Some("p1"), None]);
        let e = from_csv(
            "subject,patient,ct\nk,p1,a.nii\nk,p1,b.nii\n",
            Path::new("/b"),
        )
        .expect_err("a repeated subject");
        assert!(e.contains("appears twice, in rows 2 and 3"), "{e}");
    }

    #[test]
    fn a_study_folder_names_ct_and_mr_and_kl_grades_group_the_knees() {
        let rows = from_csv(
            "kl,study,subject,ct_series\n3,exports/p1,k1,\n0,exports/p2,k2,2\n,exports/p3,k3,\n",
            Path::new("/base"),
        )
        .expect("parses");
        assert_eq!(rows[0].ct, PathBuf::from("/base/exports/p1"));
        assert_eq!(rows[0].mr, Some(PathBuf::from("/base/exports/p1")));
        assert!(rows[0].one_folder());
        assert_eq!(rows[1].ct_series.as_deref(), Some("2"));
        let labels: Vec<Option<String>> = rows
            .iter()
            .map(|r| r.label.map(|l| l.to_string()))
            .collect();
        assert_eq!(labels, [Some("KL 3".into()), Some("KL 0".into()), None]);
        assert_eq!(rows[0].label.and_then(Label::group), Some(Group::Advanced));
        assert_eq!(rows[1].label.map(Label::is_koa), Some(false));
        assert_eq!(unlabelled(&rows), ["k3"]);
        assert_eq!(
            unlabelled_warning(&rows).as_deref(),
            Some(
                "1 of 3 knees have no label and are left out of the classifier (used for the regression): k3"
            )
        );
        // An explicit ct beside a study folder wins; the MR stays the study's.
        let rows = from_csv(
            "subject,study,ct,label\nk1,exp,ct.nii.gz,KOA\n",
            Path::new("/b"),
        )
        .expect("parses");
        assert_eq!(rows[0].ct, PathBuf::from("/b/ct.nii.gz"));
        assert_eq!(rows[0].mr, Some(PathBuf::from("/b/exp")));
        assert!(!rows[0].one_folder());
    }

    #[test]
    fn landmark_columns_resolve_like_the_images_and_duplicates_name_file_and_rows() {
        let rows = from_csv(
            "subject,ct,mr,mr_landmarks,ct_landmarks\n\
             k1,k1/ct.nii.gz,k1/mr.nii.gz,marks/k1_mr.mrk.json,/abs/k1_ct.fcsv\n\
             k2,k2/ct.nii.gz,,,\n",
            Path::new("/base"),
        )
        .expect("parses");
        assert_eq!(
            rows[0].mr_landmarks.as_deref(),
            Some(Path::new("/base/marks/k1_mr.mrk.json"))
        );
        assert_eq!(
            rows[0].ct_landmarks.as_deref(),
            Some(Path::new("/abs/k1_ct.fcsv"))
        );
        assert!(rows[1].ct_landmarks.is_none() && rows[1].mr_landmarks.is_none());

        let dir = tempfile::tempdir().expect("tmp");
        let list = dir.path().join("study.csv");
        std::fs::write(&list, "subject,ct\nk1,a\n# k2 rescanned\nk2,b\nk1,c\n").expect("write");
        let e = read_study_list(&list).expect_err("duplicate").to_string();
        assert_eq!(
            e,
            format!(
                "{}: subject \"k1\" appears twice, in rows 2 and 5: each knee needs its own id",
                list.display()
            )
        );
    }

    #[test]
    fn a_label_in_free_text_is_refused_with_file_row_and_forms() {
        let dir = tempfile::tempdir().expect("tmp");
        let list = dir.path().join("study.csv");
        std::fs::write(&list, "subject,ct,label\nk1,a,KL2\nk2,b,moderate OA\n").expect("write");
        let e = read_study_list(&list).expect_err("free text").to_string();
        assert_eq!(
            e,
            format!(
                "{}: row 3: label \"moderate OA\": expected a KL grade 0-4 (or KL0-KL4), normal, mild, advanced or KOA",
                list.display()
            )
        );
        std::fs::write(&list, "subject,ct,kl\nk1,a,normal\n").expect("write");
        let e = read_study_list(&list).expect_err("kl word").to_string();
        assert!(
            e.ends_with("row 2: kl \"normal\": expected a KL grade 0-4 (or KL0-KL4)"),
            "{e}"
        );
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
        // d: a PACS export (DICOM files two levels down); e: a file that is not DICOM.
        let series = dir.path().join("d/DICOM/S1");
        std::fs::create_dir_all(&series).expect("dir");
        let mut dicm = vec![0u8; 128];
        dicm.extend_from_slice(b"DICMxxxx");
        std::fs::write(series.join("IM1"), &dicm).expect("dicom");
        std::fs::create_dir_all(dir.path().join("e")).expect("dir");
        std::fs::write(dir.path().join("e/notes.txt"), [b'x'; 200]).expect("text");
        let rows = read_study_list(dir.path()).expect("folder");
        let names: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(names, ["a", "b", "d"], "sorted; c has no CT, e no image");
        assert!(
            rows[2].one_folder() && rows[2].ct.ends_with("d"),
            "{:?}",
            rows[2]
        );
        assert!(rows[1].mr.as_ref().is_some_and(|m| m.ends_with("b/mr.nii")));
        assert!(rows[0].missing_files().is_empty());
    }
}
