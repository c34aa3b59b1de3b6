//! A reading-room worklist: a study list (the cohort manifest or a folder of subjects)
//! read case by case, with what each reader did kept in an output folder of their own:
//! per case `case.json` (status), `landmarks_ct.json` and `landmarks_mr.json` (the
//! landmark files `srrd tre` reads), `review.json` (the registration review) and
//! `registration_start.tfm` (a corrected rigid start, fixed -> moving), and for the list
//! `worklist.json` (the case the reader was on, the filter). Every file is written under a
//! temporary name and renamed. Files of another case are refused with their path.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::study_list::{StudyRow, read_study_list};
use srrd_base::error::{Error, Result};
use srrd_base::io::landmarks::Landmark;
use srrd_base::volume::RigidTransform;

/// Format tag of `case.json`.
pub const CASE_FORMAT: &str = "srrd-case/1";
/// Format tag of `review.json`.
pub const REVIEW_FORMAT: &str = "srrd-review/1";
/// Format tag of `worklist.json`.
pub const WORKLIST_FORMAT: &str = "srrd-worklist/1";
/// The corrected registration start of a case, in its folder.
pub const START_TFM: &str = "registration_start.tfm";

/// Where a reader is with a case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    #[default]
    NotStarted,
    InProgress,
    Done,
    /// Needs another look (a registration to fix, an image problem).
    Flagged,
}

impl CaseStatus {
    /// All statuses, in the order the filter lists them.
    pub const ALL: [CaseStatus; 4] = [
        CaseStatus::NotStarted,
        CaseStatus::InProgress,
        CaseStatus::Done,
        CaseStatus::Flagged,
    ];

    /// As the list shows it.
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::NotStarted => "not started",
            CaseStatus::InProgress => "in progress",
            CaseStatus::Done => "done",
            CaseStatus::Flagged => "flagged",
        }
    }
}

/// A radiologist's verdict on a case's MR-CT registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Reject,
    NeedsFix,
}

impl Decision {
    /// All decisions, as the review panel offers them.
    pub const ALL: [Decision; 3] = [Decision::Accept, Decision::Reject, Decision::NeedsFix];

    /// As the panel and the CSV write it.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Accept => "accept",
            Decision::Reject => "reject",
            Decision::NeedsFix => "needs fix",
        }
    }

    /// The case status a decision leaves: accepted or rejected is done, a fix pending
    /// is flagged.
    pub fn status(self) -> CaseStatus {
        match self {
            Decision::Accept | Decision::Reject => CaseStatus::Done,
            Decision::NeedsFix => CaseStatus::Flagged,
        }
    }
}

/// The registration review of one case (`review.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub format: String,
    /// The case it belongs to: a review of another case is refused.
    pub subject: String,
    pub ct: PathBuf,
    pub decision: Option<Decision>,
    pub comment: String,
    /// Whether the registration reviewed started from a corrected start
    /// ([`START_TFM`] in the case folder).
    pub corrected_start: bool,
    /// Seconds since the Unix epoch of the last change.
    pub updated_unix_s: u64,
}

/// The status file of one case (`case.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseFile {
    pub format: String,
    pub subject: String,
    pub ct: PathBuf,
    pub status: CaseStatus,
    /// Per image (CT, MR): protocol landmarks the reader marked as cannot be placed.
    #[serde(default)]
    pub unplaceable: [Vec<String>; 2],
    /// Per image (CT, MR) in a DICOM folder: the series or part (`UID#k`) the reader
    /// chose, when not the default one.
    #[serde(default)]
    pub series: [Option<String>; 2],
    pub updated_unix_s: u64,
}

/// What the reader did with one case, as kept in its folder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseWork {
    pub status: CaseStatus,
    /// Landmarks on the CT (fixed) and the MR (moving).
    pub landmarks: [Vec<Landmark>; 2],
    pub review: Option<Review>,
    /// A corrected registration start, `mr_from_ct` (ITK's fixed -> moving).
    pub start_mr_from_ct: Option<RigidTransform>,
    /// Per image (CT, MR): protocol landmarks that cannot be placed.
    pub unplaceable: [Vec<String>; 2],
    /// Per image (CT, MR): the series or part of a DICOM folder the reader chose.
    pub series: [Option<String>; 2],
}

