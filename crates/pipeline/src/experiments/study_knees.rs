//! The knees an experiment trains or evaluates on. Either a phantom cohort (the folder
//! `srrd cohort` writes: `manifest.json`, and per subject `ct.nii.gz`, `mr.nii.gz`,
//! `truth.json`) or any study list `analyze --manifest` reads (a CSV or a folder of
//! subjects, DICOM or NIfTI, KL grades in its `label` or `kl` column). A cohort is one
//! more study: its phantom truth is used only where it exists, for checks beyond the paper.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::knee::KneeChoice;
use crate::knee_input::{KneeInput, read_ct_mr};
use crate::study_list::{KlGrade, Label, read_study_list};
use srrd_base::error::{Error, Result};
use srrd_base::volume::Volume;
use srrd_phantom::acquisition::Acquisition;
use srrd_segmentation::knees::Side;

/// One knee of a study, with where its images are.
#[derive(Clone, Debug)]
pub struct StudyKnee {
    pub id: String,
    /// The CT: a NIfTI file or a DICOM folder (`ct_series` picks a series in it).
    pub ct: PathBuf,
    pub ct_series: Option<String>,
    /// The MR of the same knee, when the study has one.
    pub mr: Option<PathBuf>,
    pub mr_series: Option<String>,
    /// The knee in its CT: the only one, or a side of a bilateral scan.
    pub knee: KneeChoice,
    /// The clinic's label (a KL grade, a group, KOA), when given.
    pub label: Option<Label>,
    /// The group name the stores record (normal, mild, advanced): a phantom's grade, or
    /// the label's group.
    pub grade: Option<String>,
    /// The phantom's folder (`truth.json`, true landmarks, tissue labels), when the knee
    /// is a phantom's; None for a clinic's knee.
    pub truth_dir: Option<PathBuf>,
    /// The CT acquisition a phantom cohort drew (`truth.json`).
    pub acquisition: Option<Acquisition>,
    /// Landmarks an annotator placed on the CT, named in the study list's `ct_landmarks`.
    pub ct_landmarks: Option<PathBuf>,
    /// The same landmarks on the MR (`mr_landmarks`), paired with the CT's by label.
    pub mr_landmarks: Option<PathBuf>,
    /// The patient the study list names (`patient`), when knees share one.
    pub patient: Option<String>,
}

impl StudyKnee {
    /// The KL grade, when the label is one (a phantom's grade always is).
    pub fn kl_grade(&self) -> Option<u32> {
        self.label.and_then(Label::kl).map(|g| u32::from(g.value()))
    }

    /// The CT, the MR (None when the knee has none) and the reading warnings.
    pub fn read(&self) -> Result<(Volume, Option<Volume>, Vec<String>)> {
        let (ct, mr, warnings) = read_ct_mr(&KneeInput {
            ct: &self.ct,
            mr: self.mr.as_deref(),
            ct_series: self.ct_series.as_deref(),
            mr_series: self.mr_series.as_deref(),
            accept_uneven: false,
        })?;
        Ok((ct.volume, mr.map(|m| m.volume), warnings))
    }

    /// The CT and the MR of a knee a training step needs both of; the reading warnings go
    /// to `log`, each with the knee's id. None (said in `log`) when its MR folder holds no
    /// MR series.
    pub fn read_pair(&self, log: &mut impl FnMut(&str)) -> Result<Option<(Volume, Volume)>> {
        let (ct, mr, warnings) = self.read()?;
        for w in &warnings {
            log(&format!("{}: {w}", self.id));
        }
        if mr.is_none() {
            log(&format!("{}: left out (no MR series)", self.id));
        }
        Ok(mr.map(|mr| (ct, mr)))
    }

    /// The CT alone.
    pub fn read_ct(&self) -> Result<Volume> {
        let ct = srrd_base::io::read_image_with(
            &self.ct,
            &srrd_base::io::ReadOptions {
                series: self.ct_series.as_deref(),
                modality: Some("CT"),
                accept_uneven: false,
            },
        )?;
        Ok(ct.volume)
    }
}

/// The knees of a study list or a phantom cohort folder (see the module's comment).
pub fn study_knees(path: &Path) -> Result<Vec<StudyKnee>> {
    let manifest = path.join("manifest.json");
    if path.is_dir() && manifest.exists() {
        return cohort_knees(path, &manifest);
    }
    let rows = read_study_list(path).map_err(|e| {
        if path.is_dir() {
            Error::file(
                path,
                "no knees in it: neither a phantom cohort (no manifest.json) nor a folder of \
                 subjects (each holding ct.nii.gz, ct.nii, a DICOM folder ct/ or a DICOM export)",
            )
        } else {
            e
        }
    })?;
    Ok(rows
        .into_iter()
        .map(|row| StudyKnee {
            id: row.subject,
            ct: row.ct,
            ct_series: row.ct_series,
            mr: row.mr,
            mr_series: row.mr_series,
            knee: match row.side {
                Some(s) => KneeChoice::Side(s),
                None => KneeChoice::Only,
            },
            grade: row
                .label
                .and_then(Label::group)
                .map(|g| g.name().to_string()),
            label: row.label,
            truth_dir: None,
            acquisition: None,
            ct_landmarks: row.ct_landmarks,
            mr_landmarks: row.mr_landmarks,
            patient: row.patient,
        })
        .collect())
}

