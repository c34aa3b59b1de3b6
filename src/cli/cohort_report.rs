//! `srrd cohort-report`: the cohort table and its HTML page.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::pipeline::experiments::cohort_table::{
    KneeRow, check_names, failures_csv, read_rows, roc_inputs, to_csv,
};
use crate::pipeline::study_list::{Label, read_study_list, unlabelled_warning};
use crate::regression::dataset::{TARGET_NAMES, TARGETS};
use crate::stats::{RocCurve, delong, with_unit};

/// Arguments of `srrd cohort-report`.
#[derive(Debug, clap::Args)]
pub struct CohortReportArgs {
    /// The study's manifest CSV or folder of subjects.
    #[arg(long)]
    manifest: PathBuf,
    /// Where the knees' folders are (OUT of `srrd analyze --manifest`).
    #[arg(long)]
    results: PathBuf,
    /// Output folder (cohort.csv, cohort.html).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

impl CohortReportArgs {
    /// Runs `srrd cohort-report`.
    pub fn run(self) -> anyhow::Result<()> {
        cohort_report(&self.manifest, &self.results, &self.out, self.json)
    }
}

/// Writes the cohort table and report.
pub fn cohort_report(
    manifest: &Path,
    results: &Path,
    out: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let study = read_study_list(manifest)?;
    if let Some(w) = unlabelled_warning(&study) {
        eprintln!("warning: {}: {w}", manifest.display());
    }
    let rows = read_rows(&study, results);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let csv = to_csv(&rows);
    crate::io::atomic_write(&out.join("cohort.csv"), |w| w.write_all(csv.as_bytes()))?;
    let failures = failures_csv(&rows);
    crate::io::atomic_write(&out.join("failures.csv"), |w| {
        w.write_all(failures.as_bytes())
    })?;
    let html = html(&rows, manifest);
    crate::io::atomic_write(&out.join("cohort.html"), |w| w.write_all(html.as_bytes()))?;
    let done = rows.iter().filter(|r| r.status == "done").count();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{} knees: {} done, {} failed, {} without a report; cohort.csv, failures.csv and cohort.html in {}",
            rows.len(),
            done,
            rows.iter().filter(|r| r.status == "failed").count(),
            rows.iter().filter(|r| r.status == "missing").count(),
            out.display()
        );
    }
    Ok(())
}

/// A knee's group for the box plots: normal, mild, advanced, KOA (no grade) or none.
fn group_name(label: Option<Label>) -> String {
    match label {
        Some(l) => l
            .group()
            .map(|g| g.name().to_string())
            .unwrap_or("KOA".into()),
        None => "(no label)".into(),
    }
}