/// Where the reader was (`worklist.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListState {
    pub format: String,
    /// The study list this folder belongs to.
    pub list: PathBuf,
    /// The subject open when the reader left.
    pub current: Option<String>,
    /// Statuses shown (empty: all).
    pub show: Vec<CaseStatus>,
    /// Shows only subjects containing this text.
    pub search: String,
    /// Blinded placement: the other image's points and the TRE stay hidden.
    #[serde(default)]
    pub blinded: bool,
}

/// A study list opened for reading, with the reader's output folder.
#[derive(Clone, Debug)]
pub struct Worklist {
    pub list: PathBuf,
    pub out_dir: PathBuf,
    pub rows: Vec<StudyRow>,
    /// Each case's status, kept in step with its `case.json`.
    pub status: Vec<CaseStatus>,
    /// Per case, why its saved work cannot be used (a file of another case, a file
    /// that does not parse); None when fine.
    pub problems: Vec<Option<String>>,
    pub state: ListState,
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::file(path, e.to_string()))?;
    srrd_base::io::atomic_write(path, |w| w.write_all(text.as_bytes()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::file(path, format!("not readable: {e}")))
}

/// Refuses a file written for another case (its subject or CT differ from the row's).
fn check_owner(
    path: &Path,
    format: &str,
    want: &str,
    subject: &str,
    ct: &Path,
    row: &StudyRow,
) -> Result<()> {
    if format != want {
        return Err(Error::file(
            path,
            format!("format {format:?}, expected {want:?}"),
        ));
    }
    if subject != row.subject || ct != row.ct {
        return Err(Error::file(
            path,
            format!(
                "belongs to case {subject:?} ({}), not to {:?} ({}): refused",
                ct.display(),
                row.subject,
                row.ct.display()
            ),
        ));
    }
    Ok(())
}

impl Worklist {
    /// Opens a study list with `out_dir` for the reader's work (created if needed),
    /// restoring the statuses and the place saved there. A folder that already belongs
    /// to another list is refused.
    pub fn open(list: &Path, out_dir: &Path) -> Result<Worklist> {
        let rows = read_study_list(list)?;
        let list = std::path::absolute(list).map_err(|e| Error::io(list, e))?;
        std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
        let state_path = out_dir.join("worklist.json");
        let state = if state_path.exists() {
            let s: ListState = read_json(&state_path)?;
            if s.format != WORKLIST_FORMAT {
                return Err(Error::file(
                    &state_path,
                    format!("format {:?}, expected {WORKLIST_FORMAT:?}", s.format),
                ));
            }
            if s.list != list {
                return Err(Error::file(
                    &state_path,
                    format!(
                        "this folder holds the work on {}, not on {}: choose another output folder",
                        s.list.display(),
                        list.display()
                    ),
                ));
            }
            s
        } else {
            // The folder is claimed for this list at once.
            let s = ListState {
                format: WORKLIST_FORMAT.into(),
                list: list.clone(),
                current: rows.first().map(|r| r.subject.clone()),
                show: Vec::new(),
                search: String::new(),
                blinded: false,
            };
            write_json(&state_path, &s)?;
            s
        };
        let mut wl = Worklist {
            list,
            out_dir: out_dir.to_path_buf(),
            status: vec![CaseStatus::NotStarted; rows.len()],
            problems: vec![None; rows.len()],
            rows,
            state,
        };
        for i in 0..wl.rows.len() {
            match wl.load_case(i) {
                Ok(w) => wl.status[i] = w.status,
                Err(e) => wl.problems[i] = Some(e.to_string()),
            }
        }
        Ok(wl)
    }

