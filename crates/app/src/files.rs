//! Opening and saving from the viewer: images (added as layers), sessions and landmark
//! files, through a prompt with a path field and a Browse button (the system file dialog
//! via rfd, on its own thread), drag-and-drop onto the window, and the recent list.

use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;

use eframe::egui;
use nalgebra::Point3;

use super::session::{LayerState, SESSION_FORMAT, Session};
use super::viewer::ViewerApp;
use srrd_base::io::landmarks::{read_landmarks, write_landmarks};

/// What a chosen path is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileAction {
    OpenImage,
    OpenSession,
    SaveSession,
    ImportLandmarks,
    ExportLandmarks,
    /// The analysis as DICOM (Segmentation, parametric maps, report) into a new folder.
    ExportDicom,
    /// A landmark protocol (JSON) the landmark editor then follows.
    OpenProtocol,
}

impl FileAction {
    fn title(self) -> &'static str {
        match self {
            FileAction::OpenImage => "Open image (NIfTI, DICOM file or folder)",
            FileAction::OpenSession => "Open session",
            FileAction::SaveSession => "Save session",
            FileAction::ImportLandmarks => "Import landmarks (.json, .mrk.json, .fcsv)",
            FileAction::ExportLandmarks => "Export landmarks (.json, .mrk.json, .fcsv)",
            FileAction::ExportDicom => "Export DICOM into a new folder",
            FileAction::OpenProtocol => "Open landmark protocol (.json)",
        }
    }

    fn saves(self) -> bool {
        matches!(
            self,
            FileAction::SaveSession | FileAction::ExportLandmarks | FileAction::ExportDicom
        )
    }
}

/// The open/save prompt on screen.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub action: FileAction,
    pub path: String,
}

/// Whether a system file dialog can be shown (the portal needs a D-Bus session).
fn dialog_available() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
}

impl ViewerApp {
    /// Reads an image in the background and adds it as a layer (the CT or the MR when
    /// that role is still free).
    pub fn open_image(&mut self, path: PathBuf) {
        self.recent.push(&path);
        self.start_loading(vec![(None, path)], true, None);
    }

    /// The session as it is now.
    pub fn session(&self) -> Session {
        let p = self.crosshair;
        Session {
            format: SESSION_FORMAT.into(),
            files: self
                .layers
                .iter()
                .filter_map(|l| Some((l.name.clone(), l.source.clone()?)))
                .collect(),
            layers: self
                .layers
                .iter()
                .map(|l| LayerState {
                    name: l.name.clone(),
                    visible: l.visible,
                    opacity: l.opacity,
                    colormap: l.colormap,
                    window: l.window,
                })
                .collect(),
            crosshair_mm: [p.x, p.y, p.z],
            zoom: self.zoom,
            pan: self.pan.map(|v| [v.x, v.y]),
            layout: self.layout,
            interpolation: self.interpolation,
            fusion: self.fusion,
            pair: self.pair,
            tile_px: self.tile_px,
            flicker: self.flicker,
            landmarks: self.landmarks.sets.clone(),
            landmark_target: self.landmarks.active,
            view3d: self.view3d.settings.clone(),
            registration_start: self.registration_start.clone(),
        }
    }

    /// Sets everything a session holds on the layers already loaded.
    pub fn apply_session(&mut self, s: Session) {
        for st in &s.layers {
            if let Some(l) = self.layers.iter_mut().find(|l| l.name == st.name) {
                l.visible = st.visible;
                l.opacity = st.opacity;
                l.colormap = st.colormap;
                l.window = st.window;
            }
        }
        self.crosshair = Point3::from(s.crosshair_mm);
        self.zoom = s.zoom;
        self.pan = s.pan.map(|[x, y]| egui::vec2(x, y));
        self.layout = s.layout;
        self.interpolation = s.interpolation;
        self.fusion = s.fusion;
        self.pair = s.pair;
        self.tile_px = s.tile_px;
        self.flicker = s.flicker;
        let [f, m] = s.landmarks;
        self.landmarks = super::landmarks::LandmarkEditor::with_sets(f, m);
        self.landmarks.active = s.landmark_target.min(1);
        self.view3d.settings = s.view3d;
        self.registration_start = s.registration_start;
        self.mark_dirty();
    }

    /// Saves the session to `path`; the outcome goes to the status bar or the error line.
    pub fn save_session(&mut self, path: &Path) {
        match self.session().save(path) {
            Ok(()) => {
                self.recent.push(path);
                self.status = format!("session saved to {}", path.display());
            }
            Err(e) => self.error = Some(format!("{e:#}")),
        }
    }

