//! File > PACS…: the window that owns the workstation's side of the DICOM network. It
//! lists the nodes of `nodes.toml` (C-ECHO each, with its answer), searches studies
//! (C-FIND at study level: patient ID, name, date range, modality, accession), shows the
//! series of the study chosen (series level: modality, description, images) and
//! retrieves the series ticked (C-GET into the cache folder) with progress and cancel;
//! once they are there it asks the viewer to open the CT (and MR) as layers. It also sends
//! the analysis exported as DICOM (SEG, parametric maps, SR) to the chosen node (C-STORE).
//! Every exchange runs on a worker thread through srrd-node (`pacs_work` turns its
//! summaries into files to open and lines to show); this file holds the window's state,
//! its background tasks and what it draws, never the DICOM logic itself. File > PACS…'s
//! "Worklist of the N studies" retrieves the studies found and opens them as the worklist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui::{self, Color32};

use super::actions::Action;
use super::loading::ImageFile;
use super::viewer::ViewerApp;
use srrd_base::progress::Progress;
use srrd_node::NodesFile;
use srrd_node::find::{SeriesRecord, StudyQuery, StudyRecord};

/// What the PACS window asks of the viewer.
#[derive(Clone, Debug)]
pub enum PacsAction {
    /// Show the window (File > PACS…), reading `nodes.toml` again.
    Show,
    /// Open these retrieved images as the layers (a fresh start), with a status line.
    OpenImages(Vec<ImageFile>, String),
    /// Export the analysis as DICOM into a new folder, then send it to the chosen node.
    SendResults,
    /// Open this study list (the studies found, retrieved) as the worklist.
    OpenWorklist(PathBuf, String),
}

/// The search form (empty fields match anything; DICOM wildcards pass through).
#[derive(Clone, Debug, Default)]
pub struct QueryForm {
    pub patient_id: String,
    pub patient_name: String,
    /// `YYYYMMDD`, `YYYYMMDD-YYYYMMDD`, `YYYYMMDD-` or `-YYYYMMDD`.
    pub date: String,
    pub modality: String,
    pub accession: String,
}

impl QueryForm {
    /// The C-FIND query: fields trimmed, empty ones left out.
    pub fn to_query(&self) -> StudyQuery {
        let f = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        StudyQuery {
            patient_id: f(&self.patient_id),
            patient_name: f(&self.patient_name),
            date: f(&self.date),
            modality: f(&self.modality),
            accession: f(&self.accession),
            study_uid: None,
        }
    }
}

/// What a background exchange brought back.
enum Outcome {
    Echo(String, Result<f64, String>),
    Studies(Result<Vec<StudyRecord>, String>),
    Series(String, Result<Vec<SeriesRecord>, String>),
    Retrieved(Result<(Vec<ImageFile>, String), String>),
    Sent(Result<String, String>),
    Worklist(Result<(PathBuf, String), String>),
}

/// One exchange running: what it is (for the window), its result and progress.
struct Task {
    what: String,
    rx: Receiver<Outcome>,
    progress: Arc<Progress>,
}

/// The PACS window's state.
pub struct PacsPanel {
    /// Whether the window is shown.
    pub open: bool,
    /// `nodes.toml` (None: `$SRRD_CONFIG_DIR/nodes.toml` or `~/.config/srrd/nodes.toml`).
    pub nodes_path: Option<PathBuf>,
    /// Where retrieved series go (`<cache>/<study>/<series>/`).
    pub cache: PathBuf,
    /// The search form.
    pub query: QueryForm,
    nodes: Result<NodesFile, String>,
    node: String,
    echo: BTreeMap<String, String>,
    studies: Vec<StudyRecord>,
    study: Option<usize>,
    series: Vec<SeriesRecord>,
    chosen: BTreeSet<String>,
    task: Option<Task>,
    send: Option<Task>,
    /// The folder an export for sending is being written to.
    pending_send: Option<PathBuf>,
    line: String,
    error: Option<String>,
}

impl Default for PacsPanel {
    fn default() -> Self {
        PacsPanel {
            open: false,
            nodes_path: None,
            cache: srrd_node::cache::default_cache_dir(),
            query: QueryForm::default(),
            nodes: Err("not read yet".into()),
            node: String::new(),
            echo: BTreeMap::new(),
            studies: Vec::new(),
            study: None,
            series: Vec::new(),
            chosen: BTreeSet::new(),
            task: None,
            send: None,
            pending_send: None,
            line: String::new(),
            error: None,
        }
    }
}

