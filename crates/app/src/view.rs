//! The views part: the three linked slice views (axial, coronal, sagittal): the
//! crosshair, each view's zoom, pan and rectangle, the layout, overlays and help, and
//! each view's picture (slice grid, CPU texture, or a GPU draw); drawing one view with its
//! crosshair, letters and landmarks, and the mouse on it (crosshair, pan, zoom,
//! window/level and landmark placement come back as actions).

use eframe::egui::{
    self, Color32, ColorImage, Pos2, Rect, Sense, TextureHandle, TextureOptions, Vec2,
};
use nalgebra::Point3;

use super::actions::Action;
use super::compose::{compose_cpu, slice_draw};
use super::gpu::{GpuInfo, SliceCallback};
use super::landmark_panel::Marks;
use super::layer::Layer;
use super::layers::Layers;
use super::slice::{Plane, SliceImage, slice_grid};
use super::viewer::{Layout, PLANES};

/// The three slice views and what they show.
pub struct Views {
    /// The linked crosshair, in world LPS mm.
    crosshair: Point3<f64>,
    /// Where each view (axial, coronal, sagittal) was drawn last frame, in points.
    rects: [Rect; 3],
    /// Where each view's landmark labels went last frame (with the landmark's name).
    labels: [Vec<(String, super::label_layout::Placed)>; 3],
    /// Zoom factor of each view over the fitted size (1 = the whole slice fits).
    zoom: [f32; 3],
    /// Offset of each view's slice centre from the view centre, in points.
    pan: [Vec2; 3],
    layout: Layout,
    /// Crosshair, orientation letters and slice readout over the views.
    show_overlays: bool,
    /// The MR is being corrected by hand: a left drag moves it (Shift + drag turns it)
    /// instead of panning.
    correcting: bool,
    /// The keyboard and mouse help window.
    show_help: bool,
    /// Set when the GPU renderer is installed (eframe with wgpu); None: the CPU renderer.
    gpu: Option<GpuInfo>,
    /// Each view's slice pixel grid (its values only on the CPU path).
    grids: [Option<SliceImage>; 3],
    textures: [Option<TextureHandle>; 3],
    /// The colours last composed for each view (CPU path), and the row width.
    composed: [(usize, Vec<Color32>); 3],
    /// The pictures must be made again.
    dirty: bool,
}

impl Views {
    /// Views centred on `crosshair`, fitted, three at once.
    pub fn new(crosshair: Point3<f64>) -> Self {
        Views {
            crosshair,
            rects: [Rect::NOTHING; 3],
            labels: Default::default(),
            zoom: [1.0; 3],
            pan: [Vec2::ZERO; 3],
            layout: Layout::Three,
            show_overlays: true,
            correcting: false,
            show_help: false,
            gpu: None,
            grids: [None, None, None],
            textures: [None, None, None],
            composed: [(0, Vec::new()), (0, Vec::new()), (0, Vec::new())],
            dirty: true,
        }
    }

    /// The linked crosshair, in world LPS mm.
    pub fn crosshair(&self) -> Point3<f64> {
        self.crosshair
    }

    /// Moves the crosshair (the views are drawn again).
    pub fn set_crosshair(&mut self, p: Point3<f64>) {
        self.crosshair = p;
        self.dirty = true;
    }

    /// Whether a left drag moves the MR being corrected (else it pans).
    pub fn set_correcting(&mut self, on: bool) {
        self.correcting = on;
    }

    /// Where each view was drawn last frame, in points.
    pub fn rects(&self) -> [Rect; 3] {
        self.rects
    }

    /// Where view `n`'s landmark labels went last frame, with each landmark's name.
    pub fn labels(&self, n: usize) -> &[(String, super::label_layout::Placed)] {
        self.labels.get(n).map_or(&[], Vec::as_slice)
    }

    /// Each view's zoom factor.
    pub fn zoom(&self) -> [f32; 3] {
        self.zoom
    }

    /// Each view's pan, in points.
    pub fn pan(&self) -> [Vec2; 3] {
        self.pan
    }

    /// Sets view `n`'s zoom and pan.
    pub fn set_zoom_pan(&mut self, n: usize, zoom: f32, pan: Vec2) {
        self.zoom[n] = zoom;
        self.pan[n] = pan;
        self.dirty = true;
    }

