//! The files part: opening and saving from the viewer (images, sessions, landmark files,
//! protocols, DICOM export) through a prompt with a path field and a Browse button (the
//! system file dialog via rfd, on its own thread), drag-and-drop onto the window, and the
//! recent list. What to do with a chosen path comes back as an action.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;

use super::actions::Action;
use super::session::RecentFiles;

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
    /// The models folder analyses use (`srrd study`'s `models`, `train-regression`'s).
    ChooseModels,
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
            FileAction::ChooseModels => "Models folder (srrd study's models, or assets)",
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

/// The prompt, the file dialog and the recent files.
#[derive(Default)]
pub struct Files {
    /// Recently opened images and sessions.
    recent: RecentFiles,
    /// An open/save prompt (path field, Browse button) on screen.
    prompt: Option<Prompt>,
    /// A file dialog running on its own thread, and what its answer is for.
    dialog: Option<(FileAction, Receiver<Option<PathBuf>>)>,
}

/// What opening `path` means: a session, landmarks, or an image (by its name).
pub fn open_action(path: &std::path::Path, landmarks_too: bool) -> FileAction {
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".srrd.json") {
        FileAction::OpenSession
    } else if landmarks_too && (name.ends_with(".json") || name.ends_with(".fcsv")) {
        FileAction::ImportLandmarks
    } else {
        FileAction::OpenImage
    }
}

impl Files {
    /// The recent files.
    pub fn recent(&self) -> &RecentFiles {
        &self.recent
    }

    /// The recent files, to add to them.
    pub fn recent_mut(&mut self) -> &mut RecentFiles {
        &mut self.recent
    }

    /// Puts the prompt for `action` on screen, with `path` in its field.
    pub fn ask(&mut self, action: FileAction, path: &str) {
        self.prompt = Some(Prompt {
            action,
            path: path.into(),
        });
    }

    /// A fresh start on new images: the prompt and the dialog close; the recent files
    /// stay.
    pub fn start_over(&mut self) {
        self.prompt = None;
        self.dialog = None;
    }

    /// The prompt on screen, if any.
    pub fn prompt(&self) -> Option<&Prompt> {
        self.prompt.as_ref()
    }

    /// The prompt on screen, to fill its field.
    pub fn prompt_mut(&mut self) -> Option<&mut Prompt> {
        self.prompt.as_mut()
    }
}

/// The File menu of the top bar.
pub fn file_menu(ui: &mut egui::Ui, files: &mut Files, models: &std::path::Path) -> Vec<Action> {
    let mut actions = Vec::new();
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
                files.ask(action, "");
            }
        }
        if ui.button("PACS…").clicked() {
            actions.push(Action::Pacs(super::pacs_panel::PacsAction::Show));
        }
        ui.separator();
        ui.menu_button("Models", |ui| {
            ui.label(format!("now: {}", models.display()));
            if ui.button("Models folder…").clicked() {
                files.ask(FileAction::ChooseModels, "");
            }
            if ui.button("Demo models").clicked() {
                actions.push(Action::DemoModels);
            }
        });
        ui.separator();
        ui.menu_button("Recent", |ui| {
            if files.recent.paths.is_empty() {
                ui.label("nothing yet");
            }
            for p in files.recent.paths.clone() {
                if ui.button(p.display().to_string()).clicked() {
                    actions.push(Action::File(open_action(&p, false), p));
                }
            }
        });
    });
    actions
}

/// The prompt window, answers of the file dialog, and files dropped on the window.
pub fn file_ui(ctx: &egui::Context, files: &mut Files) -> Vec<Action> {
    let mut actions = Vec::new();
    if let Some((action, rx)) = &files.dialog
        && let Ok(answer) = rx.try_recv()
    {
        let action = *action;
        files.dialog = None;
        if let Some(path) = answer {
            files.prompt = None;
            actions.push(Action::File(action, path));
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
        actions.push(Action::File(open_action(&path, true), path));
    }
    let Some(prompt) = &mut files.prompt else {
        return actions;
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
            let _ = tx.send(match action {
                FileAction::ChooseModels => d.pick_folder(),
                _ if saves => d.save_file(),
                _ => d.pick_file(),
            });
        });
        files.dialog = Some((action, rx));
    }
    if let Some(path) = go {
        files.prompt = None;
        actions.push(Action::File(action, path));
    } else if close {
        files.prompt = None;
    }
    actions
}
