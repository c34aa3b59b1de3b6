//! One slice view: composing its picture (on the GPU or the CPU), drawing it with the
//! crosshair, orientation letters and landmarks, and the mouse on it (crosshair, pan,
//! zoom, window/level, landmark placement).

use eframe::egui::{self, Color32, ColorImage, Pos2, Rect, Sense, TextureOptions, Vec2};
use nalgebra::Point3;

use super::fusion::{FusionMode, fuse, normalize};
use super::gpu::{DrawLayer, DrawMode, MAX_LAYERS, SliceCallback, SliceDraw};
use super::layer::*;
use super::slice::{Plane, SliceImage, sample_on_slice_moved, slice_grid};
use super::viewer::*;
use srrd_base::volume::Interpolation;

impl ViewerApp {
    /// What view `n` draws on the GPU, for the part `pixel_rect` of its slice.
    pub(super) fn slice_draw(
        &self,
        n: usize,
        grid: &SliceImage,
        pixel_rect: [f32; 4],
    ) -> SliceDraw {
        let draw_layer = |li: usize, opacity: f32| {
            let l = &self.layers[li];
            DrawLayer {
                id: l.id,
                volume: l.volume.clone(),
                window: l.window,
                opacity,
                colormap: l.colormap,
                moved_by: l.moved_by.clone(),
            }
        };
        let (a, b) = self.pair;
        let pair_ok = a < self.layers.len() && b < self.layers.len() && a != b;
        let (layers, mode) = match (self.flicker, pair_ok) {
            (Some(show_b), true) => (
                vec![draw_layer(if show_b { b } else { a }, 1.0)],
                DrawMode::Single,
            ),
            _ if self.fusion != FusionMode::Alpha && pair_ok => {
                let mode = match self.fusion {
                    FusionMode::Checkerboard => DrawMode::Checkerboard,
                    FusionMode::Yellow => DrawMode::Yellow,
                    FusionMode::Difference => DrawMode::Difference,
                    FusionMode::MagentaGreen | FusionMode::Alpha => DrawMode::MagentaGreen,
                };
                (vec![draw_layer(a, 1.0), draw_layer(b, 1.0)], mode)
            }
            _ => (
                self.layers
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.visible)
                    .take(MAX_LAYERS)
                    .map(|(li, l)| draw_layer(li, if li == 0 { 1.0 } else { l.opacity }))
                    .collect(),
                DrawMode::Alpha,
            ),
        };
        SliceDraw {
            view: n,
            plane: PLANES[n],
            grid: grid.clone(),
            pixel_rect,
            layers,
            mode,
            tile_px: self.tile_px as f32,
            linear: self.interpolation == Interpolation::Linear,
            live: self.layers.iter().map(|l| l.id).collect(),
        }
    }

    /// Flicker between the pair: off -> B -> A -> B ...
    pub fn toggle_flicker(&mut self) {
        self.flicker = Some(!self.flicker.unwrap_or(false));
        self.dirty = true;
    }

    /// The colours last composed for view `n` (axial, coronal, sagittal), row by row, and
    /// the row width.
    pub fn composed(&self, n: usize) -> (usize, &[Color32]) {
        (self.composed[n].0, &self.composed[n].1)
    }

    /// Moves the crosshair along a plane's normal by `steps` voxels of the base layer
    /// (its spacing along the grid axis closest to the normal).
    pub fn scroll(&mut self, plane: Plane, steps: f64) {
        let Some(base) = self.layers.first() else {
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

    /// Asks for the views to be drawn again (after a change made from outside).
    pub fn mark_dirty(&mut self) {
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
    pub fn reset_views(&mut self) {
        self.zoom = [1.0; 3];
        self.pan = [Vec2::ZERO; 3];
    }

    /// The base layer's slice index (1-based) through the crosshair along the grid axis
    /// closest to the plane's normal, and the number of slices.
    pub fn slice_index(&self, plane: Plane) -> (usize, usize) {
        let Some(base) = self.layers.first() else {
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

    /// Values of every layer at a world point.
    pub fn values_at(&self, p: &Point3<f64>) -> Vec<(String, Option<f32>)> {
        self.layers
            .iter()
            .map(|l| {
                use srrd_base::volume::PointTransform;
                let g = &l.volume.geometry;
                let idx =
                    g.world_to_index(&l.moved_by.as_ref().map_or(*p, |t| t.transform_point(p)));
                let data = l.volume.data.as_slice();
                let v = data
                    .and_then(|d| srrd_base::volume::interpolate::sample_nearest(d, g.size, idx));
                (l.name.clone(), v)
            })
            .collect()
    }

    pub(super) fn refresh_textures(&mut self, ctx: &egui::Context) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let Some(base) = self.layers.first() else {
            self.textures = [None, None, None];
            self.grids = [None, None, None];
            return;
        };
        let on_gpu = self.drawing_on_gpu();
        for (n, plane) in PLANES.iter().enumerate() {
            let slice = slice_grid(&base.volume, *plane, self.crosshair);
            self.grids[n] = Some(slice.clone());
            if on_gpu {
                // The shader samples every layer itself: nothing to compose here.
                self.textures[n] = None;
                continue;
            }
            let values_of = |li: usize| -> Vec<f32> {
                let l = &self.layers[li];
                sample_on_slice_moved(
                    &l.volume,
                    *plane,
                    &slice,
                    self.interpolation,
                    l.moved_by.as_ref(),
                )
            };
            let (a, b) = self.pair;
            let pair_ok = a < self.layers.len() && b < self.layers.len() && a != b;
            let rgba = match (self.flicker, pair_ok) {
                (Some(show_b), true) => {
                    let li = if show_b { b } else { a };
                    let layer = &self.layers[li];
                    values_of(li)
                        .iter()
                        .map(|v| {
                            if v.is_nan() {
                                Color32::BLACK
                            } else {
                                colour(layer, *v)
                            }
                        })
                        .collect()
                }
                _ if self.fusion != FusionMode::Alpha && pair_ok => {
                    let norm = |li: usize| -> Vec<f32> {
                        let w = self.layers[li].window;
                        values_of(li)
                            .iter()
                            .map(|v| if v.is_nan() { *v } else { normalize(*v, w) })
                            .collect()
                    };
                    fuse(self.fusion, &norm(a), &norm(b), slice.width, self.tile_px)
                }
                _ => {
                    let mut rgba = vec![Color32::BLACK; slice.width * slice.height];
                    for (li, layer) in self.layers.iter().enumerate() {
                        if !layer.visible {
                            continue;
                        }
                        let values = values_of(li);
                        for (px, v) in rgba.iter_mut().zip(values.iter()) {
                            if v.is_nan() {
                                continue;
                            }
                            let c = colour(layer, *v);
                            *px = blend(*px, c, if li == 0 { 1.0 } else { layer.opacity });
                        }
                    }
                    rgba
                }
            };
            self.composed[n] = (slice.width, rgba.clone());
            let image = ColorImage::new([slice.width, slice.height], rgba);
            let tex = ctx.load_texture(format!("slice-{n}"), image, TextureOptions::NEAREST);
            self.textures[n] = Some(tex);
        }
    }

    pub(super) fn view(&mut self, ui: &mut egui::Ui, n: usize, size: Vec2) {
        let plane = PLANES[n];
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        self.view_rects[n] = rect;
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(10));
        let Some(slice) = self.grids[n].clone() else {
            return;
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
                let draw = self.slice_draw(n, &slice, [x0, y0, x1, y1]);
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
            let (index, count) = self.slice_index(plane);
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
            let values = self.values_at(&p);
            let vals: Vec<String> = values
                .iter()
                .map(|(name, v)| match v {
                    Some(v) => format!("{name} {v:.1}"),
                    None => format!("{name} -"),
                })
                .collect();
            self.status = format!(
                "({:.1}, {:.1}, {:.1}) mm LPS   {}",
                p.x,
                p.y,
                p.z,
                vals.join("   ")
            );
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
                self.scroll(plane, slices as f64);
            }
            if zoom_steps != 0.0 {
                self.zoom_about(n, rect, pos, 1.25f32.powf(zoom_steps));
            }
        }
        let command = ui.input(|i| i.modifiers.command);
        let editing = self.placing || command;
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
                self.landmarks.place(p);
            } else if editing {
                self.landmarks.move_selected(p);
            } else {
                self.crosshair = p;
            }
            self.dirty = true;
        } else if response.dragged_by(egui::PointerButton::Primary)
            || response.dragged_by(egui::PointerButton::Middle)
        {
            // Drag: pan.
            self.pan[n] += response.drag_delta();
        }
        // Landmarks within 2 mm of this slice: fixed (CT) cyan, moving (MR) magenta, the
        // selected one larger, in yellow.
        for (set, colour) in [
            (0usize, Color32::from_rgb(0, 220, 255)),
            (1, Color32::from_rgb(255, 80, 220)),
        ] {
            // Blinded: the other image's points stay hidden while placing.
            if self.blinded && set != self.landmarks.active {
                continue;
            }
            for l in &self.landmarks.sets[set] {
                let q = Point3::from(l.position_mm);
                if normal.dot(&(q - self.crosshair)).abs() > 2.0 {
                    continue;
                }
                let (x, y) = slice.pixel_of(plane, &q);
                let at = to_screen(x, y);
                let selected = self.landmarks.selected.as_deref() == Some(l.label.as_str());
                let (r, c) = if selected {
                    (6.0, Color32::YELLOW)
                } else {
                    (4.0, colour)
                };
                painter.circle_stroke(at, r, egui::Stroke::new(1.5, c));
                painter.text(
                    at + Vec2::new(6.0, -6.0),
                    egui::Align2::LEFT_BOTTOM,
                    &l.label,
                    egui::FontId::proportional(11.0),
                    c,
                );
            }
        }
        if response.dragged_by(egui::PointerButton::Secondary)
            && let Some(base) = self.layers.first_mut()
        {
            let d = response.drag_delta();
            let (c, w) = base.window;
            base.window = (c - d.y * w / 200.0, (w * (1.0 + d.x / 200.0)).max(1e-3));
            self.dirty = true;
        }
    }
}
