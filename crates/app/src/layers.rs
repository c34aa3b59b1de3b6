//! The layers part: the images shown (bottom first), how they are sampled, and how two of
//! them are compared (fusion mode, the pair, checkerboard tile, flicker); with its panel,
//! which returns what the viewer must do.

use std::sync::Arc;

use eframe::egui;
use nalgebra::Point3;

use super::actions::Action;
use super::fusion::FusionMode;
use super::layer::{Colormap, Layer, auto_window};
use super::session::LayerState;
use srrd_base::io::LoadedImage;
use srrd_base::volume::{Interpolation, Volume};

/// The layers shown and how they are compared.
pub struct Layers {
    list: Vec<Layer>,
    interpolation: Interpolation,
    fusion: FusionMode,
    /// The pair compared (layer indices: a, b); in the yellow fusion a is the CT.
    pair: (usize, usize),
    /// Checkerboard tile, in slice pixels.
    tile_px: usize,
    /// Flicker: Some(false) shows only a, Some(true) only b; None is off.
    flicker: Option<bool>,
}

/// How two layers are compared, and how the views sample them (what a session keeps).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub interpolation: Interpolation,
    pub fusion: FusionMode,
    pub pair: (usize, usize),
    pub tile_px: usize,
    pub flicker: Option<bool>,
}

impl Layers {
    /// These layers, alpha-blended, linear sampling.
    pub fn new(list: Vec<Layer>) -> Self {
        Layers {
            list,
            interpolation: Interpolation::Linear,
            fusion: FusionMode::Alpha,
            pair: (0, 1),
            tile_px: 16,
            flicker: None,
        }
    }

    /// The layers, bottom first.
    pub fn list(&self) -> &[Layer] {
        &self.list
    }

    /// The layers, to change one (call `mark_dirty` on the viewer after).
    pub fn list_mut(&mut self) -> &mut Vec<Layer> {
        &mut self.list
    }

    /// The base layer (the one the views' grids follow).
    pub fn base(&self) -> Option<&Layer> {
        self.list.first()
    }

    /// The layer called `name`.
    pub fn get(&self, name: &str) -> Option<&Layer> {
        self.list.iter().find(|l| l.name == name)
    }

    /// Whether a layer called `name` is there.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The volume of the layer called `name`.
    pub fn volume(&self, name: &str) -> Option<Arc<Volume>> {
        self.get(name).map(|l| l.volume.clone())
    }

    /// Whether both a CT and an MR layer are there (registration can run).
    pub fn ct_and_mr(&self) -> bool {
        self.has("CT") && self.has("MR")
    }

    /// How the pair is compared and the views sample.
    pub fn comparison(&self) -> Comparison {
        Comparison {
            interpolation: self.interpolation,
            fusion: self.fusion,
            pair: self.pair,
            tile_px: self.tile_px,
            flicker: self.flicker,
        }
    }

    /// Sets how the pair is compared and the views sample.
    pub fn set_comparison(&mut self, c: Comparison) {
        self.interpolation = c.interpolation;
        self.fusion = c.fusion;
        self.pair = c.pair;
        self.tile_px = c.tile_px;
        self.flicker = c.flicker;
    }

    /// The fusion mode of the pair.
    pub fn fusion(&self) -> FusionMode {
        self.fusion
    }

    /// Sets the fusion mode of the pair.
    pub fn set_fusion(&mut self, mode: FusionMode) {
        self.fusion = mode;
    }

    /// The pair compared (layer indices: a, b).
    pub fn pair(&self) -> (usize, usize) {
        self.pair
    }

    /// Sets the pair compared.
    pub fn set_pair(&mut self, pair: (usize, usize)) {
        self.pair = pair;
    }

    /// The checkerboard tile, in slice pixels.
    pub fn tile_px(&self) -> usize {
        self.tile_px
    }

    /// Sets the checkerboard tile.
    pub fn set_tile_px(&mut self, px: usize) {
        self.tile_px = px;
    }

    /// Flicker: Some(false) shows only a, Some(true) only b; None is off.
    pub fn flicker(&self) -> Option<bool> {
        self.flicker
    }

    /// Sets flicker.
    pub fn set_flicker(&mut self, flicker: Option<bool>) {
        self.flicker = flicker;
    }

    /// How the views sample the layers.
    pub fn interpolation(&self) -> Interpolation {
        self.interpolation
    }

    /// Sets how the views sample the layers.
    pub fn set_interpolation(&mut self, interpolation: Interpolation) {
        self.interpolation = interpolation;
    }

    /// Flicker between the pair: off -> B -> A -> B ...
    pub fn toggle_flicker(&mut self) {
        self.flicker = Some(!self.flicker.unwrap_or(false));
    }

    /// Adds an image read by the user: it becomes the CT or the MR when that role is
    /// free; returns its name.
    pub fn add(&mut self, mut l: Layer) -> String {
        let looks_ct = l.in_hu;
        if !self.has("CT") && looks_ct {
            l.name = "CT".into();
            l.window = (400.0, 1800.0);
        } else if !self.has("MR") && !looks_ct {
            l.name = "MR".into();
        }
        while self.has(&l.name) {
            l.name.push('\'');
        }
        if !self.list.is_empty() {
            l.colormap = Colormap::Hot;
            l.opacity = 0.4;
        }
        let name = l.name.clone();
        self.list.push(l);
        name
    }

