//! `srrd roc`: ROC AUC with DeLong's variance and 95% CI for each score column of a CSV,
//! and DeLong's paired test of every score against the first (the same statistics the
//! diagnosis evaluation reports, for any classifier's output).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::stats::roc::{delong, delong_paired};

/// Arguments of `srrd roc`.
#[derive(Debug, clap::Args)]
pub struct RocArgs {
    /// CSV with a header: label (1/0), then one column per classifier's score.
    csv: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl RocArgs {
    /// Runs `srrd roc`.
    pub fn run(self) -> Result<()> {
        roc(&self.csv, self.json)
    }
}

#[derive(Serialize)]
struct ScoreAuc {
    name: String,
    auc: f64,
    se: f64,
    ci95: [f64; 2],
}

#[derive(Serialize)]
struct Paired {
    a: String,
    b: String,
    z: f64,
    p_value: f64,
}

#[derive(Serialize)]
struct RocReport {
    n_positive: usize,
    n_negative: usize,
    scores: Vec<ScoreAuc>,
    paired: Vec<Paired>,
}

/// Score names, labels, and one column of scores per name.
type ScoreTable = (Vec<String>, Vec<bool>, Vec<Vec<f64>>);

/// Reads `label,score1[,score2...]` (header row; label 1/0 or true/false).
fn read_csv(path: &Path) -> Result<ScoreTable> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .with_context(|| format!("{}: empty file", path.display()))?
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    if header.len() < 2 || !header[0].eq_ignore_ascii_case("label") {
        bail!(
            "{}: the header must be `label,<score name>[,<score name>...]`",
            path.display()
        );
    }
    let names = header[1..].to_vec();
    let mut labels = Vec::new();
    let mut columns = vec![Vec::new(); names.len()];
    for (row, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != header.len() {
            bail!(
                "{}: row {} has {} cells, the header {}",
                path.display(),
                row + 2,
                cells.len(),
                header.len()
            );
        }
        labels.push(match cells[0] {
            "1" | "true" | "True" => true,
            "0" | "false" | "False" => false,
            other => bail!(
                "{}: row {}: label {other:?} (expected 1/0 or true/false)",
                path.display(),
                row + 2
            ),
        });
        for (c, cell) in cells[1..].iter().enumerate() {
            let v: f64 = cell
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .with_context(|| {
                    format!(
                        "{}: row {}: score {cell:?} is not a finite number",
                        path.display(),
                        row + 2
                    )
                })?;
            columns[c].push(v);
        }
    }
    Ok((names, labels, columns))
}

/// Prints the AUC table (or JSON) of a CSV of labels and scores.
pub fn roc(path: &Path, json: bool) -> Result<()> {
    let (names, labels, columns) = read_csv(path)?;
    let n_positive = labels.iter().filter(|l| **l).count();
    let n_negative = labels.len() - n_positive;
    if n_positive < 2 || n_negative < 2 {
        bail!(
            "{}: DeLong's variance needs at least 2 positive and 2 negative cases ({n_positive} and {n_negative})",
            path.display()
        );
    }
    let mut scores = Vec::new();
    for (name, col) in names.iter().zip(&columns) {
        let d = delong(col, &labels).context("AUC")?;
        scores.push(ScoreAuc {
            name: name.clone(),
            auc: d.auc,
            se: d.variance.max(0.0).sqrt(),
            ci95: [d.ci95.0, d.ci95.1],
        });
    }
    let mut paired = Vec::new();
    for (name, col) in names.iter().zip(&columns).skip(1) {
        let t = delong_paired(&columns[0], col, &labels).context("paired test")?;
        paired.push(Paired {
            a: names[0].clone(),
            b: name.clone(),
            z: t.z,
            p_value: t.p_value,
        });
    }
    let report = RocReport {
        n_positive,
        n_negative,
        scores,
        paired,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{n_positive} positive, {n_negative} negative cases");
        for s in &report.scores {
            println!(
                "{:<24} AUC {:.4}  SE {:.4}  95% CI {:.4}-{:.4} (DeLong)",
                s.name, s.auc, s.se, s.ci95[0], s.ci95[1]
            );
        }
        for p in &report.paired {
            println!(
                "{} vs {}: z {:.3}, p {:.4} (DeLong, paired)",
                p.a, p.b, p.z, p.p_value
            );
        }
    }
    Ok(())
}
