//! A model folder: the teacher, the distilled student and the plain CNN
//! (`teacher.safetensors`, `student.safetensors`, `plain.safetensors`), with
//! `model.json`, the card that says what they were trained on, how, and how well.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, nn};

use super::dataset::Manifest;
use super::inputs::load_inputs;
use super::nets::{NetConfig, student};
use super::train::{
    Checkpoint, Normalization, TrainSettings, Trained, train_student, train_teacher,
};
use crate::trained_range::TrainedRange;
use srrd_base::assets::assets_dir;
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;

/// Format tag of `model.json`.
pub const FORMAT: &str = "srrd-regression-model/1";

/// What every score made with these weights must be shown with.
pub const PROVENANCE: &str = "trained on synthetic knee phantoms only; for research use, \
not clinically validated";

/// `model.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelCard {
    pub format: String,
    pub config: NetConfig,
    pub normalization: Normalization,
    pub train: TrainSettings,
    /// Target names and units, in output order.
    pub targets: Vec<(String, String)>,
    /// The patch store and the cohort it came from.
    pub data: String,
    pub source: String,
    /// Ground-truth method on the MR patches ("bonej" or "paper").
    pub ground_truth: String,
    pub subjects: Vec<String>,
    /// The training knees' CT content ids (see `SubjectEntry::content_id`), so another
    /// study's knee of the same id is never taken for one of them (absent in cards written
    /// before it existed: those match by id within the same source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_content_ids: Vec<String>,
    pub patches: usize,
    /// Final training MSE (normalized units) of each network.
    pub final_mse: Vec<(String, f64)>,
    pub seconds: f64,
    pub provenance: String,
    /// Cross-validated metrics, when `srrd eval-regression` filled them in.
    #[serde(default)]
    pub evaluation: Option<serde_json::Value>,
    /// The CT grid the patches were cut from and the acquisitions the analysis is
    /// validated for (absent in cards written before it existed: see [`Self::trained_range`]).
    #[serde(default)]
    pub acquisition: Option<TrainedRange>,
    /// The study the model was trained on, when `srrd study` trained it (absent in cards
    /// written before it existed and in `train-regression`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study: Option<crate::study_info::StudyInfo>,
}

/// The knees a model was trained on, as its card names them.
struct Training<'a> {
    ids: &'a [String],
    content_ids: &'a [String],
    source: &'a str,
}

impl Training<'_> {
    /// See [`ModelCard::trained_on`].
    fn includes(&self, knee: &crate::dataset::SubjectEntry, store_source: &str) -> bool {
        match (&knee.content_id, self.content_ids.is_empty()) {
            (Some(id), false) => self.content_ids.contains(id),
            _ => {
                let name = |s: &str| {
                    std::path::Path::new(s)
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                };
                self.ids.contains(&knee.id) && name(self.source) == name(store_source)
            }
        }
    }
}

/// The CT grid of every patch store made before stores recorded theirs: the paper
/// preset's CT (0.977 x 0.977 x 1.0 mm).
pub const PAPER_CT_SPACING_MM: [f64; 3] = [0.977, 0.977, 1.0];

impl ModelCard {
    /// Whether a store's knee is one this model was trained on: by the CT's content id
    /// when both the card and the store record them; else (older cards and stores) by id,
    /// and only for a store made from the same study (its source's folder or file name).
    pub fn trained_on(&self, knee: &crate::dataset::SubjectEntry, store_source: &str) -> bool {
        Training {
            ids: &self.subjects,
            content_ids: &self.subject_content_ids,
            source: &self.source,
        }
        .includes(knee, store_source)
    }

    /// The acquisition range: the card's, else the paper grid alone.
    pub fn trained_range(&self) -> TrainedRange {
        self.acquisition
            .clone()
            .unwrap_or_else(|| TrainedRange::only(PAPER_CT_SPACING_MM))
    }

    /// A few lines for a terminal or a panel.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "{} configuration, {} patches of {} subjects ({})",
                self.config.name,
                self.patches,
                self.subjects.len(),
                self.source
            ),
            format!(
                "ground truth: {} morphometry of MR patches",
                self.ground_truth
            ),
        ];
        if let Some(study) = &self.study {
            out.push(study.line());
        }
        for (name, mse) in &self.final_mse {
            out.push(format!("{name}: final training MSE {mse:.4} (normalized)"));
        }
        out.push(self.provenance.clone());
        out
    }
}

/// The three trained networks and their card.
pub struct ModelBundle {
    pub card: ModelCard,
    pub teacher: Trained,
    pub student: Trained,
    pub plain: Trained,
}

