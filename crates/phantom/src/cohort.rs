//! Cohorts: many subjects written into one folder with a manifest (`manifest.json`), the
//! paper's grade mix, the CT's departures from the preset ([`CohortCt`]), the acquisitions
//! per knee ([`Acquisitions`]), and resuming an interrupted or extended cohort without
//! drawing its written knees again.

use std::path::Path;

use serde::Serialize;

use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::rng::Rng;

use crate::acquisition::{self, Acquisition, MrProtocol};
use crate::scanner::ScanSpec;
use crate::{Config, Grade, Preset, generate_with, scan_specs, truth_sampling};

/// One subject of a cohort manifest.
#[derive(Clone, Debug, Serialize)]
pub struct CohortEntry {
    pub id: String,
    pub seed: u64,
    pub grade: String,
    pub kl_grade: u8,
    pub dir: String,
    /// How this knee was scanned, when not as the preset does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<Acquisition>,
}

/// The acquisitions of a cohort's knees.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Acquisitions {
    /// Every knee as the preset scans it (the manifest as before acquisitions existed).
    #[default]
    Preset,
    /// Every knee scanned the same way.
    Fixed(Acquisition),
    /// Drawn per knee as clinics scan (see [`acquisition::draw_clinical`]); with an MR
    /// protocol, every knee's MR is that one (clinical CTs, a research MR: the data the
    /// student's ground truth needs, since the MR's apparent parameters depend on its
    /// protocol).
    Clinical(Option<MrProtocol>),
}

impl Acquisitions {
    /// The acquisition of knee `index` of a cohort drawn with `seed`.
    pub fn of_knee(&self, seed: u64, index: usize) -> Acquisition {
        match self {
            Acquisitions::Preset => Acquisition::default(),
            Acquisitions::Fixed(a) => a.clone(),
            Acquisitions::Clinical(mr) => {
                let mut a = acquisition::draw_clinical(seed, index);
                if let Some(mr) = mr {
                    a.mr = *mr;
                }
                a
            }
        }
    }
}

/// The grades of an N-subject cohort with the paper's mix (30 normal, 25 mild, 25
/// advanced per 80), in a seeded shuffled order.
pub fn cohort_grades(n: usize, seed: u64) -> Vec<Grade> {
    let normal = (n as f64 * 30.0 / 80.0).round() as usize;
    let mild = ((n - normal) as f64 / 2.0).round() as usize;
    let mut g: Vec<Grade> = (0..n)
        .map(|i| {
            if i < normal {
                Grade::Normal
            } else if i < normal + mild {
                Grade::Mild
            } else {
                Grade::Advanced
            }
        })
        .collect();
    let mut rng = Rng::new(seed, "cohort order");
    for i in (1..g.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        g.swap(i, j);
    }
    g
}

/// How a cohort's CT departs from its preset's (the default departs in nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CohortCt {
    /// Replaces the CT's point-spread function (the same SD, mm, along every axis).
    pub psf_sd_mm: Option<f64>,
    /// Marrow HU varies between and within knees with this SD (see [`TissueDraw`](crate::scanner::TissueDraw)).
    pub marrow_hu_sd: f32,
    /// Trabecular tissue HU varies between knees with this SD (see [`TissueDraw`](crate::scanner::TissueDraw)).
    pub bone_hu_sd: f32,
}

impl CohortCt {
    /// The preset's CT scanner with these changes.
    pub fn spec(&self, preset: Preset) -> ScanSpec {
        let mut ct = scan_specs(preset).0;
        if let Some(sd) = self.psf_sd_mm {
            ct.psf_sd_mm = [sd; 3];
        }
        ct.marrow_hu_sd = self.marrow_hu_sd;
        ct.bone_hu_sd = self.bone_hu_sd;
        ct
    }

    /// What the cohort in `dir` recorded in its `manifest.json` (the default when a key, or
    /// the file, is missing: cohorts written before these settings existed).
    pub fn read(dir: &Path, preset: Preset) -> Result<Self> {
        let path = dir.join("manifest.json");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CohortCt::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let m: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::file(&path, e.to_string()))?;
        let number = |key: &str| m[key].as_f64().unwrap_or(0.0) as f32;
        let psf: Option<[f64; 3]> = m["ct_psf_sd_mm"]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_f64()).collect::<Option<Vec<_>>>())
            .and_then(|v| v.try_into().ok());
        let preset_psf = scan_specs(preset).0.psf_sd_mm;
        Ok(CohortCt {
            psf_sd_mm: psf.filter(|p| *p != preset_psf).map(|p| p[0]),
            marrow_hu_sd: number("ct_marrow_hu_sd"),
            bone_hu_sd: number("ct_bone_hu_sd"),
        })
    }
}

