//! `srrd register`: MR (moving) to CT (fixed).

use std::path::Path;

use anyhow::Context;

use super::phantom::with_progress;
use crate::io::nifti::{WriteDtype, write_displacement_field, write_labels, write_nifti};
use crate::io::{read_image, write_affine, write_rigid};
use crate::pipeline::registration::{coarse_from, refined, refined_on};
use crate::registration::Metric;
use crate::registration::landmark_fit::{LandmarkFit, fit_rigid};
use crate::synthesis::model::{demo_model_dir, load_model, synthesize};
use crate::volume::RigidTransform;
use nalgebra::Point3;

/// Arguments of `srrd register`.
pub struct RegisterArgs<'a> {
    pub fixed: &'a Path,
    pub moving: &'a Path,
    pub out: &'a Path,
    pub stage: &'a str,
    pub metric: &'a str,
    pub refined_metric: &'a str,
    pub affine: bool,
    pub json: bool,
    /// A synthesis model folder ("demo" for the bundled one).
    pub synthesis: Option<&'a Path>,
    /// Landmark files (fixed, moving) whose rigid fit starts the coarse step.
    pub init_landmarks: Option<&'a [std::path::PathBuf]>,
    /// A rigid transform file that starts the coarse step.
    pub init: Option<&'a Path>,
}

/// The start of the coarse step: a landmark fit (with its residuals) or a transform file.
fn initial(a: &RegisterArgs) -> anyhow::Result<(Option<RigidTransform>, Option<LandmarkFit>)> {
    if let Some([fixed, moving]) = a.init_landmarks {
        let f = crate::io::read_landmarks(fixed)?;
        let m = crate::io::read_landmarks(moving)?;
        let pairs: Vec<(String, Point3<f64>, Point3<f64>)> = crate::io::pair_by_label(&f, &m)
            .into_iter()
            .map(|(l, a, b)| (l.to_string(), Point3::from(a), Point3::from(b)))
            .collect();
        let fit = fit_rigid(&pairs).map_err(|e| {
            anyhow::anyhow!(
                "--init-landmarks {} {}: {e}",
                fixed.display(),
                moving.display()
            )
        })?;
        return Ok((Some(fit.transform.clone()), Some(fit)));
    }
    if let Some(path) = a.init {
        return Ok((Some(read_rigid_start(path)?), None));
    }
    Ok((None, None))
}

/// A registration start (`--init`): a rigid transform file, fixed -> moving.
pub fn read_rigid_start(path: &Path) -> anyhow::Result<crate::volume::RigidTransform> {
    let t = crate::io::read_transform(path)?;
    match t.as_rigid() {
        Some(r) => Ok(r),
        None => anyhow::bail!(
            "{}: --init takes a rigid transform (Euler3D, VersorRigid3D or Translation)",
            path.display()
        ),
    }
}

