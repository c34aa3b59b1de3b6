//! `srrd series`: the DICOM series of a folder, numbered as `--series` takes them.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::io;

/// Arguments of `srrd series`.
#[derive(Debug, clap::Args)]
pub struct SeriesArgs {
    /// Folder to scan (recursively).
    folder: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl SeriesArgs {
    /// Runs `srrd series`.
    pub fn run(self) -> Result<()> {
        series(&self.folder, self.json)
    }
}

/// Lists the DICOM series of a folder.
pub fn series(folder: &Path, json: bool) -> Result<()> {
    let list = io::list_series(folder)?;
    if json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        bail!("{}: no DICOM image series found", folder.display());
    }
    for s in list {
        let split = if s.split.is_empty() {
            String::new()
        } else {
            format!("  [part of a series that {}]", s.split)
        };
        let kernel = if s.kernel.is_empty() {
            String::new()
        } else {
            format!("  kernel {}", s.kernel)
        };
        let localizer = if crate::io::dicom::choose::is_localizer(&s) {
            "  (localizer)"
        } else {
            ""
        };
        println!(
            "[{}] {}  {:>5} files  {:>4}x{:<4} {:<8} {:<3} {}{kernel}{localizer}{split}",
            s.index, s.id, s.files, s.size[0], s.size[1], s.plane, s.modality, s.description
        );
    }
    Ok(())
}
