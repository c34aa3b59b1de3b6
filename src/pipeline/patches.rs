//! A patch store from a phantom cohort: for every subject, coarse and refined
//! registration of its MR to its CT (never the phantom's true transforms), the CT's
//! subchondral regions, then paired patches and their MR ground truth (see
//! `regression::dataset`).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::read_image;
use crate::pipeline::registration as reg;
use crate::progress::Progress;
use crate::registration::Metric;
use crate::regression::dataset::{FORMAT, Manifest, PatchSettings, SubjectEntry, TARGETS, extract};
use crate::volume::Transform;

/// One subject read from a cohort manifest.
pub struct CohortSubject {
    pub id: String,
    pub dir: std::path::PathBuf,
    pub grade: Option<String>,
    pub kl_grade: Option<u32>,
}

/// The subjects of `cohort/manifest.json` (as written by `srrd cohort`).
pub fn cohort_subjects(cohort: &Path) -> Result<Vec<CohortSubject>> {
    let path = cohort.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let manifest: Value =
        serde_json::from_str(&text).map_err(|e| Error::file(&path, format!("not JSON: {e}")))?;
    let list = manifest["subjects"]
        .as_array()
        .ok_or_else(|| Error::file(&path, "no 'subjects' list"))?;
    list.iter()
        .map(|s| {
            let dir = s["dir"]
                .as_str()
                .ok_or_else(|| Error::file(&path, "a subject has no 'dir'"))?;
            Ok(CohortSubject {
                id: s["id"].as_str().unwrap_or(dir).to_string(),
                dir: cohort.join(dir),
                grade: s["grade"].as_str().map(str::to_string),
                kl_grade: s["kl_grade"].as_u64().map(|v| v as u32),
            })
        })
        .collect()
}

/// Builds the store in `out` from the first `limit` subjects of `cohort`. Subjects whose
/// file already exists are kept (the build can be resumed). Patches are cut in physical
/// space: every CT is first brought to `ct_spacing_mm` (None: the first CT's spacing, so a
/// cohort of mixed acquisitions still gives patches of one size in mm), the grid the
/// trained student will then be run on (recorded in the manifest and the model card).
pub fn build_store(
    cohort: &Path,
    out: &Path,
    settings: &PatchSettings,
    ct_spacing_mm: Option<[f64; 3]>,
    limit: Option<usize>,
    progress: &Progress,
    mut log: impl FnMut(&str),
) -> Result<Manifest> {
    let subjects = cohort_subjects(cohort)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut spacing = ct_spacing_mm;
    if spacing.is_none()
        && let Some(first) = subjects.first()
    {
        let path = first.dir.join("ct.nii.gz");
        spacing = Some(read_image(&path, None)?.volume.geometry.spacing_mm.into());
    }
    let mut entries = Vec::new();
    for s in subjects.iter().take(limit.unwrap_or(usize::MAX)) {
        progress.check()?;
        let file = format!("{}.safetensors", s.id);
        let path = out.join(&file);
        let patches = if path.exists() {
            crate::regression::dataset::load_patches(&path)?
                .target
                .size()[0] as usize
        } else {
            let ct = read_image(&s.dir.join("ct.nii.gz"), None)?.volume;
            let ct = match spacing {
                Some(sp) => crate::volume::regrid::to_working_grid(&ct, sp),
                None => ct,
            };
            let mr = read_image(&s.dir.join("mr.nii.gz"), None)?.volume;
            let metric = Metric::MattesMi { bins: 32 };
            let coarse = reg::coarse(&ct, &mr, metric, false, progress)?;
            let refined = reg::refined(&ct, &mr, &coarse, metric, progress)?;
            let ct_to_mr = Transform::Field(refined.result.field.clone());
            let p = extract(&ct, &mr, &ct_to_mr, &refined.regions, settings, progress)?;
            p.save(&path, settings)?;
            p.n
        };
        log(&format!("{}: {} patches", s.id, patches));
        entries.push(SubjectEntry {
            id: s.id.clone(),
            file,
            patches,
            grade: s.grade.clone(),
            kl_grade: s.kl_grade,
        });
    }
    // Ranges over the whole store.
    let mut min = [f32::INFINITY; 4];
    let mut max = [f32::NEG_INFINITY; 4];
    for e in &entries {
        let t = crate::regression::dataset::load_patches(&out.join(&e.file))?.target;
        let v = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap_or_default();
        for row in v.chunks(4) {
            for a in 0..4 {
                min[a] = min[a].min(row[a]);
                max[a] = max[a].max(row[a]);
            }
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        settings: settings.clone(),
        targets: TARGETS
            .iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect(),
        target_min: min,
        target_max: max,
        subjects: entries,
        source: cohort.display().to_string(),
        ct_spacing_mm: spacing,
    };
    manifest.write(out)?;
    Ok(manifest)
}
