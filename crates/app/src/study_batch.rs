//! The worklist's batch: a study's cases analysed in the background with
//! `pipeline::study_run` (what `srrd analyze --manifest M --reviews READER --out DIR`
//! runs), the models loaded once, with progress over the study (case n of N and the
//! stage within it) and cancel. Results land in the reader's `results/` folder, one
//! `<subject>/report.json` per case as the CLI writes them, so the cohort report reads
//! them; each case's result status comes back for the list.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;

use srrd_base::progress::Progress;
use srrd_pipeline::analyze::Models;
use srrd_pipeline::report::Report;
use srrd_pipeline::study_list::StudyRow;
use srrd_pipeline::study_run::{KneeOutcome, StudyRun, analyze_row, result_status};

/// Which cases a batch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Cases whose registration the reader decided on: accepted (with the MR, from the
    /// corrected start) and rejected (CT-only).
    Accepted,
    /// Every case (a rejected registration still CT-only).
    All,
}

/// What the worker says.
enum BatchEvent {
    /// The batch's `n`-th case (from 0) started.
    Started { n: usize },
    /// Case `i` ended.
    Finished {
        case: usize,
        outcome: Box<KneeOutcome>,
    },
    /// The batch ended: a summary line, or why it stopped.
    Ended(Result<String, String>),
}

/// A batch running in the background.
struct Running {
    rx: Receiver<BatchEvent>,
    progress: Arc<Progress>,
    total: usize,
    /// The batch's case running now (1-based; 0 while the models load).
    current: usize,
}

/// The worklist's batch: the one running, if any, and the last one's line.
#[derive(Default)]
pub struct StudyBatch {
    running: Option<Running>,
    /// What the last batch did (or why it stopped).
    pub last: Option<String>,
}

/// Where the worklist's batch writes: `results/` in the reader's folder.
pub fn results_dir(reader_dir: &Path) -> PathBuf {
    reader_dir.join("results")
}

/// The result status of case `subject` in `results` ("P(KOA) 0.73; worst check: warn
/// spacing"), when it has a report there.
pub fn case_result(results: &Path, subject: &str) -> Option<String> {
    let report = Report::read(&results.join(subject).join("report.json")).ok()?;
    Some(result_status(&report))
}

impl StudyBatch {
    /// Whether a batch is running.
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts analysing `cases` (study list indices of `rows`) in the background with the
    /// models in `models_dir`, the reader's reviews in `reader_dir`, into its
    /// [`results_dir`].
    pub fn start(
        &mut self,
        rows: &[StudyRow],
        cases: Vec<usize>,
        reader_dir: &Path,
        models_dir: PathBuf,
    ) {
        if self.running() {
            return;
        }
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        let run = StudyRun {
            out: results_dir(reader_dir),
            models_dir,
            reviews: Some(reader_dir.to_path_buf()),
            use_rejected: false,
        };
        let rows: Vec<(usize, StudyRow)> = cases
            .iter()
            .filter_map(|&i| Some((i, rows.get(i)?.clone())))
            .collect();
        let total = rows.len();
        std::thread::spawn(move || {
            let ended = (|| -> Result<String, String> {
                worker.start("loading the models", 1);
                let models = Models::load(&run.models_dir)
                    .map_err(|e| format!("loading the models: {e}"))?;
                std::fs::create_dir_all(&run.out)
                    .map_err(|e| format!("{}: {e}", run.out.display()))?;
                let (mut done, mut failed, mut skipped) = (0, 0, 0);
                for (n, (case, row)) in rows.iter().enumerate() {
                    let _ = tx.send(BatchEvent::Started { n });
                    let outcome =
                        analyze_row(&run, row, &models, &worker).map_err(|e| match e {
                            srrd_base::error::Error::Cancelled => format!(
                                "cancelled after {n} of {} cases (results in {})",
                                rows.len(),
                                run.out.display()
                            ),
                            e => e.to_string(),
                        })?;
                    match (outcome.skipped, outcome.report.status()) {
                        (true, _) => skipped += 1,
                        (false, "done") => done += 1,
                        _ => failed += 1,
                    }
                    let _ = tx.send(BatchEvent::Finished {
                        case: *case,
                        outcome: Box::new(outcome),
                    });
                }
                Ok(format!(
                    "{done} cases analysed, {failed} failed, {skipped} already done (results in {})",
                    run.out.display()
                ))
            })();
            let _ = tx.send(BatchEvent::Ended(ended));
        });
        self.last = None;
        self.running = Some(Running {
            rx,
            progress,
            total,
            current: 0,
        });
    }

    /// Takes in what the worker said: each case finished, as (study list index, its
    /// result status, its line).
    pub fn poll(&mut self) -> Vec<(usize, String, String)> {
        let mut finished = Vec::new();
        let Some(r) = &mut self.running else {
            return finished;
        };
        let mut ended = None;
        while let Ok(event) = r.rx.try_recv() {
            match event {
                BatchEvent::Started { n } => r.current = n + 1,
                BatchEvent::Finished { case, outcome } => {
                    finished.push((case, result_status(&outcome.report), outcome.line()));
                }
                BatchEvent::Ended(e) => ended = Some(e),
            }
        }
        if let Some(e) = ended {
            self.last = Some(match e {
                Ok(line) | Err(line) => line,
            });
            self.running = None;
        }
        finished
    }

    /// The batch's progress over the study, the stage of the case running, and Cancel;
    /// or the last batch's line.
    pub fn ui(&self, ui: &mut egui::Ui) {
        match &self.running {
            Some(r) => {
                let n = r.current;
                let study = (n.saturating_sub(1) as f32 + r.progress.fraction() as f32)
                    / r.total.max(1) as f32;
                ui.add(
                    egui::ProgressBar::new(study)
                        .text(format!("case {n} of {}", r.total))
                        .desired_width(220.0),
                );
                super::jobs::progress_ui(ui, &r.progress);
            }
            None => {
                if let Some(line) = &self.last {
                    ui.small(line.as_str());
                }
            }
        }
    }
}
