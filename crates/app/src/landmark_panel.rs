//! The landmark panel: placing and editing landmarks, the protocol prompt, and the TRE
//! table under a chosen transform.

use eframe::egui::{self, Color32};
use nalgebra::Point3;

use super::viewer::*;
use srrd_registration::tre::{TreReport, tre_report};

impl ViewerApp {
    /// The TRE of the landmark pairs under the chosen transform.
    pub fn tre(&self) -> Option<TreReport> {
        let t = &self.transforms.get(self.transform_choice)?.1;
        tre_report(&self.landmarks.sets[0], &self.landmarks.sets[1], t)
    }

    pub(super) fn landmark_panel(&mut self, ui: &mut egui::Ui, changed: &mut bool) {
        ui.label("Landmarks");
        ui.horizontal(|ui| {
            ui.label("place on");
            *changed |= ui
                .radio_value(&mut self.landmarks.active, 0, "CT (fixed)")
                .changed();
            *changed |= ui
                .radio_value(&mut self.landmarks.active, 1, "MR (moving)")
                .changed();
        });
        ui.checkbox(&mut self.placing, "Place with a click (Ctrl+click always)");
        ui.horizontal(|ui| {
            if ui.button("Undo").clicked() {
                *changed |= self.landmarks.undo();
            }
            if ui.button("Redo").clicked() {
                *changed |= self.landmarks.redo();
            }
            if ui.button("Delete").clicked() {
                *changed |= self.landmarks.delete_selected();
            }
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.rename_text)
                    .desired_width(120.0)
                    .hint_text("new label"),
            );
            let can = self.landmarks.selected.is_some() && !self.rename_text.trim().is_empty();
            if ui
                .add_enabled(can, egui::Button::new("Rename selected"))
                .clicked()
                && self.landmarks.rename_selected(&self.rename_text)
            {
                self.rename_text.clear();
                *changed = true;
            }
        });
        self.protocol_ui(ui, changed);
        let names: Vec<String> = self.transforms.iter().map(|t| t.0.clone()).collect();
        egui::ComboBox::from_label("TRE under")
            .selected_text(
                names
                    .get(self.transform_choice)
                    .cloned()
                    .unwrap_or_default(),
            )
            .show_ui(ui, |ui| {
                for (i, n) in names.iter().enumerate() {
                    ui.selectable_value(&mut self.transform_choice, i, n);
                }
            });
        if self.blinded {
            ui.small("Blinded: the other image's points and the TRE are hidden.");
            return;
        }
        let Some(report) = self.tre() else {
            ui.small("No pairs yet: place a point on each image with the same label.");
            return;
        };
        ui.label(format!(
            "{} pairs: mean {:.2} +- {:.2} mm, max {:.2}",
            report.n, report.mean_mm, report.sd_mm, report.max_mm
        ));
        egui::ScrollArea::vertical()
            .max_height(180.0)
            .show(ui, |ui| {
                for p in &report.pairs {
                    let colour = if report.is_outlier(p.tre_mm) {
                        Color32::from_rgb(255, 90, 90)
                    } else {
                        Color32::LIGHT_GRAY
                    };
                    let selected = self.landmarks.selected.as_deref() == Some(p.label.as_str());
                    let label: String = p.label.chars().take(26).collect();
                    let text = egui::RichText::new(format!("{label:<26} {:>6.2} mm", p.tre_mm))
                        .monospace()
                        .color(colour);
                    if ui.selectable_label(selected, text).clicked() {
                        self.landmarks.selected = Some(p.label.clone());
                        if let Some(q) = self.landmarks.sets[self.landmarks.active]
                            .iter()
                            .find(|l| l.label == p.label)
                            .map(|l| Point3::from(l.position_mm))
                        {
                            self.crosshair = q;
                        }
                        *changed = true;
                    }
                }
            });
    }
}
