//! `srrd tre`: target registration error between paired landmarks (matched by label).

use std::path::Path;

use anyhow::{Result, bail};
use nalgebra::Point3;
use serde::Serialize;

use crate::io;
use crate::volume::PointTransform;

#[derive(Serialize)]
struct PairError {
    label: String,
    tre_mm: f64,
}

#[derive(Serialize)]
struct Report {
    pairs: Vec<PairError>,
    n: usize,
    mean_mm: f64,
    sd_mm: f64,
    median_mm: f64,
    max_mm: f64,
}

/// TRE of `transform` (fixed -> moving, ITK direction; identity when absent): for each
/// label in both files, the distance between the mapped fixed point and the moving point.
pub fn tre(fixed: &Path, moving: &Path, transform: Option<&Path>, json: bool) -> Result<()> {
    let a = io::read_landmarks(fixed)?;
    let b = io::read_landmarks(moving)?;
    let t = io::read_any_transform(transform)?;
    let pairs = io::pair_by_label(&a, &b);
    if pairs.is_empty() {
        bail!(
            "{} and {} share no landmark label ({} and {} landmarks)",
            fixed.display(),
            moving.display(),
            a.len(),
            b.len()
        );
    }
    let errors: Vec<PairError> = pairs
        .iter()
        .map(|(label, pf, pm)| {
            let mapped = t.transform_point(&Point3::from(*pf));
            PairError {
                label: label.to_string(),
                tre_mm: (mapped - Point3::from(*pm)).norm(),
            }
        })
        .collect();
    let n = errors.len();
    let mean = errors.iter().map(|e| e.tre_mm).sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (errors
            .iter()
            .map(|e| (e.tre_mm - mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64)
            .sqrt()
    } else {
        0.0
    };
    let mut sorted: Vec<f64> = errors.iter().map(|e| e.tre_mm).collect();
    sorted.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let report = Report {
        n,
        mean_mm: mean,
        sd_mm: sd,
        median_mm: median,
        max_mm: sorted[n - 1],
        pairs: errors,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for p in &report.pairs {
            println!("{:<32} {:>8.3} mm", p.label, p.tre_mm);
        }
        println!(
            "TRE over {} pairs: mean {:.3} mm, SD {:.3}, median {:.3}, max {:.3}",
            report.n, report.mean_mm, report.sd_mm, report.median_mm, report.max_mm
        );
        let unpaired = a.len() + b.len() - 2 * n;
        if unpaired > 0 {
            eprintln!("warning: {unpaired} landmarks have no partner with the same label");
        }
    }
    Ok(())
}
