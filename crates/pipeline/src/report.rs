//! One knee's report, the one the CLI, the batch, the workflow and the GUI write and read:
//! `report.json` (versioned [`FORMAT`]), its one-page HTML and text summary, and the knee
//! folder they sit in with the maps and labels (`knee_folder`). A report is either done
//! (the analysis' results) or failed (the error and the log), with what both share.

mod figure;
mod html;
mod knee_folder;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use srrd_base::error::{Error, Result};
use srrd_diagnosis::features::SubregionStats;
use srrd_diagnosis::subregions::Frame;
use srrd_regression::dataset::TARGETS;

use crate::analyze::{Analysis, KneeReport, Koa, Models};
use crate::models::ModelIds;
use crate::quality::Check;

pub use figure::coronal_figure;
pub use knee_folder::{DicomOut, KneeFolder, write_knee_folder};

/// The report's format tag (`format` in `report.json`); reports written before it was
/// added have none and read as this version.
pub const FORMAT: &str = "srrd-report/1";

/// One knee's `report.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    #[serde(default = "format_tag")]
    pub format: String,
    /// The study's subject id (`--manifest`), else none.
    pub subject: Option<String>,
    /// The study's label of the knee (`--manifest`), else none.
    pub label: Option<String>,
    /// The CT and MR as given.
    pub ct: String,
    pub mr: Option<String>,
    /// Why the study's MR was left out (a rejected registration: the analysis is
    /// CT-only); None when the MR was used or there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mr_not_used: Option<String>,
    pub srrd_version: String,
    pub model_ids: ModelIds,
    /// Wall time of the whole command up to this knee (s).
    pub total_s: f64,
    /// Done (`"status": "done"` and the results) or failed (the error).
    #[serde(flatten)]
    pub outcome: Outcome,
}

fn format_tag() -> String {
    FORMAT.into()
}

/// How the knee's analysis ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Done(Box<Results>),
    Failed(Failure),
}

/// A failed knee of a study: what went wrong and where its log is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    /// The study list's row (1-based, the header is row 1).
    pub manifest_row: usize,
    pub error: String,
    pub log: String,
}

/// The results of a done knee.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub knee: KneeReport,
    pub checks: Vec<Check>,
    pub koa: Option<Koa>,
    pub koa_withheld: Option<String>,
    /// Per subregion, regressed from the CT.
    pub subregions_ct: Vec<SubregionRow>,
    /// Per subregion, measured on the registered MR (with an MR).
    pub subregions_mr: Option<Vec<SubregionRow>>,
    pub knee_frame: Frame,
    /// With an MR: what the refined registration ran on and the images written.
    pub registration: Option<RegistrationReport>,
    /// Patches the CT student predicted.
    pub patches: usize,
    /// The models folder.
    pub models: String,
    /// The regression model's card, in lines.
    pub regression_model: Vec<String>,
    pub classifier_trained_on: Option<String>,
    /// "research use; trained on ..." of the regression model.
    pub provenance: String,
    /// (stage, seconds).
    pub timings_s: Vec<(String, f64)>,
    /// The DICOM objects written (`--dicom-out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dicom: Option<serde_json::Value>,
}

/// One subregion's four parameters (mean and SD over its patches).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubregionRow {
    /// 1..=12.
    pub label: u8,
    pub subregion: String,
    pub patches: usize,
    /// By parameter name ([`TARGETS`]: bv_tv, tb_th_mm, tb_sp_mm, tb_n_per_mm).
    pub parameters: BTreeMap<String, Parameter>,
}

