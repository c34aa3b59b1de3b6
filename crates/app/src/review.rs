//! The registration review panel: the verdict (accept, reject, needs fix) with a
//! comment, the layers that help decide (CT bone edges, local similarity, the refined
//! field's Jacobian), and manual correction: a start from landmark pairs, nudging the
//! MR (Shift + arrows, Shift + , and .), undo, and "refine from here".

use eframe::egui::{self, Color32};
use nalgebra::Unit;

use super::layer::{Colormap, Layer};
use super::viewer::{PLANES, ViewerApp};
use srrd_base::volume::{RigidTransform, Transform};
use srrd_pipeline::worklist::Decision;
use srrd_registration::manual::ManualStart;

/// The nudge steps: translation per key press (mm) and rotation (degrees).
pub const NUDGE_MM: f64 = 1.0;
pub const NUDGE_DEG: f64 = 1.0;

impl ViewerApp {
    /// Starts nudging the MR by hand from `t` (fixed -> moving); the MR layer is shown
    /// under it at once.
    pub fn begin_manual(&mut self, t: RigidTransform) {
        self.manual = Some(ManualStart::new(t));
        self.show_manual();
    }

    /// Starts nudging from a rigid fit to the landmark pairs (each pair's residual in
    /// the status bar), or from the identity when there are fewer than three pairs.
    pub fn begin_manual_from_landmarks(&mut self) {
        match self.landmark_fit() {
            Ok(fit) => {
                let residuals: Vec<String> = fit
                    .pairs
                    .iter()
                    .map(|p| format!("{} {:.1}", p.label, p.residual_mm))
                    .collect();
                self.status = format!(
                    "start from {} landmark pairs: RMS {:.1} mm (residuals: {} mm)",
                    fit.pairs.len(),
                    fit.rms_mm,
                    residuals.join(", ")
                );
                self.begin_manual(fit.transform);
            }
            Err(e) => self.error = Some(format!("landmark start: {e}")),
        }
    }

    /// Shows the MR layer under the transform being edited (or as read when none).
    pub(super) fn show_manual(&mut self) {
        let t = self.manual.as_ref().map(|m| m.current.clone());
        for l in &mut self.layers {
            if l.name == "MR" {
                l.moved_by = t.clone();
            }
        }
        self.dirty = true;
    }

    /// Moves the shown MR within view `n`'s plane: `dx`, `dy` mm along the view's right
    /// and down, and `turn_deg` about the view's normal through the crosshair.
    pub fn nudge(&mut self, n: usize, dx: f64, dy: f64, turn_deg: f64) {
        let crosshair = self.crosshair;
        let Some(m) = &mut self.manual else {
            return;
        };
        let (u, v, normal) = PLANES[n.min(2)].axes();
        m.nudge(
            u * dx + v * dy,
            Unit::new_normalize(normal),
            turn_deg.to_radians(),
            crosshair,
        );
        self.show_manual();
    }

    /// Runs the coarse and refined steps from the transform being edited; it becomes
    /// the case's corrected start.
    pub fn refine_from_here(&mut self) {
        let Some(m) = self.manual.take() else {
            return;
        };
        let (angle, t) = m.summary();
        let how = format!(
            "a corrected start (rotation {angle:.1} degrees, translation {:.1}, {:.1}, {:.1} mm)",
            t.x, t.y, t.z
        );
        self.show_manual();
        self.start_registration_from(Some((m.current, how)));
    }

    /// Keys of the manual correction, on the view under the pointer.
    pub(super) fn nudge_keys(&mut self, ctx: &egui::Context, view: Option<usize>) {
        if self.manual.is_none() || ctx.egui_wants_keyboard_input() {
            return;
        }
        let Some(n) = view else {
            return;
        };
        let keys = [
            (egui::Key::ArrowLeft, -NUDGE_MM, 0.0, 0.0),
            (egui::Key::ArrowRight, NUDGE_MM, 0.0, 0.0),
            (egui::Key::ArrowUp, 0.0, -NUDGE_MM, 0.0),
            (egui::Key::ArrowDown, 0.0, NUDGE_MM, 0.0),
            (egui::Key::Comma, 0.0, 0.0, -NUDGE_DEG),
            (egui::Key::Period, 0.0, 0.0, NUDGE_DEG),
        ];
        for (key, dx, dy, turn) in keys {
            if ctx.input(|i| i.modifiers.shift && !i.modifiers.command && i.key_pressed(key)) {
                self.nudge(n, dx, dy, turn);
            }
        }
    }