/// Runs `work` on a worker thread with a fresh progress.
fn spawn(what: String, work: impl FnOnce(&Progress) -> Outcome + Send + 'static) -> Task {
    let (tx, rx) = channel();
    let progress = Arc::new(Progress::new());
    let worker = progress.clone();
    std::thread::spawn(move || {
        let _ = tx.send(work(&worker));
    });
    Task { what, rx, progress }
}

impl PacsPanel {
    /// (Re)reads the node configuration; the first node is chosen when none is.
    pub fn reload(&mut self) {
        self.nodes = NodesFile::read_or_default(self.nodes_path.as_deref())
            .map_err(|e| format!("cannot use the node configuration: {e}"));
        match &self.nodes {
            Ok(n) if !n.nodes.contains_key(&self.node) => {
                self.node = n.nodes.keys().next().cloned().unwrap_or_default();
            }
            _ => {}
        }
    }

    /// The configuration's problem (naming the file), if it could not be used.
    pub fn config_error(&self) -> Option<&str> {
        self.nodes.as_ref().err().map(String::as_str)
    }

    /// The names of the configured nodes.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .as_ref()
            .map(|n| n.nodes.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The node searches, retrievals and sends go to.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Chooses the node by name.
    pub fn set_node(&mut self, name: &str) {
        self.node = name.to_string();
    }

    /// The studies of the last search.
    pub fn studies(&self) -> &[StudyRecord] {
        &self.studies
    }

    /// The series of the chosen study.
    pub fn series(&self) -> &[SeriesRecord] {
        &self.series
    }

    /// The Series Instance UIDs ticked for retrieval.
    pub fn chosen(&self) -> &BTreeSet<String> {
        &self.chosen
    }

    /// The window's last line (an answer, a count, a retrieval) and its last error.
    pub fn line(&self) -> (&str, Option<&str>) {
        (&self.line, self.error.as_deref())
    }

    /// Whether an exchange (or a send) is running.
    pub fn busy(&self) -> bool {
        self.task.is_some() || self.send.is_some() || self.pending_send.is_some()
    }

    /// The configuration and the chosen node, or the message to show.
    fn target(&self) -> Result<(NodesFile, srrd_node::NodeConfig), String> {
        let nodes = self.nodes.clone()?;
        let node = nodes.node(&self.node).map_err(|e| e.to_string())?.clone();
        Ok((nodes, node))
    }

    /// Starts `work` with the chosen node, or shows why not.
    fn start(
        &mut self,
        what: String,
        work: impl FnOnce(&NodesFile, &srrd_node::NodeConfig, &str, &Progress) -> Outcome
        + Send
        + 'static,
    ) {
        if self.task.is_some() {
            self.error = Some("wait for the exchange running (or cancel it)".into());
            return;
        }
        match self.target() {
            Ok((nodes, node)) => {
                let name = self.node.clone();
                self.error = None;
                self.task = Some(spawn(what, move |p| work(&nodes, &node, &name, p)));
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// C-ECHO of the chosen node, in the background.
    pub fn echo(&mut self) {
        let what = format!("C-ECHO of {}", self.node);
        self.start(what, |nodes, node, name, _| {
            let t = srrd_node::echo::echo(&nodes.local, name, node)
                .map(|d| d.as_secs_f64() * 1000.0)
                .map_err(|e| e.to_string());
            Outcome::Echo(name.to_string(), t)
        });
    }

    /// C-FIND of studies matching the form, in the background.
    pub fn search(&mut self) {
        let q = self.query.to_query();
        if let Some(d) = &q.date
            && let Err(e) = srrd_node::find::check_date_range(d)
        {
            self.error = Some(format!("date {d:?}: {e}"));
            return;
        }
        let what = format!("searching {}", self.node);
        self.start(what, move |nodes, node, name, _| {
            let r = srrd_node::find::find_studies(&nodes.local, name, node, &q)
                .map_err(|e| e.to_string());
            Outcome::Studies(r)
        });
    }

    /// Chooses study `i` of the list and asks for its series.
    pub fn choose_study(&mut self, i: usize) {
        let Some(s) = self.studies.get(i) else {
            return;
        };
        let uid = s.study_instance_uid.clone();
        self.study = Some(i);
        self.series.clear();
        self.chosen.clear();
        let what = format!("listing the series on {}", self.node);
        self.start(what, move |nodes, node, name, _| {
            let r = srrd_node::find::find_series(
                &nodes.local,
                name,
                node,
                std::slice::from_ref(&uid),
                None,
            )
            .map_err(|e| e.to_string());
            Outcome::Series(uid, r)
        });
    }

    /// Ticks or unticks a series for retrieval.
    pub fn toggle_series(&mut self, uid: &str, on: bool) {
        if on {
            self.chosen.insert(uid.to_string());
        } else {
            self.chosen.remove(uid);
        }
    }

    /// C-GET of the ticked series into the cache, in the background; the first CT and
    /// the first MR among them are opened once they are there.
    pub fn retrieve(&mut self) {
        let picked: Vec<SeriesRecord> = self
            .series
            .iter()
            .filter(|s| self.chosen.contains(&s.series_instance_uid))
            .cloned()
            .collect();
        if picked.is_empty() {
            self.error = Some("tick the series to retrieve first".into());
            return;
        }
        let cache = self.cache.clone();
        let what = format!("retrieving {} series from {}", picked.len(), self.node);
        self.start(what, move |nodes, node, name, p| {
            Outcome::Retrieved(super::pacs_work::retrieve(
                nodes, node, name, &picked, &cache, p,
            ))
        });
    }

    /// The studies found as a worklist, in the background: every study retrieved (C-GET)
    /// into a new folder `<cache>/worklists/<node>-<time>/`, with a study list there
    /// (`study.csv`: one case per study, its folder in the `study` column, the patient
    /// ID in `patient`), which the viewer then opens with the reader's folder beside it.
    pub fn worklist(&mut self) {
        if self.studies.is_empty() {
            self.error = Some("search first: the worklist's cases are the studies found".into());
            return;
        }
        let studies = self.studies.clone();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let dir = self.cache.join("worklists").join(format!(
            "{}-{stamp}",
            srrd_node::cache::safe_name(&self.node)
        ));
        let what = format!(
            "retrieving {} studies from {} for a worklist",
            studies.len(),
            self.node
        );
        self.start(what, move |nodes, node, name, p| {
            Outcome::Worklist(super::pacs_work::worklist(
                nodes, node, name, &studies, &dir, p,
            ))
        });
    }

    /// Asks the viewer to export the analysis for sending (the export folder is made
    /// by [`PacsPanel::send_folder`]).
    fn send_results(&mut self) -> Option<PacsAction> {
        if let Err(e) = self.target() {
            self.error = Some(e);
            return None;
        }
        if self.send.is_some() || self.pending_send.is_some() {
            self.error = Some("a send is already running".into());
            return None;
        }
        Some(PacsAction::SendResults)
    }

    /// A new folder under the cache for the export to send; remembered until the export
    /// ends.
    pub fn send_folder(&mut self) -> PathBuf {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let dir = self.cache.join("outgoing").join(format!("export-{stamp}"));
        self.pending_send = Some(dir.clone());
        dir
    }

    /// The export for sending ended: sends its folder (C-STORE) in the background, or
    /// says why not. Returns the status line to show, if any.
    pub fn exported(&mut self, outcome: &Result<String, String>) -> Option<String> {
        let dir = self.pending_send.take()?;
        if let Err(e) = outcome {
            self.error = Some(format!("not sent: the export failed: {e}"));
            return self.error.clone();
        }
        self.send_folder_now(&dir)
    }

    /// Sends every DICOM file under `dir` to the chosen node, in the background.
    pub fn send_folder_now(&mut self, dir: &Path) -> Option<String> {
        let (nodes, node) = match self.target() {
            Ok(t) => t,
            Err(e) => {
                self.error = Some(e);
                return self.error.clone();
            }
        };
        let name = self.node.clone();
        let dir = dir.to_path_buf();
        let line = format!("sending {} to {name}…", dir.display());
        self.send = Some(spawn(line.clone(), move |p| {
            Outcome::Sent(super::pacs_work::send(&nodes, &node, &name, &dir, p))
        }));
        Some(line)
    }

    /// Takes in what ended; returns what the viewer should do (and status lines).
    pub fn poll(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut ended = Vec::new();
        for slot in [&mut self.task, &mut self.send] {
            if let Some(t) = slot
                && let Ok(o) = t.rx.try_recv()
            {
                ended.push(o);
                *slot = None;
            }
        }
        for o in ended {
            match o {
                Outcome::Echo(name, r) => {
                    let text = match r {
                        Ok(ms) => format!("answers ({ms:.0} ms)"),
                        Err(e) => format!("no: {e}"),
                    };
                    self.line = format!("{name}: C-ECHO {text}");
                    self.echo.insert(name, text);
                }
                Outcome::Studies(Ok(s)) => {
                    self.line = format!("{}: {} studies found", self.node, s.len());
                    self.studies = s;
                    self.study = None;
                    self.series.clear();
                    self.chosen.clear();
                }
                Outcome::Studies(Err(e)) => self.error = Some(format!("search failed: {e}")),
                Outcome::Series(uid, Ok(s)) => {
                    let s: Vec<SeriesRecord> = s
                        .into_iter()
                        .filter(|r| r.study_instance_uid == uid)
                        .collect();
                    // CT and MR series are ticked at first.
                    self.chosen = s
                        .iter()
                        .filter(|r| matches!(r.modality.as_str(), "CT" | "MR"))
                        .map(|r| r.series_instance_uid.clone())
                        .collect();
                    self.line = format!("{} series in the study", s.len());
                    self.series = s;
                }
                Outcome::Series(_, Err(e)) => {
                    self.error = Some(format!("listing the series failed: {e}"))
                }
                Outcome::Retrieved(Ok((files, line))) => {
                    self.line = line.clone();
                    actions.push(Action::Pacs(PacsAction::OpenImages(files, line)));
                }
                Outcome::Retrieved(Err(e)) | Outcome::Worklist(Err(e)) => self.error = Some(e),
                Outcome::Worklist(Ok((list, line))) => {
                    self.line = line.clone();
                    self.open = false;
                    actions.push(Action::Pacs(PacsAction::OpenWorklist(list, line)));
                }
                Outcome::Sent(r) => {
                    let line = match r {
                        Ok(l) => l,
                        Err(e) => format!("Send to PACS failed: {e}"),
                    };
                    self.line = line.clone();
                    actions.push(Action::Status(line));
                }
            }
        }
        actions
    }

    /// The window (when open); returns what the viewer should do.
    pub fn ui(&mut self, ctx: &egui::Context, has_results: bool) -> Vec<Action> {
        let mut actions = self.poll();
        // Frames keep coming while an exchange runs, even with the window closed.
        if self.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        if !self.open {
            return actions;
        }
        let mut open = self.open;
        egui::Window::new("PACS")
            .open(&mut open)
            .default_size([620.0, 520.0])
            .show(ctx, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    actions.extend(self.contents(ui, has_results));
                });
            });
        self.open = open;
        actions
    }

    fn contents(&mut self, ui: &mut egui::Ui, has_results: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        self.nodes_ui(ui);
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(255, 90, 90), e);
        }
        if let Some(t) = &self.task {
            ui.label(&t.what);
            super::jobs::progress_ui(ui, &t.progress);
        } else if !self.line.is_empty() {
            ui.label(&self.line);
        }
        ui.separator();
        self.search_ui(ui);
        ui.separator();
        self.studies_ui(ui);
        ui.separator();
        ui.horizontal(|ui| {
            let ok = has_results && self.send.is_none() && self.pending_send.is_none();
            if ui
                .add_enabled(ok, egui::Button::new(format!("Send results to {}", self.node)))
                .on_hover_text("exports the analysis as DICOM (SEG, parametric maps, SR) into the cache and stores it on the node")
                .clicked()
                && let Some(a) = self.send_results()
            {
                actions.push(Action::Pacs(a));
            }
            if let Some(t) = &self.send {
                ui.spinner();
                ui.label(&t.what);
            }
        });
        actions
    }

    fn nodes_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Nodes");
            if ui.button("Reload nodes.toml").clicked() {
                self.reload();
            }
        });
        let Ok(nodes) = &self.nodes else {
            if let Some(e) = self.config_error() {
                ui.colored_label(Color32::from_rgb(255, 90, 90), e);
            }
            return;
        };
        if nodes.nodes.is_empty() {
            ui.label(format!("no [nodes.NAME] in {}", nodes.path.display()));
        }
        let mut echo = None;
        let rows: Vec<(String, String)> = nodes
            .nodes
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    format!("{} at {}:{}", n.ae_title, n.host, n.port),
                )
            })
            .collect();
        egui::Grid::new("pacs-nodes").striped(true).show(ui, |ui| {
            for (name, addr) in rows {
                ui.radio_value(&mut self.node, name.clone(), name.as_str());
                ui.label(addr);
                if ui.button(format!("Echo {name}")).clicked() {
                    echo = Some(name.clone());
                }
                ui.label(self.echo.get(&name).map(String::as_str).unwrap_or(""));
                ui.end_row();
            }
        });
        if let Some(name) = echo {
            self.node = name;
            self.echo();
        }
    }

    fn search_ui(&mut self, ui: &mut egui::Ui) {
        let q = &mut self.query;
        for (label, field, hint) in [
            ("patient ID", &mut q.patient_id, "KNEE-0042 or KNEE*"),
            ("name", &mut q.patient_name, "Doe^Jane or Doe*"),
            ("date", &mut q.date, "YYYYMMDD[-YYYYMMDD]"),
            ("modality", &mut q.modality, "CT, MR"),
            ("accession", &mut q.accession, ""),
        ] {
            ui.horizontal(|ui| {
                let l = ui.add_sized([80.0, 18.0], egui::Label::new(label));
                ui.add(
                    egui::TextEdit::singleline(field)
                        .hint_text(hint)
                        .desired_width(240.0),
                )
                .labelled_by(l.id);
            });
        }
        if ui
            .add_enabled(self.task.is_none(), egui::Button::new("Search"))
            .clicked()
        {
            self.search();
        }
    }

    fn studies_ui(&mut self, ui: &mut egui::Ui) {
        if self.studies.is_empty() {
            ui.label("no studies listed");
            return;
        }
        let n = self.studies.len();
        if ui
            .add_enabled(
                self.task.is_none(),
                egui::Button::new(format!("Worklist of the {n} studies")),
            )
            .on_hover_text(
                "retrieves every study found and reads them case by case (one case per study)",
            )
            .clicked()
        {
            self.worklist();
        }
        let mut picked = None;
        for (i, s) in self.studies.iter().enumerate() {
            let text = format!(
                "{}  {}  {}  {}  {} series, {} images  {}",
                s.study_date,
                s.patient_id,
                s.patient_name,
                s.modalities_in_study.join("/"),
                opt(s.number_of_series),
                opt(s.number_of_instances),
                s.study_description
            );
            if ui.selectable_label(self.study == Some(i), text).clicked() {
                picked = Some(i);
            }
        }
        if let Some(i) = picked
            && self.task.is_none()
        {
            self.choose_study(i);
        }
        if self.study.is_none() {
            return;
        }
        ui.strong("Series");
        let mut toggles = Vec::new();
        for s in &self.series {
            let mut on = self.chosen.contains(&s.series_instance_uid);
            let text = format!(
                "#{} {} {} images  {}",
                s.series_number.map(|n| n.to_string()).unwrap_or("-".into()),
                s.modality,
                opt(s.number_of_instances),
                s.series_description
            );
            if ui.checkbox(&mut on, text).changed() {
                toggles.push((s.series_instance_uid.clone(), on));
            }
        }
        for (uid, on) in toggles {
            self.toggle_series(&uid, on);
        }
        let n = self.chosen.len();
        if ui
            .add_enabled(
                n > 0 && self.task.is_none(),
                egui::Button::new(format!("Retrieve {n} series")),
            )
            .on_hover_text(format!("C-GET into {}", self.cache.display()))
            .clicked()
        {
            self.retrieve();
        }
    }
}