/// Mean and SD of one parameter; NaN (JSON null) where the subregion has no patch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Parameter {
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub sd: f64,
    pub unit: String,
}

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl SubregionRow {
    /// A subregion's row from its statistics.
    pub fn of(s: &SubregionStats) -> Self {
        let parameters = TARGETS
            .iter()
            .enumerate()
            .map(|(a, (name, unit))| {
                let p = Parameter {
                    mean: s.mean[a],
                    sd: s.sd[a],
                    unit: unit.to_string(),
                };
                (name.to_string(), p)
            })
            .collect();
        SubregionRow {
            label: s.label,
            subregion: s.name.clone(),
            patches: s.patches,
            parameters,
        }
    }

    /// Means in [`TARGETS`] order (NaN for a parameter not in the row).
    pub fn means(&self) -> [f64; 4] {
        TARGETS.map(|(n, _)| self.parameters.get(n).map_or(f64::NAN, |p| p.mean))
    }

    /// SDs in [`TARGETS`] order.
    pub fn sds(&self) -> [f64; 4] {
        TARGETS.map(|(n, _)| self.parameters.get(n).map_or(f64::NAN, |p| p.sd))
    }
}

/// The registration's part of the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistrationReport {
    pub refined_on: String,
    /// The MR-side images written beside the report.
    pub files: Vec<String>,
    pub synthesis_provenance: Option<String>,
}

/// What a report says besides the analysis: the inputs, the models and the study row.
#[derive(Clone, Debug)]
pub struct ReportContext {
    pub ct: String,
    pub mr: Option<String>,
    /// The models folder.
    pub models_dir: std::path::PathBuf,
    /// The regression model's provenance line, its card in lines, and the classifier's.
    pub provenance: String,
    pub model_summary: Vec<String>,
    pub classifier_note: Option<String>,
    pub subject: Option<String>,
    pub label: Option<String>,
    /// Why the study's MR was left out, when it was (the report says so).
    pub mr_not_used: Option<String>,
}

impl ReportContext {
    /// The context of an analysis of `ct` (and `mr`) with `models`, loaded from
    /// `models_dir`; no study row (set `subject` and `label` for one).
    pub fn new(ct: String, mr: Option<String>, models_dir: &Path, models: &Models) -> Self {
        ReportContext {
            ct,
            mr,
            models_dir: models_dir.to_path_buf(),
            provenance: models.card.provenance.clone(),
            model_summary: models.card.summary_lines(),
            classifier_note: models.classifier.as_ref().map(|c| c.trained_on.clone()),
            subject: None,
            label: None,
            mr_not_used: None,
        }
    }
}

impl Report {
    /// The report of a done analysis.
    pub fn done(analysis: &Analysis, ctx: &ReportContext, total_s: f64) -> Self {
        let rows = |s: &[SubregionStats]| s.iter().map(SubregionRow::of).collect();
        let registration = analysis.registered.as_ref().map(|r| RegistrationReport {
            refined_on: r.refined_on.clone(),
            files: ["crMR.nii.gz", "rrMR.nii.gz"]
                .into_iter()
                .chain(r.sct.as_ref().map(|_| "sCT.nii.gz"))
                .map(str::to_string)
                .collect(),
            synthesis_provenance: r
                .sct
                .as_ref()
                .map(|_| srrd_synthesis::model::PROVENANCE.to_string()),
        });
        let results = Results {
            knee: analysis.knee.clone(),
            checks: analysis.checks.clone(),
            koa: analysis.koa.clone(),
            koa_withheld: analysis.koa_withheld.clone(),
            subregions_ct: rows(&analysis.stats),
            subregions_mr: analysis.mr_stats.as_deref().map(rows),
            knee_frame: analysis.frame.clone(),
            registration,
            patches: analysis.prediction.patches.len(),
            models: ctx.models_dir.display().to_string(),
            regression_model: ctx.model_summary.clone(),
            classifier_trained_on: ctx.classifier_note.clone(),
            provenance: ctx.provenance.clone(),
            timings_s: analysis.timings.clone(),
            dicom: None,
        };
        Report::with(ctx, total_s, Outcome::Done(Box::new(results)))
    }

    /// The report of a knee whose analysis failed.
    pub fn failed(ctx: &ReportContext, failure: Failure, total_s: f64) -> Self {
        Report::with(ctx, total_s, Outcome::Failed(failure))
    }