    /// The folder of case `i`'s files.
    pub fn case_dir(&self, i: usize) -> PathBuf {
        self.out_dir.join(&self.rows[i].subject)
    }

    /// The index of the case the reader was on (the first when none).
    pub fn current(&self) -> usize {
        self.state
            .current
            .as_ref()
            .and_then(|s| self.rows.iter().position(|r| &r.subject == s))
            .unwrap_or(0)
    }

    /// Whether case `i` passes the filter.
    pub fn shown(&self, i: usize) -> bool {
        let s = &self.state;
        (s.show.is_empty() || s.show.contains(&self.status[i]))
            && (s.search.is_empty()
                || self.rows[i]
                    .subject
                    .to_lowercase()
                    .contains(&s.search.to_lowercase()))
    }

    /// The next (`step` 1) or previous (-1) case that passes the filter, from `from`.
    pub fn step(&self, from: usize, step: isize) -> Option<usize> {
        let n = self.rows.len() as isize;
        let mut i = from as isize + step;
        while (0..n).contains(&i) {
            if self.shown(i as usize) {
                return Some(i as usize);
            }
            i += step;
        }
        None
    }

    /// Counts per status (in [`CaseStatus::ALL`]'s order).
    pub fn counts(&self) -> [usize; 4] {
        let mut c = [0; 4];
        for s in &self.status {
            if let Some(k) = CaseStatus::ALL.iter().position(|x| x == s) {
                c[k] += 1;
            }
        }
        c
    }

    /// Reads what was saved for case `i` (nothing saved: an empty, not-started case).
    /// A file of another case, or one that does not parse, is an error naming it.
    pub fn load_case(&self, i: usize) -> Result<CaseWork> {
        let row = &self.rows[i];
        let dir = self.case_dir(i);
        let mut work = CaseWork::default();
        let case_path = dir.join("case.json");
        if case_path.exists() {
            let c: CaseFile = read_json(&case_path)?;
            check_owner(&case_path, &c.format, CASE_FORMAT, &c.subject, &c.ct, row)?;
            work.status = c.status;
            work.unplaceable = c.unplaceable;
            work.series = c.series;
        }
        for (n, name) in ["landmarks_ct.json", "landmarks_mr.json"]
            .iter()
            .enumerate()
        {
            let p = dir.join(name);
            if p.exists() {
                work.landmarks[n] = srrd_base::io::read_landmarks(&p)?;
            }
        }
        (work.review, work.start_mr_from_ct) = read_registration_review(&dir, row)?;
        Ok(work)
    }

    /// Saves case `i`'s work into its folder (each file atomically) and its status in
    /// the list. A review is stamped with the case it belongs to.
    pub fn save_case(&mut self, i: usize, work: &CaseWork) -> Result<()> {
        let row = self.rows[i].clone();
        let dir = self.case_dir(i);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let now = now_unix_s();
        write_json(
            &dir.join("case.json"),
            &CaseFile {
                format: CASE_FORMAT.into(),
                subject: row.subject.clone(),
                ct: row.ct.clone(),
                status: work.status,
                unplaceable: work.unplaceable.clone(),
                series: work.series.clone(),
                updated_unix_s: now,
            },
        )?;
        for (n, name) in ["landmarks_ct.json", "landmarks_mr.json"]
            .iter()
            .enumerate()
        {
            let p = dir.join(name);
            if !work.landmarks[n].is_empty() || p.exists() {
                srrd_base::io::write_landmarks(&p, &work.landmarks[n])?;
            }
        }
        if let Some(r) = &work.review {
            let mut r = r.clone();
            r.format = REVIEW_FORMAT.into();
            r.subject = row.subject.clone();
            r.ct = row.ct.clone();
            r.corrected_start = work.start_mr_from_ct.is_some();
            r.updated_unix_s = now;
            write_json(&dir.join("review.json"), &r)?;
        }
        let tfm = dir.join(START_TFM);
        match &work.start_mr_from_ct {
            Some(t) => srrd_base::io::transform_file::write_rigid(&tfm, t)?,
            None if tfm.exists() => std::fs::remove_file(&tfm).map_err(|e| Error::io(&tfm, e))?,
            None => {}
        }
        self.status[i] = work.status;
        self.problems[i] = None;
        Ok(())
    }

