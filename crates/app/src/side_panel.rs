//! The left panel: layers (window, colours, series), comparison of two layers, the
//! landmark panel and the pipeline buttons.

use eframe::egui::{self, Color32};

use super::fusion::FusionMode;
use super::jobs::progress_ui;
use super::layer::{Colormap, auto_window};
use super::viewer::ViewerApp;
use srrd_base::volume::Interpolation;

impl ViewerApp {
    /// Everything the left panel shows, top to bottom.
    pub(super) fn side_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Layers");
        if let Some(l) = &self.loading {
            progress_ui(ui, &l.progress);
        }
        // A bilateral CT: ask which knee.
        let which = self
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with(super::results::WHICH_KNEE));
        if let Some(e) = &self.error
            && !which
        {
            ui.colored_label(Color32::from_rgb(255, 90, 90), e);
        }
        if which && self.job.is_none() {
            ui.colored_label(
                Color32::from_rgb(232, 176, 74),
                "This CT holds both knees: analyse which?",
            );
            use srrd_segmentation::knees::Side;
            ui.horizontal(|ui| {
                ui.label("Which knee?");
                if ui.button("Left knee").clicked() {
                    self.start_analysis_of(Some(Side::Left));
                }
                if ui.button("Right knee").clicked() {
                    self.start_analysis_of(Some(Side::Right));
                }
            });
        }
        let mut changed = false;
        let mut switch = None;
        for layer in &mut self.layers {
            ui.separator();
            changed |= ui
                .checkbox(&mut layer.visible, layer.name.as_str())
                .changed();
            let g = &layer.volume.geometry;
            ui.small(format!(
                "{}x{}x{}  {:.3}x{:.3}x{:.3} mm",
                g.size[0], g.size[1], g.size[2], g.spacing_mm[0], g.spacing_mm[1], g.spacing_mm[2]
            ));
            if let Some(id) = super::dicom::series_combo(ui, layer) {
                switch = Some((layer.id, id));
            }
            changed |= ui
                .add(
                    egui::Slider::new(&mut layer.window.0, -1500.0..=3000.0)
                        .clamping(egui::SliderClamping::Never)
                        .text("level"),
                )
                .changed();
            changed |= ui
                .add(
                    egui::Slider::new(&mut layer.window.1, 0.01..=5000.0)
                        .logarithmic(true)
                        .clamping(egui::SliderClamping::Never)
                        .text("window"),
                )
                .changed();
            ui.horizontal(|ui| {
                changed |= ui
                    .add(egui::Slider::new(&mut layer.opacity, 0.0..=1.0).text("opacity"))
                    .changed();
                egui::ComboBox::new(("colormap", layer.id), "colours")
                    .selected_text(format!("{:?}", layer.colormap))
                    .width(70.0)
                    .show_ui(ui, |ui| {
                        for c in Colormap::ALL {
                            changed |= ui
                                .selectable_value(&mut layer.colormap, c, format!("{c:?}"))
                                .changed();
                        }
                    });
            });
            // HU presets for images in HU; the percentile window for every layer.
            let in_hu = layer.in_hu;
            ui.horizontal(|ui| {
                if in_hu && ui.button("CT bone").clicked() {
                    layer.window = (400.0, 1800.0);
                    changed = true;
                }
                if in_hu && ui.button("CT soft").clicked() {
                    layer.window = (40.0, 400.0);
                    changed = true;
                }
                if ui.button("auto").clicked() {
                    layer.window = auto_window(&layer.volume);
                    changed = true;
                }
            });
        }
        if let Some((layer_id, series)) = switch {
            self.switch_series(layer_id, series);
        }
        ui.separator();
        let mut linear = self.interpolation == Interpolation::Linear;
        if ui.checkbox(&mut linear, "linear interpolation").changed() {
            self.interpolation = if linear {
                Interpolation::Linear
            } else {
                Interpolation::Nearest
            };
            changed = true;
        }
        if self.layers.len() >= 2 {
            ui.separator();
            ui.label("Compare");
            let names: Vec<String> = self.layers.iter().map(|l| l.name.clone()).collect();
            for (which, label) in [(0, "A"), (1, "B")] {
                let current = if which == 0 { self.pair.0 } else { self.pair.1 };
                egui::ComboBox::from_label(label)
                    .selected_text(names.get(current).cloned().unwrap_or_default())
                    .show_ui(ui, |ui| {
                        for (i, n) in names.iter().enumerate() {
                            let target = if which == 0 {
                                &mut self.pair.0
                            } else {
                                &mut self.pair.1
                            };
                            if ui.selectable_value(target, i, n).changed() {
                                changed = true;
                            }
                        }
                    });
            }
            ui.horizontal_wrapped(|ui| {
                for mode in FusionMode::ALL {
                    if ui
                        .selectable_value(&mut self.fusion, mode, mode.label())
                        .changed()
                    {
                        changed = true;
                    }
                }
            });
            if self.fusion == FusionMode::Checkerboard {
                changed |= ui
                    .add(egui::Slider::new(&mut self.tile_px, 2..=64).text("tile (px)"))
                    .changed();
            }
            ui.horizontal(|ui| {
                let label = match self.flicker {
                    None => "Flicker (F)".to_string(),
                    Some(b) => format!("Flicker: {} (F)", if b { "B" } else { "A" }),
                };
                if ui.button(label).clicked() {
                    self.toggle_flicker();
                    changed = true;
                }
                if self.flicker.is_some() && ui.button("Flicker off").clicked() {
                    self.flicker = None;
                    changed = true;
                }
            });
        }
        ui.separator();
        self.landmark_panel(ui, &mut changed);
        ui.separator();
        self.review_ui(ui);
        ui.separator();
        ui.label("Pipeline");
        if let Some((_, progress)) = &self.job {
            self.stage_log.observe(progress);
            self.stage_log.ui(ui);
            progress_ui(ui, progress);
        } else {
            // The stages of the last run stay listed, with their times.
            self.stage_log.ui(ui);
            let ready = ["CT", "MR"]
                .iter()
                .all(|n| self.layers.iter().any(|l| l.name == *n));
            if ui
                .add_enabled(ready, egui::Button::new("Register MR to CT"))
                .on_hover_text("coarse rigid (mutual information), sCT from crMR (SPSNet, when its model is present), then femur and tibia separately on crMR: adds crMR, sCT and rrMR")
                .clicked()
            {
                self.start_registration();
            }
            let pairs =
                srrd_base::io::pair_by_label(&self.landmarks.sets[0], &self.landmarks.sets[1])
                    .len();
            if ui
                .add_enabled(
                    ready && pairs >= 3,
                    egui::Button::new(format!("Register from {pairs} landmark pairs")),
                )
                .on_hover_text("when the automatic registration lands far off: a rigid start fitted to the CT-MR landmark pairs (same labels, 3 or more, not on one line), then the coarse and refined steps from there")
                .clicked()
            {
                self.start_registration_from_landmarks();
            }
            let has_ct = self.layers.iter().any(|l| l.name == "CT");
            if ui
                .add_enabled(has_ct, egui::Button::new("Analyze (SRRD)"))
                .on_hover_text("bones, subchondral subregions, CT-only trabecular parameters, KOA score (with the MR: registration and MR-measured parameters for comparison)")
                .clicked()
            {
                self.start_analysis();
            }
        }
        ui.separator();
        ui.small("Research use only. F1: keyboard and mouse help.");
        if changed {
            self.dirty = true;
        }
    }
}
