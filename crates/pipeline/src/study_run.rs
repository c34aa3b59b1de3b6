//! A study's knees analysed one after another with the models loaded once: what `srrd
//! analyze --manifest` and the worklist's "Analyze accepted cases" both run. Each knee
//! goes to `OUT/<subject>/` with a log (`analyze.log`); its `report.json` is written last
//! and atomically, also when the knee fails (`"status": "failed"` with the error), so a
//! cohort table can list the failure and a workflow engine sees the knee as handled.
//! Knees whose folder already holds a finished report of the same inputs are skipped (the
//! run resumes); failed ones are tried again. With a reader's worklist folder, a knee's
//! registration starts from the reader's corrected start, and a knee whose registration
//! the reader rejected is analysed CT-only (its report says why) unless `use_rejected`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::volume::RigidTransform;

use crate::analyze::{Models, Request, analyze_request};
use crate::knee_input::{KneeInput, read_ct_mr};
use crate::report::{Failure, KneeFolder, Report, ReportContext, write_knee_folder};
use crate::study_list::StudyRow;
use crate::worklist::{Decision, read_registration_review};

/// Where and how a study's knees are analysed.
#[derive(Clone, Debug)]
pub struct StudyRun {
    /// The results folder (absolute): each knee in `out/<subject>`.
    pub out: PathBuf,
    /// The models folder the [`Models`] were loaded from (for the reports).
    pub models_dir: PathBuf,
    /// A reader's worklist folder (`srrd view --worklist`): corrected starts, reviews.
    pub reviews: Option<PathBuf>,
    /// Use the MR of a knee whose registration the reader rejected (default: CT-only).
    pub use_rejected: bool,
}

/// How a knee's MR enters its analysis, as the reader's folder has it.
#[derive(Clone, Debug, PartialEq)]
pub enum MrUse {
    /// The MR is used (when the row has one), its registration starting from the
    /// reader's corrected start (`mr_from_ct`, and the file it came from) when there is
    /// one.
    Used {
        start_mr_from_ct: Option<RigidTransform>,
        start_file: Option<PathBuf>,
    },
    /// The reader rejected the registration: CT-only, for this reason.
    Rejected(String),
}

/// One knee of a run, as it ended.
#[derive(Clone, Debug)]
pub struct KneeOutcome {
    pub subject: String,
    /// The knee's report: the new one, or the finished one found (`skipped`).
    pub report: Report,
    /// A finished report of the same inputs was there: nothing was run.
    pub skipped: bool,
    pub seconds: f64,
    /// Lines for the user: reading warnings, where the registration started, why the MR
    /// was left out.
    pub notes: Vec<String>,
}

impl KneeOutcome {
    /// One line for a log or a list: done (with P(KOA) or why it was withheld), failed
    /// (with the error) or already done.
    pub fn line(&self) -> String {
        let s = &self.subject;
        if let Some(f) = match &self.report.outcome {
            crate::report::Outcome::Failed(f) => Some(f),
            crate::report::Outcome::Done(_) => None,
        } {
            return format!("{s}: FAILED: {}", f.error);
        }
        let verdict = result_status(&self.report);
        if self.skipped {
            format!("{s}: already done, {verdict}")
        } else {
            format!("{s}: done in {:.1} s, {verdict}", self.seconds)
        }
    }
}

/// A report's result in a few words, as a list row shows it: `P(KOA) 0.73`, `withheld`
/// or `failed`, then the worst quality check when one did not pass (`; worst check:
/// fail calibration`), and `; CT-only` when the MR was left out.
pub fn result_status(report: &Report) -> String {
    let Some(r) = report.results() else {
        return "failed".into();
    };
    let mut s = match &r.koa {
        Some(k) => format!("P(KOA) {:.2}", k.probability),
        None if r.koa_withheld.is_some() => "withheld".into(),
        None => "no classifier".into(),
    };
    let rank = |c: &crate::quality::Check| match c.status {
        crate::quality::Status::Pass => 0,
        crate::quality::Status::Warn => 1,
        crate::quality::Status::Fail => 2,
    };
    if let Some(worst) = r
        .checks
        .iter()
        .filter(|c| rank(c) > 0)
        .max_by_key(|c| rank(c))
    {
        s += &format!("; worst check: {} {}", worst.status.name(), worst.name);
    }
    if report.mr_not_used.is_some() {
        s += "; CT-only";
    }
    s
}

/// Refuses a folder that is not a reader's worklist folder.
pub fn check_reviews(reviews: &Path) -> Result<()> {
    if reviews.join("worklist.json").exists() {
        Ok(())
    } else {
        Err(Error::file(
            reviews,
            "not a worklist folder (no worklist.json; see `srrd view --worklist`)",
        ))
    }
}

