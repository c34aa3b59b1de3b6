//! One knee's analysis written back as DICOM, next to its CT: a Segmentation of the bones
//! and the 12 subchondral subregions, the four parameter maps as Parametric Maps, and a
//! TID 1500 Measurement Report with the per-subregion means and SDs, P(KOA), the models'
//! provenance and the research-use caveat. The set is written into a hidden folder first
//! and moved into place, so a failure leaves no half-written set.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::analyze::{Analysis, KneeReport, Koa};
use super::quality::{Check, Status};
use srrd_base::error::{Error, Result};
use srrd_base::io::DicomSource;
use srrd_base::io::dicom_out::pmap::{MapRequest, write_parametric_map};
use srrd_base::io::dicom_out::seg::{SegRequest, Segment, SegmentDef, write_seg};
use srrd_base::io::dicom_out::sr::{Group, Measurement, ReportRequest, write_measurement_report};
use srrd_base::io::dicom_out::{Code, Identity, prepare_dir};
use srrd_base::volume::{Geometry, LabelMap, Volume};
use srrd_diagnosis::features::SubregionStats;
use srrd_segmentation::bones::{FEMUR, FIBULA, PATELLA, TIBIA};
use srrd_segmentation::knees::Side;

/// The results of one knee that go into DICOM: labels and maps on the CT's grid, the
/// per-subregion table, the score and the checks. Made from an [`Analysis`] (CLI) or from
/// what the viewer holds.
pub struct KneeResults<'a> {
    /// Bone labels (femur 1, tibia 2, patella 3, fibula 4) on the CT's grid.
    pub bones: &'a LabelMap,
    /// Subregion labels 1-12 on the CT's grid.
    pub subregions: &'a LabelMap,
    /// The four parameter maps in `TARGETS` order (zero or NaN outside the regions).
    pub maps: Vec<&'a Volume>,
    pub stats: &'a [SubregionStats],
    pub koa: Option<&'a Koa>,
    pub koa_withheld: Option<&'a str>,
    pub knee: &'a KneeReport,
    pub checks: &'a [Check],
}

impl<'a> KneeResults<'a> {
    /// The results of a whole analysis.
    pub fn of(a: &'a Analysis) -> Self {
        KneeResults {
            bones: &a.bones,
            subregions: &a.subregions,
            maps: a.prediction.maps.iter().collect(),
            stats: &a.stats,
            koa: a.koa.as_ref(),
            koa_withheld: a.koa_withheld.as_deref(),
            knee: &a.knee,
            checks: &a.checks,
        }
    }
}

/// The research-use caveat every report carries.
pub const CAVEAT: &str = "Research use only. Computed by the SRRD workstation with demonstration models trained on synthetic phantom knees: not clinically validated; do not use for diagnosis or treatment.";

/// What the export needs besides the analysis.
pub struct ExportContext<'a> {
    /// The CT's grid (the analysis' maps and labels are on it).
    pub ct_geometry: &'a Geometry,
    /// Where the CT came from, when it was DICOM.
    pub source: Option<&'a DicomSource>,
    /// The models' provenance line, as the reports show it.
    pub provenance: &'a str,
    /// A version string of the models (their content ids).
    pub model_version: String,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct DicomExport {
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
    pub seg_segments: usize,
    pub seg_frames: usize,
}

/// The four parameters: file stem, display name, local code, UCUM unit.
fn parameters() -> [(&'static str, &'static str, Code, Code); 4] {
    let local = |v: &str, m: &str| Code::new(v, "99SRRD", m);
    [
        (
            "bv_tv",
            "BV/TV",
            local("BVTV", "Bone volume fraction (BV/TV)"),
            Code::ucum("1", "no units"),
        ),
        (
            "tb_th_mm",
            "Tb.Th",
            local("TBTH", "Trabecular thickness (Tb.Th)"),
            Code::ucum("mm", "millimeter"),
        ),
        (
            "tb_sp_mm",
            "Tb.Sp",
            local("TBSP", "Trabecular separation (Tb.Sp)"),
            Code::ucum("mm", "millimeter"),
        ),
        (
            "tb_n_per_mm",
            "Tb.N",
            local("TBN", "Trabecular number (Tb.N)"),
            Code::ucum("/mm", "per millimeter"),
        ),
    ]
}

fn anatomical() -> Code {
    Code::new("91723000", "SCT", "Anatomical Structure")
}