    /// Opens a session: its images are read in the background, then its state applied.
    pub fn open_session(&mut self, path: &Path) {
        match Session::load(path) {
            Ok(s) => {
                self.recent.push(path);
                let files = s
                    .files
                    .iter()
                    .map(|(n, p)| (Some(n.clone()), p.clone()))
                    .collect();
                self.error = None;
                self.start_loading(files, false, Some(s));
            }
            Err(e) => self.error = Some(format!("{e:#}")),
        }
    }

    /// Replaces the landmarks of the image chosen in the panel with a file's (undoable).
    pub fn import_landmarks(&mut self, path: &Path) {
        match read_landmarks(path) {
            Ok(list) => {
                let n = list.len();
                let set = self.landmarks.active;
                self.landmarks.replace_set(set, list);
                self.status = format!("{n} landmarks imported from {}", path.display());
                self.mark_dirty();
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Writes the landmarks of the image chosen in the panel (format from the name).
    pub fn export_landmarks(&mut self, path: &Path) {
        let set = &self.landmarks.sets[self.landmarks.active];
        match write_landmarks(path, set) {
            Ok(()) => {
                self.status = format!("{} landmarks written to {}", set.len(), path.display())
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Does what `action` says with `path`.
    pub fn file_action(&mut self, action: FileAction, path: &Path) {
        match action {
            FileAction::OpenImage => self.open_image(path.to_path_buf()),
            FileAction::OpenSession => self.open_session(path),
            FileAction::SaveSession => self.save_session(path),
            FileAction::ImportLandmarks => self.import_landmarks(path),
            FileAction::ExportLandmarks => self.export_landmarks(path),
            FileAction::ExportDicom => self.export_dicom(path),
            FileAction::OpenProtocol => self.use_protocol(Some(path)),
        }
    }

    /// The File menu of the top bar.
    pub(super) fn file_menu(&mut self, ui: &mut egui::Ui) {
        ui.menu_button("File", |ui| {
            for action in [
                FileAction::OpenImage,
                FileAction::OpenSession,
                FileAction::SaveSession,
                FileAction::ImportLandmarks,
                FileAction::ExportLandmarks,
                FileAction::OpenProtocol,
            ] {
                if ui.button(action.title()).clicked() {
                    self.prompt = Some(Prompt {
                        action,
                        path: String::new(),
                    });
                }
            }
            ui.separator();
            ui.menu_button("Recent", |ui| {
                if self.recent.paths.is_empty() {
                    ui.label("nothing yet");
                }
                for p in self.recent.paths.clone() {
                    if ui.button(p.display().to_string()).clicked() {
                        if p.to_string_lossy().ends_with(".srrd.json") {
                            self.open_session(&p);
                        } else {
                            self.open_image(p);
                        }
                    }
                }
            });
        });
    }

    /// The prompt window, answers of the file dialog, and files dropped on the window.
    pub(super) fn file_ui(&mut self, ctx: &egui::Context) {
        if let Some((action, rx)) = &self.dialog
            && let Ok(answer) = rx.try_recv()
        {
            let action = *action;
            self.dialog = None;
            if let Some(path) = answer {
                self.prompt = None;
                self.file_action(action, &path);
            }
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            let name = path.to_string_lossy().to_lowercase();
            if name.ends_with(".srrd.json") {
                self.open_session(&path);
            } else if name.ends_with(".json") || name.ends_with(".fcsv") {
                self.import_landmarks(&path);
            } else {
                self.open_image(path);
            }
        }
        let Some(prompt) = &mut self.prompt else {
            return;
        };
        let action = prompt.action;
        let mut go = None;
        let mut close = false;
        let mut browse = false;
        egui::Window::new(action.title())
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                let field = ui.add(
                    egui::TextEdit::singleline(&mut prompt.path)
                        .desired_width(420.0)
                        .hint_text(if action.saves() { "path to write" } else { "path to read" }),
                );
                if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    go = Some(PathBuf::from(prompt.path.trim()));
                }
                ui.horizontal(|ui| {
                    if ui.button("OK").clicked() && !prompt.path.trim().is_empty() {
                        go = Some(PathBuf::from(prompt.path.trim()));
                    }
                    if ui.button("Cancel").clicked() {
                        close = true;
                    }
                    let available = dialog_available();
                    browse = ui
                        .add_enabled(available, egui::Button::new("Browse..."))
                        .on_disabled_hover_text(
                            "no system file dialog here (no D-Bus session): type the path, or drop the file on the window",
                        )
                        .clicked();
                });
                ui.small("Files can also be dropped on the window.");
            });
        if browse {
            let (tx, rx) = channel();
            let saves = action.saves();
            std::thread::spawn(move || {
                let d = rfd::FileDialog::new();
                let _ = tx.send(if saves { d.save_file() } else { d.pick_file() });
            });
            self.dialog = Some((action, rx));
        }
        if let Some(path) = go {
            self.prompt = None;
            self.file_action(action, &path);
        } else if close {
            self.prompt = None;
        }
    }
}
