//! A patch store from a study (a clinic's study list or a phantom cohort): for every knee
//! with an MR, coarse and refined registration of its MR to its CT (never a phantom's true
//! transforms), the CT's subchondral regions, then paired patches and their MR ground
//! truth (see `regression::dataset`).

use std::path::Path;

use super::study_knees::{StudyKnee, study_knees};
use crate::knee::{knee, prepare_at};
use crate::quality::{self, Status};
use crate::registration as reg;
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::volume::Transform;
use srrd_phantom::acquisition::MrProtocol;
use srrd_regression::dataset::{
    Excluded, FORMAT, Manifest, PatchSettings, SubjectEntry, TARGETS, extract,
};
use srrd_segmentation::knees::Side;

/// What preparing one knee gave: its entry in the store, or why it is left out. Written
/// beside its patches as `<id>.entry.json`, so a resumed build (or the cohort workflow's
/// per-knee jobs) skips a knee that is done, whichever way it ended.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KneeOutcome {
    Entry(SubjectEntry),
    Excluded(String),
}

/// The file that records a knee's outcome.
pub fn entry_path(out: &Path, id: &str) -> std::path::PathBuf {
    out.join(format!("{id}.entry.json"))
}

/// Builds the store in `out` from the first `limit` knees of `study` (a study list or a
/// phantom cohort). A knee that cannot give patches (no MR, a registration whose quality
/// check fails, a CT the analysis refuses) is left out, logged and listed in the
/// manifest's `excluded`, and the others go on. A knee already done (its
/// `<id>.entry.json`, see [`prepare_knee`]) is not prepared again, so the build resumes.
/// Each knee is cut as `analyze` cuts it: the CT brought to `ct_spacing_mm` (None: the
/// first CT's spacing, so a cohort of mixed acquisitions still gives patches of one size
/// in mm, the grid the trained student will run on, recorded in the manifest and the
/// model card), the subject's knee chosen in a bilateral scan, the MR registered to that
/// knee (coarse and refined, never the phantom's true transforms), left knees mirrored.
pub fn build_store(
    study: &Path,
    out: &Path,
    settings: &PatchSettings,
    ct_spacing_mm: Option<[f64; 3]>,
    limit: Option<usize>,
    progress: &Progress,
    mut log: impl FnMut(&str),
) -> Result<Manifest> {
    let subjects = study_knees(study)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let spacing = store_spacing(&subjects, ct_spacing_mm)?;
    let mut entries = Vec::new();
    let mut excluded = Vec::new();
    for s in subjects.iter().take(limit.unwrap_or(usize::MAX)) {
        progress.check()?;
        match prepare_knee(s, out, settings, spacing, progress, &mut log)? {
            Some(KneeOutcome::Entry(e)) => entries.push(e),
            Some(KneeOutcome::Excluded(reason)) => excluded.push(Excluded {
                id: s.id.clone(),
                reason,
            }),
            None => {}
        }
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
        source: study.display().to_string(),
        ct_spacing_mm: Some(spacing),
        excluded,
    };
    manifest.write(out)?;
    Ok(manifest)
}

/// The store's CT grid: `ct_spacing_mm`, else the first knee's CT spacing.
pub fn store_spacing(subjects: &[StudyKnee], ct_spacing_mm: Option<[f64; 3]>) -> Result<[f64; 3]> {
    match (ct_spacing_mm, subjects.first()) {
        (Some(s), _) => Ok(s),
        (None, Some(first)) => Ok(first.read_ct()?.geometry.spacing_mm.into()),
        (None, None) => Err(Error::invalid("the study has no knees")),
    }
}

