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

use crate::knee::{Knee, knee};
pub use crate::knee::{KneeChoice, Prepared, bilateral_choices, check_is_ct, flip_i, prepare_at};
use crate::quality::{self, Check};
use crate::registration as reg;
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::volume::regrid::{labels_onto, map_onto};
use srrd_base::volume::{LabelMap, RigidTransform, Transform, Volume};
use srrd_diagnosis::classifier::{KoaClassifier, MultiClassifier};
use srrd_diagnosis::features::{SubregionStats, subregion_features};
use srrd_diagnosis::subregions::Frame;
use srrd_regression::dataset::{PatchSettings, extract};
use srrd_regression::infer::{Prediction, predict_ct};
use srrd_regression::model::{ModelCard, load_student};
use srrd_regression::train::Trained;
use srrd_segmentation::bones::{FEMUR, TIBIA};
use srrd_segmentation::knees::Side;
use srrd_synthesis::model::{SynthModel, load_model};

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
    /// Cross-validated metrics of the SRRD-CT features (AUC with its CI, precision,
    /// recall, F1), when `srrd study` trained it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<serde_json::Value>,
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
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Koa {
    /// "KOA" or "normal".
    pub class: String,
    /// P(KOA).
    pub probability: f64,
    /// P(normal), P(mild), P(advanced), when the three-group model exists.
    pub three_group: Option<[f64; 3]>,
    pub provenance: String,
}

/// Everything `analyze` produces. Label maps and parameter maps are on the CT's own grid;
/// the work itself ran on the models' grid (`working_spacing_mm`).
pub struct Analysis {
    pub bones: LabelMap,
    pub regions: LabelMap,
    pub subregions: LabelMap,
    pub frame: Frame,
    pub prediction: Prediction,
    /// Per subregion, from the CT student.
    pub stats: Vec<SubregionStats>,
    /// The KOA score; None when the models folder has no classifier or a quality check
    /// failed (`koa_withheld` says which).
    pub koa: Option<Koa>,
    pub koa_withheld: Option<String>,
    /// Per subregion, measured on the registered MR (when an MR was given).
    pub mr_stats: Option<Vec<SubregionStats>>,
    /// With an MR: crMR, the sCT (when synthesized) and rrMR, all on the CT grid, and
    /// what the refined registration compared with the CT.
    pub registered: Option<RegisteredImages>,
    /// The knee analysed and how its side is known.
    pub knee: KneeReport,
    /// Quality checks, in order (see `pipeline::quality`).
    pub checks: Vec<Check>,
    /// (stage, seconds).
    pub timings: Vec<(String, f64)>,
}

/// Which knee was analysed.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct KneeReport {
    pub side: Side,
    /// How the side is known ("fibula", "bilateral layout", "assumed").
    pub side_from: String,
    /// Knees in the CT (1, or 2 for a bilateral CT).
    pub knees_in_ct: usize,
    /// The CT's own spacing and the spacing the analysis ran at (mm).
    pub ct_spacing_mm: [f64; 3],
    pub working_spacing_mm: [f64; 3],
}

impl KneeReport {
    /// One line: the side, how it is known, the CT's spacing and the analysis grid's.
    pub fn describe(&self) -> String {
        let [a, b] = [self.ct_spacing_mm, self.working_spacing_mm];
        format!(
            "{} knee (side from {}); CT {:.2} x {:.2} x {:.2} mm, analysed at {:.2} x {:.2} x {:.2} mm",
            self.side.name(),
            self.side_from,
            a[0],
            a[1],
            a[2],
            b[0],
            b[1],
            b[2]
        )
    }
}

/// The MR-side images of an analysis, on the CT grid.
pub struct RegisteredImages {
    pub cr_mr: Volume,
    pub sct: Option<Volume>,
    pub rr_mr: Volume,
    pub refined_on: String,
}

