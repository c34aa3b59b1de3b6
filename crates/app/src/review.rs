//! The review part: the registration's corrected start and the MR being nudged by hand,
//! and its panel: the verdict (accept, reject, needs fix) with a comment, the layers that
//! help decide (CT bone edges, local similarity, the refined field's Jacobian), and manual
//! correction: a start from landmark pairs, nudging the MR (Shift + arrows, Shift + , and
//! .), undo, and "refine from here".

use eframe::egui::{self, Color32};
use nalgebra::{Point3, Unit};

use super::actions::Action;
use super::layer::{Colormap, Layer};
use super::viewer::PLANES;
use super::worklist::WorklistPanel;
use srrd_base::volume::RigidTransform;
use srrd_pipeline::worklist::Decision;
use srrd_registration::manual::ManualStart;

/// The nudge steps: translation per key press (mm) and rotation (degrees).
pub const NUDGE_MM: f64 = 1.0;
pub const NUDGE_DEG: f64 = 1.0;

/// The registration's start and its correction by hand.
#[derive(Default)]
pub struct Review {
    /// The registration's corrected start (fixed -> moving): from landmarks or a nudge;
    /// the analysis registers from it, and a worklist case keeps it.
    start: Option<RigidTransform>,
    /// The MR being nudged by hand (shown under its transform), with undo.
    manual: Option<ManualStart>,
}

impl Review {
    /// The corrected start in use.
    pub fn start(&self) -> Option<&RigidTransform> {
        self.start.as_ref()
    }

    /// Sets the corrected start.
    pub fn set_start(&mut self, start: Option<RigidTransform>) {
        self.start = start;
    }

    /// The MR being nudged, if it is.
    pub fn manual(&self) -> Option<&ManualStart> {
        self.manual.as_ref()
    }

    /// The transform the MR is shown under now (None: as read).
    pub fn shown(&self) -> Option<RigidTransform> {
        self.manual.as_ref().map(|m| m.current.clone())
    }

    /// Starts nudging from `t`.
    pub fn begin(&mut self, t: RigidTransform) {
        self.manual = Some(ManualStart::new(t));
    }

    /// Ends nudging; the nudge, if there was one.
    pub fn take_manual(&mut self) -> Option<ManualStart> {
        self.manual.take()
    }

    /// Undoes (or redoes) a nudge; whether something changed.
    pub fn undo_redo(&mut self, undo: bool, redo: bool) -> bool {
        self.manual
            .as_mut()
            .is_some_and(|m| (undo && m.undo()) || (redo && m.redo()))
    }

    /// Moves the shown MR within view `n`'s plane: `dx`, `dy` mm along the view's right
    /// and down, and `turn_deg` about the view's normal through `crosshair`; whether it
    /// moved (false when not nudging).
    pub fn nudge(
        &mut self,
        n: usize,
        dx: f64,
        dy: f64,
        turn_deg: f64,
        crosshair: Point3<f64>,
    ) -> bool {
        let Some(m) = &mut self.manual else {
            return false;
        };
        let (u, v, normal) = PLANES[n.min(2)].axes();
        m.nudge(
            u * dx + v * dy,
            Unit::new_normalize(normal),
            turn_deg.to_radians(),
            crosshair,
        );
        true
    }

    /// A drag step in view `n` (see `Action::DragMr`); whether the MR moved.
    pub fn drag(
        &mut self,
        n: usize,
        shift_mm: nalgebra::Vector3<f64>,
        turn_deg: f64,
        first: bool,
        crosshair: Point3<f64>,
    ) -> bool {
        let Some(m) = &mut self.manual else {
            return false;
        };
        if first {
            m.begin_drag();
        }
        let (_, _, normal) = PLANES[n.min(2)].axes();
        m.drag(
            shift_mm,
            Unit::new_normalize(normal),
            turn_deg.to_radians(),
            crosshair,
        );
        true
    }

    /// Replaces the transform being edited (typed in the panel; undoable); whether the
    /// MR moved.
    pub fn set_manual(&mut self, t: RigidTransform) -> bool {
        match &mut self.manual {
            Some(m) if m.current != t => {
                m.set(t);
                true
            }
            _ => false,
        }
    }

