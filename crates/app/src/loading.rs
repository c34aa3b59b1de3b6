//! Reading images in the background: the demo knee, files and DICOM folders, as layers;
//! a read running for the images shown, and one running ahead (the next worklist case).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use super::layer::*;
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

/// An image to read as a layer: the layer's name (None: the file's own name), the file
/// or DICOM folder, and in a folder of several series or parts the one to show (None:
/// the reader's default choice).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFile {
    pub name: Option<String>,
    pub path: PathBuf,
    pub series: Option<String>,
}

impl ImageFile {
    /// `path` as the layer `name`, its default series.
    pub fn named(name: &str, path: PathBuf) -> Self {
        ImageFile {
            name: Some(name.to_string()),
            path,
            series: None,
        }
    }

    /// Shows `series` (a series id or part `UID#k`) of a DICOM folder.
    pub fn with_series(mut self, series: Option<String>) -> Self {
        self.series = series;
        self
    }
}

/// A read ahead of worklist case `case` (its `files`), running or done.
pub(super) struct Prefetch {
    pub(super) case: usize,
    pub(super) files: Vec<ImageFile>,
    pub(super) rx: Receiver<LoadResult>,
    pub(super) progress: Arc<Progress>,
}

impl Prefetch {
    /// Whether the read is done (its result waits in the channel).
    pub(super) fn ready(&mut self) -> bool {
        // A result taken to look at it is put back through a fresh channel.
        match self.rx.try_recv() {
            Ok(result) => {
                let (tx, rx) = channel();
                let _ = tx.send(result);
                self.rx = rx;
                true
            }
            Err(_) => false,
        }
    }
}

/// Reads `files` as layers (none: the demo knee); with `stop_when_cancelled`, a cancelled `progress` stops before the next
/// file.
pub(super) fn load_layers(
    files: Vec<ImageFile>,
    progress: &Progress,
    stop_when_cancelled: bool,
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
                    ImageFile::named("CT", dir.join("ct.nii.gz")),
                    ImageFile::named("MR", dir.join("mr.nii.gz")),
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
    for ImageFile { name, path, series } in files {
        if stop_when_cancelled && progress.is_cancelled() {
            return Err("cancelled".into());
        }
        let name = name.unwrap_or_else(|| file_stem(&path));
        progress.start(&format!("reading {name}"), 1);
        // A layer named CT or MR reads that modality's series of a folder holding both (a
        // PACS export), as `srrd analyze --ct/--mr` does; others, the largest series.
        let modality = matches!(name.as_str(), "CT" | "MR").then_some(name.as_str());
        let options = srrd_base::io::ReadOptions {
            modality,
            series: series.as_deref(),
            ..Default::default()
        };
        let img = srrd_base::io::read_image_with(&path, &options).map_err(|e| e.to_string())?;
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