/// What an analysis is asked besides the images: which knees, and where the MR's
/// registration starts.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// None: the CT's only knee (a bilateral CT is refused with its choices). One side:
    /// that knee. Several: each of them, in a bilateral CT only.
    pub sides: Option<Vec<Side>>,
    /// A reader's corrected start for the MR's registration: `mr_from_ct` (a CT point to
    /// its MR point, ITK's fixed -> moving direction), in world LPS mm.
    pub start_mr_from_ct: Option<RigidTransform>,
}

/// One analysed knee: the side asked for when the request named several (its results go
/// into a folder of that name), else None; and its analysis.
pub struct KneeAnalysis {
    pub folder: Option<Side>,
    pub analysis: Analysis,
}

/// The analysis of a CT (and the MR of the same knee) as the CLI, the batch, the workflow
/// and the GUI run it: prepares the CT on the models' grid, chooses the knees `request`
/// asks for and analyses each.
pub fn analyze_request(
    ct: &Volume,
    mr: Option<&Volume>,
    request: &Request,
    models: &Models,
    progress: &Progress,
) -> Result<Vec<KneeAnalysis>> {
    let prepared = prepare(ct, models, progress)?;
    let choices: Vec<(Option<Side>, KneeChoice)> =
        match (&request.sides, prepared.layout.is_bilateral()) {
            (None, true) => return Err(Error::invalid(bilateral_choices(&prepared.layout))),
            (None, false) => vec![(None, KneeChoice::Only)],
            (Some(list), true) if list.len() > 1 => list
                .iter()
                .map(|s| (Some(*s), KneeChoice::Side(*s)))
                .collect(),
            (Some(list), _) if list.len() > 1 => {
                return Err(Error::invalid(
                    "--side both: this CT holds one knee; analyse it without --side",
                ));
            }
            (Some(list), _) => match list.first() {
                Some(s) => vec![(None, KneeChoice::Side(*s))],
                None => vec![(None, KneeChoice::Only)],
            },
        };
    let mut out = Vec::with_capacity(choices.len());
    for (folder, choice) in choices {
        let analysis = analyze_knee_from(
            ct,
            &prepared,
            choice,
            mr,
            request.start_mr_from_ct.as_ref(),
            models,
            progress,
        )?;
        out.push(KneeAnalysis { folder, analysis });
    }
    Ok(out)
}

/// Checks the CT, brings it to the student's grid and finds its knees.
pub fn prepare(ct: &Volume, models: &Models, progress: &Progress) -> Result<Prepared> {
    prepare_at(ct, models.card.trained_range().spacing_mm, progress)
}

/// Runs the method on the only knee of `ct` (and `mr` when given); a bilateral CT is
/// refused with its choices (see [`analyze_knee`]).
pub fn analyze(
    ct: &Volume,
    mr: Option<&Volume>,
    models: &Models,
    progress: &Progress,
) -> Result<Analysis> {
    let prepared = prepare(ct, models, progress)?;
    analyze_knee(ct, &prepared, KneeChoice::Only, mr, models, progress)
}

/// Runs the method on one knee of a prepared CT.
pub fn analyze_knee(
    ct: &Volume,
    prepared: &Prepared,
    choice: KneeChoice,
    mr: Option<&Volume>,
    models: &Models,
    progress: &Progress,
) -> Result<Analysis> {
    analyze_knee_from(ct, prepared, choice, mr, None, models, progress)
}

