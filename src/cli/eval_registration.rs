//! `srrd eval-registration`: the paper's Table 2 on a phantom cohort: TRE of the
//! landmarks before registration, after the coarse rigid step, and after the refined
//! per-bone step, with timings.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nalgebra::Point3;
use serde::Serialize;

use super::common::with_progress;
use crate::io::{read_image, read_landmarks};
use crate::pipeline::registration as pipeline;
use crate::registration::Metric;
use crate::volume::{AffineTransform, PointTransform, Transform};

/// Arguments of `srrd eval-registration`.
#[derive(Debug, clap::Args)]
pub struct EvalRegistrationArgs {
    /// A phantom cohort folder (`srrd cohort`): the true landmarks are its truth. A
    /// clinic's study list (`--manifest`) is refused here for now: it has no landmarks.
    #[arg(long = "cohort", visible_alias = "manifest", value_name = "COHORT")]
    cohort: PathBuf,
    /// Also write the table (Markdown) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only the first N subjects.
    #[arg(long)]
    limit: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl EvalRegistrationArgs {
    /// Runs `srrd eval-registration`.
    pub fn run(self) -> anyhow::Result<()> {
        eval_registration(&self.cohort, self.out.as_deref(), self.limit, self.json)
    }
}

#[derive(Serialize)]
struct Row {
    method: String,
    pairs: usize,
    mean_mm: f64,
    sd_mm: f64,
    median_mm: f64,
    max_mm: f64,
    mean_seconds: f64,
}

fn row(method: &str, errors: &[f64], seconds: &[f64]) -> Row {
    let n = errors.len().max(1) as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let sd = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let mut s = errors.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.is_empty() { 0.0 } else { s[s.len() / 2] };
    Row {
        method: method.into(),
        pairs: errors.len(),
        mean_mm: mean,
        sd_mm: sd,
        median_mm: median,
        max_mm: s.last().copied().unwrap_or(0.0),
        mean_seconds: seconds.iter().sum::<f64>() / seconds.len().max(1) as f64,
    }
}

/// Runs coarse and refined registration on every subject of a cohort.
pub fn eval_registration(
    cohort: &Path,
    out: Option<&Path>,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let manifest_path = cohort.join("manifest.json");
    super::common::require_phantom_truth(cohort, "registration error (TRE)")?;
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", manifest_path.display()))?;
    let subjects = manifest["subjects"]
        .as_array()
        .context("manifest.json has no subjects")?;
    let mut err = [Vec::new(), Vec::new(), Vec::new()];
    let mut secs = [Vec::new(), Vec::new(), Vec::new()];
    for s in subjects.iter().take(limit.unwrap_or(usize::MAX)) {
        let dir = cohort.join(s["dir"].as_str().context("subject without dir")?);
        let ct = read_image(&dir.join("ct.nii.gz"), None)?.volume;
        let mr = read_image(&dir.join("mr.nii.gz"), None)?.volume;
        let lc = read_landmarks(&dir.join("landmarks_ct.json"))?;
        let lm = read_landmarks(&dir.join("landmarks_mr.json"))?;
        let t0 = Instant::now();
        let (coarse, refined) = with_progress(|p| {
            let metric = Metric::MattesMi { bins: 32 };
            let c = pipeline::coarse(&ct, &mr, metric, false, p)?;
            let t1 = t0.elapsed().as_secs_f64();
            let r = pipeline::refined(&ct, &mr, &c, metric, p)?;
            Ok((
                (c.result.final_transform(), t1),
                (Transform::Field(r.result.field), t0.elapsed().as_secs_f64()),
            ))
        })
        .with_context(|| format!("registering {}", dir.display()))?;
        let identity = AffineTransform::identity();
        let transforms: [&dyn PointTransform; 3] = [&identity, &coarse.0, &refined.0];
        for (m, t) in transforms.iter().enumerate() {
            for (c, mm) in lc.iter().zip(&lm) {
                let p = t.transform_point(&Point3::from(c.position_mm));
                err[m].push((p - Point3::from(mm.position_mm)).norm());
            }
        }
        secs[0].push(0.0);
        secs[1].push(coarse.1);
        secs[2].push(refined.1);
        eprintln!(
            "  {}: rigid {:.2} s, + refined {:.2} s",
            dir.display(),
            coarse.1,
            refined.1
        );
    }
    let rows = [
        row("none (scanner poses)", &err[0], &secs[0]),
        row("rigid (coarse, MI)", &err[1], &secs[1]),
        row("rigid + refined (per bone, on crMR)", &err[2], &secs[2]),
    ];
    let mut md = String::from(
        "| method | pairs | TRE mean +- SD (mm) | median | max | time per knee (s) |\n|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {:.2} +- {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.method, r.pairs, r.mean_mm, r.sd_mm, r.median_mm, r.max_mm, r.mean_seconds
        ));
    }
    if let Some(o) = out {
        crate::io::atomic_write(o, |w| w.write_all(md.as_bytes()))?;
    }
    if json {
        println!("{}", serde_json::json!({ "cohort": cohort, "rows": rows }));
    } else {
        print!("{md}");
    }
    Ok(())
}