/// Prepares one knee into `out` (its patches and `<id>.entry.json`), or reads what an
/// earlier run recorded. None: a knee of another MR protocol than `settings` asks for
/// (not part of this store). A knee that cannot give patches is `Excluded` with the
/// reason, logged; only a cancel or an unwritable store is an error.
pub fn prepare_knee(
    s: &StudyKnee,
    out: &Path,
    settings: &PatchSettings,
    spacing: [f64; 3],
    progress: &Progress,
    log: &mut impl FnMut(&str),
) -> Result<Option<KneeOutcome>> {
    let protocol = s.acquisition.as_ref().map(|a| a.mr).unwrap_or_default();
    if let Some(list) = &settings.mr_protocols {
        let wanted = list
            .iter()
            .map(|p| MrProtocol::parse(p))
            .collect::<Result<Vec<_>>>()?;
        if !wanted.contains(&protocol) {
            log(&format!("{}: left out (MR protocol {protocol:?})", s.id));
            return Ok(None);
        }
    }
    let record = entry_path(out, &s.id);
    if let Some(done) = std::fs::read_to_string(&record)
        .ok()
        .and_then(|t| serde_json::from_str::<KneeOutcome>(&t).ok())
    {
        match &done {
            KneeOutcome::Entry(e) if out.join(&e.file).exists() => {
                log(&format!("{}: {} patches (done before)", s.id, e.patches));
                return Ok(Some(done));
            }
            KneeOutcome::Excluded(reason) => {
                log(&format!(
                    "{}: left out ({reason}; decided before: delete {} to try again)",
                    s.id,
                    record.display()
                ));
                return Ok(Some(done));
            }
            KneeOutcome::Entry(_) => {}
        }
    }
    let file = format!("{}.safetensors", s.id);
    let path = out.join(&file);
    // A knee that cannot give patches is left out with its reason; the rest go on.
    let cut = match s.mr {
        None => Err("no MR in the study".to_string()),
        Some(_) => match cut_knee(s, Some(spacing), settings, &path, progress, log) {
            Ok(cut) => cut,
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => Err(e.to_string()),
        },
    };
    let outcome = match cut {
        Ok((patches, acquired, content_id)) => {
            log(&format!("{}: {} patches", s.id, patches));
            KneeOutcome::Entry(SubjectEntry {
                id: s.id.clone(),
                file,
                patches,
                grade: s.grade.clone(),
                kl_grade: s.kl_grade(),
                // As the header gives it, to a micrometre (NIfTI keeps f32).
                ct_acquired_mm: Some(acquired.map(|v| (v * 1e3).round() / 1e3)),
                content_id: Some(content_id),
                patient: s.patient.clone(),
            })
        }
        Err(reason) => {
            log(&format!("{}: left out ({reason})", s.id));
            KneeOutcome::Excluded(reason)
        }
    };
    let text = serde_json::to_string_pretty(&outcome).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(&record, |w| w.write_all(text.as_bytes()))?;
    Ok(Some(outcome))
}

/// A knee's patches: their count, its CT's own spacing (mm) and the CT's content id.
type Cut = (usize, [f64; 3], String);

/// One knee's patches cut into `path` (kept when the file exists, so a build resumes):
/// their count, the CT's own spacing and its content id. `Ok(Err(reason))` leaves the knee
/// out: no MR series, or a registration whose quality check fails (the patches' ground
/// truth would be measured in the wrong place).
fn cut_knee(
    s: &StudyKnee,
    spacing: Option<[f64; 3]>,
    settings: &PatchSettings,
    path: &Path,
    progress: &Progress,
    log: &mut impl FnMut(&str),
) -> Result<std::result::Result<Cut, String>> {
    if path.exists() {
        let n = srrd_regression::dataset::load_patches(path)?.target.size()[0] as usize;
        let ct = s.read_ct()?;
        return Ok(Ok((n, ct.geometry.spacing_mm.into(), ct.content_id())));
    }
    let ct_path = &s.ct;
    let Some((ct, mr)) = s.read_pair(log)? else {
        return Ok(Err("no MR series".into()));
    };
    let spacing = spacing.unwrap_or(ct.geometry.spacing_mm.into());
    let prepared = prepare_at(&ct, spacing, progress).map_err(|e| e.in_file(ct_path))?;
    let knee = knee(&prepared, s.knee, progress).map_err(|e| e.in_file(ct_path))?;
    let field = knee.field(&prepared);
    let r = reg::register_knee_from(&field, &mr, None, false, None, Some(&knee.bones), progress)?;
    let cost = (r.coarse.result.levels.last()).map_or(f64::NAN, |l| l.final_cost);
    let alignment = quality::edge_alignment(&r.refined.rr_mr, &r.refined.bones, &field);
    let check = quality::registration_check(r.refined.result.min_jacobian, cost, alignment);
    match check.status {
        Status::Fail => return Ok(Err(format!("registration: {}", check.reason))),
        Status::Warn => log(&format!("{}: registration: {}", s.id, check.reason)),
        Status::Pass => {}
    }
    let ct_to_mr = Transform::Field(r.refined.result.field.clone());
    let mut p = extract(&knee.ct, &mr, &ct_to_mr, &knee.regions, settings, progress)?;
    // A left knee is stored as its mirror image, as `analyze` shows it to the student; the
    // ground truth does not change, the centres stay in the CT.
    if knee.side == Side::Left {
        p.mirror(settings.ct_patch, settings.mr_patch[0]);
    }
    p.save(path, settings)?;
    Ok(Ok((p.n, ct.geometry.spacing_mm.into(), ct.content_id())))
}
