//! The models folder an analysis uses: where it is (`--models`, `$SRRD_ASSETS`, the source
//! tree's `assets`) and the content ids that name its models in every result.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The models folder: `explicit` (`--models`), else `$SRRD_ASSETS`, else the source tree's
/// `assets`.
pub fn models_dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| srrd_base::assets::assets_dir().components().collect())
}

/// Content ids of the models used (FNV-1a of the files), so results name their models.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelIds {
    pub regression: Option<String>,
    pub regression_card: Option<String>,
    pub classifier: Option<String>,
}

impl ModelIds {
    /// The ids of the models in `dir` (None for a file that is not there).
    pub fn of(dir: &Path) -> Self {
        let id = |rel: &str| {
            std::fs::read(dir.join(rel))
                .ok()
                .map(|bytes| srrd_base::hash::content_id(&bytes))
        };
        ModelIds {
            regression: id("regression/student.safetensors"),
            regression_card: id("regression/model.json"),
            classifier: id("diagnosis/koa_classifier.json"),
        }
    }

    /// The ids in one string (the DICOM objects' algorithm version).
    pub fn version(&self) -> String {
        let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        format!(
            "regression={} classifier={}",
            none(&self.regression),
            none(&self.classifier)
        )
    }
}
