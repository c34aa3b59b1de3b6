//! A layer: one image shown in the views, with its window, colours and opacity, and
//! how its values become colours on the CPU path.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::Color32;

use srrd_base::volume::Volume;

/// How a layer's values become colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Colormap {
    Grey,
    Hot,
    /// Rainbow (jet): blue, cyan, yellow, red.
    Jet,
    /// Perceptually uniform (viridis-like), for parameter maps.
    Viridis,
}

impl Colormap {
    /// All maps, in the order the UI lists them.
    pub const ALL: [Colormap; 4] = [
        Colormap::Grey,
        Colormap::Hot,
        Colormap::Jet,
        Colormap::Viridis,
    ];
}

/// Jet colour at `t` in [0, 1] (each channel a clamped tent).
pub fn jet(t: f32) -> [f32; 3] {
    let tent = |c: f32| (1.5 - (4.0 * t - c).abs()).clamp(0.0, 1.0);
    [tent(3.0), tent(2.0), tent(1.0)]
}

/// Viridis-like colour at `t` in [0, 1] (see `stats::viridis_rgb`).
pub fn viridis(t: f32) -> Color32 {
    let [r, g, b] = srrd_stats::viridis_rgb(t);
    Color32::from_rgb(r, g, b)
}

/// One image shown in the views.
#[derive(Clone)]
pub struct Layer {
    /// Unique per loaded image: names its texture on the GPU.
    pub id: u64,
    pub name: String,
    /// The file it was read from (None: computed in the app); sessions store these.
    pub source: Option<PathBuf>,
    /// Whether the values look like HU (air below -500): CT window presets apply.
    pub in_hu: bool,
    pub volume: Arc<Volume>,
    pub visible: bool,
    pub opacity: f32,
    pub colormap: Colormap,
    /// Window centre and width, in the image's units (HU for CT).
    pub window: (f32, f32),
    /// For a DICOM image: the study, series and instances it came from (DICOM export
    /// refers to them).
    pub dicom: Option<Arc<srrd_base::io::DicomSource>>,
    /// For a DICOM folder: the series (or part) shown, and every one the folder holds
    /// when there are several (the layer panel offers them).
    pub series_id: Option<String>,
    pub series_choices: Vec<srrd_base::io::SeriesInfo>,
    /// Shown moved by this fixed -> moving transform: the view's point p shows the value
    /// at `moved_by(p)` (the MR under a nudged or corrected start). None: as read.
    pub moved_by: Option<srrd_base::volume::RigidTransform>,
}

impl Layer {
    /// A layer with a window from the image's 1st and 99th percentiles.
    pub fn new(name: impl Into<String>, volume: Volume) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let window = auto_window(&volume);
        Layer {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name: name.into(),
            source: None,
            in_hu: volume.data.iter().any(|v| *v < -500.0),
            volume: Arc::new(volume),
            visible: true,
            opacity: 1.0,
            colormap: Colormap::Grey,
            window,
            dicom: None,
            series_id: None,
            series_choices: Vec::new(),
            moved_by: None,
        }
    }
}

/// Window (centre, width) covering the 1st to 99th percentile of a sample of voxels
/// (`registration::metric::tail_percentiles`).
pub fn auto_window(v: &Volume) -> (f32, f32) {
    let owned;
    let values = match v.data.as_slice() {
        Some(s) => s,
        None => {
            owned = v.data.iter().copied().collect::<Vec<f32>>();
            &owned
        }
    };
    match srrd_registration::metric::tail_percentiles(values, 100_000, 100) {
        Some((lo, hi)) => ((lo + hi) / 2.0, (hi - lo).max(1e-3)),
        None => (0.0, 1.0),
    }
}

pub(super) fn colour(layer: &Layer, v: f32) -> Color32 {
    let (c, w) = layer.window;
    let t = ((v - (c - w / 2.0)) / w).clamp(0.0, 1.0);
    match layer.colormap {
        Colormap::Grey => {
            let g = (t * 255.0) as u8;
            Color32::from_rgb(g, g, g)
        }
        Colormap::Viridis => viridis(t),
        Colormap::Jet => {
            let [r, g, b] = jet(t);
            Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
        }
        Colormap::Hot => {
            let r = (t * 3.0).min(1.0);
            let g = (t * 3.0 - 1.0).clamp(0.0, 1.0);
            let b = (t * 3.0 - 2.0).clamp(0.0, 1.0);
            Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
        }
    }
}

pub(super) fn blend(under: Color32, over: Color32, alpha: f32) -> Color32 {
    let mix = |a: u8, b: u8| (a as f32 * (1.0 - alpha) + b as f32 * alpha) as u8;
    Color32::from_rgb(
        mix(under.r(), over.r()),
        mix(under.g(), over.g()),
        mix(under.b(), over.b()),
    )
}