/// The subjects of `cohort/manifest.json` (as written by `srrd cohort`).
fn cohort_knees(cohort: &Path, path: &Path) -> Result<Vec<StudyKnee>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let manifest: Value =
        serde_json::from_str(&text).map_err(|e| Error::file(path, format!("not JSON: {e}")))?;
    let list = manifest["subjects"]
        .as_array()
        .ok_or_else(|| Error::file(path, "no 'subjects' list"))?;
    list.iter()
        .map(|s| {
            let name = s["dir"]
                .as_str()
                .ok_or_else(|| Error::file(path, "a subject has no 'dir'"))?;
            let dir = cohort.join(name);
            let (knee, acquisition) = knee_of(&dir)?;
            let kl = s["kl_grade"]
                .as_u64()
                .and_then(|v| KlGrade::new(u8::try_from(v).ok()?));
            Ok(StudyKnee {
                id: s["id"].as_str().unwrap_or(name).to_string(),
                ct: dir.join("ct.nii.gz"),
                ct_series: None,
                mr: Some(dir.join("mr.nii.gz")),
                mr_series: None,
                knee,
                label: kl.map(Label::Kl),
                grade: s["grade"].as_str().map(str::to_string),
                truth_dir: Some(dir),
                acquisition,
                ct_landmarks: None,
                mr_landmarks: None,
                patient: None,
            })
        })
        .collect()
}

/// A phantom's knee and acquisition from its `truth.json` (a missing file or field: the
/// only knee, no acquisition).
fn knee_of(dir: &Path) -> Result<(KneeChoice, Option<Acquisition>)> {
    let path = dir.join("truth.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok((KneeChoice::Only, None));
    };
    let truth: Value =
        serde_json::from_str(&text).map_err(|e| Error::file(&path, format!("not JSON: {e}")))?;
    let acquisition: Option<Acquisition> = match truth.get("acquisition") {
        Some(v) if !v.is_null() => Some(
            serde_json::from_value(v.clone())
                .map_err(|e| Error::file(&path, format!("acquisition: {e}")))?,
        ),
        _ => None,
    };
    let side = match truth["side"].as_str() {
        Some("left") => Side::Left,
        _ => Side::Right,
    };
    let bilateral = acquisition.as_ref().is_some_and(|a| a.bilateral);
    let choice = if bilateral {
        KneeChoice::Side(side)
    } else {
        KneeChoice::Only
    };
    Ok((choice, acquisition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_study_list_and_a_cohort_folder_read_as_knees() {
        let dir = tempfile::tempdir().expect("tmp");
        let csv = dir.path().join("study.csv");
        std::fs::write(
            &csv,
            "label,subject,ct,side,mr\nKL 4,a,a/ct.nii.gz,left,a/mr\nmild,b,b.nii,,\n,c,c.nii,,\n",
        )
        .expect("csv");
        let knees = study_knees(&csv).expect("study");
        assert_eq!(knees.len(), 3);
        let a = &knees[0];
        assert_eq!(a.ct, dir.path().join("a/ct.nii.gz"));
        assert_eq!(a.mr.as_deref(), Some(dir.path().join("a/mr").as_path()));
        assert_eq!(a.knee, KneeChoice::Side(Side::Left));
        assert_eq!(
            (a.kl_grade(), a.grade.as_deref()),
            (Some(4), Some("advanced"))
        );
        assert!(a.truth_dir.is_none());
        assert_eq!(
            (knees[1].kl_grade(), knees[1].grade.as_deref()),
            (None, Some("mild"))
        );
        assert!(knees[1].mr.is_none() && knees[2].label.is_none());

        let cohort = dir.path().join("cohort");
        std::fs::create_dir_all(cohort.join("s0")).expect("dir");
        std::fs::write(
            cohort.join("manifest.json"),
            r#"{"subjects": [{"id": "sub-000", "dir": "s0", "grade": "mild", "kl_grade": 2}]}"#,
        )
        .expect("manifest");
        let knees = study_knees(&cohort).expect("cohort");
        assert_eq!(knees[0].id, "sub-000");
        assert_eq!(knees[0].ct, cohort.join("s0/ct.nii.gz"));
        assert_eq!(
            knees[0].truth_dir.as_deref(),
            Some(cohort.join("s0").as_path())
        );
        assert_eq!(
            (knees[0].kl_grade(), knees[0].grade.as_deref()),
            (Some(2), Some("mild"))
        );
    }
}