/// The groups in the paper's order.
fn group_order(g: &str) -> usize {
    ["normal", "mild", "advanced", "KOA"]
        .iter()
        .position(|x| *x == g)
        .unwrap_or(4)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A box plot of `groups` (every knee a dot), or a line saying why there is none.
fn box_svg(title: &str, groups: &[(String, Vec<f64>)], limits: Option<(f64, f64)>) -> String {
    if groups.iter().all(|(_, v)| v.is_empty()) {
        return String::new();
    }
    crate::stats::plot::box_plot_svg(title, groups, limits)
        .unwrap_or_else(|e| format!("<p>{}: no figure ({})</p>", escape(title), escape(&e)))
}

/// The ROC curve of the knees' P(KOA) as SVG, its legend with the AUC and DeLong 95% CI.
fn roc_svg(scores: &[f64], koa: &[bool]) -> String {
    let curve = RocCurve {
        name: "P(KOA)".into(),
        scores: scores.to_vec(),
        positive: koa.to_vec(),
        color: [30, 90, 200],
    };
    let title = format!("KOA vs normal, n = {}", scores.len());
    crate::stats::plot::roc_svg(&title, &[curve])
        .unwrap_or_else(|e| format!("<p>no ROC figure ({})</p>", escape(&e)))
}

fn html(rows: &[KneeRow], manifest: &Path) -> String {
    let done: Vec<&KneeRow> = rows.iter().filter(|r| r.status == "done").collect();
    let mut h = String::from(
        "<!doctype html><meta charset=utf-8><title>SRRD cohort report</title>\
<style>body{font-family:sans-serif;background:#1b1d21;color:#ddd;max-width:1200px;margin:auto}\
table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #444;text-align:left}\
.note{color:#e8b04a}.pass{color:#6ad48a}.warn{color:#e8b04a}.fail{color:#ff6b6b}svg{margin:4px}</style>",
    );
    h += &format!(
        "<h1>SRRD cohort report</h1><p>manifest: {}</p><p>{} knees: {} done, {} failed, {} without a report.</p>\
<p class=note>Scores and parameters come from models trained on synthetic phantoms (see each report's provenance): for research use, not clinically valid.</p>",
        escape(&manifest.display().to_string()),
        rows.len(),
        done.len(),
        rows.iter().filter(|r| r.status == "failed").count(),
        rows.iter().filter(|r| r.status == "missing").count()
    );
    // Failures.
    let failures: Vec<&KneeRow> = rows.iter().filter(|r| r.status != "done").collect();
    h += "<h2>Failures</h2>";
    if failures.is_empty() {
        h += "<p>None.</p>";
    } else {
        h += "<table><tr><th>subject</th><th>status</th><th>error</th><th>log</th></tr>";
        for r in failures {
            h += &format!(
                "<tr><td>{}</td><td class=fail>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.subject),
                r.status,
                escape(r.error.as_deref().unwrap_or("")),
                escape(r.log.as_deref().unwrap_or("-"))
            );
        }
        h += "</table>";
    }
    // Quality checks.
    h += "<h2>Quality checks</h2><table><tr><th>check</th><th class=pass>pass</th><th class=warn>warn</th><th class=fail>fail</th></tr>";
    for name in check_names(rows) {
        let count = |s: &str| {
            done.iter()
                .filter(|r| r.checks.iter().any(|(n, v)| *n == name && v == s))
                .count()
        };
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&name),
            count("pass"),
            count("warn"),
            count("fail")
        );
    }
    let withheld = done.iter().filter(|r| r.koa_withheld.is_some()).count();
    h += &format!("</table><p>KOA score withheld by a failed check: {withheld} knees.</p>");
    // ROC.
    let (scores, truth) = roc_inputs(rows);
    h += "<h2>KOA vs normal</h2>";
    match delong(&scores, &truth) {
        Some(d) => {
            let caption = format!(
                "AUC {:.3} [{:.3}, {:.3}] (DeLong), n = {}",
                d.auc,
                d.ci95.0,
                d.ci95.1,
                scores.len()
            );
            h += &roc_svg(&scores, &truth);
            h += &format!(
                "<p>{caption}; positive: KOA (KL 2-4, mild, advanced, KOA); negative: KL 0-1 and normal; knees without a label are left out.</p>"
            );
        }
        None => {
            h += "<p>No ROC: it needs labels in the manifest with at least two normal and two KOA knees scored.</p>"
        }
    }
    // Distributions by group (normal KL 0-1, mild KL 2, advanced KL 3-4).
    let group_of = |r: &KneeRow| group_name(r.label);
    let mut groups: Vec<String> = done.iter().map(|r| group_of(r)).collect();
    groups.sort_by_key(|g| group_order(g));
    groups.dedup();
    h += "<h2>Parameters by group</h2><p>Groups: normal (KL 0-1), mild (KL 2), advanced (KL 3-4). Each knee's value is the mean of its 12 subregion means; dots are knees.</p><div>";
    let by_group = |f: &dyn Fn(&KneeRow) -> Option<f64>| -> Vec<(String, Vec<f64>)> {
        groups
            .iter()
            .map(|g| {
                let v = done
                    .iter()
                    .filter(|r| group_of(r) == *g)
                    .filter_map(|r| f(r))
                    .collect();
                (g.clone(), v)
            })
            .collect()
    };
    h += &box_svg("P(KOA)", &by_group(&|r| r.p_koa), Some((0.0, 1.0)));
    for (a, ((_, unit), name)) in TARGETS.iter().zip(TARGET_NAMES).enumerate() {
        h += &box_svg(&with_unit(name, unit), &by_group(&|r| r.knee_mean(a)), None);
    }
    h += "</div><h2>Knees</h2><table><tr><th>subject</th><th>label</th><th>side</th><th>P(KOA)</th><th>worst check</th><th>time (s)</th></tr>";
    for r in &done {
        let worst = r.worst_check().unwrap_or("-");
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class={worst}>{worst}</td><td>{}</td></tr>",
            escape(&r.subject),
            escape(&r.label.map(|l| l.to_string()).unwrap_or_default()),
            r.side.as_deref().unwrap_or(""),
            r.p_koa
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "withheld".into()),
            r.total_s.map(|t| format!("{t:.1}")).unwrap_or_default()
        );
    }
    h + "</table>"
}
