//! The landmarks part: the landmark editor (the fixed and moving images' points, undo,
//! the protocol), placing mode, blinded placement, the transforms the TRE table can use;
//! and its panel (placing and editing, the protocol prompt, the TRE table).

use eframe::egui::{self, Color32};
use nalgebra::Point3;

use super::actions::Action;
use super::landmarks::LandmarkEditor;
use srrd_base::volume::{AffineTransform, Transform};
use srrd_registration::tre::{TreReport, tre_report};

/// The landmarks and how they are placed and compared.
pub struct Marks {
    editor: LandmarkEditor,
    /// In placing mode a left click adds a landmark (Ctrl+click always does).
    placing: bool,
    /// Blinded placement: only the active image's landmarks are drawn, and no TRE.
    blinded: bool,
    /// The rename field of the panel.
    rename_text: String,
    /// Transforms the TRE table can use (fixed -> moving); the first is the identity.
    transforms: Vec<(String, Transform)>,
    transform_choice: usize,
}

impl Default for Marks {
    fn default() -> Self {
        Marks {
            editor: LandmarkEditor::default(),
            placing: false,
            blinded: false,
            rename_text: String::new(),
            transforms: vec![(
                "identity".into(),
                Transform::Affine(AffineTransform::identity()),
            )],
            transform_choice: 0,
        }
    }
}

impl Marks {
    /// The landmark editor.
    pub fn editor(&self) -> &LandmarkEditor {
        &self.editor
    }

    /// The landmark editor, to change it.
    pub fn editor_mut(&mut self) -> &mut LandmarkEditor {
        &mut self.editor
    }

    /// Whether a plain left click places a landmark.
    pub fn placing(&self) -> bool {
        self.placing
    }

    /// Whether placement is blinded (the other image's points and the TRE hidden).
    pub fn blinded(&self) -> bool {
        self.blinded
    }

    /// Sets blinded placement.
    pub fn set_blinded(&mut self, blinded: bool) {
        self.blinded = blinded;
    }

    /// A fresh start on new images with these landmark sets: placing mode, blinding,
    /// the protocol and the image points go to stay; the rest starts again.
    pub fn start_over(
        &mut self,
        fixed: Vec<srrd_base::io::landmarks::Landmark>,
        moving: Vec<srrd_base::io::landmarks::Landmark>,
    ) {
        let mut fresh = Marks {
            placing: self.placing,
            blinded: self.blinded,
            ..Marks::default()
        };
        fresh.editor = LandmarkEditor::with_sets(fixed, moving);
        fresh.editor.protocol = self.editor.protocol.take();
        fresh.editor.active = self.editor.active;
        *self = fresh;
    }

    /// Adds transforms for the TRE table (replacing those of the same name) and chooses
    /// the last.
    pub fn add_transforms(&mut self, transforms: Vec<(String, Transform)>) {
        if transforms.is_empty() {
            return;
        }
        for t in transforms {
            self.transforms.retain(|x| x.0 != t.0);
            self.transforms.push(t);
        }
        self.transform_choice = self.transforms.len() - 1;
    }

    /// The transforms the TRE table can use (fixed -> moving); the first is the identity.
    pub fn transforms(&self) -> &[(String, Transform)] {
        &self.transforms
    }

    /// The transform called `name`.
    pub fn transform(&self, name: &str) -> Option<&Transform> {
        self.transforms
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }

    /// The TRE of the landmark pairs under the chosen transform.
    pub fn tre(&self) -> Option<TreReport> {
        let t = &self.transforms.get(self.transform_choice)?.1;
        tre_report(&self.editor.sets[0], &self.editor.sets[1], t)
    }

    /// How many CT-MR pairs (same label) there are.
    pub fn pairs(&self) -> usize {
        srrd_base::io::pair_by_label(&self.editor.sets[0], &self.editor.sets[1]).len()
    }

