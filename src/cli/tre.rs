//! `srrd tre`: target registration error between paired landmarks (matched by label), and
//! the inter-observer distance between two annotators' landmarks on the same image.

use std::path::{Path, PathBuf};

use crate::io;
use crate::registration::tre::tre_report;
use anyhow::{Context, Result, bail};

/// Arguments of `srrd tre`.
#[derive(Debug, clap::Args)]
pub struct TreArgs {
    /// Landmarks in the fixed image (.json, .mrk.json or .fcsv; LPS or Slicer's RAS).
    #[arg(long)]
    fixed: PathBuf,
    /// Landmarks in the moving image; pairs match by label.
    #[arg(long)]
    moving: PathBuf,
    /// Transform fixed -> moving (ITK .tfm or displacement field .nii.gz); identity if absent.
    #[arg(long)]
    transform: Option<PathBuf>,
    /// The two files are two annotators' landmarks on the same image: report the
    /// inter-observer distance per landmark (mean, SD, max) and the landmarks only one
    /// of them placed. Two readers' worklist folders (`srrd view --worklist --reader`)
    /// give the same per landmark over every case both read, on the CT and the MR.
    #[arg(long, conflicts_with = "transform")]
    inter_observer: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

impl TreArgs {
    /// Runs `srrd tre`.
    pub fn run(self) -> Result<()> {
        if self.inter_observer {
            inter_observer(&self.fixed, &self.moving, self.json)
        } else {
            tre(
                &self.fixed,
                &self.moving,
                self.transform.as_deref(),
                self.json,
            )
        }
    }
}

/// TRE of `transform` (fixed -> moving, ITK direction; identity when absent): for each
/// label in both files, the distance between the mapped fixed point and the moving point.
pub fn tre(fixed: &Path, moving: &Path, transform: Option<&Path>, json: bool) -> Result<()> {
    let a = io::read_landmarks(fixed)?;
    let b = io::read_landmarks(moving)?;
    let t = io::read_any_transform(transform)?;
    let Some(report) = tre_report(&a, &b, &t) else {
        bail!(
            "{} and {} share no landmark label ({} and {} landmarks)",
            fixed.display(),
            moving.display(),
            a.len(),
            b.len()
        );
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
        let unpaired = a.len() + b.len() - 2 * report.n;
        if unpaired > 0 {
            eprintln!("warning: {unpaired} landmarks have no partner with the same label");
        }
    }
    Ok(())
}

/// Two annotators' landmarks on the same image: the distance per label (identity
/// transform), their mean, SD and max, and the labels only one of them placed.
pub fn inter_observer(first: &Path, second: &Path, json: bool) -> Result<()> {
    if first.is_dir() && second.is_dir() {
        return inter_observer_readers(first, second, json);
    }
    let a = io::read_landmarks(first)?;
    let b = io::read_landmarks(second)?;
    let identity = crate::volume::Transform::Affine(crate::volume::AffineTransform::identity());
    let Some(report) = tre_report(&a, &b, &identity) else {
        bail!(
            "{} and {} share no landmark label ({} and {} landmarks)",
            first.display(),
            second.display(),
            a.len(),
            b.len()
        );
    };
    let only = |x: &[io::Landmark], y: &[io::Landmark]| -> Vec<String> {
        x.iter()
            .filter(|l| !y.iter().any(|m| m.label == l.label))
            .map(|l| l.label.clone())
            .collect()
    };
    let (only_first, only_second) = (only(&a, &b), only(&b, &a));
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["only_in_first"] = serde_json::json!(only_first);
        v["only_in_second"] = serde_json::json!(only_second);
        println!("{}", serde_json::to_string(&v)?);
        return Ok(());
    }
    println!(
        "inter-observer distance, {} against {}",
        first.display(),
        second.display()
    );
    for p in &report.pairs {
        println!("{:<32} {:>8.3} mm", p.label, p.tre_mm);
    }
    println!(
        "over {} landmarks: mean {:.3} mm, SD {:.3}, median {:.3}, max {:.3}",
        report.n, report.mean_mm, report.sd_mm, report.median_mm, report.max_mm
    );
    if !only_first.is_empty() {
        println!("placed only in the first: {}", only_first.join(", "));
    }
    if !only_second.is_empty() {
        println!("placed only in the second: {}", only_second.join(", "));
    }
    Ok(())
}

/// Distances of one landmark name between two readers, pooled over cases and images.
#[derive(serde::Serialize)]
struct PerLandmark {
    label: String,
    n: usize,
    mean_mm: f64,
    sd_mm: f64,
    max_mm: f64,
}

/// Two readers' worklist folders (`srrd view --worklist ... --reader DIR`): for every
/// case both worked on, the distance between their placements of each landmark on the CT
/// and on the MR, summarized per landmark name over the cases (n, mean, SD, max) and over
/// everything.
fn inter_observer_readers(first: &Path, second: &Path, json: bool) -> Result<()> {
    let mut per: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut cases = 0usize;
    let mut entries: Vec<_> = std::fs::read_dir(first)
        .with_context(|| format!("cannot list {}", first.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .collect();
    entries.sort();
    for case in entries {
        let mut used = false;
        for image in ["landmarks_ct.json", "landmarks_mr.json"] {
            let (pa, pb) = (
                first.join(&case).join(image),
                second.join(&case).join(image),
            );
            if !pa.exists() || !pb.exists() {
                continue;
            }
            let (a, b) = (io::read_landmarks(&pa)?, io::read_landmarks(&pb)?);
            for (label, x, y) in io::pair_by_label(&a, &b) {
                let d = (nalgebra::Point3::from(x) - nalgebra::Point3::from(y)).norm();
                per.entry(format!("{label} ({})", &image[10..12].to_uppercase()))
                    .or_default()
                    .push(d);
                used = true;
            }
        }
        cases += usize::from(used);
    }
    if per.is_empty() {
        bail!(
            "{} and {} share no case with landmarks of the same name",
            first.display(),
            second.display()
        );
    }
    let stats = |d: &[f64]| {
        let n = d.len() as f64;
        let mean = d.iter().sum::<f64>() / n;
        let sd = if d.len() > 1 {
            (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        (mean, sd, d.iter().cloned().fold(0.0, f64::max))
    };
    let rows: Vec<PerLandmark> = per
        .iter()
        .map(|(label, d)| {
            let (mean_mm, sd_mm, max_mm) = stats(d);
            PerLandmark {
                label: label.clone(),
                n: d.len(),
                mean_mm,
                sd_mm,
                max_mm,
            }
        })
        .collect();
    let all: Vec<f64> = per.values().flatten().copied().collect();
    let (mean, sd, max) = stats(&all);
    if json {
        let v = serde_json::json!({
            "cases": cases, "n": all.len(), "mean_mm": mean, "sd_mm": sd, "max_mm": max,
            "landmarks": rows,
        });
        println!("{}", serde_json::to_string(&v)?);
        return Ok(());
    }
    println!(
        "inter-observer distance over {cases} cases, {} against {}",
        first.display(),
        second.display()
    );
    println!(
        "{:<40} {:>3} {:>9} {:>9} {:>9}",
        "landmark (image)", "n", "mean mm", "SD", "max"
    );
    for r in &rows {
        println!(
            "{:<40} {:>3} {:>9.3} {:>9.3} {:>9.3}",
            r.label, r.n, r.mean_mm, r.sd_mm, r.max_mm
        );
    }
    println!(
        "over {} placements: mean {mean:.3} mm, SD {sd:.3}, max {max:.3}",
        all.len()
    );
    Ok(())
}