/// Runs the registration and writes its outputs.
pub fn register(a: RegisterArgs) -> anyhow::Result<()> {
    let refine = match a.stage {
        "coarse" => false,
        "refined" | "all" => true,
        o => anyhow::bail!("--stage {o}: use coarse, refined or all"),
    };
    let metric = Metric::parse(a.metric)?;
    let refined_metric = Metric::parse(a.refined_metric)?;
    let fixed =
        read_image(a.fixed, None).with_context(|| format!("reading {}", a.fixed.display()))?;
    let moving =
        read_image(a.moving, None).with_context(|| format!("reading {}", a.moving.display()))?;
    std::fs::create_dir_all(a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let ct = fixed.volume;
    // An MR with its air below 0 (standardized) is shifted so its air is 0, as a raw MR's.
    let mr =
        crate::pipeline::registration::with_air_at_zero(&moving.volume).unwrap_or(moving.volume);
    let (start, fit) = initial(&a)?;
    if let Some(fit) = &fit {
        if !a.json {
            println!(
                "landmark start: {} pairs, rotation {:.1} degrees, RMS residual {:.2} mm",
                fit.pairs.len(),
                fit.angle_deg,
                fit.rms_mm
            );
            for p in &fit.pairs {
                println!("  {:<32} {:>7.2} mm", p.label, p.residual_mm);
            }
        }
        write_rigid(&a.out.join("init.tfm"), &fit.transform)?;
    }
    let c = with_progress(|p| coarse_from(&ct, &mr, metric, a.affine, start.as_ref(), p))
        .map_err(|e| anyhow::anyhow!("{}", e.in_file(a.fixed)))?;
    let result = &c.result;
    let t = &result.transform;
    match &result.affine {
        Some(aff) => write_affine(&a.out.join("coarse.tfm"), aff)?,
        None => write_rigid(&a.out.join("coarse.tfm"), t)?,
    }
    write_nifti(&a.out.join("crMR.nii.gz"), &c.cr_mr, WriteDtype::F32)?;
    let body_u8: Vec<u8> = c.body.iter().map(|b| *b as u8).collect();
    write_labels(&a.out.join("ct_body.nii.gz"), &ct.geometry, &body_u8)?;
    if !a.json {
        print_coarse(&a, result);
    }
    let mut refined_report = serde_json::Value::Null;
    if refine {
        let synthesis_dir = a.synthesis.map(|d| {
            if d == Path::new("demo") {
                demo_model_dir()
            } else {
                d.to_path_buf()
            }
        });
        let (r, sct) = with_progress(|p| match &synthesis_dir {
            Some(dir) => {
                let model = load_model(dir)?;
                let sct = synthesize(&model, &c.cr_mr, p)?;
                let r = refined_on(&ct, &mr, &c, &sct, refined_metric, p)?;
                Ok((r, Some(sct)))
            }
            None => Ok((refined(&ct, &mr, &c, refined_metric, p)?, None)),
        })
        .context("refined registration")?;
        if let Some(sct) = &sct {
            write_nifti(&a.out.join("sCT.nii.gz"), sct, WriteDtype::I16)?;
            if !a.json {
                println!(
                    "sCT synthesized from crMR: sCT.nii.gz ({})",
                    crate::synthesis::model::PROVENANCE
                );
            }
        }
        if r.result.min_jacobian <= 0.0 {
            eprintln!(
                "warning: the refined field folds (minimum Jacobian determinant {:.3}): the per-bone \
                 registrations disagree; check the metric (--refined-metric mi for crMR)",
                r.result.min_jacobian
            );
        }
        write_labels(&a.out.join("ct_bones.nii.gz"), &ct.geometry, &r.bones)?;
        write_labels(
            &a.out.join("ct_subchondral.nii.gz"),
            &ct.geometry,
            &r.regions,
        )?;
        write_affine(&a.out.join("femur.tfm"), &r.result.femur)?;
        write_affine(&a.out.join("tibia.tfm"), &r.result.tibia)?;
        write_displacement_field(&a.out.join("refined_field.nii.gz"), &r.result.field)?;
        write_nifti(&a.out.join("rrMR.nii.gz"), &r.rr_mr, WriteDtype::F32)?;
        if !a.json {
            println!(
                "refined per bone in {:.2} s: femur and tibia registered, blended field min Jacobian {:.3}",
                r.result.seconds, r.result.min_jacobian
            );
            println!(
                "wrote femur.tfm, tibia.tfm, refined_field.nii.gz, rrMR.nii.gz, ct_bones.nii.gz, ct_subchondral.nii.gz"
            );
        }
        refined_report = serde_json::json!({
            "femur": a.out.join("femur.tfm"),
            "tibia": a.out.join("tibia.tfm"),
            "field": a.out.join("refined_field.nii.gz"),
            "rrMR": a.out.join("rrMR.nii.gz"),
            "sCT": sct.as_ref().map(|_| a.out.join("sCT.nii.gz")),
            "min_jacobian": r.result.min_jacobian,
            "seconds": r.result.seconds,
            "levels": r.result.reports.iter().map(|(n, l)| serde_json::json!({"bone": n, "levels": l})).collect::<Vec<_>>(),
        });
    }
    let report = serde_json::json!({
        "init_landmarks": fit,
        "init": a.init,
        "stage": "coarse",
        "metric": a.metric,
        "refined_metric": a.refined_metric,
        "transform": {
            "file": a.out.join("coarse.tfm"),
            "euler_zxy_rad": t.euler_zxy(),
            "translation_mm": [t.translation_mm.x, t.translation_mm.y, t.translation_mm.z],
            "center_mm": [t.center_mm.x, t.center_mm.y, t.center_mm.z],
        },
        "crMR": a.out.join("crMR.nii.gz"),
        "levels": result.levels,
        "seconds": result.seconds,
        "refined": refined_report,
    });
    if a.json {
        println!("{report}");
    }
    Ok(())
}

fn print_coarse(a: &RegisterArgs, result: &crate::registration::RigidResult) {
    let t = &result.transform;
    {
        let e = t.euler_zxy();
        println!(
            "coarse {} ({}) in {:.2} s: rigid angles ({:.2}, {:.2}, {:.2}) deg, translation ({:.2}, {:.2}, {:.2}) mm",
            if result.affine.is_some() {
                "rigid + affine"
            } else {
                "rigid"
            },
            a.metric,
            result.seconds,
            e[0].to_degrees(),
            e[1].to_degrees(),
            e[2].to_degrees(),
            t.translation_mm.x,
            t.translation_mm.y,
            t.translation_mm.z
        );
        for l in &result.levels {
            println!(
                "  level {:>4} mm: {} samples, {} iterations, cost {:.5}, converged {}",
                l.spacing_mm, l.samples, l.iterations, l.final_cost, l.converged
            );
        }
        println!(
            "wrote coarse.tfm, crMR.nii.gz, ct_body.nii.gz to {}",
            a.out.display()
        );
    }
}