    /// A rigid fit (fixed -> moving) to the CT-MR landmark pairs (matched by label; 3
    /// or more, not on one line), with each pair's residual.
    pub fn fit(&self) -> srrd_base::error::Result<srrd_registration::landmark_fit::LandmarkFit> {
        let pairs: Vec<(String, Point3<f64>, Point3<f64>)> =
            srrd_base::io::pair_by_label(&self.editor.sets[0], &self.editor.sets[1])
                .into_iter()
                .map(|(l, a, b)| (l.to_string(), Point3::from(a), Point3::from(b)))
                .collect();
        srrd_registration::landmark_fit::fit_rigid(&pairs)
    }

    /// Loads a protocol file (or the default knee protocol with None) for the editor;
    /// the status line, or the error.
    pub fn use_protocol(&mut self, path: Option<&std::path::Path>) -> Result<String, String> {
        super::protocol::load_protocol(&mut self.editor, path)
    }
}

/// The landmark panel: the image points go to, placing mode, undo, rename, the protocol,
/// and the TRE table under a chosen transform.
pub fn landmark_ui(ui: &mut egui::Ui, marks: &mut Marks) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut changed = false;
    let editor = &mut marks.editor;
    ui.label("Landmarks");
    ui.horizontal(|ui| {
        ui.label("place on");
        changed |= ui
            .radio_value(&mut editor.active, 0, "CT (fixed)")
            .changed();
        changed |= ui
            .radio_value(&mut editor.active, 1, "MR (moving)")
            .changed();
    });
    ui.checkbox(&mut marks.placing, "Place with a click (Ctrl+click always)");
    ui.horizontal(|ui| {
        if ui.button("Undo").clicked() {
            changed |= editor.undo();
        }
        if ui.button("Redo").clicked() {
            changed |= editor.redo();
        }
        if ui.button("Delete").clicked() {
            changed |= editor.delete_selected();
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut marks.rename_text)
                .desired_width(120.0)
                .hint_text("new label"),
        );
        let can = editor.selected.is_some() && !marks.rename_text.trim().is_empty();
        if ui
            .add_enabled(can, egui::Button::new("Rename selected"))
            .clicked()
            && editor.rename_selected(&marks.rename_text)
        {
            marks.rename_text.clear();
            changed = true;
        }
    });
    let (protocol_changed, protocol_action) = super::protocol::protocol_ui(ui, editor);
    changed |= protocol_changed;
    actions.extend(protocol_action);
    let names: Vec<String> = marks.transforms.iter().map(|t| t.0.clone()).collect();
    egui::ComboBox::from_label("TRE under")
        .selected_text(
            names
                .get(marks.transform_choice)
                .cloned()
                .unwrap_or_default(),
        )
        .show_ui(ui, |ui| {
            for (i, n) in names.iter().enumerate() {
                ui.selectable_value(&mut marks.transform_choice, i, n);
            }
        });
    if changed {
        actions.push(Action::Redraw);
    }
    if marks.blinded {
        ui.small("Blinded: the other image's points and the TRE are hidden.");
        return actions;
    }
    let Some(report) = marks.tre() else {
        ui.small("No pairs yet: place a point on each image with the same label.");
        return actions;
    };
    ui.label(format!(
        "{} pairs: mean {:.2} +- {:.2} mm, max {:.2}",
        report.n, report.mean_mm, report.sd_mm, report.max_mm
    ));
    let editor = &mut marks.editor;
    egui::ScrollArea::vertical()
        .max_height(180.0)
        .show(ui, |ui| {
            for p in &report.pairs {
                let colour = if report.is_outlier(p.tre_mm) {
                    Color32::from_rgb(255, 90, 90)
                } else {
                    Color32::LIGHT_GRAY
                };
                let selected = editor.selected.as_deref() == Some(p.label.as_str());
                let label: String = p.label.chars().take(26).collect();
                let text = egui::RichText::new(format!("{label:<26} {:>6.2} mm", p.tre_mm))
                    .monospace()
                    .color(colour);
                if ui.selectable_label(selected, text).clicked() {
                    editor.selected = Some(p.label.clone());
                    if let Some(q) = editor.sets[editor.active]
                        .iter()
                        .find(|l| l.label == p.label)
                        .map(|l| Point3::from(l.position_mm))
                    {
                        actions.push(Action::Crosshair(q));
                    }
                    actions.push(Action::Redraw);
                }
            }
        });
    actions
}
