//! The whole method for one knee, in-process (`srrd analyze` and the GUI's results view):
//! bone segmentation, subchondral regions and their 12 subregions, the CT student on a
//! patch lattice, per-subregion features, the KOA classifier. With an MR of the same knee:
//! coarse and refined registration, and the parameters measured on the MR over the same
//! patches, for comparison. With an MR the chain is the paper's order: coarse
//! registration, synthesis of an sCT from crMR (when `models` has a synthesis model),
//! refined registration (on crMR with mutual information: see `register_knee`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::diagnosis::classifier::{KoaClassifier, MultiClassifier};
use crate::diagnosis::features::{SubregionStats, subregion_features};
use crate::diagnosis::subregions::{Frame, subregions};
use crate::error::{Error, Result};
use crate::pipeline::registration as reg;
use crate::progress::Progress;
use crate::regression::dataset::{PatchSettings, extract};
use crate::regression::infer::{Prediction, predict_ct};
use crate::regression::model::{ModelCard, load_student};
use crate::regression::train::Trained;
use crate::segmentation::bones::{CT_BONE_HU, segment_bones};
use crate::segmentation::subchondral::{CORTEX_MM, DEPTH_MM, subchondral_regions};
use crate::synthesis::model::{SynthModel, load_model};
use crate::volume::{Transform, Volume};

/// Format tag of the classifier file.
pub const CLASSIFIER_FORMAT: &str = "srrd-koa-classifier/1";

/// `assets/diagnosis/koa_classifier.json`: the binary and three-group classifiers and
/// what they were trained on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassifierFile {
    pub format: String,
    pub binary: KoaClassifier,
    pub three_group: Option<MultiClassifier>,
    /// Where the training features came from, in words.
    pub trained_on: String,
    pub provenance: String,
}

/// The models `analyze` uses.
pub struct Models {
    pub student: Trained,
    pub card: ModelCard,
    pub classifier: Option<ClassifierFile>,
    /// The synthesis model (`dir/synthesis`, optional: without it the refined step runs
    /// on crMR with mutual information).
    pub synthesis: Option<SynthModel>,
    pub dir: PathBuf,
}

impl Models {
    /// Loads the student from `dir/regression` and the classifier from
    /// `dir/diagnosis/koa_classifier.json` (the classifier is optional: without it the
    /// analysis stops at the parameters).
    pub fn load(dir: &Path) -> Result<Self> {
        let (student, card) = load_student(&dir.join("regression"), false)?;
        let path = dir.join("diagnosis/koa_classifier.json");
        let classifier = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let c: ClassifierFile = serde_json::from_str(&text)
                .map_err(|e| Error::file(&path, format!("not a classifier file: {e}")))?;
            if c.format != CLASSIFIER_FORMAT {
                return Err(Error::file(
                    &path,
                    format!("format '{}' is unknown", c.format),
                ));
            }
            Some(c)
        } else {
            None
        };
        let synthesis_dir = dir.join("synthesis");
        let synthesis = if synthesis_dir.join("model.json").exists() {
            Some(load_model(&synthesis_dir)?)
        } else {
            None
        };
        Ok(Models {
            student,
            card,
            classifier,
            synthesis,
            dir: dir.to_path_buf(),
        })
    }
}

/// The KOA prediction.
#[derive(Clone, Debug, Serialize)]
pub struct Koa {
    /// "KOA" or "normal".
    pub class: String,
    /// P(KOA).
    pub probability: f64,
    /// P(normal), P(mild), P(advanced), when the three-group model exists.
    pub three_group: Option<[f64; 3]>,
    pub provenance: String,
}

/// Everything `analyze` produces.
pub struct Analysis {
    pub bones: Vec<u8>,
    pub regions: Vec<u8>,
    pub subregions: Vec<u8>,
    pub frame: Frame,
    pub prediction: Prediction,
    /// Per subregion, from the CT student.
    pub stats: Vec<SubregionStats>,
    pub koa: Option<Koa>,
    /// Per subregion, measured on the registered MR (when an MR was given).
    pub mr_stats: Option<Vec<SubregionStats>>,
    /// With an MR: crMR, the sCT (when synthesized) and rrMR, all on the CT grid, and
    /// what the refined registration compared with the CT.
    pub registered: Option<RegisteredImages>,
    /// (stage, seconds).
    pub timings: Vec<(String, f64)>,
}