/// How knee `row`'s MR enters its analysis under `run`'s reviews.
pub fn mr_use(run: &StudyRun, row: &StudyRow) -> Result<MrUse> {
    let Some(reviews) = &run.reviews else {
        return Ok(MrUse::Used {
            start_mr_from_ct: None,
            start_file: None,
        });
    };
    let dir = reviews.join(&row.subject);
    let (review, start) = read_registration_review(&dir, row)?;
    let rejected = review
        .as_ref()
        .is_some_and(|r| r.decision == Some(Decision::Reject));
    if rejected && row.mr.is_some() && !run.use_rejected {
        return Ok(MrUse::Rejected(format!(
            "the reader rejected the MR-CT registration of {} ({}); the MR is not used",
            row.subject,
            dir.join("review.json").display()
        )));
    }
    let start_file = start.as_ref().map(|_| dir.join(crate::worklist::START_TFM));
    Ok(MrUse::Used {
        start_mr_from_ct: start,
        start_file,
    })
}

/// The finished report in `dir` when it was made the same way: CT-only for a rejected
/// registration, else not (a knee analysed with an MR that is now rejected, or CT-only
/// and now asked with `use_rejected`, is run again).
fn finished(dir: &Path, rejected: bool) -> Option<Report> {
    let r = Report::read(&dir.join("report.json")).ok()?;
    (r.status() == "done" && r.mr_not_used.is_some() == rejected).then_some(r)
}

/// Analyses knee `row` into `run.out/<subject>` (or finds it done). A failed knee is
/// recorded as failed (its report and log) and returned; only a cancelled run, or a
/// failure that cannot even be recorded, is an error.
pub fn analyze_row(
    run: &StudyRun,
    row: &StudyRow,
    models: &Models,
    progress: &Progress,
) -> Result<KneeOutcome> {
    progress.check()?;
    let t0 = Instant::now();
    let knee_out = run.out.join(&row.subject);
    let mut notes = Vec::new();
    let result = (|| -> Result<(Report, bool)> {
        let how = mr_use(run, row)?;
        let mr_path = match &how {
            MrUse::Rejected(_) => None,
            MrUse::Used { .. } => row.mr.as_deref(),
        };
        if let Some(r) = finished(&knee_out, matches!(how, MrUse::Rejected(_))) {
            return Ok((r, true));
        }
        if let Some(missing) = std::iter::once(row.ct.as_path())
            .chain(mr_path)
            .find(|p| !p.exists())
        {
            return Err(Error::invalid(format!(
                "manifest row {}: {} does not exist",
                row.row,
                missing.display()
            )));
        }
        let (ct, mr, warnings) = read_ct_mr(&KneeInput {
            ct: &row.ct,
            mr: mr_path,
            ct_series: row.ct_series.as_deref(),
            mr_series: row.mr_series.as_deref(),
            accept_uneven: false,
        })?;
        notes.extend(warnings.iter().map(|w| format!("warning: {w}")));
        let mr_used = mr.as_ref().and(mr_path);
        let (ct, mr) = (ct.volume, mr.map(|m| m.volume));
        let (start, mr_not_used) = match how {
            MrUse::Rejected(why) => {
                notes.push(format!("CT-only: {why}"));
                (None, Some(why))
            }
            MrUse::Used {
                start_mr_from_ct,
                start_file,
            } => {
                let start = start_mr_from_ct.filter(|_| mr.is_some());
                if let (Some(_), Some(f)) = (&start, start_file) {
                    notes.push(format!("registration starts from {}", f.display()));
                }
                (start, None)
            }
        };
        let request = Request {
            sides: row.side.map(|s| vec![s]),
            start_mr_from_ct: start,
        };
        let a = analyze_request(&ct, mr.as_ref(), &request, models, progress)
            .map_err(|e| e.in_file(&row.ct))?
            .into_iter()
            .next()
            .map(|k| k.analysis)
            .ok_or_else(|| Error::file(&row.ct, "no knee analysed"))?;
        let context = ReportContext {
            subject: Some(row.subject.clone()),
            label: row.label.map(|l| l.to_string()),
            mr_not_used,
            ..ReportContext::new(
                row.ct.display().to_string(),
                mr_used.map(|p| p.display().to_string()),
                &run.models_dir,
                models,
            )
        };
        let folder = KneeFolder {
            out: &knee_out,
            ct: &ct,
            context: &context,
            dicom: None,
        };
        let (report, _) = write_knee_folder(&folder, &a, t0)?;
        // The series choices and other notes stay with the knee.
        let log: String = notes
            .iter()
            .map(|n| format!("{n}\n"))
            .chain(std::iter::once(report.summary_text()))
            .collect();
        srrd_base::io::atomic_write(&knee_out.join("analyze.log"), |w| {
            w.write_all(log.as_bytes())
        })?;
        Ok((report, false))
    })();
    let (report, skipped) = match result {
        Ok(r) => r,
        Err(Error::Cancelled) => return Err(Error::Cancelled),
        Err(_) if progress.is_cancelled() => return Err(Error::Cancelled),
        Err(e) => (
            record_failure(&knee_out, row, &e.to_string(), &run.models_dir, t0)?,
            false,
        ),
    };
    Ok(KneeOutcome {
        subject: row.subject.clone(),
        report,
        skipped,
        seconds: t0.elapsed().as_secs_f64(),
        notes,
    })
}