/// [`analyze_knee`] with the MR's registration started from `start_mr_from_ct` (in the
/// CT's world space): a reader's corrected start. The registration runs on the
/// knee's part of the CT, which keeps the CT's world coordinates, so a start fitted or
/// nudged on the whole CT applies unchanged (the mirroring of a left knee for the
/// student does not touch the registration).
pub fn analyze_knee_from(
    ct: &Volume,
    prepared: &Prepared,
    choice: KneeChoice,
    mr: Option<&Volume>,
    start_mr_from_ct: Option<&srrd_base::volume::RigidTransform>,
    models: &Models,
    progress: &Progress,
) -> Result<Analysis> {
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    let layout = &prepared.layout;
    let knee = knee(prepared, choice, progress)?;
    let side_from = knee.side_from();
    // The registration sees the knee's whole part of the image (skin included).
    let field_ct = mr.map(|_| knee.field(prepared));
    let Knee {
        ct: knee_ct,
        bones,
        split_depth_mm,
        regions,
        subregions,
        frame,
        side,
        anatomy_side,
        ..
    } = knee;
    let g = &knee_ct.geometry;
    let voxel_cm3 = g.spacing_mm.x * g.spacing_mm.y * g.spacing_mm.z / 1000.0;
    let count = |l: u8| bones.count(l) as f64 * voxel_cm3;
    let mut checks = Vec::new();
    let region_hu: Vec<f32> = knee_ct
        .data
        .iter()
        .zip(regions.labels())
        .filter(|(_, r)| **r > 0)
        .map(|(v, _)| *v)
        .collect();
    checks.push(quality::calibration_check(ct, &region_hu));
    checks.push(quality::spacing_check(
        prepared.ct_spacing_mm,
        &models.card.trained_range(),
    ));
    checks.push(quality::bones_check(count(FEMUR), count(TIBIA)));
    checks.push(quality::joint_check(split_depth_mm));
    lap("segmentation and subregions", &mut timings);
    // A left knee goes to the student as its mirror image, a right knee, as every knee it
    // was trained on; its patches and maps are mirrored back.
    let prediction = if side == Side::Left {
        let flipped = Volume {
            geometry: g.clone(),
            data: ndarray::Array3::from_shape_vec(
                g.shape_kji(),
                flip_i(knee_ct.data.as_slice().unwrap_or(&[]), g.size[0]),
            )
            .map_err(|e| Error::invalid(e.to_string()))?,
        };
        let p = predict_ct(
            &flipped,
            &LabelMap::new(g.clone(), flip_i(regions.labels(), g.size[0]))?,
            &models.student,
            &models.card,
            4,
            progress,
        )?;
        unflip(p, g)
    } else {
        predict_ct(
            &knee_ct,
            &regions,
            &models.student,
            &models.card,
            4,
            progress,
        )?
    };
    lap("regression (CT student)", &mut timings);
    let label_at = |c: [usize; 3]| subregions.at(c[0], c[1], c[2]);
    let labelled: Vec<(u8, [f64; 4])> = prediction
        .patches
        .iter()
        .map(|p| (label_at(p.centre), p.params))
        .collect();
    let (features, stats) = subregion_features(&labelled);
    let rows: Vec<(String, f64, usize)> = (1..=12u8)
        .map(|l| {
            let name = srrd_diagnosis::subregions::NAMES[l as usize - 1].to_string();
            let cm3 = subregions.count(l) as f64 * voxel_cm3;
            let patches = labelled.iter().filter(|(x, _)| *x == l).count();
            (name, cm3, patches)
        })
        .collect();
    checks.push(quality::subregion_check(&rows));
    checks.push(quality::frame_check(&frame.assumed, anatomy_side.is_some()));
    lap("features and checks", &mut timings);
    let mut registered = None;
    let mr_stats = match (mr, &field_ct) {
        (Some(mr), Some(field_ct)) => {
            let r = reg::register_knee_from(
                field_ct,
                mr,
                models.synthesis.as_ref(),
                false,
                start_mr_from_ct,
                Some(&bones),
                progress,
            )?;
            lap(
                if r.sct.is_some() {
                    "registration (coarse, synthesis, refined)"
                } else {
                    "registration (coarse, refined)"
                },
                &mut timings,
            );
            let refined = r.refined;
            let cost = r
                .coarse
                .result
                .levels
                .last()
                .map_or(f64::NAN, |l| l.final_cost);
            checks.push(quality::registration_check(
                refined.result.min_jacobian,
                cost,
                quality::edge_alignment(&image_onto(&refined.rr_mr, g), &bones, &knee_ct),
            ));
            let settings = PatchSettings {
                stride: 4,
                per_subject: usize::MAX,
                min_region_fraction: 0.3,
                ..Default::default()
            };
            let field = Transform::Field(refined.result.field);
            let patches = extract(&knee_ct, mr, &field, &regions, &settings, progress)?;
            let labelled: Vec<(u8, [f64; 4])> = (0..patches.n)
                .map(|n| {
                    let c = &patches.centre_mm[3 * n..3 * n + 3];
                    let idx = g.world_to_index(&nalgebra::Point3::new(c[0], c[1], c[2]));
                    let at = [idx.x, idx.y, idx.z].map(|v| v.round().max(0.0) as usize);
                    let t = &patches.target[4 * n..4 * n + 4];
                    (
                        label_at(at),
                        [t[0] as f64, t[1] as f64, t[2] as f64, t[3] as f64],
                    )
                })
                .collect();
            registered = Some(RegisteredImages {
                cr_mr: image_onto(&r.coarse.cr_mr, &ct.geometry),
                sct: r.sct.as_ref().map(|v| image_onto(v, &ct.geometry)),
                rr_mr: image_onto(&refined.rr_mr, &ct.geometry),
                refined_on: r.refined_on,
            });
            lap("MR morphometry", &mut timings);
            Some(subregion_features(&labelled).1)
        }
        _ => None,
    };
    let koa_withheld = quality::withheld_because(&checks);
    let koa = match (&models.classifier, &koa_withheld) {
        (Some(c), None) => {
            let probability = c.binary.probability(&features);
            let three_group = c.three_group.as_ref().and_then(|m| {
                let p = m.probabilities(&features);
                (p.len() == 3).then(|| [p[0], p[1], p[2]])
            });
            Some(Koa {
                class: if probability >= 0.5 { "KOA" } else { "normal" }.into(),
                probability,
                three_group,
                provenance: c.provenance.clone(),
            })
        }
        _ => None,
    };
    // Back onto the CT's own grid.
    let to_ct = |l: &LabelMap| labels_onto(l, &ct.geometry);
    let prediction = Prediction {
        maps: prediction
            .maps
            .iter()
            .map(|m| map_onto(m, &ct.geometry))
            .collect(),
        patches: prediction.patches,
    };
    let out = Analysis {
        bones: to_ct(&bones),
        regions: to_ct(&regions),
        subregions: to_ct(&subregions),
        frame,
        prediction,
        stats,
        koa,
        koa_withheld,
        mr_stats,
        registered,
        knee: KneeReport {
            side,
            side_from,
            knees_in_ct: layout.knees.len(),
            ct_spacing_mm: prepared.ct_spacing_mm,
            working_spacing_mm: g.spacing_mm.into(),
        },
        checks,
        timings,
    };
    Ok(out)
}