    /// Three views or one alone.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Sets the layout.
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
    }

    /// Sets the crosshair, zoom, pan and layout a session holds.
    pub fn restore(
        &mut self,
        crosshair: Point3<f64>,
        zoom: [f32; 3],
        pan: [Vec2; 3],
        layout: Layout,
    ) {
        self.crosshair = crosshair;
        self.zoom = zoom;
        self.pan = pan;
        self.layout = layout;
        self.dirty = true;
    }

    /// Whether the help window is open.
    pub fn show_help(&self) -> bool {
        self.show_help
    }

    /// Opens or closes the help window.
    pub fn toggle_help(&mut self) {
        self.show_help = !self.show_help;
    }

    /// Shows the overlays (crosshair, letters, readout) or not.
    pub fn set_overlays(&mut self, on: bool) {
        self.show_overlays = on;
    }

    /// Overlays (crosshair, letters, readout) on or off.
    pub fn toggle_overlays(&mut self) {
        self.show_overlays = !self.show_overlays;
    }

    /// The View menu's entries.
    pub fn menu_ui(&mut self, ui: &mut egui::Ui) {
        for (label, layout) in [
            ("Three views (0)", Layout::Three),
            ("Axial alone (1)", Layout::Single(0)),
            ("Coronal alone (2)", Layout::Single(1)),
            ("Sagittal alone (3)", Layout::Single(2)),
        ] {
            ui.selectable_value(&mut self.layout, layout, label);
        }
        if ui.button("Reset zoom and pan (R)").clicked() {
            self.reset();
        }
        ui.checkbox(&mut self.show_overlays, "Overlays (O)");
    }

    /// The help window, while it is open.
    pub fn help_window(&mut self, ctx: &egui::Context) {
        if self.show_help {
            egui::Window::new("Keyboard and mouse")
                .open(&mut self.show_help)
                .resizable(false)
                .show(ctx, |ui| {
                    egui::Grid::new("help").striped(true).show(ui, |ui| {
                        for (keys, what) in super::viewer::HELP {
                            ui.monospace(*keys);
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
                });
        }
    }

    /// Installs the GPU renderer's limits (from now on the views are drawn on the GPU).
    pub fn set_gpu(&mut self, gpu: GpuInfo) {
        self.gpu = Some(gpu);
        self.dirty = true;
    }

    /// The GPU renderer's limits, when it is installed.
    pub fn gpu(&self) -> Option<GpuInfo> {
        self.gpu
    }

    /// Whether the views are drawn on the GPU now.
    pub fn on_gpu(&self, layers: &[Layer]) -> bool {
        self.gpu
            .is_some_and(|g| layers.iter().all(|l| g.fits(&l.volume)))
    }

    /// Asks for the pictures to be made again.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Whether the pictures wait to be made again.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// The colours last composed for view `n`, row by row, and the row width.
    pub fn composed(&self, n: usize) -> (usize, &[Color32]) {
        (self.composed[n].0, &self.composed[n].1)
    }

    /// Moves the crosshair along a plane's normal by `steps` voxels of the base layer
    /// (its spacing along the grid axis closest to the normal).
    pub fn scroll(&mut self, base: Option<&Layer>, plane: Plane, steps: f64) {
        let Some(base) = base else {
            return;
        };
        let (_, _, n) = plane.axes();
        let g = &base.volume.geometry;
        let alignment = |a: usize| n.dot(&g.direction.column(a)).abs();
        let axis = (0..3)
            .max_by(|&a, &b| alignment(a).total_cmp(&alignment(b)))
            .unwrap_or(2);
        self.crosshair += n * (steps * g.spacing_mm[axis]);
        self.dirty = true;
    }

    /// Zooms view `n` (drawn in `rect`) by `factor`, keeping the point under `cursor` in
    /// place; zoom stays within 0.5x to 40x.
    pub fn zoom_about(&mut self, n: usize, rect: Rect, cursor: Pos2, factor: f32) {
        let new_zoom = (self.zoom[n] * factor).clamp(0.5, 40.0);
        let ratio = new_zoom / self.zoom[n];
        let from_centre = cursor - (rect.center() + self.pan[n]);
        self.pan[n] = cursor - from_centre * ratio - rect.center();
        self.zoom[n] = new_zoom;
    }

    /// Fits every view again (zoom 1, no pan).
    pub fn reset(&mut self) {
        self.zoom = [1.0; 3];
        self.pan = [Vec2::ZERO; 3];
    }

    /// The base layer's slice index (1-based) through the crosshair along the grid axis
    /// closest to the plane's normal, and the number of slices.
    pub fn slice_index(&self, base: Option<&Layer>, plane: Plane) -> (usize, usize) {
        let Some(base) = base else {
            return (0, 0);
        };
        let g = &base.volume.geometry;
        let (_, _, normal) = plane.axes();
        let alignment = |a: usize| normal.dot(&g.direction.column(a)).abs();
        let axis = (0..3)
            .max_by(|&a, &b| alignment(a).total_cmp(&alignment(b)))
            .unwrap_or(2);
        let idx = g.world_to_index(&self.crosshair)[axis].round();
        let count = g.size[axis];
        ((idx.clamp(0.0, count as f64 - 1.0) as usize) + 1, count)
    }

    /// The view under the pointer, if any.
    pub fn hovered(&self, ctx: &egui::Context) -> Option<usize> {
        ctx.pointer_hover_pos()
            .and_then(|p| (0..3).find(|&n| self.rects[n].contains(p)))
    }

    /// Makes each view's picture again when something changed.
    pub fn refresh(&mut self, ctx: &egui::Context, layers: &Layers) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let Some(base) = layers.base() else {
            self.textures = [None, None, None];
            self.grids = [None, None, None];
            return;
        };
        let on_gpu = self.on_gpu(layers.list());
        for (n, plane) in PLANES.iter().enumerate() {
            let slice = slice_grid(&base.volume, *plane, self.crosshair);
            self.grids[n] = Some(slice.clone());
            if on_gpu {
                // The shader samples every layer itself: nothing to compose here.
                self.textures[n] = None;
                continue;
            }
            let rgba = compose_cpu(layers, *plane, &slice);
            self.composed[n] = (slice.width, rgba.clone());
            let image = ColorImage::new([slice.width, slice.height], rgba);
            let tex = ctx.load_texture(format!("slice-{n}"), image, TextureOptions::NEAREST);
            self.textures[n] = Some(tex);
        }
    }

    /// The central area: three views and the 3D quadrant, or one view alone.
    pub fn central_ui(
        &mut self,
        ui: &mut egui::Ui,
        layers: &Layers,
        marks: &Marks,
        mut quadrant: impl FnMut(&mut egui::Ui, Vec2, Point3<f64>),
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let avail = ui.available_size();
        match self.layout {
            Layout::Single(n) => {
                self.rects = [Rect::NOTHING; 3];
                actions.extend(self.view_ui(
                    ui,
                    n.min(2),
                    avail.max(Vec2::splat(50.0)),
                    layers,
                    marks,
                ));
            }
            Layout::Three => {
                let w = (avail.x - 8.0) / 2.0;
                let h = (avail.y - 8.0) / 2.0;
                let size = Vec2::new(w.max(50.0), h.max(50.0));
                ui.horizontal(|ui| {
                    actions.extend(self.view_ui(ui, 0, size, layers, marks));
                    actions.extend(self.view_ui(ui, 1, size, layers, marks));
                });
                ui.horizontal(|ui| {
                    actions.extend(self.view_ui(ui, 2, size, layers, marks));
                    quadrant(ui, size, self.crosshair);
                });
            }
        }
        actions
    }

    /// Draws view `n` in `size` and handles the mouse on it.
    pub fn view_ui(
        &mut self,
        ui: &mut egui::Ui,
        n: usize,
        size: Vec2,
        layers: &Layers,
        marks: &Marks,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let plane = PLANES[n];
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        self.rects[n] = rect;
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(10));
        let Some(slice) = self.grids[n].clone() else {
            return actions;
        };
        // Fit the slice into the view keeping square pixels, then zoom and pan.
        let fit = (rect.width() / slice.width as f32).min(rect.height() / slice.height as f32);
        let scale = fit * self.zoom[n];
        let img_size = Vec2::new(slice.width as f32 * scale, slice.height as f32 * scale);
        let img_rect = Rect::from_center_size(rect.center() + self.pan[n], img_size);
        if let Some(tex) = &self.textures[n] {
            painter.image(
                tex.id(),
                img_rect,
                Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
        } else if self.gpu.is_some() {
            let visible = img_rect.intersect(rect);
            if visible.is_positive() {
                let px = |p: Pos2| {
                    (
                        (p.x - img_rect.min.x) / scale - 0.5,
                        (p.y - img_rect.min.y) / scale - 0.5,
                    )
                };
                let ((x0, y0), (x1, y1)) = (px(visible.min), px(visible.max));
                let draw = slice_draw(layers, n, &slice, [x0, y0, x1, y1]);
                painter.add(eframe::egui_wgpu::Callback::new_paint_callback(
                    visible,
                    SliceCallback(draw),
                ));
            }
        }
        // Crosshair.
        let to_screen = |x: f64, y: f64| {
            img_rect.min + Vec2::new((x as f32 + 0.5) * scale, (y as f32 + 0.5) * scale)
        };
        let (_, _, normal) = plane.axes();
        if self.show_overlays {
            let (cx, cy) = slice.pixel_of(plane, &self.crosshair);
            let c = to_screen(cx, cy);
            let stroke = egui::Stroke::new(1.0, Color32::from_rgba_unmultiplied(0, 220, 255, 160));
            painter.line_segment(
                [
                    Pos2::new(img_rect.min.x, c.y),
                    Pos2::new(img_rect.max.x, c.y),
                ],
                stroke,
            );
            painter.line_segment(
                [
                    Pos2::new(c.x, img_rect.min.y),
                    Pos2::new(c.x, img_rect.max.y),
                ],
                stroke,
            );
            // Orientation letters and the view name.
            let [l, r, t, b] = plane.edge_letters();
            let font = egui::FontId::proportional(16.0);
            let col = Color32::from_rgb(255, 200, 0);
            painter.text(
                Pos2::new(rect.min.x + 6.0, rect.center().y),
                egui::Align2::LEFT_CENTER,
                l,
                font.clone(),
                col,
            );
            painter.text(
                Pos2::new(rect.max.x - 6.0, rect.center().y),
                egui::Align2::RIGHT_CENTER,
                r,
                font.clone(),
                col,
            );
            // The top letter sits under the view's title line, which may reach the centre.
            painter.text(
                Pos2::new(rect.center().x, rect.min.y + 24.0),
                egui::Align2::CENTER_TOP,
                t,
                font.clone(),
                col,
            );
            painter.text(
                Pos2::new(rect.center().x, rect.max.y - 4.0),
                egui::Align2::CENTER_BOTTOM,
                b,
                font,
                col,
            );
            let (index, count) = self.slice_index(layers.base(), plane);
            painter.text(
                rect.min + Vec2::new(6.0, 4.0),
                egui::Align2::LEFT_TOP,
                format!(
                    "{}  slice {}/{}  {:.1} mm{}",
                    plane.name(),
                    index,
                    count,
                    normal.dot(&self.crosshair.coords),
                    if (self.zoom[n] - 1.0).abs() > 1e-3 {
                        format!("  x{:.1}", self.zoom[n])
                    } else {
                        String::new()
                    }
                ),
                egui::FontId::proportional(13.0),
                Color32::LIGHT_GRAY,
            );
        }
        let world_under = |pos: Pos2| {
            let x = ((pos.x - img_rect.min.x) / scale) as f64 - 0.5;
            let y = ((pos.y - img_rect.min.y) / scale) as f64 - 0.5;
            slice.world_at(plane, x, y)
        };
        if let Some(pos) = response.hover_pos() {
            let p = world_under(pos);
            let values = layers.values_at(&p);
            let vals: Vec<String> = values
                .iter()
                .map(|(name, v)| match v {
                    Some(v) => format!("{name} {v:.1}"),
                    None => format!("{name} -"),
                })
                .collect();
            actions.push(Action::Status(format!(
                "({:.1}, {:.1}, {:.1}) mm LPS   {}",
                p.x,
                p.y,
                p.z,
                vals.join("   ")
            )));
            // Wheel: slice; with Ctrl (or Cmd): zoom about the cursor.
            let (slices, zoom_steps) = ui.input(|i| {
                i.raw
                    .events
                    .iter()
                    .fold((0.0f32, 0.0f32), |(s, z), e| match e {
                        egui::Event::MouseWheel {
                            delta, modifiers, ..
                        } if modifiers.command || modifiers.ctrl => (s, z + delta.y.signum()),
                        egui::Event::MouseWheel { delta, .. } => (s + delta.y.signum(), z),
                        _ => (s, z),
                    })
            });
            if slices != 0.0 {
                self.scroll(layers.base(), plane, slices as f64);
            }
            if zoom_steps != 0.0 {
                self.zoom_about(n, rect, pos, 1.25f32.powf(zoom_steps));
            }
        }
        let command = ui.input(|i| i.modifiers.command);
        let editing = marks.placing() || command;
        if response.double_clicked() {
            self.layout = match self.layout {
                Layout::Three => Layout::Single(n),
                Layout::Single(_) => Layout::Three,
            };
        } else if (response.clicked()
            || (editing && response.dragged_by(egui::PointerButton::Primary)))
            && let Some(pos) = response.interact_pointer_pos()
        {
            let p = world_under(pos);
            // Keep the slice; move within the plane.
            let p = p + normal * normal.dot(&(self.crosshair - p));
            if response.clicked() && editing {
                actions.push(Action::PlaceLandmark(p));
            } else if editing {
                actions.push(Action::MoveLandmark(p));
            } else {
                self.crosshair = p;
            }
            self.dirty = true;
        } else if self.correcting
            && response.dragged_by(egui::PointerButton::Primary)
            && let Some(pos) = response.interact_pointer_pos()
        {
            // Correcting by hand: the MR follows the pointer in the view's plane, or with
            // Shift turns about the crosshair by the angle the pointer swept.
            let (now, before) = (world_under(pos), world_under(pos - response.drag_delta()));
            let (shift_mm, turn_deg) = if ui.input(|i| i.modifiers.shift) {
                // In the view's plane, about the crosshair.
                let in_plane = |v: nalgebra::Vector3<f64>| v - normal * normal.dot(&v);
                let (a, b) = (
                    in_plane(before - self.crosshair),
                    in_plane(now - self.crosshair),
                );
                let angle = a.cross(&b).dot(&normal).atan2(a.dot(&b));
                (nalgebra::Vector3::zeros(), angle.to_degrees())
            } else {
                (now - before, 0.0)
            };
            actions.push(Action::DragMr {
                view: n,
                shift_mm,
                turn_deg,
                first: response.drag_started(),
            });
        } else if response.dragged_by(egui::PointerButton::Primary)
            || response.dragged_by(egui::PointerButton::Middle)
        {
            // Drag: pan.
            self.pan[n] += response.drag_delta();
        }
        // Landmarks within 2 mm of this slice: fixed (CT) cyan, moving (MR) magenta, the
        // selected one larger, in yellow; their labels laid out so that they do not
        // collide (`label_layout`), the full name under the pointer.
        let font = egui::FontId::proportional(11.0);
        let mut shown = Vec::new();
        for (set, colour) in [
            (0usize, Color32::from_rgb(0, 220, 255)),
            (1, Color32::from_rgb(255, 80, 220)),
        ] {
            // Blinded: the other image's points stay hidden while placing.
            if marks.blinded() && set != marks.editor().active {
                continue;
            }
            for l in &marks.editor().sets[set] {
                let q = Point3::from(l.position_mm);
                if normal.dot(&(q - self.crosshair)).abs() > 2.0 {
                    continue;
                }
                let (x, y) = slice.pixel_of(plane, &q);
                let selected = marks.editor().selected.as_deref() == Some(l.label.as_str());
                let c = if selected { Color32::YELLOW } else { colour };
                shown.push((to_screen(x, y), l.label.as_str(), c, selected));
            }
        }
        let points: Vec<Pos2> = shown.iter().map(|s| s.0).collect();
        let galleys: Vec<_> = shown
            .iter()
            .map(|(_, name, c, _)| {
                painter.layout_no_wrap(super::label_layout::short_name(name), font.clone(), *c)
            })
            .collect();
        let sizes: Vec<Vec2> = galleys.iter().map(|g| g.size()).collect();
        let placed = super::label_layout::layout_labels(&points, &sizes, rect);
        for (((at, _, c, selected), galley), place) in shown.iter().zip(galleys).zip(&placed) {
            let r = if *selected { 6.0 } else { 4.0 };
            painter.circle_stroke(*at, r, egui::Stroke::new(1.5, *c));
            let faded = if place.crowded {
                c.gamma_multiply(0.45)
            } else {
                *c
            };
            if place.moved {
                let end = place.rect.clamp(*at);
                painter.line_segment(
                    [*at, end],
                    egui::Stroke::new(1.0, faded.gamma_multiply(0.7)),
                );
            }
            painter.galley(place.rect.min, galley, faded);
        }
        self.labels[n] = shown
            .iter()
            .zip(&placed)
            .map(|(s, p)| (s.1.to_string(), *p))
            .collect();
        if let Some(pointer) = response.hover_pos()
            && let Some(k) = super::label_layout::hovered(&points, &placed, pointer)
        {
            let (_, name, c, _) = shown[k];
            let galley = painter.layout_no_wrap(name.to_string(), font.clone(), c);
            let at = pointer + Vec2::new(12.0, 12.0);
            let bg = Rect::from_min_size(at, galley.size()).expand(3.0);
            painter.rect_filled(bg, 3.0, Color32::from_black_alpha(210));
            painter.galley(at, galley, c);
        }
        if response.dragged_by(egui::PointerButton::Secondary) && layers.base().is_some() {
            let d = response.drag_delta();
            actions.push(Action::DragWindow(d.x, d.y));
            self.dirty = true;
        }
        actions
    }
}