/// A failed knee: its log and a `report.json` saying so (atomically, last), returned.
fn record_failure(
    dir: &Path,
    row: &StudyRow,
    error: &str,
    models: &Path,
    t0: Instant,
) -> Result<Report> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let log = dir.join("analyze.log");
    srrd_base::io::atomic_write(&log, |w| {
        w.write_all(format!("subject {}: FAILED\n{error}\n", row.subject).as_bytes())
    })?;
    let context = ReportContext {
        ct: row.ct.display().to_string(),
        mr: row.mr.as_ref().map(|p| p.display().to_string()),
        models_dir: models.to_path_buf(),
        provenance: String::new(),
        model_summary: Vec::new(),
        classifier_note: None,
        subject: Some(row.subject.clone()),
        label: row.label.map(|l| l.to_string()),
        mr_not_used: None,
    };
    let failure = Failure {
        manifest_row: row.row,
        error: error.to_string(),
        log: log.display().to_string(),
    };
    let report = Report::failed(&context, failure, t0.elapsed().as_secs_f64());
    report.write(&dir.join("report.json"))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worklist::{CaseWork, Worklist, new_review};

    /// A rejected review makes the MR CT-only (with the review's path in the reason),
    /// `use_rejected` keeps it, an accepted one keeps it with its corrected start.
    #[test]
    fn a_rejected_review_leaves_the_mr_out() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let mut csv = String::from("subject,ct,mr\n");
        for k in 0..2 {
            for f in ["ct", "mr"] {
                std::fs::write(d.join(format!("{f}{k}.nii.gz")), b"x").expect("write");
            }
            csv.push_str(&format!("knee{k},ct{k}.nii.gz,mr{k}.nii.gz\n"));
        }
        let list = d.join("study.csv");
        std::fs::write(&list, csv).expect("csv");
        let reader = d.join("reader");
        let mut wl = Worklist::open(&list, &reader).expect("open");
        for (i, decision) in [Decision::Reject, Decision::Accept].into_iter().enumerate() {
            let mut r = new_review(&wl.rows[i]);
            r.decision = Some(decision);
            let work = CaseWork {
                status: decision.status(),
                review: Some(r),
                start_mr_from_ct: (i == 1).then(|| {
                    RigidTransform::from_euler_zxy(
                        [0.0, 0.0, 0.1],
                        nalgebra::Vector3::new(1.0, 0.0, 0.0),
                        nalgebra::Point3::origin(),
                    )
                }),
                ..Default::default()
            };
            wl.save_case(i, &work).expect("save");
        }
        let mut run = StudyRun {
            out: d.join("out"),
            models_dir: d.to_path_buf(),
            reviews: Some(reader.clone()),
            use_rejected: false,
        };
        match mr_use(&run, &wl.rows[0]).expect("knee0") {
            MrUse::Rejected(why) => {
                assert!(why.contains("rejected"), "{why}");
                assert!(why.contains("knee0/review.json"), "{why}");
            }
            other => panic!("knee0 should be CT-only: {other:?}"),
        }
        match mr_use(&run, &wl.rows[1]).expect("knee1") {
            MrUse::Used {
                start_mr_from_ct: Some(_),
                start_file: Some(f),
            } => assert!(f.ends_with("knee1/registration_start.tfm")),
            other => panic!("knee1 uses its MR from its start: {other:?}"),
        }
        run.use_rejected = true;
        assert!(matches!(
            mr_use(&run, &wl.rows[0]).expect("knee0"),
            MrUse::Used { .. }
        ));
        run.reviews = None;
        assert!(matches!(
            mr_use(&run, &wl.rows[0]).expect("knee0"),
            MrUse::Used { .. }
        ));
        let e = check_reviews(d).expect_err("not a worklist folder");
        assert!(e.to_string().contains("worklist.json"), "{e}");
        check_reviews(&reader).expect("a worklist folder");
    }
}
