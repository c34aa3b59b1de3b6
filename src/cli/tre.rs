//! `srrd tre`: target registration error between paired landmarks (matched by label).

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