    fn with(ctx: &ReportContext, total_s: f64, outcome: Outcome) -> Self {
        Report {
            format: FORMAT.into(),
            subject: ctx.subject.clone(),
            label: ctx.label.clone(),
            ct: ctx.ct.clone(),
            mr: ctx.mr.clone(),
            mr_not_used: ctx.mr_not_used.clone(),
            srrd_version: env!("CARGO_PKG_VERSION").into(),
            model_ids: ModelIds::of(&ctx.models_dir),
            total_s,
            outcome,
        }
    }

    /// The results, when the knee is done.
    pub fn results(&self) -> Option<&Results> {
        match &self.outcome {
            Outcome::Done(r) => Some(r),
            Outcome::Failed(_) => None,
        }
    }

    /// `"done"` or `"failed"`.
    pub fn status(&self) -> &'static str {
        match self.outcome {
            Outcome::Done(_) => "done",
            Outcome::Failed(_) => "failed",
        }
    }

    /// The report as JSON (keys sorted, as every report has been written).
    pub fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::invalid(format!("report: {e}")))
    }

    /// Writes `path` atomically (a reader never sees half a report).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.to_json()?)
            .map_err(|e| Error::invalid(format!("report: {e}")))?;
        srrd_base::io::atomic_write(path, |w| w.write_all(text.as_bytes()))
    }

    /// Reads a `report.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::file(path, format!("not an srrd report: {e}")))
    }

    /// The report in a few lines of text (what `srrd analyze` prints).
    pub fn summary_text(&self) -> String {
        let Some(r) = self.results() else {
            return match &self.outcome {
                Outcome::Failed(f) => format!("FAILED: {}\n", f.error),
                Outcome::Done(_) => String::new(),
            };
        };
        let mut s = r.knee.describe() + "\n";
        if let Some(why) = &self.mr_not_used {
            s += &format!("CT-only: {why}\n");
        }
        s += "quality checks:\n";
        for c in &r.checks {
            s += &format!("  [{}] {}: {}\n", c.status.name(), c.name, c.reason);
        }
        if let Some(why) = &r.koa_withheld {
            s += &format!("KOA prediction withheld: {why}\n");
        }
        match &r.koa {
            Some(k) => {
                s += &format!(
                    "KOA prediction: {} (P(KOA) = {:.2})",
                    k.class, k.probability
                );
                if let Some(t) = k.three_group {
                    s += &format!(
                        "; normal {:.2}, mild {:.2}, advanced {:.2}",
                        t[0], t[1], t[2]
                    );
                }
                s += "\n";
            }
            None if r.koa_withheld.is_some() => {}
            None => s += "KOA prediction: no classifier in the models folder\n",
        }
        s += &format!("({})\n\n", r.provenance);
        s += "subregion      patches  BV/TV          Tb.Th (mm)     Tb.Sp (mm)     Tb.N (1/mm)\n";
        for row in &r.subregions_ct {
            s += &format!("{:<14} {:>7}", row.subregion, row.patches);
            let (m, sd) = (row.means(), row.sds());
            for k in 0..4 {
                s += &format!("  {:.3} ± {:.3}", m[k], sd[k]);
            }
            s += "\n";
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::Status;
    use srrd_segmentation::knees::Side;

    fn done() -> Report {
        let row = SubregionStats {
            label: 3,
            name: "femur MA".into(),
            patches: 0,
            mean: [f64::NAN; 4],
            sd: [0.1, 0.2, 0.3, 0.4],
        };
        let results = Results {
            knee: KneeReport {
                side: Side::Left,
                side_from: "fibula".into(),
                knees_in_ct: 1,
                ct_spacing_mm: [0.5, 0.5, 1.0],
                working_spacing_mm: [0.98, 0.98, 1.0],
            },
            checks: vec![Check::new("bones", Status::Warn, "femur small")],
            koa: Some(Koa {
                class: "KOA".into(),
                probability: 0.75,
                three_group: Some([0.1, 0.2, 0.7]),
                provenance: "phantoms".into(),
            }),
            koa_withheld: None,
            subregions_ct: vec![SubregionRow::of(&row)],
            subregions_mr: None,
            knee_frame: Frame {
                superior: [0.0, 0.0, 1.0],
                medial: [-1.0, 0.0, 0.0],
                anterior: [0.0, -1.0, 0.0],
                assumed: String::new(),
            },
            registration: None,
            patches: 7,
            models: "assets".into(),
            regression_model: vec!["student".into()],
            classifier_trained_on: None,
            provenance: "research use".into(),
            timings_s: vec![("segmentation".into(), 0.5)],
            dicom: None,
        };
        Report {
            format: FORMAT.into(),
            subject: Some("s1".into()),
            label: Some("KOA".into()),
            ct: "ct.nii.gz".into(),
            mr: None,
            mr_not_used: None,
            srrd_version: "0".into(),
            model_ids: ModelIds::default(),
            total_s: 1.5,
            outcome: Outcome::Done(Box::new(results)),
        }
    }

    /// Written and read back, a done report keeps its values; a subregion without patches
    /// (NaN, JSON null) reads back as NaN; the keys are the flat ones readers know.
    #[test]
    fn a_done_report_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        done().write(&path).expect("write");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(json["status"], "done");
        assert_eq!(json["format"], FORMAT);
        assert_eq!(json["knee"]["side"], "left");
        assert_eq!(json["koa"]["probability"], 0.75);
        assert!(json["subregions_ct"][0]["parameters"]["tb_th_mm"]["mean"].is_null());
        assert_eq!(
            json["subregions_ct"][0]["parameters"]["tb_sp_mm"]["sd"],
            0.3
        );
        assert!(json["registration"].is_null() && json.get("dicom").is_none());
        let back = Report::read(&path).expect("read back");
        let r = back.results().expect("done");
        assert_eq!(r.knee.side, Side::Left);
        assert_eq!(r.checks[0].status, Status::Warn);
        assert_eq!(
            r.koa.as_ref().map(|k| k.three_group),
            Some(Some([0.1, 0.2, 0.7]))
        );
        assert!(r.subregions_ct[0].means()[1].is_nan());
        assert_eq!(r.subregions_ct[0].sds(), [0.1, 0.2, 0.3, 0.4]);
        assert_eq!(back.subject.as_deref(), Some("s1"));
        assert_eq!(back.summary_text(), done().summary_text());
    }

    /// A failed knee's report has the error and no results; a report without `format`
    /// (written before the tag) reads as this version; a file that is no report is
    /// refused with its path.
    #[test]
    fn failed_and_old_reports_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let ctx = ReportContext {
            ct: "ct".into(),
            mr: None,
            models_dir: dir.path().to_path_buf(),
            provenance: String::new(),
            model_summary: vec![],
            classifier_note: None,
            subject: Some("b".into()),
            label: None,
            mr_not_used: None,
        };
        let failure = Failure {
            manifest_row: 3,
            error: "ct: no such file".into(),
            log: "b/analyze.log".into(),
        };
        Report::failed(&ctx, failure, 0.1)
            .write(&path)
            .expect("write");
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(json["status"], "failed");
        assert_eq!(json["manifest_row"], 3);
        json.as_object_mut().expect("object").remove("format");
        std::fs::write(&path, json.to_string()).expect("write");
        let back = Report::read(&path).expect("read back");
        assert_eq!(back.format, FORMAT);
        assert_eq!(back.status(), "failed");
        assert!(back.summary_text().contains("ct: no such file"));
        std::fs::write(&path, "{\"status\": \"done\"}").expect("write");
        let e = Report::read(&path).expect_err("not a report").to_string();
        assert!(
            e.contains("report.json") && e.contains("not an srrd report"),
            "{e}"
        );
    }
}
