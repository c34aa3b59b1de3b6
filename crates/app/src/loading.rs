//! Reading images in the background: the demo knee, files and DICOM folders, and what
//! the viewer does with them when they arrive.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use super::landmarks::LandmarkEditor;
use super::layer::*;
use super::viewer::*;
use srrd_base::io::landmarks::Landmark;
use srrd_base::progress::Progress;

/// Loaded layers and a note for the user (e.g. why the demo fell back), or an error.
pub(super) type LoadResult = Result<(Vec<Layer>, Option<String>, [Vec<Landmark>; 2]), String>;

/// A background load: what arrives, its progress, whether the layers are added to those
/// shown (else they replace them), and a session to apply once they are there.
pub(super) struct Loading {
    pub(super) rx: Receiver<LoadResult>,
    pub(super) progress: Arc<Progress>,
    pub(super) append: bool,
    pub(super) session: Option<super::session::Session>,
}

pub(super) fn load_layers(
    files: Vec<(Option<String>, PathBuf)>,
    progress: &Progress,
) -> LoadResult {
    let mut marks: [Vec<Landmark>; 2] = [Vec::new(), Vec::new()];
    let files = if files.is_empty() {
        // The demo knee: generated once into the cache, then read from there, with its
        // paired landmarks.
        match srrd_phantom::ensure_demo(progress) {
            Ok(dir) => {
                for (n, f) in ["landmarks_ct.json", "landmarks_mr.json"]
                    .iter()
                    .enumerate()
                {
                    marks[n] = srrd_base::io::read_landmarks(&dir.join(f)).unwrap_or_default();
                }
                vec![
                    (Some("CT".to_string()), dir.join("ct.nii.gz")),
                    (Some("MR".to_string()), dir.join("mr.nii.gz")),
                ]
            }
            Err(e) => {
                let mut l = Layer::new("demo CT (analytic)", super::demo::demo_ct());
                l.window = (400.0, 1800.0);
                let why = format!(
                    "the demo knee could not be prepared ({e}); showing a simple analytic volume"
                );
                return Ok((vec![l], Some(why), [Vec::new(), Vec::new()]));
            }
        }
    } else {
        files
    };
    let mut layers = Vec::new();
    for (name, path) in files {
        let name = name.unwrap_or_else(|| file_stem(&path));
        progress.start(&format!("reading {name}"), 1);
        let img = srrd_base::io::read_image(&path, None).map_err(|e| e.to_string())?;
        let mut layer = Layer::new(name.as_str(), img.volume);
        layer.dicom = img.dicom.map(Arc::new);
        layer.series_id = img.series.map(|s| s.id);
        if path.is_dir() {
            // A folder with several series or parts: the layer panel offers them all.
            let choices = srrd_base::io::list_series(&path).unwrap_or_default();
            if choices.len() > 1 {
                layer.series_choices = choices;
            }
        }
        layer.source = Some(path);
        if name == "CT" {
            layer.window = (400.0, 1800.0);
        }
        if !layers.is_empty() {
            layer.colormap = Colormap::Hot;
            layer.opacity = 0.4;
        }
        layers.push(layer);
    }
    Ok((layers, None, marks))
}

/// A file's name without its image extensions (`knee.nii.gz` -> `knee`).
pub(super) fn file_stem(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "image".into());
    for ext in [".nii.gz", ".nii", ".dcm"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    name
}

impl ViewerApp {
    /// Reads `files` (layer name, or None for the file's own name) in the background
    /// (none: the demo knee); `append` adds them to the layers shown, else they replace
    /// them; `session` is applied once they are loaded.
    pub(super) fn start_loading(
        &mut self,
        files: Vec<(Option<String>, PathBuf)>,
        append: bool,
        session: Option<super::session::Session>,
    ) {
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(load_layers(files, &worker));
        });
        self.loading = Some(Loading {
            rx,
            progress,
            append,
            session,
        });
    }

    /// Whether a background load is still running.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    pub(super) fn poll_loading(&mut self) {
        let Some(loading) = &self.loading else {
            return;
        };
        let Ok(result) = loading.rx.try_recv() else {
            return;
        };
        let Some(Loading {
            append, session, ..
        }) = self.loading.take()
        else {
            return;
        };
        match result {
            Ok((layers, note, _)) if append => {
                for mut l in layers {
                    // An added image becomes the CT or the MR when that role is free.
                    let has = |n: &str| self.layers.iter().any(|x| x.name == n);
                    let looks_ct = l.in_hu;
                    if !has("CT") && looks_ct {
                        l.name = "CT".into();
                        l.window = (400.0, 1800.0);
                    } else if !has("MR") && !looks_ct {
                        l.name = "MR".into();
                    }
                    while self.layers.iter().any(|x| x.name == l.name) {
                        l.name.push('\'');
                    }
                    if !self.layers.is_empty() {
                        l.colormap = Colormap::Hot;
                        l.opacity = 0.4;
                    }
                    self.status = format!("added {}", l.name);
                    self.layers.push(l);
                }
                if self.layers.len() == 1 {
                    self.crosshair = self.layers[0].volume.geometry.center_mm();
                }
                self.error = note;
                self.dirty = true;
            }
            Ok((layers, note, marks)) => {
                // A fresh start on the new images; the app's own settings stay.
                let kept = (
                    self.analyze_on_load,
                    self.gpu,
                    std::mem::take(&mut self.recent),
                    self.screenshot.take(),
                    self.worklist.take(),
                    self.blinded,
                    std::mem::take(&mut self.landmarks.protocol),
                    (self.placing, self.landmarks.active),
                    std::mem::replace(
                        &mut self.view3d,
                        super::view3d::View3d::new(Default::default()),
                    ),
                );
                *self = Self::with_layers(layers);
                let (protocol, placing);
                (
                    self.analyze_on_load,
                    self.gpu,
                    self.recent,
                    self.screenshot,
                    self.worklist,
                    self.blinded,
                    protocol,
                    placing,
                    self.view3d,
                ) = kept;
                self.error = note;
                let [f, m] = marks;
                self.landmarks = LandmarkEditor::with_sets(f, m);
                self.landmarks.protocol = protocol;
                // A reader going through cases keeps placing as they were.
                (self.placing, self.landmarks.active) = placing;
                if self.worklist.is_some() {
                    self.case_loaded();
                }
                if let Some(s) = session {
                    self.apply_session(s);
                }
                if self.analyze_on_load {
                    self.start_analysis();
                }
            }
            Err(e) => self.error = Some(e),
        }
    }
}
