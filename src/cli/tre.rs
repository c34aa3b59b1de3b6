//! `srrd tre`: target registration error between paired landmarks (matched by label), and
//! the inter-observer distance between two annotators' landmarks on the same image.

use std::path::Path;

use crate::io;
use crate::registration::tre::tre_report;
use anyhow::{Result, bail};

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