/// Trains teacher, distilled student and plain CNN on `subjects` of the store and writes
/// the model folder `out` (checkpoints and loss logs go there too, so `resume` picks up
/// an interrupted run).
#[allow(clippy::too_many_arguments)]
pub fn train_bundle(
    store: &Path,
    manifest: &Manifest,
    subjects: &[usize],
    cfg: &NetConfig,
    settings: &TrainSettings,
    out: &Path,
    resume: bool,
    progress: &Progress,
) -> Result<ModelBundle> {
    let t0 = Instant::now();
    progress.start("loading patches", 1);
    let data = load_inputs(store, manifest, subjects, settings.mr_scaling)?.for_training(settings);
    let norm = Normalization::fit(&data.target);
    let ck = |name: &str| Checkpoint {
        dir: out.to_path_buf(),
        name: name.into(),
        resume,
    };
    let teacher = train_teacher(&data, &norm, cfg, settings, Some(&ck("teacher")), progress)?;
    let student_net = train_student(
        &data,
        &norm,
        cfg,
        settings,
        Some(&teacher),
        Some(&ck("student")),
        progress,
    )?;
    let plain = train_student(
        &data,
        &norm,
        cfg,
        &settings.plain(),
        None,
        Some(&ck("plain")),
        progress,
    )?;
    let final_mse = ["teacher", "student", "plain"]
        .iter()
        .map(|name| (name.to_string(), last_mse(out, name)))
        .collect();
    let card = ModelCard {
        format: FORMAT.into(),
        config: cfg.clone(),
        normalization: norm,
        train: settings.clone(),
        targets: manifest.targets.clone(),
        data: store.display().to_string(),
        source: manifest.source.clone(),
        ground_truth: manifest.settings.method.clone(),
        subjects: subjects
            .iter()
            .filter_map(|s| manifest.subjects.get(*s).map(|e| e.id.clone()))
            .collect(),
        subject_content_ids: subjects
            .iter()
            .filter_map(|s| manifest.subjects.get(*s)?.content_id.clone())
            .collect(),
        patches: data.subject.len(),
        final_mse,
        seconds: t0.elapsed().as_secs_f64(),
        provenance: PROVENANCE.into(),
        evaluation: None,
        acquisition: Some(trained_range(manifest, subjects)),
        study: None,
    };
    write_card(out, &card)?;
    Ok(ModelBundle {
        card,
        teacher,
        student: student_net,
        plain,
    })
}

/// The acquisitions the networks saw: every training knee's recorded CT spacing (the
/// training grid alone when the store did not record them).
fn trained_range(manifest: &Manifest, subjects: &[usize]) -> TrainedRange {
    let spacing = manifest.ct_spacing_mm.unwrap_or(PAPER_CT_SPACING_MM);
    let acquired: Option<Vec<[f64; 3]>> = subjects
        .iter()
        .map(|s| manifest.subjects.get(*s).and_then(|e| e.ct_acquired_mm))
        .collect();
    TrainedRange::seen(spacing, &acquired.unwrap_or_default())
}

fn last_mse(dir: &Path, name: &str) -> f64 {
    std::fs::read_to_string(dir.join(format!("{name}.loss.csv")))
        .ok()
        .and_then(|text| {
            let line = text.lines().last()?.to_string();
            line.split(',').nth(3)?.parse().ok()
        })
        .unwrap_or(f64::NAN)
}

/// Writes `dir/model.json` atomically.
pub fn write_card(dir: &Path, card: &ModelCard) -> Result<()> {
    let text = serde_json::to_string_pretty(card).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(&dir.join("model.json"), |w| w.write_all(text.as_bytes()))
}

/// Reads `dir/model.json`.
pub fn read_card(dir: &Path) -> Result<ModelCard> {
    let path = dir.join("model.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let card: ModelCard = serde_json::from_str(&text)
        .map_err(|e| Error::file(&path, format!("not a model card: {e}")))?;
    if card.format != FORMAT {
        return Err(Error::file(
            &path,
            format!("format '{}' is not {FORMAT}", card.format),
        ));
    }
    Ok(card)
}

/// Loads the distilled student (or, with `plain`, the plain CNN) of a model folder.
pub fn load_student(dir: &Path, plain: bool) -> Result<(Trained, ModelCard)> {
    let card = read_card(dir)?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = student(&vs.root(), &card.config);
    let path = dir.join(if plain {
        "plain.safetensors"
    } else {
        "student.safetensors"
    });
    vs.load(&path)
        .map_err(|e| Error::file(&path, format!("cannot load the weights: {e}")))?;
    Ok((Trained { vs, net }, card))
}

/// Loads the MR teacher of a model folder.
pub fn load_teacher(dir: &Path) -> Result<Trained> {
    let card = read_card(dir)?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = super::nets::teacher(&vs.root(), &card.config);
    let path = dir.join("teacher.safetensors");
    vs.load(&path)
        .map_err(|e| Error::file(&path, format!("cannot load the weights: {e}")))?;
    Ok(Trained { vs, net })
}

/// The demo model folder: `$SRRD_ASSETS/regression` when set, else the source tree's
/// `assets/regression`.
pub fn demo_model_dir() -> std::path::PathBuf {
    assets_dir().join("regression")
}

#[cfg(test)]
mod training_tests {
    use super::*;
    use crate::dataset::SubjectEntry;

    fn knee(id: &str, content: Option<&str>) -> SubjectEntry {
        SubjectEntry {
            id: id.into(),
            file: format!("{id}.safetensors"),
            patches: 1,
            grade: None,
            kl_grade: None,
            ct_acquired_mm: None,
            content_id: content.map(str::to_string),
            patient: None,
        }
    }

    #[test]
    fn training_knees_are_known_by_content_then_by_id_in_the_same_study() {
        let ids = vec!["sub-003".to_string()];
        let content = vec!["aaaa".to_string()];
        let card = Training {
            ids: &ids,
            content_ids: &content,
            source: "/data/cohort32",
        };
        // Another study's sub-003 (other images) is not a training knee; ours renamed is.
        assert!(!card.includes(&knee("sub-003", Some("bbbb")), "/x/cohort777"));
        assert!(card.includes(&knee("k-17", Some("aaaa")), "/x/clinic.csv"));
        // A card from before content ids: by id, within the same study only.
        let old = Training {
            ids: &ids,
            content_ids: &[],
            source: "/data/cohort32",
        };
        assert!(old.includes(&knee("sub-003", Some("bbbb")), "/elsewhere/cohort32"));
        assert!(!old.includes(&knee("sub-003", None), "/tmp/cohort777"));
    }
}
