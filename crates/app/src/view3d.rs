//! The 3D view of the knee: the bone surfaces (`volume::surface`) drawn with wgpu in an
//! egui paint callback, coloured by bone, by subregion or by a parameter map, with the
//! landmarks as small spheres and the crosshair's axial, coronal and sagittal planes as
//! outlines. Left-drag orbits about the surfaces' centre, the wheel zooms, a double-click
//! resets the camera. The default view looks at the knee from the front: superior up,
//! anterior towards the viewer, the patient's left (+x in LPS) to the right.
//!
//! This module owns the widget ([`View3d`]: persisted [`View3dSettings`] apart from
//! runtime state) and its colours; `scene` the plain data it shows ([`KneeSurfaces`],
//! [`Scene3d`]); `render` the GPU side ([`View3dRenderer`], `shaders/view3d.wgsl`).

mod colour;
mod render;
mod scene;
mod shapes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eframe::egui::{self, Color32, Pos2, Rect, Sense, Vec2, pos2, vec2};
use eframe::egui_wgpu::{self, RenderState};
use nalgebra::{Matrix4, Point3, Vector3, Vector4};
use serde::{Deserialize, Serialize};

pub use colour::{NO_VALUE_COLOUR, bone_colour, ramp_colour, subregion_colour, vertex_colours};
pub use render::View3dRenderer;
pub use scene::{
    KNEE_BONES, KneeSurfaces, SAMPLE_DEPTH_MM, Scene3d, VertexMap, auto_step, knee_scene_mesh,
};

use render::{BACKGROUND, Frame3d, Prims, SceneUniform, View3dCallback};
use shapes::{push_planes, push_sphere};
use srrd_diagnosis::subregions::NAMES as SUBREGION_NAMES;
use srrd_segmentation::bones::{FEMUR, FIBULA, PATELLA, TIBIA};

/// What the surfaces are coloured by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColourBy {
    /// One colour per bone ([`bone_colour`]).
    #[default]
    Bone,
    /// The subregion just inside the surface ([`subregion_colour`]; grey where none).
    Subregion,
    /// A parameter map by name (a [`VertexMap`]), on a viridis ramp; grey where no value.
    Parameter(String),
}

/// The 3D view's settings, saved with the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct View3dSettings {
    /// Orbit angle about the superior axis (0: looking from anterior).
    pub yaw_rad: f32,
    /// Elevation of the eye above the axial plane (radians, within +-1.4).
    pub pitch_rad: f32,
    /// Magnification (1: the surfaces fill the view).
    pub zoom: f32,
    pub colour_by: ColourBy,
    pub show_landmarks: bool,
    pub show_planes: bool,
}

impl Default for View3dSettings {
    fn default() -> Self {
        View3dSettings {
            yaw_rad: 0.0,
            pitch_rad: 0.0,
            zoom: 1.0,
            colour_by: ColourBy::Bone,
            show_landmarks: true,
            show_planes: true,
        }
    }
}

/// Text shown instead of the view without a GPU renderer.
pub const NO_GPU_TEXT: &str = "3D view needs the GPU renderer";
/// Text shown instead of the view before there is anything to show.
pub const NO_SCENE_TEXT: &str = "Bones (3D) or Analyze to see the bone surfaces";

const PITCH_LIMIT: f32 = 1.4;
const ROTATE_PER_POINT: f32 = 0.01;
/// Half the view angle of the smaller side of the view, before zoom.
const HALF_FOV: f32 = 0.2618;
const AMBIENT: f32 = 0.25;

static NEXT_COLOURING: AtomicU64 = AtomicU64::new(1);

struct Colouring {
    surfaces: u64,
    by: ColourBy,
    key: u64,
    colours: Arc<Vec<[u8; 4]>>,
}

/// The 3D view widget: settings (persisted) and runtime state.
#[derive(Default)]
pub struct View3d {
    pub settings: View3dSettings,
    /// The bone surfaces shown (after an analysis).
    surfaces: Option<Arc<KneeSurfaces>>,
    gpu: bool,
    colouring: Option<Colouring>,
    image_rect: Option<Rect>,
}