/// Writes `n` subjects into `dir/sub-000 ...` and `dir/manifest.json`, their CT changed
/// from the preset's as `ct` says, each scanned as `acquisitions` says.
#[allow(clippy::too_many_arguments)]
pub fn write_cohort(
    dir: &Path,
    n: usize,
    seed: u64,
    preset: Preset,
    ct: CohortCt,
    acquisitions: &Acquisitions,
    progress: &Progress,
    mut on_subject: impl FnMut(&CohortEntry, bool),
) -> Result<Vec<CohortEntry>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut entries = Vec::new();
    for (i, grade) in cohort_grades(n, seed).into_iter().enumerate() {
        let sub_seed = srrd_base::rng::mix(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        let id = format!("sub-{i:03}");
        let config = Config {
            seed: sub_seed,
            grade,
            preset,
        };
        let acq = acquisitions.of_knee(seed, i);
        let ct_spec = if acq.is_default() {
            ct.spec(preset)
        } else {
            acq.ct_spec(&ct.spec(preset))
        };
        let reused = written_as(&dir.join(&id), &config, &acq, &ct_spec);
        let kl_grade = match reused {
            Some(kl) => kl,
            None => {
                let p = if acq.is_default() {
                    let mr_spec = scan_specs(preset).1;
                    generate_with(config, ct_spec, mr_spec, truth_sampling(preset), progress)?
                } else {
                    acquisition::generate_acquired(config, ct, &acq, progress)?
                };
                p.write(&dir.join(&id), progress)?;
                p.truth.kl_grade
            }
        };
        let entry = CohortEntry {
            id: id.clone(),
            seed: sub_seed,
            grade: grade.name().into(),
            kl_grade,
            dir: id,
            acquisition: (!acq.is_default()).then_some(acq),
        };
        on_subject(&entry, reused.is_some());
        entries.push(entry);
    }
    let manifest = serde_json::json!({
        "format": "srrd-phantom-cohort/1",
        "seed": seed,
        "preset": preset.name(),
        "ct_psf_sd_mm": ct.spec(preset).psf_sd_mm,
        "ct_marrow_hu_sd": ct.marrow_hu_sd,
        "ct_bone_hu_sd": ct.bone_hu_sd,
        "count": n,
        "subjects": entries,
    });
    let mut manifest = manifest;
    let described = match acquisitions {
        Acquisitions::Preset => None,
        Acquisitions::Fixed(a) => Some(a.name()),
        Acquisitions::Clinical(None) => Some("clinical".to_string()),
        Acquisitions::Clinical(Some(mr)) => Some(format!(
            "clinical CT, MR {}",
            format!("{mr:?}").to_lowercase()
        )),
    };
    if let (Some(d), Some(m)) = (described, manifest.as_object_mut()) {
        m.insert("acquisitions".into(), serde_json::Value::String(d));
    }
    let text =
        serde_json::to_string_pretty(&manifest).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(&dir.join("manifest.json"), |w| w.write_all(text.as_bytes()))?;
    Ok(entries)
}

/// The KL grade of a subject folder already written as `config` under `acq` with the CT
/// scanner `ct_spec` (so an interrupted or extended cohort is not drawn again): its
/// `truth.json`, written last, records the seed, preset, grade, acquisition and the CT's
/// blur, noise and HU variation. None when anything differs or is missing.
fn written_as(dir: &Path, config: &Config, acq: &Acquisition, ct_spec: &ScanSpec) -> Option<u8> {
    let text = std::fs::read_to_string(dir.join("truth.json")).ok()?;
    let truth: serde_json::Value = serde_json::from_str(&text).ok()?;
    let acquisition = if acq.is_default() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(acq).ok()?
    };
    let spec = serde_json::to_value(ct_spec).ok()?;
    let scanner = &truth["scanners"]["ct"];
    let same = truth["seed"].as_u64() == Some(config.seed)
        && truth["preset"].as_str() == Some(config.preset.name())
        && truth["grade"].as_str() == Some(config.grade.name())
        && truth.get("acquisition").cloned().unwrap_or_default() == acquisition
        && ["psf_sd_mm", "noise_sd", "marrow_hu_sd", "bone_hu_sd"]
            .iter()
            .all(|k| scanner[k] == spec[k]);
    let files_there = truth["files"]
        .as_object()
        .is_some_and(|f| f.keys().all(|name| dir.join(name).exists()));
    (same && files_there)
        .then(|| truth["kl_grade"].as_u64())
        .flatten()
        .and_then(|k| u8::try_from(k).ok())
}
