//! The models folder the workstation analyses with: the shipped demo models (`assets`, or
//! `$SRRD_ASSETS`) until the user chooses another with File > Models folder (a folder
//! `srrd study` or `srrd train-regression` wrote), remembered in `models.json` in the
//! config folder. A folder is checked (its networks and cards load) before it is taken.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::session::config_dir;

/// What `models.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    dir: Option<PathBuf>,
}

/// The chosen models folder (None: the shipped demo models) and where the choice is kept.
#[derive(Clone, Debug, Default)]
pub struct ModelsChoice {
    chosen: Option<PathBuf>,
    /// `models.json` for a choice from [`ModelsChoice::load`]; None keeps it in memory
    /// (tests).
    store: Option<PathBuf>,
}

impl ModelsChoice {
    /// The stored choice (the demo models when there is none, it cannot be read, or its
    /// folder is gone), stored back on every change.
    pub fn load() -> Self {
        let store = config_dir().map(|d| d.join("models.json"));
        let chosen = store
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| serde_json::from_str::<Stored>(&t).ok())
            .and_then(|s| s.dir)
            .filter(|d| d.join("regression/model.json").is_file());
        ModelsChoice { chosen, store }
    }

    /// The folder analyses use now.
    pub fn dir(&self) -> PathBuf {
        self.chosen
            .clone()
            .unwrap_or_else(|| srrd_pipeline::models::models_dir(None))
    }

    /// Whether the user chose a folder (else the shipped demo models are used).
    pub fn is_chosen(&self) -> bool {
        self.chosen.is_some()
    }

    /// Takes `dir` when its models load, and keeps the choice; the line to show (the
    /// folder and what its card says it was trained on), or why the folder is refused.
    pub fn choose(&mut self, dir: &Path) -> Result<String, String> {
        let models = srrd_pipeline::analyze::Models::load(dir)
            .map_err(|e| format!("models folder {}: {e}", dir.display()))?;
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        self.chosen = Some(dir.clone());
        self.save();
        Ok(describe(&dir, &models.card))
    }

    /// Back to the shipped demo models.
    pub fn reset(&mut self) {
        self.chosen = None;
        self.save();
    }

    fn save(&self) {
        let Some(f) = &self.store else { return };
        let _ = f.parent().map(std::fs::create_dir_all);
        let stored = Stored {
            dir: self.chosen.clone(),
        };
        if let Ok(text) = serde_json::to_string_pretty(&stored) {
            // Failing to remember the choice is not worth an error: it holds for this run.
            let _ =
                srrd_base::io::atomic_write(f, |w| std::io::Write::write_all(w, text.as_bytes()));
        }
    }
}

/// "models: DIR — study NAME (list HASH) ..." (or the card's data for a folder without a
/// study): what every score made with these models is shown with.
pub fn describe(dir: &Path, card: &srrd_regression::model::ModelCard) -> String {
    let trained = card.study.as_ref().map_or_else(
        || format!("{} subjects of {}", card.subjects.len(), card.source),
        |s| s.line(),
    );
    format!("models: {} ({trained})", dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_models_is_refused_and_the_choice_is_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = dir.path().join("config").join("models.json");
        let mut m = ModelsChoice {
            chosen: None,
            store: Some(store.clone()),
        };
        let default = m.dir();
        let err = m.choose(dir.path()).expect_err("no models there");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert_eq!(m.dir(), default, "a refused folder changes nothing");
        assert!(!store.exists());
        // The demo models load, and the choice is written.
        let line = m.choose(&default).expect("demo models");
        assert!(line.starts_with("models: "), "{line}");
        assert!(m.is_chosen());
        let stored: Stored =
            serde_json::from_str(&std::fs::read_to_string(&store).expect("stored")).expect("json");
        assert_eq!(
            stored.dir,
            Some(std::path::absolute(&default).expect("abs"))
        );
        m.reset();
        assert!(!m.is_chosen());
        let stored: Stored =
            serde_json::from_str(&std::fs::read_to_string(&store).expect("stored")).expect("json");
        assert_eq!(stored.dir, None);
    }
}
