//! `srrd view`: the workstation, with images, a session or a worklist.

use std::path::PathBuf;

/// Arguments of `srrd view`.
#[derive(Debug, clap::Args)]
pub struct ViewArgs {
    /// CT image: .nii/.nii.gz, DICOM file or DICOM folder.
    #[arg(long)]
    ct: Option<PathBuf>,
    /// MR image: .nii/.nii.gz, DICOM file or DICOM folder.
    #[arg(long)]
    mr: Option<PathBuf>,
    /// Run the SRRD analysis as soon as the images are loaded.
    #[arg(long)]
    analyze: bool,
    /// Restore a saved session (its images, layers, windows, landmarks and views).
    #[arg(long, conflicts_with_all = ["ct", "mr"])]
    session: Option<PathBuf>,
    /// Save a screenshot of the window as PNG once the images are shown, then quit
    /// (for smoke tests and documentation).
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Read a study case by case: a manifest CSV (subject,ct[,mr,...]) or a folder of
    /// subjects. Each case's landmarks, review and corrected start are saved as you
    /// go, and reopening resumes where you left off.
    #[arg(long, conflicts_with_all = ["ct", "mr", "session"])]
    worklist: Option<PathBuf>,
    /// With --worklist: the folder your work goes into (default: reads/$USER beside
    /// the list). Two annotators use two folders.
    #[arg(long, requires = "worklist")]
    reader: Option<PathBuf>,
    /// Analyse with this models folder (`srrd study`'s `models`); remembered, as File >
    /// Models remembers it (default: the last one chosen, else the demo models).
    #[arg(long)]
    models: Option<PathBuf>,
}

impl ViewArgs {
    /// Opens the workstation.
    pub fn run(self) -> anyhow::Result<()> {
        let reader = self.reader;
        crate::app::run(crate::app::RunOptions {
            ct: self.ct,
            mr: self.mr,
            analyze: self.analyze,
            session: self.session,
            screenshot: self.screenshot,
            models: self.models,
            worklist: self.worklist.map(|list| {
                let reader = reader.unwrap_or_else(|| crate::app::default_reader_dir(&list));
                (list, reader)
            }),
        })
    }
}