/// Where the camera is, for drawing and for projecting points.
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    /// Clip from world (wgpu clip space, depth 0..1).
    pub view_proj: Matrix4<f32>,
    /// Unit vectors: screen right, screen up and towards the viewer, in world LPS.
    pub right: Vector3<f32>,
    pub up: Vector3<f32>,
    pub back: Vector3<f32>,
}

impl View3d {
    /// A view with these settings (no GPU until [`enable_gpu`](Self::enable_gpu)).
    pub fn new(settings: View3dSettings) -> Self {
        View3d {
            settings,
            ..Default::default()
        }
    }

    /// Installs the GPU renderer in the render state's callback resources (call once,
    /// where the app installs its slice renderer).
    pub fn enable_gpu(&mut self, rs: &RenderState) {
        View3dRenderer::install(rs);
        self.gpu = true;
    }

    /// The bone surfaces shown, if any.
    pub fn surfaces(&self) -> Option<&Arc<KneeSurfaces>> {
        self.surfaces.as_ref()
    }

    /// Sets the bone surfaces shown (None: nothing to show).
    pub fn set_surfaces(&mut self, surfaces: Option<Arc<KneeSurfaces>>) {
        self.surfaces = surfaces;
    }

    /// The fourth quadrant: the surfaces with the landmark sets given (fixed cyan, moving
    /// magenta; None: hidden) and the crosshair.
    pub fn quadrant_ui(
        &mut self,
        ui: &mut egui::Ui,
        size: Vec2,
        crosshair: Point3<f64>,
        landmarks: [Option<&[srrd_base::io::landmarks::Landmark]>; 2],
    ) {
        let c = crosshair;
        let scene = self.surfaces.as_ref().map(|s| {
            let mut scene = Scene3d::new(s.clone()).with_crosshair([c.x, c.y, c.z]);
            if let Some(set) = landmarks[0] {
                scene = scene.with_landmarks(set, [0, 220, 255, 255]);
            }
            if let Some(set) = landmarks[1] {
                scene = scene.with_landmarks(set, [255, 80, 220, 255]);
            }
            scene
        });
        self.ui(ui, size, scene.as_ref());
    }

    /// Whether the view draws (a GPU renderer is installed).
    pub fn has_gpu(&self) -> bool {
        self.gpu
    }

    /// Camera back to the front view at zoom 1 (colouring and toggles stay).
    pub fn reset_camera(&mut self) {
        let d = View3dSettings::default();
        self.settings.yaw_rad = d.yaw_rad;
        self.settings.pitch_rad = d.pitch_rad;
        self.settings.zoom = d.zoom;
    }

    /// The rectangle the last frame drew the scene in (below the controls).
    pub fn image_rect(&self) -> Option<Rect> {
        self.image_rect
    }

    /// The camera for surfaces centred at `centre` with bounding radius `radius`, in a
    /// view of this aspect ratio (width / height).
    pub fn camera(&self, centre: [f32; 3], radius: f32, aspect: f32) -> Camera {
        let s = &self.settings;
        let (yaw, pitch) = (s.yaw_rad, s.pitch_rad.clamp(-PITCH_LIMIT, PITCH_LIMIT));
        let back = Vector3::new(
            yaw.sin() * pitch.cos(),
            -yaw.cos() * pitch.cos(),
            pitch.sin(),
        );
        let right = (-back).cross(&Vector3::z()).normalize();
        let up = back.cross(&right);
        let aspect = if aspect.is_finite() && aspect > 0.0 {
            aspect
        } else {
            1.0
        };
        let t = HALF_FOV.tan();
        let distance = radius * (1.0 + 1.0 / (t * t)).sqrt() * 1.05;
        let tan_y = if aspect >= 1.0 { t } else { t / aspect } / s.zoom.clamp(0.05, 50.0);
        let c = Point3::from(centre);
        let eye = c + back * distance;
        let view = Matrix4::look_at_rh(&eye, &c, &Vector3::z());
        let near = (distance - 1.3 * radius).max(distance * 0.02);
        let far = distance + 1.3 * radius;
        let f = 1.0 / tan_y;
        #[rustfmt::skip]
        let proj = Matrix4::new(
            f / aspect, 0.0, 0.0, 0.0,
            0.0, f, 0.0, 0.0,
            0.0, 0.0, far / (near - far), near * far / (near - far),
            0.0, 0.0, -1.0, 0.0,
        );
        Camera {
            view_proj: proj * view,
            right,
            up,
            back,
        }
    }

