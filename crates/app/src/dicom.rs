//! DICOM in the viewer: the series (or part of a split series) a DICOM folder layer shows,
//! chosen from the layer panel, and the analysis exported as DICOM (Segmentation,
//! Parametric Maps, Measurement Report) from the results panel. Both run on a worker
//! thread; the reading and writing themselves live in `io` and `pipeline`.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;

use super::results::MAP_LAYERS;
use super::viewer::{Layer, ViewerApp};
use srrd_base::io::{LoadedImage, SeriesInfo};
use srrd_pipeline::dicom_export::{ExportContext, KneeResults, export_dicom};

/// A series read for a layer: (layer id, series id, the image), or an error.
type SeriesResult = Result<(u64, String, LoadedImage), String>;

/// DICOM work running in the background.
#[derive(Default)]
pub struct DicomJobs {
    series: Option<Receiver<SeriesResult>>,
    export: Option<Receiver<Result<String, String>>>,
}

impl DicomJobs {
    /// Whether a series switch or an export is running.
    pub fn busy(&self) -> bool {
        self.series.is_some() || self.export.is_some()
    }
}

/// A short name for a series in a list: the end of its id, plane, size and file count.
pub fn series_label(s: &SeriesInfo) -> String {
    let tail: String = if s.id.len() > 14 {
        format!("…{}", &s.id[s.id.len() - 12..])
    } else {
        s.id.clone()
    };
    format!(
        "{tail}  {} {}x{}, {} files {}",
        s.plane, s.size[0], s.size[1], s.files, s.description
    )
}

/// The series chooser of a layer read from a DICOM folder with several series or parts;
/// returns the id picked when it differs from the one shown.
pub fn series_combo(ui: &mut egui::Ui, layer: &Layer) -> Option<String> {
    if layer.series_choices.len() < 2 {
        return None;
    }
    let current = layer.series_id.clone().unwrap_or_default();
    let shown = layer
        .series_choices
        .iter()
        .find(|s| s.id == current)
        .map(series_label)
        .unwrap_or_else(|| current.clone());
    let mut picked = None;
    egui::ComboBox::new(("series", layer.id), "series")
        .selected_text(shown)
        .width(230.0)
        .show_ui(ui, |ui| {
            for s in &layer.series_choices {
                let text = if s.split.is_empty() {
                    series_label(s)
                } else {
                    format!("{} (part: {})", series_label(s), s.split)
                };
                if ui.selectable_label(s.id == current, text).clicked() && s.id != current {
                    picked = Some(s.id.clone());
                }
            }
        });
    picked
}

impl ViewerApp {
    /// Reads another series of a layer's DICOM folder in the background; the layer shows
    /// it when it arrives.
    pub fn switch_series(&mut self, layer_id: u64, series: String) {
        let Some(path) = self
            .layers
            .iter()
            .find(|l| l.id == layer_id)
            .and_then(|l| l.source.clone())
        else {
            return;
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let read = srrd_base::io::read_image(&path, Some(&series))
                .map(|img| (layer_id, series, img))
                .map_err(|e| e.to_string());
            let _ = tx.send(read);
        });
        self.dicom_jobs.series = Some(rx);
        self.status = "reading the series…".into();
    }

    /// Writes the current analysis as DICOM into `dir` (a new or empty folder) in the
    /// background; the status bar says where, or why not.
    pub fn export_dicom(&mut self, dir: &Path) {
        let Some(results) = self.results.clone() else {
            self.status = "DICOM export: run the analysis first".into();
            return;
        };
        let Some(ct) = self.layers.iter().find(|l| l.name == "CT") else {
            self.status = "DICOM export: no CT layer".into();
            return;
        };
        let maps: Option<Vec<Arc<srrd_base::volume::Volume>>> = MAP_LAYERS
            .iter()
            .map(|(name, _)| {
                self.layers
                    .iter()
                    .find(|l| l.name == *name)
                    .map(|l| l.volume.clone())
            })
            .collect();
        let Some(maps) = maps else {
            self.status = "DICOM export: a parameter map layer was removed".into();
            return;
        };
        let geometry = ct.volume.geometry.clone();
        let source = ct.dicom.clone();
        let dir = dir.to_path_buf();
        self.status = format!("writing DICOM into {}…", dir.display());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let outcome = (|| {
                let knee = results
                    .knee
                    .as_ref()
                    .ok_or("the analysis has no knee report")?;
                let knee_results = KneeResults {
                    bones: &results.bones,
                    subregions: &results.subregions,
                    maps: maps.iter().map(|m| m.as_ref()).collect(),
                    stats: &results.stats,
                    koa: results.koa.as_ref(),
                    koa_withheld: results.koa_withheld.as_deref(),
                    knee,
                    checks: &results.checks,
                };
                let ctx = ExportContext {
                    ct_geometry: &geometry,
                    source: source.as_deref(),
                    provenance: &results.model_provenance,
                    model_version: results.model_version.clone(),
                };
                let export =
                    export_dicom(&knee_results, &ctx, &dir, false).map_err(|e| e.to_string())?;
                let mut line = format!(
                    "DICOM written to {}: Segmentation ({} segments), {} parametric maps, measurement report",
                    dir.display(),
                    export.seg_segments,
                    export.files.len().saturating_sub(2)
                );
                for w in &export.warnings {
                    line.push_str(&format!("; note: {w}"));
                }
                Ok::<String, String>(line)
            })();
            let _ = tx.send(outcome);
        });
        self.dicom_jobs.export = Some(rx);
    }

    /// Takes in finished DICOM work.
    pub(super) fn poll_dicom(&mut self) {
        if let Some(rx) = &self.dicom_jobs.export
            && let Ok(outcome) = rx.try_recv()
        {
            self.dicom_jobs.export = None;
            self.status = match outcome {
                Ok(line) => line,
                Err(e) => format!("DICOM export failed: {e}"),
            };
        }
        if let Some(rx) = &self.dicom_jobs.series
            && let Ok(outcome) = rx.try_recv()
        {
            self.dicom_jobs.series = None;
            match outcome {
                Ok((layer_id, series, img)) => self.show_series(layer_id, series, img),
                Err(e) => self.status = format!("cannot read that series: {e}"),
            }
        }
    }

    fn show_series(&mut self, layer_id: u64, series: String, img: LoadedImage) {
        let Some(n) = self.layers.iter().position(|l| l.id == layer_id) else {
            return;
        };
        let old = &self.layers[n];
        let mut layer = Layer::new(old.name.clone(), img.volume);
        layer.source = old.source.clone();
        layer.visible = old.visible;
        layer.opacity = old.opacity;
        layer.colormap = old.colormap;
        layer.series_choices = old.series_choices.clone();
        layer.series_id = Some(series.clone());
        layer.dicom = img.dicom.map(Arc::new);
        if layer.in_hu && layer.name == "CT" {
            layer.window = (400.0, 1800.0);
        }
        let was_ct = layer.name == "CT";
        self.layers[n] = layer;
        if was_ct && self.results.is_some() {
            self.results = None;
            self.status = format!(
                "showing series {series}; the analysis was of another series and is closed"
            );
        } else {
            self.status = format!("showing series {series}");
        }
        for w in &img.warnings {
            self.status.push_str(&format!(" ({w})"));
        }
        self.mark_dirty();
    }
}
