//! `srrd manifest`: a study manifest (CSV or folder) checked and its knees listed.

use std::path::{Path, PathBuf};

use crate::pipeline::experiments::registration_landmarks::{Source, knee_pairs};
use crate::pipeline::experiments::study_knees::study_knees;
use crate::pipeline::study_list::{read_study_list, unlabelled_warning};

/// Arguments of `srrd manifest`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// The manifest CSV or folder of subjects.
    path: PathBuf,
    #[arg(long)]
    json: bool,
}

impl ManifestArgs {
    /// Runs `srrd manifest`.
    pub fn run(self) -> anyhow::Result<()> {
        check_manifest(&self.path, self.json)
    }
}

/// The knees, or the reason the list is refused.
pub fn check_manifest(path: &Path, json: bool) -> anyhow::Result<()> {
    let rows = read_study_list(path)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut missing = 0;
    for r in &rows {
        let gone = r.missing_files();
        missing += usize::from(!gone.is_empty());
        let mr = match &r.mr {
            Some(_) if r.one_folder() => "  mr: the same folder".to_string(),
            Some(m) => format!("  mr {}", m.display()),
            None => String::new(),
        };
        println!(
            "{:<16} {}{mr}{}{}{}",
            r.subject,
            r.ct.display(),
            r.side
                .map(|s| format!("  side {}", s.name()))
                .unwrap_or_default(),
            r.label
                .map(|l| match l.group() {
                    Some(g) if g.name() != l.to_string() => format!("  {l} ({})", g.name()),
                    _ => format!("  {l}"),
                })
                .unwrap_or_default(),
            if gone.is_empty() {
                String::new()
            } else {
                format!(
                    "  MISSING: {}",
                    gone.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    println!("{} knees, {} with a missing file", rows.len(), missing);
    // The landmark files the list names, checked as the registration table reads them.
    let knees = study_knees(path)?;
    for k in &knees {
        if let Err(e) = knee_pairs(k, &Source::StudyList) {
            eprintln!(
                "warning: {}: landmarks not usable (the registration table leaves them out): {e}",
                k.id
            );
        }
    }
    if let Some(w) = unlabelled_warning(&rows) {
        eprintln!("warning: {}: {w}", path.display());
    }
    Ok(())
}