    /// Where a world point (LPS mm) of the scene appears in the last frame's view, or None
    /// (behind the eye, or no frame yet).
    pub fn project(&self, scene: &Scene3d, point_mm: [f64; 3]) -> Option<Pos2> {
        let rect = self.image_rect?;
        let (c, r) = scene.surfaces.centre_and_radius();
        let cam = self.camera(c, r, rect.width() / rect.height());
        let p = point_mm.map(|x| x as f32);
        let clip = cam.view_proj * Vector4::new(p[0], p[1], p[2], 1.0);
        if clip.w <= 0.0 {
            return None;
        }
        let (x, y) = (clip.x / clip.w, clip.y / clip.w);
        Some(pos2(
            rect.min.x + (x + 1.0) / 2.0 * rect.width(),
            rect.min.y + (1.0 - y) / 2.0 * rect.height(),
        ))
    }

    /// Draws the view in `size` (controls on top, the scene below) and handles its input.
    /// The response is the scene area's (drag, click, hover).
    pub fn ui(&mut self, ui: &mut egui::Ui, size: Vec2, scene: Option<&Scene3d>) -> egui::Response {
        let (outer, _) = ui.allocate_exact_size(size, Sense::hover());
        let bar_height = (ui.spacing().interact_size.y + 6.0).min(outer.height() / 2.0);
        let (bar_rect, rect) = outer.split_top_bottom_at_y(outer.top() + bar_height);
        let mut bar = ui.new_child(
            egui::UiBuilder::new()
                .max_rect(bar_rect.shrink2(vec2(4.0, 0.0)))
                .layout(egui::Layout::left_to_right(egui::Align::Center)),
        );
        self.controls(&mut bar, scene);
        self.image_rect = Some(rect);
        let response = ui.interact(
            rect,
            ui.scope_id().with("srrd view3d"),
            Sense::click_and_drag(),
        );
        self.handle_input(ui, &response);
        let [r, g, b] = BACKGROUND;
        ui.painter_at(rect)
            .rect_filled(rect, 0.0, Color32::from_rgb(r, g, b));
        let message = match scene {
            _ if !self.gpu => Some(NO_GPU_TEXT),
            None => Some(NO_SCENE_TEXT),
            Some(s) if s.surfaces.mesh.is_empty() => Some("No bone surfaces to show"),
            Some(_) => None,
        };
        match (message, scene) {
            (Some(text), _) => {
                ui.put(rect, egui::Label::new(egui::RichText::new(text).weak()));
            }
            (None, Some(scene)) => {
                let frame = self.frame(scene, rect);
                ui.painter_at(rect)
                    .add(egui_wgpu::Callback::new_paint_callback(
                        rect,
                        View3dCallback(frame),
                    ));
                self.legend(ui, rect, scene);
            }
            (None, None) => {}
        }
        response
    }

