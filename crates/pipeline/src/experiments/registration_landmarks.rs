//! The registration table's truth: landmark pairs (a point on the CT, the same point on
//! the MR) per knee, from each of its sources ("readers"):
//! - a reader's folder from the reading room, `READER_DIR/<subject>/landmarks_ct.json` and
//!   `landmarks_mr.json` (or `.mrk.json`, `.fcsv`);
//! - the study list's `ct_landmarks` and `mr_landmarks` columns (our JSON, Slicer
//!   `.mrk.json` or `.fcsv`), one more reader named [`STUDY_LIST`];
//! - a phantom's true landmarks, when no other source is given.
//!
//! Pairs match by label (a phantom's truth pairs in order). A reader folder whose case
//! folders match no subject is refused with the cases; one that matches some has the
//! rest named in a warning. A file that does not read, a label placed twice, a CT file
//! without its MR file: a problem of that knee and reader only, named with the file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::study_knees::StudyKnee;
use srrd_base::error::{Error, Result};
use srrd_base::io::{Landmark, pair_by_label, read_landmarks};

/// The reader name of the study list's own landmark columns.
pub const STUDY_LIST: &str = "study list";

/// One reader's pairs for a knee: (label, CT point, MR point), LPS mm.
pub type Pairs = Vec<(String, [f64; 3], [f64; 3])>;

/// Where a set of landmarks comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A phantom's true landmarks (`landmarks_ct.json`, `landmarks_mr.json` in its folder).
    Truth,
    /// The study list's `ct_landmarks` and `mr_landmarks` columns.
    StudyList,
    /// A reader's folder of case folders.
    Reader(PathBuf),
}

impl Source {
    /// The source as the tables name it.
    pub fn name(&self) -> String {
        match self {
            Source::Truth => "the phantoms' true landmarks".into(),
            Source::StudyList => STUDY_LIST.into(),
            Source::Reader(dir) => dir.display().to_string(),
        }
    }
}

/// The sources a study's registration table uses, and what was found while choosing them.
#[derive(Clone, Debug)]
pub struct Sources {
    pub sources: Vec<Source>,
    /// Reader folders' case folders that match no subject (warnings, one per folder).
    pub warnings: Vec<String>,
}

/// The landmark sources of `knees`: each reader folder, then the study list's columns
/// when a knee names files there; the phantom truth when there is neither. A reader folder
/// with no case folder, or none matching a subject, is an error naming it.
pub fn sources(knees: &[StudyKnee], readers: &[PathBuf]) -> Result<Sources> {
    let ids: HashSet<&str> = knees.iter().map(|k| k.id.as_str()).collect();
    let mut sources = Vec::new();
    let mut warnings = Vec::new();
    for dir in readers {
        let cases = case_folders(dir)?;
        let unmatched: Vec<&str> = (cases.iter())
            .map(String::as_str)
            .filter(|c| !ids.contains(c))
            .collect();
        if unmatched.len() == cases.len() {
            let mut subjects: Vec<&str> = ids.iter().copied().collect();
            subjects.sort();
            return Err(Error::file(
                dir,
                format!(
                    "no case folder matches a subject of the study: cases {}; subjects {}",
                    list(&unmatched),
                    list(&subjects)
                ),
            ));
        }
        if !unmatched.is_empty() {
            warnings.push(format!(
                "{}: {} case folder{} match{} no subject of the study and {} not used: {}",
                dir.display(),
                unmatched.len(),
                if unmatched.len() == 1 { "" } else { "s" },
                if unmatched.len() == 1 { "es" } else { "" },
                if unmatched.len() == 1 { "is" } else { "are" },
                unmatched.join(", ")
            ));
        }
        sources.push(Source::Reader(dir.clone()));
    }
    if knees
        .iter()
        .any(|k| k.ct_landmarks.is_some() || k.mr_landmarks.is_some())
    {
        sources.push(Source::StudyList);
    }
    if sources.is_empty() {
        sources.push(Source::Truth);
    }
    Ok(Sources { sources, warnings })
}

/// At most 12 names, then how many more.
fn list(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )
    }
}

/// The case folders of a reader's folder, in name order.
fn case_folders(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut cases: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().to_string()))
        .filter(|n| !n.starts_with('.'))
        .collect();
    cases.sort();
    if cases.is_empty() {
        return Err(Error::file(
            dir,
            "no case folders in it: a reader's folder holds one folder per subject, with \
             landmarks_ct.json and landmarks_mr.json (as the reading room saves them)",
        ));
    }
    Ok(cases)
}

