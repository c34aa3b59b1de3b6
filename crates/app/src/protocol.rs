//! The landmark protocol in the landmark panel: which protocol is followed, the next
//! landmark to place on the chosen image with its description, progress (12 of 25), and
//! Skip / Cannot be placed. The bookkeeping lives in [`super::landmarks::LandmarkEditor`].

use eframe::egui;

use super::viewer::ViewerApp;
use srrd_base::io::protocol::{default_protocol_path, read_protocol};

impl ViewerApp {
    /// Loads a protocol file (or the default knee protocol with None) for the landmark
    /// editor; errors go to the error line.
    pub fn use_protocol(&mut self, path: Option<&std::path::Path>) {
        let path = path.map_or_else(default_protocol_path, std::path::Path::to_path_buf);
        match read_protocol(&path) {
            Ok(p) => {
                self.status = format!(
                    "landmark protocol: {} ({} landmarks)",
                    p.name,
                    p.landmarks.len()
                );
                self.landmarks.protocol = Some(p);
                self.landmarks.skipped = Default::default();
                self.landmarks.unplaceable = Default::default();
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    pub(super) fn protocol_ui(&mut self, ui: &mut egui::Ui, changed: &mut bool) {
        let Some(name) = self.landmarks.protocol.as_ref().map(|p| p.name.clone()) else {
            if ui
                .button("Follow the knee protocol (25 landmarks)")
                .on_hover_text("each click then places the protocol's next landmark, by name; File > Open landmark protocol loads another")
                .clicked()
            {
                self.use_protocol(None);
                *changed = true;
            }
            return;
        };
        let image = ["CT", "MR"][self.landmarks.active.min(1)];
        let (done, total) = self.landmarks.progress().unwrap_or((0, 0));
        ui.small(format!("protocol: {name}"));
        match self.landmarks.next_prompt().cloned() {
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
                        self.landmarks.skip();
                        *changed = true;
                    }
                    if ui.button("Cannot be placed").clicked() {
                        self.landmarks.cannot_place();
                        *changed = true;
                    }
                });
            }
            None => {
                ui.strong(format!("{image}: all {total} landmarks done"));
            }
        }
    }
}
