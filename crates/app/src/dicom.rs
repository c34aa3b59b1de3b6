//! DICOM in the viewer: the series (or part of a split series) a DICOM folder layer shows,
//! chosen from the layer panel, and the analysis exported as DICOM (Segmentation,
//! Parametric Maps, Measurement Report) from the results panel. Both run on a worker
//! thread; the reading and writing themselves live in `io` and `pipeline`.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;

use super::layer::Layer;
use super::results::ResultsSummary;
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

/// DICOM work that ended.
pub enum DicomEvent {
    /// A series read for a layer (layer id, series id, the image), or why not.
    Series(Box<SeriesResult>),
    /// An export's line for the status bar, or why it failed.
    Exported(Result<String, String>),
}

impl DicomJobs {
    /// Whether a series switch or an export is running.
    pub fn busy(&self) -> bool {
        self.series.is_some() || self.export.is_some()
    }

    /// Reads series `series` of the DICOM folder `path` for layer `layer_id`.
    pub fn read_series(&mut self, path: std::path::PathBuf, layer_id: u64, series: String) {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let read = srrd_base::io::read_image(&path, Some(&series))
                .map(|img| (layer_id, series, img))
                .map_err(|e| e.to_string());
            let _ = tx.send(read);
        });
        self.series = Some(rx);
    }

    /// Writes `results` as DICOM into `dir` (a new or empty folder), with the parameter
    /// `maps` over the CT's geometry and the CT's DICOM source.
    pub fn export(&mut self, job: ExportJob, dir: &Path) {
        let (tx, rx) = channel();
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(write_export(job, &dir));
        });
        self.export = Some(rx);
    }

    /// What ended since the last call.
    pub fn poll(&mut self) -> Vec<DicomEvent> {
        let mut events = Vec::new();
        if let Some(rx) = &self.export
            && let Ok(outcome) = rx.try_recv()
        {
            self.export = None;
            events.push(DicomEvent::Exported(outcome));
        }
        if let Some(rx) = &self.series
            && let Ok(outcome) = rx.try_recv()
        {
            self.series = None;
            events.push(DicomEvent::Series(Box::new(outcome)));
        }
        events
    }
}

/// What a DICOM export writes: the analysis, its parameter maps, the CT's geometry and
/// DICOM source.
pub struct ExportJob {
    pub results: ResultsSummary,
    pub maps: Vec<Arc<srrd_base::volume::Volume>>,
    pub geometry: srrd_base::volume::Geometry,
    pub source: Option<Arc<srrd_base::io::DicomSource>>,
}

/// Writes the export (on a worker thread): the status line, or why not.
fn write_export(job: ExportJob, dir: &Path) -> Result<String, String> {
    let ExportJob {
        results,
        maps,
        geometry,
        source,
    } = job;
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
    let export = export_dicom(&knee_results, &ctx, dir, false).map_err(|e| e.to_string())?;
    let mut line = format!(
        "DICOM written to {}: Segmentation ({} segments), {} parametric maps, measurement report",
        dir.display(),
        export.seg_segments,
        export.files.len().saturating_sub(2)
    );
    for w in &export.warnings {
        line.push_str(&format!("; note: {w}"));
    }
    Ok(line)
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