    fn handle_input(&mut self, ui: &egui::Ui, response: &egui::Response) {
        let s = &mut self.settings;
        if response.dragged_by(egui::PointerButton::Primary) {
            let d = response.drag_delta();
            s.yaw_rad = (s.yaw_rad - d.x * ROTATE_PER_POINT).rem_euclid(std::f32::consts::TAU);
            s.pitch_rad = (s.pitch_rad + d.y * ROTATE_PER_POINT).clamp(-PITCH_LIMIT, PITCH_LIMIT);
        }
        if response.hovered() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = (scroll * 0.0025).exp() * pinch;
            if factor != 1.0 && factor.is_finite() {
                s.zoom = (s.zoom * factor).clamp(0.2, 20.0);
            }
        }
        if response.double_clicked() {
            self.reset_camera();
        }
    }

    /// The colouring the settings ask for, falling back to bones when the scene lacks it.
    fn effective_colour_by(&self, s: &KneeSurfaces) -> ColourBy {
        match &self.settings.colour_by {
            ColourBy::Subregion if s.subregions.is_some() => ColourBy::Subregion,
            ColourBy::Parameter(n) if s.map(n).is_some() => ColourBy::Parameter(n.clone()),
            _ => ColourBy::Bone,
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui, scene: Option<&Scene3d>) {
        ui.label("3D");
        let surfaces = scene.map(|s| &s.surfaces);
        let current = match surfaces {
            Some(s) => self.effective_colour_by(s),
            None => self.settings.colour_by.clone(),
        };
        let name = |c: &ColourBy| match c {
            ColourBy::Bone => "bone".to_string(),
            ColourBy::Subregion => "subregion".to_string(),
            ColourBy::Parameter(n) => n.clone(),
        };
        let label = ui.label("Colour");
        egui::ComboBox::from_id_salt("srrd view3d colour")
            .selected_text(name(&current))
            .show_ui(ui, |ui| {
                let by = &mut self.settings.colour_by;
                ui.selectable_value(by, ColourBy::Bone, "bone");
                if surfaces.is_some_and(|s| s.subregions.is_some()) {
                    ui.selectable_value(by, ColourBy::Subregion, "subregion");
                }
                for m in surfaces.map(|s| s.maps.as_slice()).unwrap_or_default() {
                    ui.selectable_value(by, ColourBy::Parameter(m.name.clone()), &m.name);
                }
            })
            .response
            .labelled_by(label.id);
        ui.checkbox(&mut self.settings.show_landmarks, "Landmarks");
        ui.checkbox(&mut self.settings.show_planes, "Planes");
    }

    fn colours(&mut self, s: &KneeSurfaces) -> (u64, Arc<Vec<[u8; 4]>>) {
        let by = self.effective_colour_by(s);
        match &self.colouring {
            Some(c) if c.surfaces == s.id && c.by == by => (c.key, c.colours.clone()),
            _ => {
                let colours = Arc::new(vertex_colours(s, &by));
                let key = NEXT_COLOURING.fetch_add(1, Ordering::Relaxed);
                self.colouring = Some(Colouring {
                    surfaces: s.id,
                    by,
                    key,
                    colours: colours.clone(),
                });
                (key, colours)
            }
        }
    }

    fn frame(&mut self, scene: &Scene3d, rect: Rect) -> Frame3d {
        let (centre, radius) = scene.surfaces.centre_and_radius();
        let cam = self.camera(centre, radius, rect.width() / rect.height());
        let light = (cam.back + cam.up * 0.8 - cam.right * 0.6).normalize();
        let (colours_key, colours) = self.colours(&scene.surfaces);
        let mut triangles = Prims::default();
        if self.settings.show_landmarks {
            let r = (radius * 0.025).max(1.5);
            for (p, c) in &scene.landmarks {
                push_sphere(&mut triangles, p.map(|x| x as f32), r, *c);
            }
        }
        let mut lines = Prims::default();
        if self.settings.show_planes {
            push_planes(&mut lines, &scene.surfaces, scene.crosshair_mm);
        }
        Frame3d {
            rect,
            surfaces: scene.surfaces.clone(),
            colours,
            colours_key,
            triangles,
            lines,
            uniform: SceneUniform {
                view_proj: cam.view_proj.into(),
                light: [light.x, light.y, light.z, AMBIENT],
                extra: [0.0; 4],
            },
        }
    }

    fn legend(&self, ui: &egui::Ui, rect: Rect, scene: &Scene3d) {
        let painter = ui.painter_at(rect);
        let font = egui::FontId::proportional(11.0);
        let text = Color32::from_gray(210);
        let swatch = |at: Pos2, c: [u8; 4]| {
            let r = Rect::from_min_size(at, vec2(10.0, 10.0));
            painter.rect_filled(r, 2.0, Color32::from_rgb(c[0], c[1], c[2]));
        };
        painter.text(
            rect.right_top() + vec2(-6.0, 4.0),
            egui::Align2::RIGHT_TOP,
            "drag: rotate, wheel: zoom, double-click: reset",
            font.clone(),
            Color32::from_gray(140),
        );
        let mut at = rect.left_bottom() + vec2(8.0, -18.0);
        match self.effective_colour_by(&scene.surfaces) {
            ColourBy::Bone => {
                let labels = &scene.surfaces.mesh.labels;
                for (l, name) in [
                    (FEMUR, "femur"),
                    (TIBIA, "tibia"),
                    (PATELLA, "patella"),
                    (FIBULA, "fibula"),
                ] {
                    if labels.contains(&l) {
                        swatch(at, bone_colour(l));
                        let r = painter.text(
                            at + vec2(14.0, 5.0),
                            egui::Align2::LEFT_CENTER,
                            name,
                            font.clone(),
                            text,
                        );
                        at.x = r.right() + 10.0;
                    }
                }
            }
            ColourBy::Subregion => {
                for row in 0..2u8 {
                    let mut x = rect.left() + 8.0;
                    let y = rect.bottom() - 34.0 + 16.0 * f32::from(row);
                    for n in 1..=6u8 {
                        let l = row * 6 + n;
                        swatch(pos2(x, y), subregion_colour(l));
                        let name = SUBREGION_NAMES[usize::from(l - 1)];
                        let r = painter.text(
                            pos2(x + 14.0, y + 5.0),
                            egui::Align2::LEFT_CENTER,
                            name,
                            font.clone(),
                            text,
                        );
                        x = r.right() + 8.0;
                    }
                }
            }
            ColourBy::Parameter(name) => {
                if let Some(m) = scene.surfaces.map(&name) {
                    let r = painter.text(
                        at + vec2(0.0, 5.0),
                        egui::Align2::LEFT_CENTER,
                        format!("{name} {:.3}", m.range.0),
                        font.clone(),
                        text,
                    );
                    let x0 = r.right() + 6.0;
                    for n in 0..64 {
                        let c = ramp_colour(n as f32 / 63.0);
                        let r =
                            Rect::from_min_size(pos2(x0 + n as f32 * 1.5, at.y), vec2(1.6, 10.0));
                        painter.rect_filled(r, 0.0, Color32::from_rgb(c[0], c[1], c[2]));
                    }
                    painter.text(
                        pos2(x0 + 102.0, at.y + 5.0),
                        egui::Align2::LEFT_CENTER,
                        format!("{:.3}", m.range.1),
                        font,
                        text,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_camera_looks_from_anterior_with_superior_up() {
        let v = View3d::default();
        let cam = v.camera([0.0; 3], 50.0, 1.5);
        // LPS: anterior is -y, superior +z, the patient's left +x.
        assert!((cam.back - Vector3::new(0.0, -1.0, 0.0)).norm() < 1e-6);
        assert!((cam.up - Vector3::z()).norm() < 1e-6);
        assert!((cam.right - Vector3::x()).norm() < 1e-6);
        let clip = |p: [f32; 3]| {
            let c = cam.view_proj * Vector4::new(p[0], p[1], p[2], 1.0);
            c.xyz() / c.w
        };
        // Superior projects higher, left further right; the whole bounding sphere fits.
        assert!(clip([0.0, 0.0, 30.0]).y > clip([0.0, 0.0, -30.0]).y);
        assert!(clip([30.0, 0.0, 0.0]).x > clip([-30.0, 0.0, 0.0]).x);
        for p in [
            [50.0, 0.0, 0.0],
            [0.0, 0.0, 50.0],
            [0.0, -50.0, 0.0],
            [0.0, 50.0, 0.0],
        ] {
            let q = clip(p);
            assert!(
                q.x.abs() <= 1.0 && q.y.abs() <= 1.0 && (0.0..=1.0).contains(&q.z),
                "{p:?} -> {q}"
            );
        }
        // Nearer points have smaller depth.
        assert!(clip([0.0, -20.0, 0.0]).z < clip([0.0, 20.0, 0.0]).z);
    }

    #[test]
    fn settings_round_trip() {
        let s = View3dSettings {
            colour_by: ColourBy::Parameter("Tb.Th".into()),
            yaw_rad: 0.5,
            ..Default::default()
        };
        let text = serde_json::to_string(&s).expect("serialize");
        let back: View3dSettings = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, s);
        let partial: View3dSettings = serde_json::from_str(r#"{"zoom": 2.0}"#).expect("parse");
        assert_eq!(partial.zoom, 2.0);
        assert!(partial.show_planes);
    }
}