/// The landmark file of one modality in a case folder: `landmarks_<modality>` with our
/// `.json`, Slicer's `.mrk.json` or `.fcsv`.
fn case_file(case: &Path, modality: &str) -> Option<PathBuf> {
    ["json", "mrk.json", "fcsv"]
        .iter()
        .map(|ext| case.join(format!("landmarks_{modality}.{ext}")))
        .find(|p| p.is_file())
}

/// A knee's pairs from `source`: None when the source has nothing for the knee, an error
/// (one line naming the file) when what it has cannot be used.
pub fn knee_pairs(knee: &StudyKnee, source: &Source) -> Result<Option<Pairs>> {
    match source {
        Source::Truth => match &knee.truth_dir {
            Some(dir) => truth_pairs(dir).map(Some),
            None => Ok(None),
        },
        Source::StudyList => match (&knee.ct_landmarks, &knee.mr_landmarks) {
            (None, None) => Ok(None),
            (Some(ct), Some(mr)) => paired(ct, mr).map(Some),
            (Some(ct), None) => Err(Error::file(
                ct,
                "the CT's landmarks without the MR's (mr_landmarks is empty for this subject)",
            )),
            (None, Some(mr)) => Err(Error::file(
                mr,
                "the MR's landmarks without the CT's (ct_landmarks is empty for this subject)",
            )),
        },
        Source::Reader(dir) => {
            let case = dir.join(&knee.id);
            match (case_file(&case, "ct"), case_file(&case, "mr")) {
                (None, None) => Ok(None),
                (Some(ct), Some(mr)) => paired(&ct, &mr).map(Some),
                (Some(ct), None) => Err(Error::file(
                    ct,
                    "the CT's landmarks without the MR's (no landmarks_mr.json beside it)",
                )),
                (None, Some(mr)) => Err(Error::file(
                    mr,
                    "the MR's landmarks without the CT's (no landmarks_ct.json beside it)",
                )),
            }
        }
    }
}

/// A file's landmarks, refused when a label is placed twice (pairs match by label).
fn read_unique(path: &Path) -> Result<Vec<Landmark>> {
    let marks = read_landmarks(path)?;
    let mut seen = HashSet::new();
    for m in &marks {
        if !seen.insert(m.label.as_str()) {
            return Err(Error::file(
                path,
                format!(
                    "landmark '{}' appears twice (pairs match by label)",
                    m.label
                ),
            ));
        }
    }
    Ok(marks)
}

/// The pairs of a CT file and an MR file, by label; an error when none pair.
fn paired(ct_file: &Path, mr_file: &Path) -> Result<Pairs> {
    let (ct, mr) = (read_unique(ct_file)?, read_unique(mr_file)?);
    let pairs: Pairs = pair_by_label(&ct, &mr)
        .into_iter()
        .map(|(l, c, m)| (l.to_string(), c, m))
        .collect();
    if pairs.is_empty() {
        return Err(Error::file(
            ct_file,
            format!(
                "no label in common with {} ({} CT and {} MR landmarks; pairs match by label)",
                mr_file.display(),
                ct.len(),
                mr.len()
            ),
        ));
    }
    Ok(pairs)
}

