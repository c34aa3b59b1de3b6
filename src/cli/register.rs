//! `srrd register`: MR (moving) to CT (fixed).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::io::nifti::{WriteDtype, write_displacement_field, write_labels, write_nifti};
use crate::io::{read_image, write_affine, write_rigid};
use crate::pipeline::registration::{coarse_from, refined, refined_on};
use crate::registration::Metric;
use crate::registration::landmark_fit::{LandmarkFit, fit_rigid};
use crate::synthesis::model::{demo_model_dir, load_model, synthesize};
use crate::volume::RigidTransform;
use nalgebra::Point3;

/// Arguments of `srrd register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// The CT (fixed image).
    #[arg(long)]
    fixed: PathBuf,
    /// The MR (moving image).
    #[arg(long)]
    moving: PathBuf,
    /// Output folder: coarse.tfm (CT -> MR, ITK), crMR.nii.gz (MR on the CT grid).
    #[arg(long)]
    out: PathBuf,
    /// coarse (rigid); refined and all come with bone segmentation.
    #[arg(long, value_enum, default_value = "coarse")]
    stage: StageArg,
    /// Coarse metric: mi (Mattes mutual information), ncc or ms.
    #[arg(long, value_enum, default_value = "mi")]
    metric: MetricArg,
    /// Refined (per-bone) metric: mi on crMR; ncc once the moving image is an sCT.
    #[arg(long, value_enum, default_value = "mi")]
    refined_metric: MetricArg,
    /// Synthesize an sCT from crMR with this model folder ("demo": assets/synthesis)
    /// and run the refined step on it (sCT.nii.gz is written; --refined-metric mi does
    /// best with the demo sCT).
    #[arg(long)]
    synthesis: Option<PathBuf>,
    /// Coarse model: rigid (6 parameters), or affine (rigid, then 12 parameters).
    #[arg(long, value_enum, default_value = "rigid")]
    model: ModelArg,
    /// Start the coarse registration from the rigid fit of paired landmarks (same
    /// labels in both files, 3 or more, not on one line): FIXED MOVING.
    #[arg(long, num_args = 2, value_names = ["FIXED", "MOVING"], conflicts_with = "init")]
    init_landmarks: Option<Vec<PathBuf>>,
    /// Start the coarse registration from this rigid transform (ITK .tfm, fixed ->
    /// moving), e.g. a corrected one.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// `--stage`: how far the registration goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StageArg {
    Coarse,
    Refined,
    All,
}

/// `--metric` and `--refined-metric` (mattes and meansquares: hidden old spellings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricArg {
    Mi,
    Ncc,
    Ms,
    #[value(hide = true)]
    Mattes,
    #[value(hide = true)]
    Meansquares,
}

impl MetricArg {
    /// The spelling given on the command line (as the report names it).
    pub fn name(self) -> &'static str {
        match self {
            MetricArg::Mi => "mi",
            MetricArg::Ncc => "ncc",
            MetricArg::Ms => "ms",
            MetricArg::Mattes => "mattes",
            MetricArg::Meansquares => "meansquares",
        }
    }

    /// The registration metric.
    pub fn metric(self) -> Metric {
        match self {
            MetricArg::Mi | MetricArg::Mattes => Metric::MattesMi { bins: 32 },
            MetricArg::Ncc => Metric::Ncc,
            MetricArg::Ms | MetricArg::Meansquares => Metric::MeanSquares,
        }
    }
}

/// `--model`: the coarse transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    Rigid,
    Affine,
}

impl RegisterArgs {
    /// Runs `srrd register`.
    pub fn run(self) -> anyhow::Result<()> {
        register(RegisterRequest {
            init_landmarks: self.init_landmarks.as_deref(),
            init: self.init.as_deref(),
            synthesis: self.synthesis.as_deref(),
            fixed: &self.fixed,
            moving: &self.moving,
            out: &self.out,
            stage: self.stage,
            metric: self.metric,
            refined_metric: self.refined_metric,
            affine: self.model == ModelArg::Affine,
            json: self.json,
        })
    }
}

/// What `srrd register` runs, borrowed from its arguments.
struct RegisterRequest<'a> {
    fixed: &'a Path,
    moving: &'a Path,
    out: &'a Path,
    stage: StageArg,
    metric: MetricArg,
    refined_metric: MetricArg,
    affine: bool,
    json: bool,
    /// A synthesis model folder ("demo" for the bundled one).
    synthesis: Option<&'a Path>,
    /// Landmark files (fixed, moving) whose rigid fit starts the coarse step.
    init_landmarks: Option<&'a [std::path::PathBuf]>,
    /// A rigid transform file that starts the coarse step.
    init: Option<&'a Path>,
}

/// The start of the coarse step: a landmark fit (with its residuals) or a transform file.
fn initial(a: &RegisterRequest) -> anyhow::Result<(Option<RigidTransform>, Option<LandmarkFit>)> {
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
fn register(a: RegisterRequest) -> anyhow::Result<()> {
    let refine = match a.stage {
        StageArg::Coarse => false,
        StageArg::Refined | StageArg::All => true,
    };
    let metric = a.metric.metric();
    let refined_metric = a.refined_metric.metric();
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
    write_labels(&a.out.join("ct_body.nii.gz"), &c.body.to_labels())?;
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
                let r = refined_on(&ct, &mr, &c, &sct, None, refined_metric, p)?;
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
        write_labels(&a.out.join("ct_bones.nii.gz"), &r.bones)?;
        let regions = crate::segmentation::subchondral::subchondral_regions(
            &r.bones,
            crate::segmentation::subchondral::DEPTH_MM,
            crate::segmentation::subchondral::CORTEX_MM,
        );
        write_labels(&a.out.join("ct_subchondral.nii.gz"), &regions)?;
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
        "metric": a.metric.name(),
        "refined_metric": a.refined_metric.name(),
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

fn print_coarse(a: &RegisterRequest, result: &crate::registration::RigidResult) {
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
            a.metric.name(),
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
