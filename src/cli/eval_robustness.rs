//! `srrd eval-robustness --cohort DIR --out DIR`: each knee of a phantom cohort (held out
//! from the models' training) scanned under every acquisition of the robustness matrix,
//! analysed CT-only and compared with its reference acquisition. Writes
//! `robustness.md` (the table and a summary) and `robustness.json`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;
use crate::phantom::{Config, Grade, Preset};
use crate::pipeline::analyze::Models;
use crate::pipeline::experiments::robustness::{CaseResult, evaluate, markdown, matrix};

/// Arguments of `srrd eval-robustness`.
#[derive(Debug, clap::Args)]
pub struct EvalRobustnessArgs {
    /// Cohort folder (from `srrd cohort`): its knees' seeds and grades are scanned
    /// again (use knees the models were not trained on).
    #[arg(long)]
    cohort: PathBuf,
    /// Output folder (robustness.md, robustness.json).
    #[arg(long)]
    out: PathBuf,
    /// Models folder (default: the demo weights).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Only the first N knees.
    #[arg(long)]
    limit: Option<usize>,
    /// The grid's corners only (pixels 0.5/1.0 x slices 0.5/3) and the others.
    #[arg(long)]
    quick: bool,
}

impl EvalRobustnessArgs {
    /// Runs `srrd eval-robustness`.
    pub fn run(self) -> anyhow::Result<()> {
        eval_robustness(
            &self.cohort,
            &self.out,
            self.models.as_deref(),
            self.limit,
            self.quick,
        )
    }
}

/// Scans the cohort's knees under every acquisition and compares them.
pub fn eval_robustness(
    cohort: &Path,
    out: &Path,
    models: Option<&Path>,
    limit: Option<usize>,
    quick: bool,
) -> anyhow::Result<()> {
    let path = cohort.join("manifest.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let m: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| crate::Error::file(&path, format!("not JSON: {e}")))?;
    let preset =
        Preset::parse(m["preset"].as_str().unwrap_or("small")).map_err(|e| e.in_file(&path))?;
    let list = m["subjects"]
        .as_array()
        .ok_or_else(|| crate::Error::file(&path, "no 'subjects' list"))?;
    let mut subjects = Vec::new();
    for (n, s) in list.iter().enumerate().take(limit.unwrap_or(usize::MAX)) {
        let (Some(seed), Some(grade)) = (s["seed"].as_u64(), s["grade"].as_str()) else {
            anyhow::bail!("{}: subject {n} has no seed or grade", path.display());
        };
        let id = s["id"].as_str().unwrap_or("?").to_string();
        let grade = Grade::parse(grade).map_err(|e| e.in_file(&path))?;
        subjects.push((
            id,
            Config {
                seed,
                grade,
                preset,
            },
        ));
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let dir = models.map(Path::to_path_buf).unwrap_or_else(|| {
        crate::regression::model::demo_model_dir()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    });
    let acquisitions = matrix(quick);
    let t0 = std::time::Instant::now();
    let cases: Vec<CaseResult> = with_progress(|p| {
        let models = Models::load(&dir)?;
        evaluate(&subjects, &acquisitions, &models, p, |c| {
            eprintln!(
                "  {} {} ({}): {}{} r(z) {} |dP| {} {:.1} s",
                c.subject,
                c.acquisition,
                c.knee,
                c.outcome,
                c.reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r})")),
                c.r_z.map_or("-".into(), |v| format!("{v:.3}")),
                match (c.p_koa, c.p_koa_reference) {
                    (Some(a), Some(b)) => format!("{:.3}", (a - b).abs()),
                    _ => "-".into(),
                },
                c.seconds
            );
        })
    })?;
    let summary = summarize(&cases);
    let md = format!(
        "# Robustness across acquisitions\n\n`srrd eval-robustness --cohort {} --out {}{}`, {} knees, {:.0} s in all.\n\n{summary}\n\n{}",
        cohort.display(),
        out.display(),
        if quick { " --quick" } else { "" },
        subjects.len(),
        t0.elapsed().as_secs_f64(),
        markdown(&cases)
    );
    crate::io::atomic_write(&out.join("robustness.md"), |w| w.write_all(md.as_bytes()))?;
    let json = serde_json::to_string_pretty(&cases)?;
    crate::io::atomic_write(&out.join("robustness.json"), |w| {
        w.write_all(json.as_bytes())
    })?;
    println!("{summary}");
    println!("table in {}", out.join("robustness.md").display());
    Ok(())
}

/// The done-when figures: analysed cases, worst agreement, largest P(KOA) change,
/// refusals.
fn summarize(cases: &[CaseResult]) -> String {
    // The done-when figures are over the scored cases; a withheld score is not shown to
    // anyone, so its disagreement is reported apart.
    let analysed: Vec<&CaseResult> = cases
        .iter()
        .filter(|c| c.acquisition != "reference" && c.outcome == "analysed")
        .collect();
    let worst_withheld = cases
        .iter()
        .filter(|c| c.outcome == "score withheld")
        .filter_map(|c| c.r_z)
        .fold(f64::INFINITY, f64::min);
    let refused: Vec<&CaseResult> = cases.iter().filter(|c| c.outcome == "refused").collect();
    let withheld = cases
        .iter()
        .filter(|c| c.outcome == "score withheld")
        .count();
    let min = |f: &dyn Fn(&CaseResult) -> Option<f64>| {
        analysed
            .iter()
            .filter_map(|c| f(c))
            .fold(f64::INFINITY, f64::min)
    };
    let max_dp = analysed
        .iter()
        .filter_map(|c| Some((c.p_koa? - c.p_koa_reference?).abs()))
        .fold(0.0, f64::max);
    let max_rel = analysed
        .iter()
        .filter_map(|c| c.mean_rel_diff)
        .fold(0.0, f64::max);
    format!(
        "{} cases scored, {} with the score withheld (their smallest r (48 z): {}), {} \
         refused. Over the scored: smallest r (48 raw) {:.3}, smallest r (48 z) {:.3}, \
         smallest ICC(A,1) (z) {:.3}, largest mean relative difference {:.1}%, largest \
         |P(KOA) - reference| {:.3}.",
        analysed.len(),
        withheld,
        if worst_withheld.is_finite() {
            format!("{worst_withheld:.3}")
        } else {
            "-".into()
        },
        refused.len(),
        min(&|c| c.r_raw),
        min(&|c| c.r_z),
        min(&|c| c.icc_z),
        max_rel * 100.0,
        max_dp
    )
}