fn bone_code(label: u8) -> Option<(&'static str, Code, [u8; 3])> {
    let sct = |v: &str, m: &str| Code::new(v, "SCT", m);
    match label {
        FEMUR => Some(("femur", sct("71341001", "Femur"), [230, 200, 120])),
        TIBIA => Some(("tibia", sct("12611008", "Tibia"), [120, 180, 230])),
        PATELLA => Some(("patella", sct("64234005", "Patella"), [200, 140, 200])),
        FIBULA => Some(("fibula", sct("87342007", "Fibula"), [140, 200, 140])),
        _ => None,
    }
}

/// The SNOMED CT code of the bone a subregion (1-6 femur, 7-12 tibia) lies in.
fn subregion_site(label: u8) -> Code {
    if label <= 6 {
        Code::new("310652005", "SCT", "Bone structure of distal femur")
    } else {
        Code::new("12611008", "SCT", "Tibia")
    }
}

fn subregion_rgb(label: u8) -> [u8; 3] {
    let t = f32::from(label.saturating_sub(1)) / 11.0;
    srrd_stats::viridis_rgb(t)
}

/// Writes the analysis of one knee as DICOM into `dir` (refused when it exists and is not
/// empty, unless `force`): `seg.dcm`, `pmap_<parameter>.dcm` (4) and `sr.dcm`.
pub fn export_dicom(
    analysis: &KneeResults,
    ctx: &ExportContext,
    dir: &Path,
    force: bool,
) -> Result<DicomExport> {
    prepare_dir(dir, force)?;
    let id = Identity::new(ctx.source);
    let mut warnings = id.warnings.clone();
    let staging = dir.join(".srrd-partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let result = write_all(analysis, ctx, &id, &staging, &mut warnings);
    let outcome = result.and_then(|(names, seg_segments, seg_frames)| {
        let mut files = Vec::new();
        for name in names {
            let to = dir.join(&name);
            std::fs::rename(staging.join(&name), &to).map_err(|e| Error::io(&to, e))?;
            files.push(to);
        }
        Ok(DicomExport {
            files,
            warnings,
            seg_segments,
            seg_frames,
        })
    });
    let _ = std::fs::remove_dir_all(&staging);
    outcome
}

fn write_all(
    analysis: &KneeResults,
    ctx: &ExportContext,
    id: &Identity,
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<(Vec<String>, usize, usize)> {
    let g = ctx.ct_geometry;
    let side = analysis.knee.side;
    let laterality = match side {
        Side::Left => "L",
        Side::Right => "R",
    };
    let algorithm = (
        "SRRD CT student and KOA classifier".to_string(),
        format!(
            "srrd {} models {}",
            env!("CARGO_PKG_VERSION"),
            ctx.model_version
        ),
    );
    let mut names = Vec::new();

    // 1. Segmentation: the bones, then the subregions.
    let mut segments = Vec::new();
    for label in [FEMUR, TIBIA, PATELLA, FIBULA] {
        if let Some((name, code, rgb)) = bone_code(label) {
            segments.push(Segment {
                def: SegmentDef {
                    label: name.to_string(),
                    description: format!("{name} (bone segmentation of the CT)"),
                    category: anatomical(),
                    property_type: code,
                    rgb,
                },
                labels: analysis.bones,
                value: label,
            });
        }
    }
    let first_subregion = segments.len();
    for (n, name) in srrd_diagnosis::subregions::NAMES.iter().enumerate() {
        let label = n as u8 + 1;
        segments.push(Segment {
            def: SegmentDef {
                label: format!("{name} subchondral trabecular bone"),
                description: format!("subregion {label}: {name}"),
                category: anatomical(),
                property_type: subregion_site(label),
                rgb: subregion_rgb(label),
            },
            labels: analysis.subregions,
            value: label,
        });
    }
    let seg = write_seg(
        id,
        &SegRequest {
            geometry: g,
            segments,
            series_description: "SRRD bones and subregions (research use)".into(),
            series_number: 901,
            algorithm_name: "SRRD segmentation".into(),
            algorithm_version: algorithm.1.clone(),
        },
        &dir.join("seg.dcm"),
    )?;
    names.push("seg.dcm".to_string());
    let segment_of = |label: u8| {
        let index = first_subregion + label as usize - 1;
        seg.numbers
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, number)| *number)
    };

    // 2. The parameter maps.
    for (a, (stem, display, quantity, unit)) in parameters().into_iter().enumerate() {
        let Some(map) = analysis.maps.get(a).copied() else {
            continue;
        };
        let name = format!("pmap_{stem}.dcm");
        match write_parametric_map(
            id,
            &MapRequest {
                map,
                name: display.to_string(),
                quantity,
                unit,
                laterality,
                series_number: 902 + a as u32,
                series_description: format!("SRRD {display} map (research use)"),
            },
            &dir.join(&name),
        ) {
            Ok(_) => names.push(name),
            Err(e) => warnings.push(format!("{display} map not written: {e}")),
        }
    }

    // 3. The Measurement Report.
    let params = parameters();
    let mut groups = Vec::new();
    for st in analysis.stats {
        let mut measurements = Vec::new();
        for (a, (_, _, quantity, unit)) in params.iter().enumerate() {
            for (value, derivation) in [
                (st.mean[a], Code::new("373098007", "SCT", "Mean")),
                (
                    st.sd[a],
                    Code::new("386136009", "SCT", "Standard Deviation"),
                ),
            ] {
                if value.is_finite() {
                    measurements.push(Measurement {
                        name: quantity.clone(),
                        value,
                        unit: unit.clone(),
                        derivation: Some(derivation),
                    });
                }
            }
        }
        groups.push(Group {
            tracking_id: format!("{} subchondral trabecular bone", st.name),
            segment: segment_of(st.label).map(|n| (seg.sop_instance_uid.clone(), n)),
            finding_site: Some(subregion_site(st.label)),
            measurements,
        });
    }
    let mut evaluations = vec![(Code::new("121106", "DCM", "Comment"), CAVEAT.to_string())];
    let koa_concept = Code::new("PKOA", "99SRRD", "Probability of knee osteoarthritis");
    let koa_text = Code::new("KOA", "99SRRD", "KOA prediction");
    match (analysis.koa, analysis.koa_withheld) {
        (Some(k), _) => {
            groups.push(Group {
                tracking_id: format!("{} knee: KOA prediction", side.name()),
                segment: None,
                finding_site: Some(Code::new("72696002", "SCT", "Knee")),
                measurements: vec![Measurement {
                    name: koa_concept,
                    value: k.probability,
                    unit: Code::ucum("1", "no units"),
                    derivation: None,
                }],
            });
            evaluations.push((
                koa_text,
                format!(
                    "{} (P(KOA) = {:.3}); classifier: {}",
                    k.class, k.probability, k.provenance
                ),
            ));
        }
        (None, Some(why)) => evaluations.push((koa_text, format!("withheld: {why}"))),
        (None, None) => evaluations.push((
            koa_text,
            "not computed: the models folder has no KOA classifier; the report holds the trabecular parameters only"
                .to_string(),
        )),
    }
    evaluations.push((
        Code::new("PROV", "99SRRD", "Model provenance"),
        ctx.provenance.to_string(),
    ));
    evaluations.push((
        Code::new("KNEE", "99SRRD", "Knee analysed"),
        analysis.knee.describe(),
    ));
    let failed: Vec<String> = analysis
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("[{}] {}: {}", c.status.name(), c.name, c.reason))
        .collect();
    if !failed.is_empty() {
        evaluations.push((
            Code::new("QC", "99SRRD", "Quality checks not passed"),
            failed.join("; "),
        ));
    }
    let mut evidence = vec![(
        id.study.study_instance_uid.clone(),
        seg.series_instance_uid.clone(),
        dicom_dictionary_std::uids::SEGMENTATION_STORAGE.to_string(),
        seg.sop_instance_uid.clone(),
    )];
    if let Some(src) = &id.source {
        for inst in &src.instances {
            evidence.push((
                id.study.study_instance_uid.clone(),
                src.series_instance_uid.clone(),
                src.sop_class_uid.clone(),
                inst.clone(),
            ));
        }
    }
    write_measurement_report(
        id,
        &ReportRequest {
            procedure: Code::new("77477000", "SCT", "Computed tomography"),
            groups,
            evaluations,
            algorithm,
            evidence,
            series_number: 906,
            series_description: "SRRD measurement report (research use)".into(),
        },
        &dir.join("sr.dcm"),
    )?;
    names.push("sr.dcm".to_string());
    Ok((names, seg.numbers.len(), seg.frames))
}
