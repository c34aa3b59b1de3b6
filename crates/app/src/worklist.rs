//! The worklist part: a study read case by case (`srrd view --worklist`), the open case,
//! its status and review, and autosave of its work (landmarks, review, corrected start)
//! into the reader's folder (`pipeline::worklist` owns the files); its panel lists the
//! cases with filters, next and previous (N / P), and blinded placement.

use std::path::Path;

use eframe::egui::{self, Color32};

use super::actions::Action;
use super::jobs::{FileList, ImageFile};
use super::study_batch::{StudyBatch, Which, case_result, results_dir};
use srrd_pipeline::worklist::{CaseStatus, CaseWork, Decision, Review, Worklist, new_review};

/// The worklist open in the viewer, and the open case's review being edited.
pub struct WorklistPanel {
    list: Worklist,
    /// The case shown (or being loaded).
    open: usize,
    /// Set once the open case's images and work are in the app: autosave starts then.
    loaded: bool,
    /// The open case's status.
    status: CaseStatus,
    /// The open case's registration review.
    review: Review,
    /// What was last saved for the open case (autosave writes when this differs).
    saved: Option<CaseWork>,
    /// A line for the reader: what was saved or exported, or what went wrong.
    message: Option<String>,
    /// The series (or part) of the open case's CT and MR DICOM folders the reader chose.
    series: [Option<String>; 2],
    /// The study's cases analysed in the background ("Analyze accepted cases").
    batch: StudyBatch,
    /// Each case's result status in the reader's results folder, when it has one.
    results: Vec<Option<String>>,
}

/// What showing a case needs.
pub enum CaseFiles {
    /// Read these files; a line for the status bar.
    Read(FileList, String),
    /// The case's files are missing: nothing to show.
    Missing,
}

impl WorklistPanel {
    /// Opens a study list (manifest CSV or folder of subjects) with `out` as the reader's
    /// folder, on the case the reader was on there (not loaded yet).
    pub fn open_list(list: &Path, out: &Path) -> Result<Self, String> {
        let wl = Worklist::open(list, out).map_err(|e| e.to_string())?;
        let current = wl.current();
        let review = new_review(&wl.rows[current]);
        let results_dir = results_dir(&wl.out_dir);
        let results = wl
            .rows
            .iter()
            .map(|r| case_result(&results_dir, &r.subject))
            .collect();
        Ok(WorklistPanel {
            list: wl,
            open: current,
            loaded: false,
            status: CaseStatus::NotStarted,
            review,
            saved: None,
            message: None,
            series: [None, None],
            batch: StudyBatch::default(),
            results,
        })
    }

    /// The study list.
    pub fn list(&self) -> &Worklist {
        &self.list
    }

    /// The case shown (or being loaded).
    pub fn open(&self) -> usize {
        self.open
    }

    /// Whether the open case's images and work are in the app.
    pub fn loaded(&self) -> bool {
        self.loaded
    }

    /// The open case's status.
    pub fn status(&self) -> CaseStatus {
        self.status
    }

    /// The open case's review.
    pub fn review(&self) -> &Review {
        &self.review
    }

    /// The open case's review, to edit it.
    pub fn review_mut(&mut self) -> &mut Review {
        &mut self.review
    }

    /// Records the reader's verdict on the registration (the status follows it).
    pub fn set_decision(&mut self, d: Decision) {
        self.review.decision = Some(d);
        self.status = d.status();
    }

    /// Each case's result status ("P(KOA) 0.73; worst check: warn spacing", "withheld",
    /// "failed"; "; CT-only" when the MR was left out), when it has a result.
    pub fn results(&self) -> &[Option<String>] {
        &self.results
    }

    /// Whether the study's cases are being analysed.
    pub fn batch_running(&self) -> bool {
        self.batch.running()
    }

    /// What the last batch did, once it ended.
    pub fn batch_line(&self) -> Option<&str> {
        self.batch.last.as_deref()
    }

    /// The cases `which` names: those with a final registration verdict (accept or
    /// reject), or all.
    pub fn batch_cases(&self, which: Which) -> Vec<usize> {
        (0..self.list.rows.len())
            .filter(|&i| match which {
                Which::All => true,
                Which::Accepted => {
                    let decision = if i == self.open {
                        self.review.decision
                    } else {
                        self.list
                            .load_case(i)
                            .ok()
                            .and_then(|w| w.review)
                            .and_then(|r| r.decision)
                    };
                    matches!(decision, Some(Decision::Accept | Decision::Reject))
                }
            })
            .collect()
    }

    /// Starts analysing the cases `which` names in the background with the models in
    /// `models_dir` (the caller saved the open case first).
    pub fn start_batch(&mut self, which: Which, models_dir: std::path::PathBuf) {
        let cases = self.batch_cases(which);
        if cases.is_empty() {
            self.message = Some("no case with an accepted or rejected registration yet".into());
            return;
        }
        self.batch
            .start(&self.list.rows, cases, &self.list.out_dir, models_dir);
    }