    /// Adds the review layers: the CT's bone edges (always), and with a registered MR
    /// (rrMR, else crMR) the local similarity, and with a refined field its Jacobian.
    pub fn add_review_layers(&mut self) {
        let Some(ct) = self.layer_volume("CT") else {
            self.error = Some("the review layers need a CT layer".into());
            return;
        };
        let mr = self
            .layer_volume("rrMR")
            .or_else(|| self.layer_volume("crMR"));
        let field = self.transforms.iter().find_map(|(n, t)| match t {
            Transform::Field(f) if n == "refined" => Some(f.clone()),
            _ => None,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let progress = std::sync::Arc::new(srrd_base::progress::Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(Ok(review_layers(
                &ct,
                mr.as_deref(),
                field.as_ref(),
                &worker,
            )));
        });
        self.error = None;
        self.job = Some((rx, progress));
    }

    /// The review section of the side panel.
    pub(super) fn review_ui(&mut self, ui: &mut egui::Ui) {
        ui.label("Registration review");
        let ready = ["CT", "MR"]
            .iter()
            .all(|n| self.layers.iter().any(|l| l.name == *n));
        if let Some(w) = &mut self.worklist {
            ui.horizontal(|ui| {
                for d in Decision::ALL {
                    if ui
                        .selectable_label(w.review.decision == Some(d), d.label())
                        .clicked()
                    {
                        w.review.decision = Some(d);
                        w.status = d.status();
                    }
                }
            });
            ui.add(
                egui::TextEdit::multiline(&mut w.review.comment)
                    .hint_text("comment")
                    .desired_rows(2)
                    .desired_width(f32::INFINITY),
            );
        }
        if ui
            .add_enabled(self.layers.iter().any(|l| l.name == "CT"), egui::Button::new("Review layers"))
            .on_hover_text("CT bone edges (over the MR), |local NCC| of the CT and rrMR, the refined field's Jacobian determinant")
            .clicked()
        {
            self.add_review_layers();
        }
        match &self.manual {
            None => {
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(ready, egui::Button::new("Correct by hand"))
                        .on_hover_text("nudge the MR from its current start: Shift + arrows move it 1 mm in the view under the pointer, Shift + , and . turn it 1 degree")
                        .clicked()
                    {
                        let t = self.registration_start.clone().unwrap_or_default();
                        self.begin_manual(t);
                    }
                    let pairs = srrd_base::io::pair_by_label(&self.landmarks.sets[0], &self.landmarks.sets[1]).len();
                    if ui
                        .add_enabled(ready && pairs >= 3, egui::Button::new("Start from landmarks"))
                        .on_hover_text("a rigid fit to the landmark pairs, each pair's residual shown, then nudge")
                        .clicked()
                    {
                        self.begin_manual_from_landmarks();
                    }
                });
            }
            Some(m) => {
                let (angle, t) = m.summary();
                ui.colored_label(
                    Color32::from_rgb(232, 176, 74),
                    format!(
                        "correcting: rotation {angle:.1} degrees, translation ({:.1}, {:.1}, {:.1}) mm",
                        t.x, t.y, t.z
                    ),
                );
                ui.small("Shift + arrows: move 1 mm; Shift + , / .: turn 1 degree (view under the pointer)");
                let depth = m.undo_depth();
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(depth > 0, egui::Button::new("Undo nudge"))
                        .clicked()
                        && let Some(m) = &mut self.manual
                        && m.undo()
                    {
                        self.show_manual();
                    }
                    if ui.button("Redo nudge").clicked()
                        && let Some(m) = &mut self.manual
                        && m.redo()
                    {
                        self.show_manual();
                    }
                    if ui.button("Refine from here").clicked() {
                        self.refine_from_here();
                    }
                    if ui.button("Stop").clicked() {
                        self.manual = None;
                        self.show_manual();
                    }
                });
            }
        }
        if let Some(t) = &self.registration_start {
            ui.small(format!(
                "corrected start in use: rotation {:.1} degrees (the analysis registers from it)",
                t.rotation.angle().to_degrees()
            ));
        }
    }
}

/// The review layers (on a worker thread): the CT's bone edges, with a registered MR the
/// |local NCC|, with a refined field its Jacobian.
fn review_layers(
    ct: &srrd_base::volume::Volume,
    mr: Option<&srrd_base::volume::Volume>,
    field: Option<&srrd_base::volume::DisplacementField>,
    progress: &srrd_base::progress::Progress,
) -> super::jobs::JobOutput {
    use srrd_registration::review_maps::{bone_edges, jacobian_map, local_similarity};
    let mut layers = Vec::new();
    let mut notes = Vec::new();
    progress.start("CT bone edges", 1);
    let mut edges = Layer::new(
        "CT edges",
        bone_edges(ct, srrd_segmentation::bones::CT_BONE_HU),
    );
    edges.colormap = Colormap::Hot;
    edges.window = (0.6, 0.4);
    edges.opacity = 0.9;
    layers.push(edges);
    if let Some(mr) = mr {
        progress.start("local similarity of CT and the registered MR", 1);
        match local_similarity(ct, mr, 4.0) {
            Ok(v) => {
                let mut l = Layer::new("similarity", v);
                l.colormap = Colormap::Viridis;
                l.window = (0.5, 1.0);
                l.opacity = 0.6;
                l.visible = false;
                layers.push(l);
            }
            Err(e) => notes.push(format!("no similarity map ({e})")),
        }
    }
    if let Some(f) = field {
        progress.start("Jacobian of the refined field", 1);
        let mut l = Layer::new("Jacobian", jacobian_map(f));
        l.colormap = Colormap::Jet;
        l.window = (1.0, 1.0);
        l.opacity = 0.6;
        l.visible = false;
        layers.push(l);
    }
    let names: Vec<String> = layers.iter().map(|l| l.name.clone()).collect();
    notes.insert(0, format!("review layers: {}", names.join(", ")));
    super::jobs::JobOutput {
        layers,
        status: notes.join("; "),
        transforms: Vec::new(),
        results: None,
        surfaces: None,
    }
}