    /// Adds computed layers, each replacing the one of the same name.
    pub fn put(&mut self, layers: Vec<Layer>) {
        for l in layers {
            self.list.retain(|x| x.name != l.name);
            self.list.push(l);
        }
    }

    /// Removes every layer.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Hides the MR and the registered MR overlays (the maps are the point now).
    pub fn hide_mr_overlays(&mut self) {
        for l in &mut self.list {
            if matches!(l.name.as_str(), "MR" | "crMR" | "sCT" | "rrMR") {
                l.visible = false;
            }
        }
    }

    /// Shows the MR layer moved by `t` (None: as read).
    pub fn move_mr(&mut self, t: Option<srrd_base::volume::RigidTransform>) {
        for l in &mut self.list {
            if l.name == "MR" {
                l.moved_by = t.clone();
            }
        }
    }

    /// The layer `layer_id` shows another series of its folder; returns its name, or
    /// None when the layer is gone.
    pub fn show_series(&mut self, layer_id: u64, series: &str, img: LoadedImage) -> Option<String> {
        let n = self.list.iter().position(|l| l.id == layer_id)?;
        let old = &self.list[n];
        let mut layer = Layer::new(old.name.clone(), img.volume);
        layer.source = old.source.clone();
        layer.visible = old.visible;
        layer.opacity = old.opacity;
        layer.colormap = old.colormap;
        layer.series_choices = old.series_choices.clone();
        layer.series_id = Some(series.to_string());
        layer.dicom = img.dicom.map(Arc::new);
        if layer.in_hu && layer.name == "CT" {
            layer.window = (400.0, 1800.0);
        }
        let name = layer.name.clone();
        self.list[n] = layer;
        Some(name)
    }

    /// Right drag on a view: window (`dx`) and level (`dy`) of the base layer.
    pub fn drag_window(&mut self, dx: f32, dy: f32) {
        if let Some(base) = self.list.first_mut() {
            let (c, w) = base.window;
            base.window = (c - dy * w / 200.0, (w * (1.0 + dx / 200.0)).max(1e-3));
        }
    }

    /// How each layer is shown (for a session).
    pub fn states(&self) -> Vec<LayerState> {
        self.list
            .iter()
            .map(|l| LayerState {
                name: l.name.clone(),
                visible: l.visible,
                opacity: l.opacity,
                colormap: l.colormap,
                window: l.window,
            })
            .collect()
    }

    /// Shows the layers loaded as a session says (matched by name).
    pub fn apply_states(&mut self, states: &[LayerState]) {
        for st in states {
            if let Some(l) = self.list.iter_mut().find(|l| l.name == st.name) {
                l.visible = st.visible;
                l.opacity = st.opacity;
                l.colormap = st.colormap;
                l.window = st.window;
            }
        }
    }

    /// Values of every layer at a world point.
    pub fn values_at(&self, p: &Point3<f64>) -> Vec<(String, Option<f32>)> {
        self.list
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
}

/// The layers section of the left panel: each layer's visibility, window, colours and
/// series, the interpolation, and the comparison of two layers.
pub fn layers_ui(ui: &mut egui::Ui, layers: &mut Layers) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut changed = false;
    for layer in &mut layers.list {
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
            actions.push(Action::SwitchSeries(layer.id, id));
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
    ui.separator();
    let mut linear = layers.interpolation == Interpolation::Linear;
    if ui.checkbox(&mut linear, "linear interpolation").changed() {
        layers.interpolation = if linear {
            Interpolation::Linear
        } else {
            Interpolation::Nearest
        };
        changed = true;
    }
    if layers.list.len() >= 2 {
        changed |= compare_ui(ui, layers);
    }
    if changed {
        actions.push(Action::Redraw);
    }
    actions
}

/// The comparison of two layers: the pair, the fusion mode, the tile and flicker; true
/// when something changed.
fn compare_ui(ui: &mut egui::Ui, layers: &mut Layers) -> bool {
    let mut changed = false;
    ui.separator();
    ui.label("Compare");
    let names: Vec<String> = layers.list.iter().map(|l| l.name.clone()).collect();
    for (which, label) in [(0, "A"), (1, "B")] {
        let current = if which == 0 {
            layers.pair.0
        } else {
            layers.pair.1
        };
        egui::ComboBox::from_label(label)
            .selected_text(names.get(current).cloned().unwrap_or_default())
            .show_ui(ui, |ui| {
                for (i, n) in names.iter().enumerate() {
                    let target = if which == 0 {
                        &mut layers.pair.0
                    } else {
                        &mut layers.pair.1
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
                .selectable_value(&mut layers.fusion, mode, mode.label())
                .changed()
            {
                changed = true;
            }
        }
    });
    if layers.fusion == FusionMode::Checkerboard {
        changed |= ui
            .add(egui::Slider::new(&mut layers.tile_px, 2..=64).text("tile (px)"))
            .changed();
    }
    ui.horizontal(|ui| {
        let label = match layers.flicker {
            None => "Flicker (F)".to_string(),
            Some(b) => format!("Flicker: {} (F)", if b { "B" } else { "A" }),
        };
        if ui.button(label).clicked() {
            layers.toggle_flicker();
            changed = true;
        }
        if layers.flicker.is_some() && ui.button("Flicker off").clicked() {
            layers.flicker = None;
            changed = true;
        }
    });
    changed
}