    /// Takes in the cases the batch finished (their result status in the list).
    pub fn poll_batch(&mut self) {
        for (case, status, _line) in self.batch.poll() {
            if let Some(r) = self.results.get_mut(case) {
                *r = Some(status);
            }
        }
    }

    /// The line for the reader, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The next (+1) or previous (-1) case from the open one, through the filter.
    pub fn step(&self, step: isize) -> Option<usize> {
        self.list.step(self.open, step)
    }

    /// The files of case `i` (CT, then MR when there is one), each on the series the
    /// reader chose for it (else the study list's `ct_series`/`mr_series`), or None when
    /// they are missing.
    pub fn files(&self, i: usize) -> Option<FileList> {
        let row = self.list.rows.get(i)?;
        if !row.missing_files().is_empty() {
            return None;
        }
        let chosen = if i == self.open && self.loaded {
            self.series.clone()
        } else {
            self.list.load_case(i).map(|w| w.series).unwrap_or_default()
        };
        let [ct_series, mr_series] = chosen;
        let mut files = vec![
            ImageFile::named("CT", row.ct.clone()).with_series(ct_series.or(row.ct_series.clone())),
        ];
        if let Some(mr) = &row.mr {
            files.push(
                ImageFile::named("MR", mr.clone()).with_series(mr_series.or(row.mr_series.clone())),
            );
        }
        Some(files)
    }

    /// The reader chose series `series` for the open case's CT (`image` 0) or MR (1).
    pub fn choose_series(&mut self, image: usize, series: String) {
        if let Some(s) = self.series.get_mut(image) {
            *s = Some(series);
        }
    }

    /// Makes case `i` the open one (the caller saved the one before); what to read, or
    /// None when there is no case `i`.
    pub fn go_to(&mut self, i: usize) -> Option<CaseFiles> {
        if i >= self.list.rows.len() {
            return None;
        }
        self.open = i;
        self.loaded = false;
        self.saved = None;
        self.message = None;
        if let Err(e) = self.list.save_state(i) {
            self.message = Some(format!("cannot save the worklist: {e}"));
        }
        let row = &self.list.rows[i];
        let missing = row.missing_files();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
            self.message = Some(format!("{}: missing {}", row.subject, list.join(", ")));
            return Some(CaseFiles::Missing);
        }
        let total = self.list.rows.len();
        let line = format!("loading case {} of {total}: {}", i + 1, row.subject);
        Some(CaseFiles::Read(self.files(i).unwrap_or_default(), line))
    }

    /// Once the open case's images are loaded: its saved work (landmarks, review,
    /// corrected start, status) for the app, and the status line; autosave starts.
    pub fn case_loaded(&mut self) -> (CaseWork, String) {
        let i = self.open;
        let work = match self.list.load_case(i) {
            Ok(work) => work,
            Err(e) => {
                // A file of another case: shown, and the case starts empty (nothing is
                // written over the refused file until the reader changes something).
                self.message = Some(e.to_string());
                CaseWork::default()
            }
        };
        self.status = work.status;
        self.review = work
            .review
            .clone()
            .unwrap_or_else(|| new_review(&self.list.rows[i]));
        self.series = work.series.clone();
        self.saved = Some(work.clone());
        self.loaded = true;
        let subject = &self.list.rows[i].subject;
        let line = format!("case {} of {}: {subject}", i + 1, self.list.rows.len());
        (work, line)
    }

    /// The open case's work, with the app's landmarks and corrected start.
    pub fn work(
        &self,
        landmarks: [Vec<srrd_base::io::landmarks::Landmark>; 2],
        unplaceable: [Vec<String>; 2],
        start_mr_from_ct: Option<srrd_base::volume::RigidTransform>,
    ) -> CaseWork {
        let review = (self.review.decision.is_some() || !self.review.comment.is_empty())
            .then(|| self.review.clone());
        CaseWork {
            status: self.status,
            landmarks,
            review,
            start_mr_from_ct,
            unplaceable,
            series: self.series.clone(),
        }
    }

    /// Writes the open case's `work` when it changed since it was last saved (a case
    /// that was not started becomes in progress with its first change).
    pub fn autosave(&mut self, mut work: CaseWork) {
        if self.saved.as_ref() == Some(&work) {
            return;
        }
        if work.status == CaseStatus::NotStarted {
            work.status = CaseStatus::InProgress;
            self.status = CaseStatus::InProgress;
        }
        match self.list.save_case(self.open, &work) {
            Ok(()) => self.saved = Some(work),
            Err(e) => {
                self.message = Some(format!("cannot save the case: {e}"));
                // Do not retry every frame.
                self.saved = Some(work);
            }
        }
    }

    /// Writes every case's review into one CSV in the reader's folder.
    pub fn export_reviews(&mut self) {
        let path = self.list.out_dir.join("reviews.csv");
        self.message = Some(match self.list.export_reviews(&path) {
            Ok(n) => format!("{n} reviews written to {}", path.display()),
            Err(e) => format!("cannot export the reviews: {e}"),
        });
    }
}