    /// A `.tfm` text pasted while correcting (Ctrl+V, no text field focused) replaces the
    /// transform (undoable): whether the MR moved, or why the text was refused.
    pub fn paste(&mut self, ctx: &egui::Context) -> Result<bool, String> {
        if self.manual.is_none() || ctx.egui_wants_keyboard_input() {
            return Ok(false);
        }
        let pasted = ctx.input(|i| {
            i.events.iter().find_map(|e| match e {
                egui::Event::Paste(text) => Some(text.clone()),
                _ => None,
            })
        });
        let Some(text) = pasted else {
            return Ok(false);
        };
        let t = srrd_base::io::transform_file::parse_transform(&text)
            .map_err(|e| format!("pasted transform: {e}"))?
            .as_rigid()
            .ok_or("pasted transform: not rigid (a registration start is rigid)")?;
        Ok(self.set_manual(t))
    }

    /// Keys of the manual correction, on the view under the pointer; whether the MR moved.
    pub fn nudge_keys(
        &mut self,
        ctx: &egui::Context,
        view: Option<usize>,
        crosshair: Point3<f64>,
    ) -> bool {
        if self.manual.is_none() || ctx.egui_wants_keyboard_input() {
            return false;
        }
        let Some(n) = view else {
            return false;
        };
        let keys = [
            (egui::Key::ArrowLeft, -NUDGE_MM, 0.0, 0.0),
            (egui::Key::ArrowRight, NUDGE_MM, 0.0, 0.0),
            (egui::Key::ArrowUp, 0.0, -NUDGE_MM, 0.0),
            (egui::Key::ArrowDown, 0.0, NUDGE_MM, 0.0),
            (egui::Key::Comma, 0.0, 0.0, -NUDGE_DEG),
            (egui::Key::Period, 0.0, 0.0, NUDGE_DEG),
        ];
        let mut moved = false;
        for (key, dx, dy, turn) in keys {
            if ctx.input(|i| i.modifiers.shift && !i.modifiers.command && i.key_pressed(key)) {
                moved |= self.nudge(n, dx, dy, turn, crosshair);
            }
        }
        moved
    }
}

/// What the review panel needs to know of the rest of the viewer.
pub struct ReviewContext {
    /// A CT and an MR are loaded.
    pub ready: bool,
    /// A CT is loaded.
    pub has_ct: bool,
    /// CT-MR landmark pairs.
    pub pairs: usize,
}

