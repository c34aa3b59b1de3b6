//! `srrd analyze --manifest FILE --out DIR`: a study's knees in one process, the models
//! loaded once. Each knee goes to `DIR/<subject>/` with a log (`analyze.log`); its
//! `report.json` is written last and atomically, also when the knee fails (`"status":
//! "failed"` with the error), so a cohort table can list the failure and a workflow
//! engine sees the knee as handled. Knees whose folder already holds a finished report
//! are skipped (the run resumes); failed ones are tried again.

use std::path::Path;

use anyhow::Context;

use super::analyze::{KneeInput, models_dir, read_ct_mr, with_progress};
use crate::pipeline::analyze::{Models, Request, analyze_request};
use crate::pipeline::report::{Failure, KneeFolder, Report, ReportContext, write_knee_folder};
use crate::pipeline::study_list::{StudyRow, read_study_list, unlabelled_warning};

/// Sets the worker threads of rayon and libtorch, so jobs sharing a node do not
/// oversubscribe it (call before any parallel work).
pub fn set_threads(threads: usize) -> anyhow::Result<()> {
    anyhow::ensure!(threads >= 1, "--threads 0: expected at least 1");
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("setting the rayon threads")?;
    tch::set_num_threads(threads as i32);
    tch::set_num_interop_threads(1);
    Ok(())
}

/// The rows `--subjects` asks for (all when None), in manifest order; unknown ids are
/// refused by name.
fn chosen(rows: Vec<StudyRow>, subjects: Option<&str>) -> anyhow::Result<Vec<StudyRow>> {
    let Some(list) = subjects else {
        return Ok(rows);
    };
    let wanted: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for w in &wanted {
        anyhow::ensure!(
            rows.iter().any(|r| r.subject == *w),
            "--subjects: {w:?} is not in the manifest"
        );
    }
    Ok(rows
        .into_iter()
        .filter(|r| wanted.contains(&r.subject.as_str()))
        .collect())
}

/// Whether `dir/report.json` is a finished knee.
fn done(dir: &Path) -> bool {
    Report::read(&dir.join("report.json")).is_ok_and(|r| r.status() == "done")
}

/// Runs the knees of `manifest` (those of `subjects`, comma-separated, when given).
pub fn analyze_manifest(
    manifest: &Path,
    subjects: Option<&str>,
    models: Option<&Path>,
    reviews: Option<&Path>,
    out: &Path,
    json_out: bool,
) -> anyhow::Result<()> {
    let rows = chosen(read_study_list(manifest)?, subjects)?;
    if let Some(w) = unlabelled_warning(&rows) {
        eprintln!("warning: {}: {w}", manifest.display());
    }
    if let Some(r) = reviews
        && !r.join("worklist.json").exists()
    {
        anyhow::bail!(
            "--reviews {}: not a worklist folder (no worklist.json; see `srrd view --worklist`)",
            r.display()
        );
    }
    let dir = models_dir(models);
    let out = &std::path::absolute(out).with_context(|| format!("{}", out.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (mut ok, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    with_progress(|p| {
        let m = Models::load(&dir)?;
        for row in &rows {
            p.check()?;
            let knee_out = out.join(&row.subject);
            if done(&knee_out) {
                skipped += 1;
                continue;
            }
            let t0 = std::time::Instant::now();
            let result = (|| -> anyhow::Result<Report> {
                if let Some(missing) = row.missing_files().first() {
                    anyhow::bail!(
                        "manifest row {}: {} does not exist",
                        row.row,
                        missing.display()
                    );
                }
                let (ct, mr, warnings) = read_ct_mr(&KneeInput {
                    ct: &row.ct,
                    mr: row.mr.as_deref(),
                    ct_series: row.ct_series.as_deref(),
                    mr_series: row.mr_series.as_deref(),
                    accept_uneven: false,
                })?;
                for w in &warnings {
                    eprintln!("{}: warning: {w}", row.subject);
                }
                let mr_path = mr.as_ref().and(row.mr.as_ref());
                let (ct, mr) = (ct.volume, mr.map(|m| m.volume));
                // A reader's corrected registration start, when the worklist has one.
                let start_file = reviews
                    .map(|r| {
                        r.join(&row.subject)
                            .join(crate::pipeline::worklist::START_TFM)
                    })
                    .filter(|f| f.exists() && mr.is_some());
                let start = match &start_file {
                    Some(f) => Some(super::register::read_rigid_start(f)?),
                    None => None,
                };
                if let Some(f) = &start_file {
                    eprintln!("{}: registration starts from {}", row.subject, f.display());
                }
                let request = Request {
                    sides: row.side.map(|s| vec![s]),
                    start_mr_from_ct: start,
                };
                let a = analyze_request(&ct, mr.as_ref(), &request, &m, p)
                    .map_err(|e| e.in_file(&row.ct))?
                    .into_iter()
                    .next()
                    .map(|k| k.analysis)
                    .ok_or_else(|| anyhow::anyhow!("{}: no knee analysed", row.ct.display()))?;
                let context = ReportContext {
                    subject: Some(row.subject.clone()),
                    label: row.label.map(|l| l.to_string()),
                    ..ReportContext::new(
                        row.ct.display().to_string(),
                        mr_path.map(|p| p.display().to_string()),
                        &dir,
                        &m,
                    )
                };
                let folder = KneeFolder {
                    out: &knee_out,
                    ct: &ct,
                    context: &context,
                    dicom: None,
                };
                let (report, _) = write_knee_folder(&folder, &a, t0)?;
                // The series choices and other reading warnings stay with the knee.
                let log: String = warnings
                    .iter()
                    .map(|w| format!("warning: {w}\n"))
                    .chain(std::iter::once(report.summary_text()))
                    .collect();
                crate::io::atomic_write(&knee_out.join("analyze.log"), |w| {
                    w.write_all(log.as_bytes())
                })?;
                Ok(report)
            })();
            let (report, line) = match result {
                Ok(report) => {
                    ok += 1;
                    let p_koa = report
                        .results()
                        .and_then(|r| r.koa.as_ref())
                        .map(|k| k.probability);
                    let line = format!(
                        "{}: done in {:.1} s{}",
                        row.subject,
                        t0.elapsed().as_secs_f64(),
                        p_koa
                            .map(|p| format!(", P(KOA) {p:.2}"))
                            .unwrap_or_default()
                    );
                    (report, line)
                }
                Err(e) => {
                    failed += 1;
                    let error = format!("{e:#}");
                    let report = record_failure(&knee_out, row, &error, &dir, t0)
                        .map_err(|w| crate::Error::invalid(format!("{w:#}")))?;
                    (report, format!("{}: FAILED: {error}", row.subject))
                }
            };
            if json_out {
                let json = report.to_json().unwrap_or_default();
                println!("{}", serde_json::to_string(&json).unwrap_or_default());
            } else {
                eprintln!("{line}");
            }
        }
        Ok(())
    })?;
    if !json_out {
        eprintln!(
            "{ok} knees analysed, {failed} failed, {skipped} already done (reports in {})",
            out.display()
        );
    }
    Ok(())
}

/// A failed knee: its log and a `report.json` saying so (atomically, last), returned.
fn record_failure(
    dir: &Path,
    row: &StudyRow,
    error: &str,
    models: &Path,
    t0: std::time::Instant,
) -> anyhow::Result<Report> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join("analyze.log");
    crate::io::atomic_write(&log, |w| {
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