/// The MR-side images of an analysis, on the CT grid.
pub struct RegisteredImages {
    pub cr_mr: Volume,
    pub sct: Option<Volume>,
    pub rr_mr: Volume,
    pub refined_on: String,
}

/// Runs the method on `ct` (and `mr` when given).
pub fn analyze(
    ct: &Volume,
    mr: Option<&Volume>,
    models: &Models,
    progress: &Progress,
) -> Result<Analysis> {
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    check_is_ct(ct)?;
    progress.start("segmenting the bones", 1);
    let bones = segment_bones(ct, CT_BONE_HU)?;
    let regions = subchondral_regions(&bones, &ct.geometry, DEPTH_MM, CORTEX_MM);
    let (labels, frame) = subregions(&bones, &regions, &ct.geometry);
    lap("segmentation and subregions", &mut timings);
    let prediction = predict_ct(ct, &regions, &models.student, &models.card, 4, progress)?;
    lap("regression (CT student)", &mut timings);
    let [ni, nj, _] = ct.geometry.size;
    let label_at = |c: [usize; 3]| labels[(c[2] * nj + c[1]) * ni + c[0]];
    let labelled: Vec<(u8, [f64; 4])> = prediction
        .patches
        .iter()
        .map(|p| (label_at(p.centre), p.params))
        .collect();
    let (features, stats) = subregion_features(&labelled);
    let koa = models.classifier.as_ref().map(|c| {
        let probability = c.binary.probability(&features);
        let three_group = c.three_group.as_ref().and_then(|m| {
            let p = m.probabilities(&features);
            (p.len() == 3).then(|| [p[0], p[1], p[2]])
        });
        Koa {
            class: if probability >= 0.5 { "KOA" } else { "normal" }.into(),
            probability,
            three_group,
            provenance: c.provenance.clone(),
        }
    });
    lap("features and classifier", &mut timings);
    let mut registered = None;
    let mr_stats = match mr {
        Some(mr) => {
            let r = reg::register_knee(ct, mr, models.synthesis.as_ref(), false, progress)?;
            lap(
                if r.sct.is_some() {
                    "registration (coarse, synthesis, refined)"
                } else {
                    "registration (coarse, refined)"
                },
                &mut timings,
            );
            let refined = r.refined;
            registered = Some(RegisteredImages {
                cr_mr: r.coarse.cr_mr,
                sct: r.sct,
                rr_mr: refined.rr_mr.clone(),
                refined_on: r.refined_on,
            });
            let settings = PatchSettings {
                stride: 4,
                per_subject: usize::MAX,
                min_region_fraction: 0.3,
                ..Default::default()
            };
            let field = Transform::Field(refined.result.field);
            let patches = extract(ct, mr, &field, &regions, &settings, progress)?;
            let labelled: Vec<(u8, [f64; 4])> = (0..patches.n)
                .map(|n| {
                    let c = &patches.centre_mm[3 * n..3 * n + 3];
                    let idx = ct
                        .geometry
                        .world_to_index(&nalgebra::Point3::new(c[0], c[1], c[2]));
                    let at = [idx.x, idx.y, idx.z].map(|v| v.round().max(0.0) as usize);
                    let t = &patches.target[4 * n..4 * n + 4];
                    (
                        label_at(at),
                        [t[0] as f64, t[1] as f64, t[2] as f64, t[3] as f64],
                    )
                })
                .collect();
            lap("MR morphometry", &mut timings);
            Some(subregion_features(&labelled).1)
        }
        None => None,
    };
    Ok(Analysis {
        bones,
        regions,
        subregions: labels,
        frame,
        prediction,
        stats,
        koa,
        mr_stats,
        registered,
        timings,
    })
}

/// Refuses images that are not CTs in Hounsfield units: a knee CT has air around the leg
/// (about -1000 HU); an MR, or a CT stored without its rescale, has nothing below -200.
pub fn check_is_ct(ct: &Volume) -> Result<()> {
    let min = ct
        .data
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::INFINITY, f32::min);
    if min > -200.0 {
        return Err(Error::invalid(format!(
            "this does not look like a CT in Hounsfield units: its lowest value is {min:.0}, \
             but air around the knee should be near -1000 HU (is it an MR, or a CT without \
             its rescale slope/intercept?)"
        )));
    }
    Ok(())
}