fn opt(v: Option<u32>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
}

impl ViewerApp {
    /// The PACS window's state (tests set its nodes file and cache here).
    pub fn pacs_mut(&mut self) -> &mut PacsPanel {
        &mut self.pacs
    }

    /// The PACS window's state.
    pub fn pacs(&self) -> &PacsPanel {
        &self.pacs
    }

    /// Does what the PACS window asks.
    pub(super) fn pacs_action(&mut self, a: PacsAction) {
        match a {
            PacsAction::Show => {
                self.pacs.reload();
                self.pacs.open = true;
            }
            PacsAction::OpenImages(files, mut line) => {
                // Images from PACS are not the worklist case's: its work is saved and
                // the list closed, so the new images are not taken for the case's.
                if self.worklist.is_some() {
                    self.autosave();
                    self.jobs.cancel_prefetch();
                    self.worklist = None;
                    line.push_str("; the worklist was saved and closed");
                }
                self.status = line;
                self.jobs.start_loading(files, false, None);
            }
            PacsAction::OpenWorklist(list, line) => {
                let reader = super::default_reader_dir(&list);
                match self.open_worklist(&list, &reader) {
                    Ok(()) => self.status = line,
                    Err(e) => self.error = Some(format!("{}: {e}", list.display())),
                }
            }
            PacsAction::SendResults => {
                if self.results.is_none() {
                    self.status = "Send to PACS: run the analysis first".into();
                    return;
                }
                let dir = self.pacs.send_folder();
                self.export_dicom(&dir);
                if !self.jobs.dicom().busy() {
                    // The export could not start; the status line says why.
                    self.pacs.exported(&Err(self.status.clone()));
                    return;
                }
                let node = self.pacs.node().to_string();
                self.status = format!("writing DICOM into {} to send to {node}…", dir.display());
            }
        }
    }
}
