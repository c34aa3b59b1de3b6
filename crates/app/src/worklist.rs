//! The worklist panel: a study read case by case (`srrd view --worklist`), each case's
//! status, filters, next and previous case (N / P), blinded placement, and autosave of
//! the open case's landmarks, review and corrected start into the reader's folder
//! (`pipeline::worklist` owns the files).

use std::path::Path;

use eframe::egui::{self, Color32};

use super::landmarks::LandmarkEditor;
use super::viewer::ViewerApp;
use srrd_pipeline::worklist::{CaseStatus, CaseWork, Decision, Review, Worklist, new_review};

/// The worklist open in the viewer, and the open case's review being edited.
pub struct WorklistPanel {
    pub list: Worklist,
    /// The case shown (or being loaded).
    pub open: usize,
    /// Set once the open case's images and work are in the app: autosave starts then.
    pub loaded: bool,
    /// The open case's status.
    pub status: CaseStatus,
    /// The open case's registration review.
    pub review: Review,
    /// What was last saved for the open case (autosave writes when this differs).
    pub saved: Option<CaseWork>,
    /// A line for the reader: what was saved or exported, or what went wrong.
    pub message: Option<String>,
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

impl ViewerApp {
    /// Opens a study list (manifest CSV or folder of subjects) with `out` as the reader's
    /// folder, and the case the reader was on there.
    pub fn open_worklist(&mut self, list: &Path, out: &Path) -> Result<(), String> {
        let wl = Worklist::open(list, out).map_err(|e| e.to_string())?;
        let current = wl.current();
        self.blinded = wl.state.blinded;
        let review = new_review(&wl.rows[current]);
        self.worklist = Some(WorklistPanel {
            list: wl,
            open: current,
            loaded: false,
            status: CaseStatus::NotStarted,
            review,
            saved: None,
            message: None,
        });
        self.open_case(current);
        Ok(())
    }

    /// Saves the open case and shows case `i` (a case whose files are missing stays in
    /// the list, with the reason, and nothing is loaded).
    pub fn open_case(&mut self, i: usize) {
        self.autosave();
        let Some(w) = &mut self.worklist else {
            return;
        };
        if i >= w.list.rows.len() {
            return;
        }
        w.open = i;
        w.loaded = false;
        w.saved = None;
        w.message = None;
        if let Err(e) = w.list.save_state(i) {
            w.message = Some(format!("cannot save the worklist: {e}"));
        }
        let row = w.list.rows[i].clone();
        let missing = row.missing_files();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
            w.message = Some(format!("{}: missing {}", row.subject, list.join(", ")));
            self.layers.clear();
            self.results = None;
            self.landmarks.sets = [Vec::new(), Vec::new()];
            self.dirty = true;
            return;
        }
        let mut files = vec![(Some("CT".to_string()), row.ct.clone())];
        if let Some(mr) = &row.mr {
            files.push((Some("MR".to_string()), mr.clone()));
        }
        let total = w.list.rows.len();
        self.start_loading(files, false, None);
        self.status = format!("loading case {} of {total}: {}", i + 1, row.subject);
    }

    /// Once the open case's images are loaded: its saved landmarks, review, corrected
    /// start and status come into the app (the protocol being followed stays).
    pub(super) fn case_loaded(&mut self) {
        let Some(w) = &mut self.worklist else {
            return;
        };
        let i = w.open;
        let work = match w.list.load_case(i) {
            Ok(work) => work,
            Err(e) => {
                // A file of another case: shown, and the case starts empty (nothing is
                // written over the refused file until the reader changes something).
                w.message = Some(e.to_string());
                CaseWork::default()
            }
        };
        let protocol = self.landmarks.protocol.take();
        let [f, m] = work.landmarks.clone();
        self.landmarks = LandmarkEditor::with_sets(f, m);
        self.landmarks.protocol = protocol;
        self.landmarks.unplaceable = work.unplaceable.clone();
        self.registration_start = work.start_mr_from_ct.clone();
        w.status = work.status;
        w.review = work
            .review
            .clone()
            .unwrap_or_else(|| new_review(&w.list.rows[i]));
        w.saved = Some(work);
        w.loaded = true;
        let subject = w.list.rows[i].subject.clone();
        self.status = format!("case {} of {}: {subject}", i + 1, w.list.rows.len());
    }

    /// The open case's work as the app holds it now.
    pub fn case_work(&self) -> Option<CaseWork> {
        let w = self.worklist.as_ref()?;
        let review =
            (w.review.decision.is_some() || !w.review.comment.is_empty()).then(|| w.review.clone());
        Some(CaseWork {
            status: w.status,
            landmarks: self.landmarks.sets.clone(),
            review,
            start_mr_from_ct: self.registration_start.clone(),
            unplaceable: self.landmarks.unplaceable.clone(),
        })
    }

    /// Writes the open case when it changed since it was last saved (a case that was
    /// not started becomes in progress with its first change).
    pub fn autosave(&mut self) {
        let loaded = self.worklist.as_ref().is_some_and(|w| w.loaded);
        if !loaded || self.loading.is_some() {
            return;
        }
        let Some(mut work) = self.case_work() else {
            return;
        };
        let Some(w) = &mut self.worklist else {
            return;
        };
        if w.saved.as_ref() == Some(&work) {
            return;
        }
        if work.status == CaseStatus::NotStarted {
            work.status = CaseStatus::InProgress;
            w.status = CaseStatus::InProgress;
        }
        match w.list.save_case(w.open, &work) {
            Ok(()) => w.saved = Some(work),
            Err(e) => {
                w.message = Some(format!("cannot save the case: {e}"));
                // Do not retry every frame.
                w.saved = Some(work);
            }
        }
    }

    /// Records the reader's verdict on the registration (the status follows it).
    pub fn set_decision(&mut self, d: Decision) {
        if let Some(w) = &mut self.worklist {
            w.review.decision = Some(d);
            w.status = d.status();
        }
    }

    /// The next (+1) or previous (-1) case through the filter.
    pub fn step_case(&mut self, step: isize) {
        let next = self
            .worklist
            .as_ref()
            .and_then(|w| w.list.step(w.open, step));
        if let Some(i) = next {
            self.open_case(i);
        }
    }

    /// Writes every case's review into one CSV in the reader's folder.
    pub fn export_reviews(&mut self) {
        self.autosave();
        let Some(w) = &mut self.worklist else {
            return;
        };
        let path = w.list.out_dir.join("reviews.csv");
        w.message = Some(match w.list.export_reviews(&path) {
            Ok(n) => format!("{n} reviews written to {}", path.display()),
            Err(e) => format!("cannot export the reviews: {e}"),
        });
    }

    /// The worklist panel: counts, filters, the cases, navigation and status buttons.
    pub(super) fn worklist_ui(&mut self, ui: &mut egui::Ui) {
        let Some(w) = &mut self.worklist else {
            return;
        };
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
        if ui
            .checkbox(
                &mut w.list.state.blinded,
                "Blinded (hide the other image's points and the TRE)",
            )
            .changed()
        {
            filter_changed = true;
            self.dirty = true;
        }
        self.blinded = w.list.state.blinded;
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
            self.export_reviews();
        }
        if let Some(i) = open {
            self.open_case(i);
        }
    }
}