    /// Remembers the case the reader is on and the filter (`worklist.json`).
    pub fn save_state(&mut self, current: usize) -> Result<()> {
        self.state.current = self.rows.get(current).map(|r| r.subject.clone());
        write_json(&self.out_dir.join("worklist.json"), &self.state)
    }

    /// One CSV of every case's review: subject, status, decision, comment, whether the
    /// start was corrected, and the review's time. Cases without a review have empty
    /// fields; a case whose files are refused says why in the comment column.
    pub fn export_reviews(&self, path: &Path) -> Result<usize> {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut text =
            String::from("subject,status,decision,comment,corrected_start,updated_unix_s\n");
        let mut reviewed = 0;
        for i in 0..self.rows.len() {
            let subject = quote(&self.rows[i].subject);
            match self.load_case(i) {
                Ok(w) => {
                    let (d, c, s, t) = match &w.review {
                        Some(r) => {
                            if r.decision.is_some() {
                                reviewed += 1;
                            }
                            (
                                r.decision.map(|d| d.label()).unwrap_or(""),
                                r.comment.as_str(),
                                r.corrected_start.to_string(),
                                r.updated_unix_s.to_string(),
                            )
                        }
                        None => ("", "", String::new(), String::new()),
                    };
                    text.push_str(&format!(
                        "{subject},{},{d},{},{s},{t}\n",
                        w.status.label(),
                        quote(c)
                    ));
                }
                Err(e) => text.push_str(&format!("{subject},,,{},,\n", quote(&e.to_string()))),
            }
        }
        srrd_base::io::atomic_write(path, |w| w.write_all(text.as_bytes()))?;
        Ok(reviewed)
    }
}

/// The registration review of case `row` kept in its folder `case_dir` (a reader's
/// folder joined with the subject), and its corrected start (`mr_from_ct`), each None
/// when not there. A review of another case, or a start that is not rigid, is an error
/// naming the file.
pub fn read_registration_review(
    case_dir: &Path,
    row: &StudyRow,
) -> Result<(Option<Review>, Option<RigidTransform>)> {
    let review_path = case_dir.join("review.json");
    let review = if review_path.exists() {
        let r: Review = read_json(&review_path)?;
        check_owner(
            &review_path,
            &r.format,
            REVIEW_FORMAT,
            &r.subject,
            &r.ct,
            row,
        )?;
        Some(r)
    } else {
        None
    };
    let tfm = case_dir.join(START_TFM);
    let start = if tfm.exists() {
        let t = srrd_base::io::transform_file::read_transform(&tfm)?;
        Some(t.as_rigid().ok_or_else(|| {
            Error::file(
                &tfm,
                "not a rigid transform (a registration start is rigid)",
            )
        })?)
    } else {
        None
    };
    Ok((review, start))
}