/// A phantom's true landmarks, paired in order.
fn truth_pairs(dir: &Path) -> Result<Pairs> {
    let ct: Vec<Landmark> = read_landmarks(&dir.join("landmarks_ct.json"))?;
    let mr: Vec<Landmark> = read_landmarks(&dir.join("landmarks_mr.json"))?;
    Ok(ct
        .into_iter()
        .zip(mr)
        .map(|(c, m)| (c.label, c.position_mm, m.position_mm))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knee::KneeChoice;
    use srrd_base::io::write_landmarks;

    fn knee(id: &str) -> StudyKnee {
        StudyKnee {
            id: id.into(),
            ct: PathBuf::from("ct.nii.gz"),
            ct_series: None,
            mr: Some(PathBuf::from("mr.nii.gz")),
            mr_series: None,
            knee: KneeChoice::Only,
            label: None,
            grade: None,
            truth_dir: None,
            acquisition: None,
            ct_landmarks: None,
            mr_landmarks: None,
            patient: None,
        }
    }

    fn marks(labels: &[&str], x: f64) -> Vec<Landmark> {
        (labels.iter().enumerate())
            .map(|(n, l)| Landmark {
                label: l.to_string(),
                position_mm: [x, n as f64, 0.0],
            })
            .collect()
    }

    #[test]
    fn reader_folders_must_match_the_study() {
        let dir = tempfile::tempdir().expect("tmp");
        let knees = [knee("k1"), knee("k2")];
        let reader = dir.path().join("alice");
        for case in ["k1", "k9", "x-3"] {
            std::fs::create_dir_all(reader.join(case)).expect("case");
        }
        let s = sources(&knees, std::slice::from_ref(&reader)).expect("some match");
        assert_eq!(s.sources, [Source::Reader(reader.clone())]);
        assert_eq!(
            s.warnings,
            [format!(
                "{}: 2 case folders match no subject of the study and are not used: k9, x-3",
                reader.display()
            )]
        );
        // None matches: refused, naming the folder, its cases and the subjects.
        let bob = dir.path().join("bob");
        std::fs::create_dir_all(bob.join("K1")).expect("case");
        let e = sources(&knees, std::slice::from_ref(&bob))
            .expect_err("no match")
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}: no case folder matches a subject of the study: cases K1; subjects k1, k2",
                bob.display()
            )
        );
        let empty = dir.path().join("carol");
        std::fs::create_dir_all(&empty).expect("empty");
        let e = sources(&knees, &[empty]).expect_err("empty").to_string();
        assert!(e.contains("carol: no case folders in it"), "{e}");
        let e = sources(&knees, &[dir.path().join("dave")])
            .expect_err("missing")
            .to_string();
        assert!(e.contains("dave: no such file or folder"), "{e}");
        // No reader and no landmark columns: the phantom truth.
        assert_eq!(
            sources(&knees, &[]).expect("truth").sources,
            [Source::Truth]
        );
    }

    #[test]
    fn study_list_landmarks_are_one_more_reader_paired_by_label() {
        let dir = tempfile::tempdir().expect("tmp");
        let (ct, mr) = (
            dir.path().join("k1_ct.fcsv"),
            dir.path().join("k1_mr.mrk.json"),
        );
        write_landmarks(&ct, &marks(&["a", "b", "c"], 1.0)).expect("ct");
        write_landmarks(&mr, &marks(&["c", "a", "z"], 2.0)).expect("mr");
        let mut k = knee("k1");
        k.ct_landmarks = Some(ct.clone());
        k.mr_landmarks = Some(mr.clone());
        let reader = dir.path().join("r");
        std::fs::create_dir_all(reader.join("k1")).expect("case");
        let s = sources(std::slice::from_ref(&k), std::slice::from_ref(&reader)).expect("ok");
        assert_eq!(s.sources, [Source::Reader(reader), Source::StudyList]);
        assert_eq!(Source::StudyList.name(), "study list");
        let pairs = knee_pairs(&k, &Source::StudyList)
            .expect("pairs")
            .expect("some");
        let labels: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(labels, ["a", "c"]);
        assert_eq!(pairs[1].1, [1.0, 2.0, 0.0]);
        assert_eq!(pairs[1].2, [2.0, 0.0, 0.0]);
        // The reader has the case folder but no files yet: nothing, no problem.
        assert!(knee_pairs(&k, &s.sources[0]).expect("none").is_none());
    }

    #[test]
    fn unusable_landmark_files_are_named_with_the_problem() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = |n: &str| dir.path().join(n);
        let err = |k: &StudyKnee| {
            knee_pairs(k, &Source::StudyList)
                .expect_err("refused")
                .to_string()
        };
        let mut k = knee("k1");
        // A file that does not parse.
        std::fs::write(p("bad.fcsv"), "1,2,x,4\n").expect("write");
        write_landmarks(&p("ok.json"), &marks(&["a"], 0.0)).expect("write");
        k.ct_landmarks = Some(p("bad.fcsv"));
        k.mr_landmarks = Some(p("ok.json"));
        assert_eq!(
            err(&k),
            format!("{}: line 1: y 'x' is not a number", p("bad.fcsv").display())
        );
        // A file that is not there.
        k.ct_landmarks = Some(p("gone.json"));
        assert_eq!(
            err(&k),
            format!("{}: no such file or folder", p("gone.json").display())
        );
        // A label placed twice.
        write_landmarks(&p("twice.json"), &marks(&["a", "b", "a"], 0.0)).expect("write");
        k.ct_landmarks = Some(p("twice.json"));
        assert!(err(&k).ends_with("twice.json: landmark 'a' appears twice (pairs match by label)"));
        // No label in common.
        write_landmarks(&p("other.json"), &marks(&["q"], 0.0)).expect("write");
        k.ct_landmarks = Some(p("other.json"));
        assert!(err(&k).contains("no label in common with"), "{}", err(&k));
        // One side only.
        k.mr_landmarks = None;
        assert!(err(&k).contains("the CT's landmarks without the MR's"));
        // A reader's case folder with the CT's file only.
        let case = p("r/k1");
        std::fs::create_dir_all(&case).expect("case");
        write_landmarks(&case.join("landmarks_ct.json"), &marks(&["a"], 0.0)).expect("ct");
        let e = knee_pairs(&k, &Source::Reader(p("r")))
            .expect_err("one side")
            .to_string();
        assert!(e.contains("no landmarks_mr.json beside it"), "{e}");
    }
}
