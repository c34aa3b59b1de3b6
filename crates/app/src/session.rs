//! What the viewer persists: a session (the files it shows and how: layers, windows,
//! fusion, landmarks, views) saved as JSON and restored exactly, and the list of recent
//! files. Runtime state (textures, jobs) is not here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::fusion::FusionMode;
use super::viewer::{Colormap, Layout};
use srrd_base::io::landmarks::Landmark;
use srrd_base::volume::Interpolation;

/// Format tag of session files.
pub const SESSION_FORMAT: &str = "srrd-session/1";

/// How one layer is shown (matched to a layer by name on restore).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerState {
    pub name: String,
    pub visible: bool,
    pub opacity: f32,
    pub colormap: Colormap,
    /// Window centre and width.
    pub window: (f32, f32),
}

/// A saved viewer session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub format: String,
    /// The image files shown, with the layer name each was loaded as ("CT", "MR", ...).
    /// Layers computed in the app (registration, analysis) are not files and are not
    /// restored: their display settings are kept for when they are computed again.
    pub files: Vec<(String, PathBuf)>,
    pub layers: Vec<LayerState>,
    pub crosshair_mm: [f64; 3],
    pub zoom: [f32; 3],
    pub pan: [[f32; 2]; 3],
    pub layout: Layout,
    pub interpolation: Interpolation,
    pub fusion: FusionMode,
    pub pair: (usize, usize),
    pub tile_px: usize,
    pub flicker: Option<bool>,
    /// Landmarks of the fixed (CT) and moving (MR) images.
    pub landmarks: [Vec<Landmark>; 2],
    /// The image new landmarks go to (0 fixed, 1 moving).
    pub landmark_target: usize,
    /// How the 3D view looks (camera, colouring).
    #[serde(default)]
    pub view3d: super::view3d::View3dSettings,
    /// A corrected registration start (fixed -> moving), when there is one.
    #[serde(default)]
    pub registration_start: Option<srrd_base::volume::RigidTransform>,
    /// For images read from a DICOM folder: the series (or part of a split series, e.g.
    /// `UID#2`) each layer showed, by layer name; reopened on it.
    #[serde(default)]
    pub series: Vec<(String, String)>,
}

impl Session {
    /// The series the layer `name` showed, when it was read from a DICOM folder.
    pub fn series_of(&self, name: &str) -> Option<String> {
        self.series
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    }

    /// Writes the session as JSON (to a temporary name, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        srrd_base::io::atomic_write(path, |w| std::io::Write::write_all(w, text.as_bytes()))
            .with_context(|| format!("cannot write the session {}", path.display()))
    }

    /// Reads a session file, refusing other formats.
    pub fn load(path: &Path) -> Result<Session> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the session {}", path.display()))?;
        let s: Session = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid SRRD session", path.display()))?;
        if s.format != SESSION_FORMAT {
            bail!(
                "{}: session format {:?}, this version reads {SESSION_FORMAT:?}",
                path.display(),
                s.format
            );
        }
        Ok(s)
    }
}

/// Where the viewer keeps its own settings: `$SRRD_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/srrd`, else `~/.config/srrd`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SRRD_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(d).join("srrd"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config").join("srrd"))
}

/// Recently opened images and sessions, newest first. A list from [`RecentFiles::load`]
/// is stored back on every push; a default one lives in memory only (tests).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentFiles {
    pub paths: Vec<PathBuf>,
    #[serde(skip)]
    store: Option<PathBuf>,
}

impl RecentFiles {
    /// Most entries kept.
    pub const MAX: usize = 10;

    /// The stored list (empty when there is none or it cannot be read), stored back to
    /// `recent.json` in [`config_dir`] on every push.
    pub fn load() -> RecentFiles {
        let store = config_dir().map(|d| d.join("recent.json"));
        let paths = store
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| serde_json::from_str::<RecentFiles>(&t).ok())
            .map(|r| r.paths)
            .unwrap_or_default();
        RecentFiles { paths, store }
    }

    /// Puts `path` first (absolute), keeps at most [`Self::MAX`], and stores the list;
    /// failing to store it is not an error worth showing.
    pub fn push(&mut self, path: &Path) {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.paths.retain(|p| *p != path);
        self.paths.insert(0, path);
        self.paths.truncate(Self::MAX);
        if let Some(f) = &self.store {
            let _ = f.parent().map(std::fs::create_dir_all);
            if let Ok(text) = serde_json::to_string_pretty(self) {
                let _ = srrd_base::io::atomic_write(f, |w| {
                    std::io::Write::write_all(w, text.as_bytes())
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_list_is_stored_and_read_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = dir.path().join("srrd").join("recent.json");
        let mut r = RecentFiles {
            paths: Vec::new(),
            store: Some(store.clone()),
        };
        for n in 0..12 {
            r.push(&dir.path().join(format!("scan{n}.nii.gz")));
        }
        r.push(&dir.path().join("scan5.nii.gz"));
        assert_eq!(r.paths.len(), RecentFiles::MAX);
        assert!(
            r.paths[0].ends_with("scan5.nii.gz"),
            "newest first, no duplicate"
        );
        assert_eq!(
            r.paths
                .iter()
                .filter(|p| p.ends_with("scan5.nii.gz"))
                .count(),
            1
        );
        let text = std::fs::read_to_string(&store).expect("stored");
        let back: RecentFiles = serde_json::from_str(&text).expect("json");
        assert_eq!(back.paths, r.paths);
        // A list that was not loaded writes nothing.
        let mut memory = RecentFiles::default();
        memory.push(&dir.path().join("x.nii"));
        assert_eq!(memory.paths.len(), 1);
    }
}