/// The review section of the side panel.
pub fn review_ui(
    ui: &mut egui::Ui,
    review: &mut Review,
    worklist: Option<&mut WorklistPanel>,
    cx: ReviewContext,
) -> Vec<Action> {
    let mut actions = Vec::new();
    ui.label("Registration review");
    let ready = cx.ready;
    if let Some(w) = worklist {
        ui.horizontal(|ui| {
            for d in Decision::ALL {
                if ui
                    .selectable_label(w.review().decision == Some(d), d.label())
                    .clicked()
                {
                    w.set_decision(d);
                }
            }
        });
        ui.add(
            egui::TextEdit::multiline(&mut w.review_mut().comment)
                .hint_text("comment")
                .desired_rows(2)
                .desired_width(f32::INFINITY),
        );
    }
    if ui
        .add_enabled(cx.has_ct, egui::Button::new("Review layers"))
        .on_hover_text("CT bone edges (over the MR), |local NCC| of the CT and rrMR, the refined field's Jacobian determinant")
        .clicked()
    {
        actions.push(Action::ReviewLayers);
    }
    match &review.manual {
        None => {
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(ready, egui::Button::new("Correct by hand"))
                    .on_hover_text("nudge the MR from its current start: Shift + arrows move it 1 mm in the view under the pointer, Shift + , and . turn it 1 degree")
                    .clicked()
                {
                    let t = review.start.clone().unwrap_or_default();
                    actions.push(Action::BeginManual(t));
                }
                if ui
                    .add_enabled(ready && cx.pairs >= 3, egui::Button::new("Start from landmarks"))
                    .on_hover_text("a rigid fit to the landmark pairs, each pair's residual shown, then nudge")
                    .clicked()
                {
                    actions.push(Action::BeginManualFromLandmarks);
                }
            });
        }
        Some(m) => {
            let (angle, t) = m.summary();
            // Wrapped: the panel must not widen (and move the views) under a drag.
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!(
                        "correcting: rotation {angle:.1} degrees, translation ({:.1}, {:.1}, {:.1}) mm",
                        t.x, t.y, t.z
                    ))
                    .color(Color32::from_rgb(232, 176, 74)),
                )
                .wrap(),
            );
            ui.small(
                "drag: move in the view's plane; Shift + drag: turn about the crosshair; Shift + arrows: move 1 mm; Shift + , / .: turn 1 degree",
            );
            if let Some(t) = transform_fields(ui, &m.current) {
                actions.push(Action::SetManual(t));
            }
            let depth = m.undo_depth();
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(depth > 0, egui::Button::new("Undo nudge"))
                    .clicked()
                    && review.undo_redo(true, false)
                {
                    actions.push(Action::ShowManual);
                }
                if ui.button("Redo nudge").clicked() && review.undo_redo(false, true) {
                    actions.push(Action::ShowManual);
                }
                if ui.button("Refine from here").clicked() {
                    actions.push(Action::RefineFromHere);
                }
                if ui.button("Stop").clicked() {
                    review.manual = None;
                    actions.push(Action::ShowManual);
                }
            });
        }
    }
    if let Some(t) = &review.start {
        ui.small(format!(
            "corrected start in use: rotation {:.1} degrees (the analysis registers from it)",
            t.rotation.angle().to_degrees()
        ));
    }
    actions
}

/// The transform being corrected as numbers one can type: rotation about x, y, z
/// (degrees, ITK's Euler3D order) and translation (mm), fixed -> moving, and Reset; the
/// transform typed, when it changed.
fn transform_fields(ui: &mut egui::Ui, t: &RigidTransform) -> Option<RigidTransform> {
    let mut angles_deg = t.euler_zxy().map(f64::to_degrees);
    let mut translation_mm = t.translation_mm;
    let mut changed = false;
    // One row per axis; each field named for screen readers (and tests): "x°" ... "z mm".
    // Fixed widths: the panel must not widen (and move the views) under a drag.
    let field = |ui: &mut egui::Ui, name: String, v: &mut f64| {
        let r = ui
            .add_sized(
                [70.0, 18.0],
                egui::DragValue::new(v)
                    .speed(0.1)
                    .min_decimals(3)
                    .max_decimals(3),
            )
            .on_hover_text(name.clone());
        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::SpinButton, true, &name));
        r.changed()
    };
    egui::Grid::new("transform").show(ui, |ui| {
        ui.label("");
        ui.label("rotation (deg)");
        ui.label("translation (mm)");
        ui.end_row();
        for (a, axis) in ["x", "y", "z"].iter().enumerate() {
            ui.label(*axis);
            changed |= field(ui, format!("{axis}°"), &mut angles_deg[a]);
            changed |= field(ui, format!("{axis} mm"), &mut translation_mm[a]);
            ui.end_row();
        }
    });
    let mut reset = false;
    ui.horizontal(|ui| {
        reset = ui
            .button("Reset transform")
            .on_hover_text("back to the identity (undoable)")
            .clicked();
        if ui
            .button("Copy .tfm")
            .on_hover_text("the transform as an ITK .tfm text (Euler3DTransform, fixed -> moving); Ctrl+V over the viewer pastes one back")
            .clicked()
        {
            ui.ctx()
                .copy_text(srrd_base::io::transform_file::rigid_text(t));
        }
    });
    if reset {
        return Some(RigidTransform::default());
    }
    changed.then(|| {
        RigidTransform::from_euler_zxy(angles_deg.map(f64::to_radians), translation_mm, t.center_mm)
    })
}

/// The review layers (on a worker thread): the CT's bone edges, with a registered MR the
/// |local NCC|, with a refined field its Jacobian.
pub(super) fn review_layers(
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