/// An empty review of case `row`, to be filled in.
pub fn new_review(row: &StudyRow) -> Review {
    Review {
        format: REVIEW_FORMAT.into(),
        subject: row.subject.clone(),
        ct: row.ct.clone(),
        decision: None,
        comment: String::new(),
        corrected_start: false,
        updated_unix_s: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(dir: &Path, n: usize) -> PathBuf {
        let mut csv = String::from("subject,ct,mr\n");
        for k in 0..n {
            std::fs::write(dir.join(format!("ct{k}.nii.gz")), b"x").expect("write");
            csv.push_str(&format!("knee{k},ct{k}.nii.gz,\n"));
        }
        let p = dir.join("study.csv");
        std::fs::write(&p, csv).expect("write");
        p
    }

    #[test]
    fn work_survives_reopening_and_filters_step_over_cases() {
        let dir = tempfile::tempdir().expect("tmp");
        let list = study(dir.path(), 4);
        let out = dir.path().join("reader");
        let mut wl = Worklist::open(&list, &out).expect("open");
        assert_eq!(wl.current(), 0);
        let mut w = CaseWork {
            status: CaseStatus::InProgress,
            ..Default::default()
        };
        w.landmarks[0].push(Landmark {
            label: "a".into(),
            position_mm: [1.0, 2.0, 3.0],
        });
        let mut r = new_review(&wl.rows[1]);
        r.decision = Some(Decision::NeedsFix);
        r.comment = "MR turned, \"half a turn\"".into();
        w.review = Some(r);
        w.start_mr_from_ct = Some(RigidTransform::from_euler_zxy(
            [0.0, 0.0, std::f64::consts::PI],
            nalgebra::Vector3::new(1.0, 2.0, 3.0),
            nalgebra::Point3::new(10.0, 0.0, 0.0),
        ));
        w.status = Decision::NeedsFix.status();
        w.series = [Some("1.2.3#2".into()), None];
        wl.save_case(1, &w).expect("save");
        wl.state.show = vec![CaseStatus::Flagged];
        wl.save_state(1).expect("state");

        let wl = Worklist::open(&list, &out).expect("reopen");
        assert_eq!(wl.current(), 1);
        assert_eq!(wl.status[1], CaseStatus::Flagged);
        assert_eq!(wl.counts(), [3, 0, 0, 1]);
        let back = wl.load_case(1).expect("load");
        assert_eq!(back.landmarks[0], w.landmarks[0]);
        assert_eq!(back.series, [Some("1.2.3#2".to_string()), None]);
        assert_eq!(
            back.review.as_ref().and_then(|r| r.decision),
            Some(Decision::NeedsFix)
        );
        let t = back.start_mr_from_ct.expect("start");
        let p = nalgebra::Point3::new(5.0, -7.0, 2.0);
        use srrd_base::volume::PointTransform;
        let want = w
            .start_mr_from_ct
            .as_ref()
            .expect("start")
            .transform_point(&p);
        assert!((t.transform_point(&p) - want).norm() < 1e-6);
        // Only the flagged case passes the filter.
        assert_eq!(wl.step(0, 1), Some(1));
        assert_eq!(wl.step(1, 1), None);
        assert_eq!(wl.step(3, -1), Some(1));

        let csv = out.join("reviews.csv");
        assert_eq!(wl.export_reviews(&csv).expect("csv"), 1);
        let text = std::fs::read_to_string(&csv).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(
            lines[2]
                .starts_with("knee1,flagged,needs fix,\"MR turned, \"\"half a turn\"\"\",true,")
        );
        assert!(lines[1].starts_with("knee0,not started,,"));
    }

    #[test]
    fn a_review_of_another_case_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let list = study(dir.path(), 2);
        let out = dir.path().join("reader");
        let mut wl = Worklist::open(&list, &out).expect("open");
        let w = CaseWork {
            review: Some(new_review(&wl.rows[0])),
            ..Default::default()
        };
        wl.save_case(0, &w).expect("save");
        // Someone copies knee0's review into knee1's folder.
        std::fs::create_dir_all(wl.case_dir(1)).expect("dir");
        std::fs::copy(
            wl.case_dir(0).join("review.json"),
            wl.case_dir(1).join("review.json"),
        )
        .expect("copy");
        let wl = Worklist::open(&list, &out).expect("reopen");
        let problem = wl.problems[1].clone().expect("refused");
        assert!(problem.contains("knee1/review.json"), "{problem}");
        assert!(problem.contains("belongs to case \"knee0\""), "{problem}");
        assert!(wl.problems[0].is_none());
        // Another list's folder is refused.
        let other = dir.path().join("other.csv");
        std::fs::copy(&list, &other).expect("copy");
        let e = Worklist::open(&other, &out).expect_err("other list");
        assert!(e.to_string().contains("worklist.json"), "{e}");
    }
}
