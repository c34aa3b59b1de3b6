//! The synthesis store built from a study (a clinic's study list or a phantom cohort):
//! each knee's MR coarsely registered onto its CT (crMR) by the pipeline's registration,
//! the pairs `srrd train-synthesis` learns from.

use std::path::Path;

use srrd_base::error::{Error, Result};
use srrd_base::io::nifti::{WriteDtype, write_labels, write_nifti};
use srrd_base::io::read_image;
use srrd_base::io::transform_file::write_affine;
use srrd_base::progress::Progress;
use srrd_base::volume::{Interpolation, LabelMap, resample};
use srrd_registration::Metric;
use srrd_synthesis::data::{DataManifest, DataSubject, FORMAT};

use super::study_knees::study_knees;
use crate::registration as reg;

/// Builds the store: coarse registration of every subject's MR to its CT (Mattes MI),
/// then `ct.nii.gz` (table removed), `crmr.nii.gz`, `ct_labels.nii.gz`,
/// `crmr_labels.nii.gz` and `coarse.tfm` (CT -> MR, ITK) per subject. Subjects already
/// complete (their `coarse.tfm` exists, written last) are kept.
pub fn build_data(
    study: &Path,
    out: &Path,
    limit: Option<usize>,
    progress: &Progress,
    mut log: impl FnMut(&str),
) -> Result<DataManifest> {
    let subjects = study_knees(study)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut entries = Vec::new();
    let mut preset = None;
    for s in subjects.iter().take(limit.unwrap_or(usize::MAX)) {
        progress.check()?;
        if s.mr.is_none() {
            log(&format!("{}: left out (no MR in the study)", s.id));
            continue;
        }
        let dir = out.join(&s.id);
        let truth: Option<serde_json::Value> = (s.truth_dir.as_ref())
            .and_then(|d| std::fs::read_to_string(d.join("truth.json")).ok())
            .and_then(|t| serde_json::from_str(&t).ok());
        let seed = truth.as_ref().and_then(|t| t["seed"].as_u64());
        preset = preset.or_else(|| {
            truth
                .as_ref()
                .and_then(|t| t["preset"].as_str().map(str::to_string))
        });
        if !dir.join("coarse.tfm").exists() {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let Some((ct, mr)) = s.read_pair(&mut log)? else {
                continue;
            };
            let coarse = reg::coarse(&ct, &mr, Metric::MattesMi { bins: 32 }, false, progress)?;
            write_nifti(&dir.join("ct.nii.gz"), &coarse.ct_clean, WriteDtype::I16)?;
            write_nifti(&dir.join("crmr.nii.gz"), &coarse.cr_mr, WriteDtype::F32)?;
            let ct_to_mr = coarse.result.final_transform();
            for (name, file, target) in [
                ("ct_labels.nii.gz", "ct_labels.nii.gz", None),
                ("mr_labels.nii.gz", "crmr_labels.nii.gz", Some(&ct_to_mr)),
            ] {
                // A phantom's tissue labels, for checks beyond the paper's.
                let Some(path) = s.truth_dir.as_ref().map(|d| d.join(name)) else {
                    continue;
                };
                if !path.exists() {
                    continue;
                }
                let labels = read_image(&path, None)?.volume;
                let on_ct = match target {
                    Some(t) => resample(&labels, &ct.geometry, t, Interpolation::Nearest, 0.0),
                    None => labels,
                };
                let on_ct = LabelMap::from_volume(&on_ct)
                    .with_geometry(ct.geometry.clone())
                    .map_err(|e| e.in_file(&path))?;
                write_labels(&dir.join(file), &on_ct)?;
            }
            write_affine(&dir.join("coarse.tfm"), &ct_to_mr)?;
        }
        log(&format!("{}: crMR ready", s.id));
        entries.push(DataSubject {
            id: s.id.clone(),
            dir: s.id.clone(),
            seed,
            grade: s.grade.clone(),
        });
    }
    let manifest = DataManifest {
        format: FORMAT.into(),
        source: study.display().to_string(),
        preset,
        subjects: entries,
    };
    manifest.write(out)?;
    Ok(manifest)
}