/// The colour of a status mark in the list.
fn status_colour(s: CaseStatus) -> Color32 {
    match s {
        CaseStatus::NotStarted => Color32::GRAY,
        CaseStatus::InProgress => Color32::from_rgb(90, 160, 255),
        CaseStatus::Done => Color32::from_rgb(80, 200, 120),
        CaseStatus::Flagged => Color32::from_rgb(240, 170, 60),
    }
}

/// The worklist panel: counts, filters, the cases, navigation and status buttons.
pub fn worklist_ui(ui: &mut egui::Ui, w: &mut WorklistPanel) -> Vec<Action> {
    let mut actions = Vec::new();
    let n = w.list.rows.len();
    let [not_started, in_progress, done, flagged] = w.list.counts();
    ui.heading("Worklist");
    ui.small(format!(
        "{done} of {n} done, {in_progress} in progress, {flagged} flagged, {not_started} not started"
    ));
    ui.small(format!("saving into {}", w.list.out_dir.display()));
    let mut filter_changed = false;
    ui.horizontal_wrapped(|ui| {
        for s in CaseStatus::ALL {
            let mut on = w.list.state.show.contains(&s);
            if ui.checkbox(&mut on, s.label()).changed() {
                w.list.state.show.retain(|x| *x != s);
                if on {
                    w.list.state.show.push(s);
                }
                filter_changed = true;
            }
        }
    });
    filter_changed |= ui
        .add(
            egui::TextEdit::singleline(&mut w.list.state.search)
                .hint_text("find a subject")
                .desired_width(180.0),
        )
        .changed();
    let mut open = None;
    let mut export = false;
    egui::ScrollArea::vertical()
        .id_salt("cases")
        .max_height(260.0)
        .show(ui, |ui| {
            for i in 0..n {
                if !w.list.shown(i) {
                    continue;
                }
                let row = &w.list.rows[i];
                let status = if i == w.open {
                    w.status
                } else {
                    w.list.status[i]
                };
                ui.horizontal(|ui| {
                    let (dot, resp) =
                        ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                    ui.painter()
                        .circle_filled(dot.center(), 5.0, status_colour(status));
                    resp.on_hover_text(status.label());
                    let text = format!("{:>3}  {}", i + 1, row.subject);
                    if ui.selectable_label(i == w.open, text).clicked() && i != w.open {
                        open = Some(i);
                    }
                    if let Some(result) = &w.results[i] {
                        ui.small(result.as_str());
                    }
                    if !row.missing_files().is_empty() {
                        ui.colored_label(Color32::from_rgb(255, 90, 90), "missing files");
                    } else if let Some(p) = &w.list.problems[i] {
                        ui.colored_label(Color32::from_rgb(240, 170, 60), "refused file")
                            .on_hover_text(p);
                    }
                });
            }
        });
    ui.horizontal(|ui| {
        if ui.button("< Previous (P)").clicked() {
            open = w.list.step(w.open, -1).or(open);
        }
        if ui.button("Next (N) >").clicked() {
            open = w.list.step(w.open, 1).or(open);
        }
    });
    ui.horizontal(|ui| {
        if ui.button("Mark done").clicked() {
            w.status = CaseStatus::Done;
        }
        if ui.button("Flag").clicked() {
            w.status = CaseStatus::Flagged;
        }
        if ui
            .button("Export reviews")
            .on_hover_text("every case's review into reviews.csv in the reader's folder")
            .clicked()
        {
            export = true;
        }
    });
    ui.horizontal(|ui| {
        let idle = !w.batch.running();
        if ui
            .add_enabled(idle, egui::Button::new("Analyze accepted cases"))
            .on_hover_text("in the background, the cases whose registration you accepted (with the MR, from a corrected start when there is one) or rejected (CT-only); results in results/ of your folder, as srrd analyze --manifest --reviews writes them")
            .clicked()
        {
            actions.push(Action::AnalyzeStudy(Which::Accepted));
        }
        if ui
            .add_enabled(idle, egui::Button::new("Analyze all cases"))
            .on_hover_text("every case (a rejected registration still CT-only); cases already analysed are kept")
            .clicked()
        {
            actions.push(Action::AnalyzeStudy(Which::All));
        }
    });
    w.batch.ui(ui);
    if ui
        .checkbox(
            &mut w.list.state.blinded,
            "Blinded (hide the other image's points and the TRE)",
        )
        .changed()
    {
        filter_changed = true;
        actions.push(Action::Redraw);
    }
    actions.push(Action::Blinded(w.list.state.blinded));
    if let Some(m) = &w.message {
        ui.small(m.as_str());
    }
    if filter_changed {
        let open_now = w.open;
        if let Err(e) = w.list.save_state(open_now) {
            w.message = Some(format!("cannot save the worklist: {e}"));
        }
    }
    if export {
        actions.push(Action::ExportReviews);
    }
    if let Some(i) = open {
        actions.push(Action::OpenCase(i));
    }
    actions
}
