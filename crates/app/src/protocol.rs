//! The landmark protocol in the landmark panel: which protocol is followed, the next
//! landmark to place on the chosen image with its description, progress (12 of 25), and
//! Skip / Cannot be placed. The bookkeeping lives in [`super::landmarks::LandmarkEditor`].

use eframe::egui;

use super::actions::Action;
use super::landmarks::LandmarkEditor;
use srrd_base::io::protocol::{default_protocol_path, read_protocol};

/// Loads a protocol file (or the default knee protocol with None) into `editor`: a line
/// for the status bar, or the error.
pub(super) fn load_protocol(
    editor: &mut LandmarkEditor,
    path: Option<&std::path::Path>,
) -> Result<String, String> {
    let path = path.map_or_else(default_protocol_path, std::path::Path::to_path_buf);
    let p = read_protocol(&path).map_err(|e| e.to_string())?;
    let line = format!(
        "landmark protocol: {} ({} landmarks)",
        p.name,
        p.landmarks.len()
    );
    editor.protocol = Some(p);
    editor.skipped = Default::default();
    editor.unplaceable = Default::default();
    Ok(line)
}

/// The protocol section: whether the landmarks changed, and an action (follow the
/// default protocol).
pub(super) fn protocol_ui(
    ui: &mut egui::Ui,
    editor: &mut LandmarkEditor,
) -> (bool, Option<Action>) {
    let mut changed = false;
    let Some(name) = editor.protocol.as_ref().map(|p| p.name.clone()) else {
        if ui
            .button("Follow the knee protocol (25 landmarks)")
            .on_hover_text("each click then places the protocol's next landmark, by name; File > Open landmark protocol loads another")
            .clicked()
        {
            return (true, Some(Action::UseProtocol(None)));
        }
        return (false, None);
    };
    let image = ["CT", "MR"][editor.active.min(1)];
    let (done, total) = editor.progress().unwrap_or((0, 0));
    ui.small(format!("protocol: {name}"));
    match editor.next_prompt().cloned() {
        Some(next) => {
            ui.strong(format!(
                "next on the {image} ({} of {total}): {}",
                done + 1,
                next.name
            ));
            ui.small(next.description);
            ui.horizontal(|ui| {
                if ui
                    .button("Skip")
                    .on_hover_text("come back to it after the others")
                    .clicked()
                {
                    editor.skip();
                    changed = true;
                }
                if ui.button("Cannot be placed").clicked() {
                    editor.cannot_place();
                    changed = true;
                }
            });
        }
        None => {
            ui.strong(format!("{image}: all {total} landmarks done"));
        }
    }
    (changed, None)
}
