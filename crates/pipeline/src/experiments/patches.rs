//! A patch store from a phantom cohort: for every subject, coarse and refined
//! registration of its MR to its CT (never the phantom's true transforms), the CT's
//! subchondral regions, then paired patches and their MR ground truth (see
//! `regression::dataset`).

use std::path::Path;

use serde_json::Value;

use crate::knee::{KneeChoice, knee, prepare_at};
use crate::registration as reg;
use srrd_base::error::{Error, Result};
use srrd_base::io::read_image;
use srrd_base::progress::Progress;
use srrd_base::volume::Transform;
use srrd_phantom::acquisition::{Acquisition, MrProtocol};
use srrd_regression::dataset::{FORMAT, Manifest, PatchSettings, SubjectEntry, TARGETS, extract};
use srrd_segmentation::knees::Side;

/// One subject read from a cohort manifest.
pub struct CohortSubject {
    pub id: String,
    pub dir: std::path::PathBuf,
    pub grade: Option<String>,
    pub kl_grade: Option<u32>,
    /// The subject's knee in its CT: the only one, or its side of a bilateral scan
    /// (from `truth.json`).
    pub knee: KneeChoice,
    /// The CT acquisition, when the cohort drew one (`truth.json`).
    pub acquisition: Option<Acquisition>,
}

/// The subject's knee and acquisition from its `truth.json` (a missing file or field:
/// the only knee, no acquisition).
fn knee_of(dir: &Path) -> Result<(KneeChoice, Option<Acquisition>)> {
    let path = dir.join("truth.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok((KneeChoice::Only, None));
    };
    let truth: Value =
        serde_json::from_str(&text).map_err(|e| Error::file(&path, format!("not JSON: {e}")))?;
    let acquisition: Option<Acquisition> = match truth.get("acquisition") {
        Some(v) if !v.is_null() => Some(
            serde_json::from_value(v.clone())
                .map_err(|e| Error::file(&path, format!("acquisition: {e}")))?,
        ),
        _ => None,
    };
    let side = match truth["side"].as_str() {
        Some("left") => Side::Left,
        _ => Side::Right,
    };
    let bilateral = acquisition.as_ref().is_some_and(|a| a.bilateral);
    let choice = if bilateral {
        KneeChoice::Side(side)
    } else {
        KneeChoice::Only
    };
    Ok((choice, acquisition))
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
            let (knee, acquisition) = knee_of(&cohort.join(dir))?;
            Ok(CohortSubject {
                id: s["id"].as_str().unwrap_or(dir).to_string(),
                knee,
                acquisition,
                dir: cohort.join(dir),
                grade: s["grade"].as_str().map(str::to_string),
                kl_grade: s["kl_grade"].as_u64().map(|v| v as u32),
            })
        })
        .collect()
}

/// Builds the store in `out` from the first `limit` subjects of `cohort`. Subjects whose
/// file already exists are kept (the build can be resumed). Each knee is cut as `analyze`
/// cuts it: the CT brought to `ct_spacing_mm` (None: the first CT's spacing, so a cohort
/// of mixed acquisitions still gives patches of one size in mm, the grid the trained
/// student will run on, recorded in the manifest and the model card), the subject's knee
/// chosen in a bilateral scan, the MR registered to that knee (coarse and refined, never
/// the phantom's true transforms), left knees mirrored.
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
    let wanted: Option<Vec<MrProtocol>> = match &settings.mr_protocols {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|p| MrProtocol::parse(p))
                .collect::<Result<_>>()?,
        ),
    };
    let mut entries = Vec::new();
    for s in subjects.iter().take(limit.unwrap_or(usize::MAX)) {
        progress.check()?;
        let protocol = s.acquisition.as_ref().map(|a| a.mr).unwrap_or_default();
        if wanted.as_ref().is_some_and(|w| !w.contains(&protocol)) {
            log(&format!("{}: left out (MR protocol {protocol:?})", s.id));
            continue;
        }
        let file = format!("{}.safetensors", s.id);
        let path = out.join(&file);
        let ct_path = s.dir.join("ct.nii.gz");
        let (patches, acquired): (usize, [f64; 3]) = if path.exists() {
            let n = srrd_regression::dataset::load_patches(&path)?.target.size()[0] as usize;
            (
                n,
                read_image(&ct_path, None)?
                    .volume
                    .geometry
                    .spacing_mm
                    .into(),
            )
        } else {
            let ct = read_image(&ct_path, None)?.volume;
            let spacing = spacing.unwrap_or(ct.geometry.spacing_mm.into());
            let prepared = prepare_at(&ct, spacing, progress).map_err(|e| e.in_file(&ct_path))?;
            let knee = knee(&prepared, s.knee, progress).map_err(|e| e.in_file(&ct_path))?;
            let mr = read_image(&s.dir.join("mr.nii.gz"), None)?.volume;
            let field = knee.field(&prepared);
            let bones = Some(&knee.bones);
            let r = reg::register_knee_from(&field, &mr, None, false, None, bones, progress)?;
            let ct_to_mr = Transform::Field(r.refined.result.field.clone());
            let mut p = extract(&knee.ct, &mr, &ct_to_mr, &knee.regions, settings, progress)?;
            // A left knee is stored as its mirror image, as `analyze` shows it to the
            // student; the ground truth does not change, the centres stay in the CT.
            if knee.side == Side::Left {
                p.mirror(settings.ct_patch, settings.mr_patch[0]);
            }
            p.save(&path, settings)?;
            (p.n, ct.geometry.spacing_mm.into())
        };
        log(&format!("{}: {} patches", s.id, patches));
        entries.push(SubjectEntry {
            id: s.id.clone(),
            file,
            patches,
            grade: s.grade.clone(),
            kl_grade: s.kl_grade,
            // As the header gives it, to a micrometre (NIfTI keeps f32).
            ct_acquired_mm: Some(acquired.map(|v| (v * 1e3).round() / 1e3)),
        });
    }
    // Ranges over the whole store.
    let mut min = [f32::INFINITY; 4];
    let mut max = [f32::NEG_INFINITY; 4];
    for e in &entries {
        let t = srrd_regression::dataset::load_patches(&out.join(&e.file))?.target;
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
