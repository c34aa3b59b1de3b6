//! `srrd analyze --manifest FILE --out DIR`: a study's knees in one process, the models
//! loaded once, each through `pipeline::study_run` (the worklist's "Analyze accepted
//! cases" runs the same): its folder `DIR/<subject>/`, its log and `report.json`, failed
//! knees recorded, finished ones skipped, rejected registrations CT-only. This file
//! chooses the rows and prints.

use std::path::Path;

use anyhow::Context;

use super::analyze::{models_dir, with_progress};
use crate::pipeline::analyze::Models;
use crate::pipeline::study_list::{StudyRow, read_study_list, unlabelled_warning};
use crate::pipeline::study_run::{StudyRun, analyze_row, check_reviews};

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

/// Runs the knees of `manifest` (those of `subjects`, comma-separated, when given); with
/// `reviews`, a reader's worklist folder, a rejected registration is analysed CT-only
/// unless `use_rejected`.
pub fn analyze_manifest(
    manifest: &Path,
    subjects: Option<&str>,
    models: Option<&Path>,
    reviews: Option<&Path>,
    use_rejected: bool,
    out: &Path,
    json_out: bool,
) -> anyhow::Result<()> {
    let rows = chosen(read_study_list(manifest)?, subjects)?;
    if let Some(w) = unlabelled_warning(&rows) {
        eprintln!("warning: {}: {w}", manifest.display());
    }
    if let Some(r) = reviews {
        check_reviews(r).context("--reviews")?;
    }
    let dir = models_dir(models);
    let out = std::path::absolute(out).with_context(|| format!("{}", out.display()))?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let run = StudyRun {
        out: out.clone(),
        models_dir: dir.clone(),
        reviews: reviews.map(Path::to_path_buf),
        use_rejected,
    };
    let (mut ok, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    with_progress(|p| {
        let m = Models::load(&dir)?;
        for row in &rows {
            let knee = analyze_row(&run, row, &m, p)?;
            match (knee.skipped, knee.report.status()) {
                (true, _) => skipped += 1,
                (false, "done") => ok += 1,
                _ => failed += 1,
            }
            for n in &knee.notes {
                eprintln!("{}: {n}", row.subject);
            }
            if json_out {
                let json = knee.report.to_json().unwrap_or_default();
                println!("{}", serde_json::to_string(&json).unwrap_or_default());
            } else {
                eprintln!("{}", knee.line());
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