/// A prediction made on the grid's mirror image (along i) brought back.
fn unflip(p: Prediction, g: &srrd_base::volume::Geometry) -> Prediction {
    let ni = g.size[0];
    let patches = p
        .patches
        .into_iter()
        .map(|mut q| {
            q.centre[0] = ni - 1 - q.centre[0];
            let c = q.centre.map(|x| x as f64);
            q.centre_mm = g
                .index_to_world(nalgebra::Vector3::new(c[0], c[1], c[2]))
                .coords
                .into();
            q
        })
        .collect();
    let maps = p
        .maps
        .into_iter()
        .map(|m| {
            let flipped = flip_i(m.data.as_slice().unwrap_or(&[]), g.size[0]);
            Volume {
                geometry: m.geometry.clone(),
                data: ndarray::Array3::from_shape_vec(g.shape_kji(), flipped)
                    .unwrap_or_else(|_| ndarray::Array3::zeros(g.shape_kji())),
            }
        })
        .collect();
    Prediction { patches, maps }
}

/// An image on the analysis grid carried onto the CT's grid (linear; a copy when equal).
fn image_onto(v: &Volume, g: &srrd_base::volume::Geometry) -> Volume {
    if &v.geometry == g {
        return v.clone();
    }
    srrd_base::volume::resample(
        v,
        g,
        &srrd_base::volume::AffineTransform::identity(),
        srrd_base::volume::Interpolation::Linear,
        0.0,
    )
}
