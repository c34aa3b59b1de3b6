//! `srrd analyze [--ct CT] [--mr MR] --out DIR`: the whole method for one knee; with no
//! `--ct`, the demo knee (its CT and MR). Writes the parameter maps, bone, region and
//! subregion labels (NIfTI), `report.json`, and a one-page `report.html` with a coronal
//! figure of the Tb.Th map over the CT.

use std::path::{Path, PathBuf};

pub(super) use super::common::with_progress;
use crate::pipeline::analyze::{KneeAnalysis, Models, Request, analyze_request};
pub(super) use crate::pipeline::knee_input::{KneeInput, read_ct_mr};
pub(super) use crate::pipeline::models::models_dir;
use crate::pipeline::report::{DicomOut, KneeFolder, ReportContext, write_knee_folder};
use crate::segmentation::knees::Side;

/// Which knees `--side` asks for.
fn parse_side(side: Option<&str>) -> anyhow::Result<Option<Vec<Side>>> {
    Ok(match side {
        None => None,
        Some("both") => Some(vec![Side::Left, Side::Right]),
        Some(s) => Some(vec![Side::parse(s).map_err(|_| {
            anyhow::anyhow!("--side {s}: expected left, right or both")
        })?]),
    })
}

/// Arguments of `srrd analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    #[arg(long)]
    ct: Option<PathBuf>,
    #[arg(long)]
    mr: Option<PathBuf>,
    /// Models folder with regression/ and diagnosis/ (default: the demo weights).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Which knee: left, right, or both (one report per knee, in out/left and
    /// out/right). Needed when the CT holds both knees.
    #[arg(long)]
    side: Option<String>,
    /// A study instead of one CT: a manifest CSV (subject,ct[,mr,side,label], or a
    /// `study` folder for both; label a KL grade 0-4 or normal/KOA) or a folder of
    /// subjects; each knee goes to OUT/<subject>, models loaded once.
    #[arg(long, conflicts_with_all = ["ct", "mr", "side"])]
    manifest: Option<PathBuf>,
    /// With --manifest: only these subjects (comma-separated ids).
    #[arg(long, requires = "manifest")]
    subjects: Option<String>,
    /// Worker threads for rayon and libtorch (default: all cores); set it to a job's
    /// CPUs so jobs sharing a node do not oversubscribe it.
    #[arg(long)]
    threads: Option<usize>,
    /// In a DICOM folder holding several series: the CT series to read, by its number
    /// or id as `srrd series` and the warning list them (default: the series with
    /// Modality CT, a bone kernel before a soft-tissue one, no scout, the most images).
    #[arg(long, conflicts_with = "manifest", value_name = "N|UID")]
    series: Option<String>,
    /// In a DICOM folder holding several series: the MR series to read (default: the
    /// series with Modality MR, no localizer, the most images). --ct and --mr may name
    /// the same folder, as PACS exports a study.
    #[arg(long, conflicts_with = "manifest", value_name = "N|UID")]
    mr_series: Option<String>,
    /// A CT series with missing slices or uneven spacing: use it whole, resampled onto
    /// a regular grid (default: its largest evenly spaced block).
    #[arg(long, conflicts_with = "manifest")]
    accept_uneven: bool,
    /// Also write the results as DICOM into this folder: a Segmentation of the bones
    /// and subregions, the four parameter maps as Parametric Maps, and a TID 1500
    /// Measurement Report (with --side both: one subfolder per knee).
    #[arg(long, conflicts_with = "manifest")]
    dicom_out: Option<PathBuf>,
    /// Write into a --dicom-out folder that exists and is not empty.
    #[arg(long, requires = "dicom_out")]
    force: bool,
    /// Start the MR's registration from this rigid transform (fixed -> moving, ITK
    /// .tfm): a corrected start from the viewer or `srrd register --init-landmarks`.
    #[arg(long, conflicts_with = "manifest")]
    init: Option<PathBuf>,
    /// With --manifest: a reader's worklist folder (`srrd view --worklist`); each
    /// knee's registration starts from its corrected start when it has one.
    /// A knee whose registration the reader rejected is analysed CT-only (its report
    /// says why).
    #[arg(long, requires = "manifest")]
    reviews: Option<PathBuf>,
    /// With --reviews: analyse a rejected registration's MR like an accepted one.
    #[arg(long, requires = "reviews")]
    use_rejected: bool,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

impl AnalyzeArgs {
    /// Runs `srrd analyze`: one CT, or a study's knees with `--manifest`.
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(t) = self.threads {
            super::batch::set_threads(t)?;
        }
        if let Some(manifest) = &self.manifest {
            return super::batch::analyze_manifest(
                manifest,
                self.subjects.as_deref(),
                self.models.as_deref(),
                self.reviews.as_deref(),
                self.use_rejected,
                &self.out,
                self.json,
            );
        }
        analyze(&AnalyzeRequest {
            ct: self.ct.as_deref(),
            mr: self.mr.as_deref(),
            models: self.models.as_deref(),
            side: self.side.as_deref(),
            series: self.series.as_deref(),
            mr_series: self.mr_series.as_deref(),
            accept_uneven: self.accept_uneven,
            dicom_out: self.dicom_out.as_deref(),
            force: self.force,
            init: self.init.as_deref(),
            out: &self.out,
            json: self.json,
        })
    }
}

/// The options of `srrd analyze` for one CT.
pub struct AnalyzeRequest<'a> {
    pub ct: Option<&'a Path>,
    pub mr: Option<&'a Path>,
    pub models: Option<&'a Path>,
    pub side: Option<&'a str>,
    /// The CT series in a folder of several (a number or id).
    pub series: Option<&'a str>,
    /// The MR series in a folder of several.
    pub mr_series: Option<&'a str>,
    pub accept_uneven: bool,
    pub dicom_out: Option<&'a Path>,
    pub force: bool,
    /// A corrected registration start for the MR (rigid .tfm, fixed -> moving).
    pub init: Option<&'a Path>,
    pub out: &'a Path,
    pub json: bool,
}

/// Runs `srrd analyze`.
pub fn analyze(args: &AnalyzeRequest) -> anyhow::Result<()> {
    let AnalyzeRequest {
        ct,
        mr,
        models,
        side,
        out,
        json: json_out,
        ..
    } = *args;
    let t0 = std::time::Instant::now();
    let sides = parse_side(side)?;
    let (ct_path, mr_path) = match ct {
        Some(c) => (c.to_path_buf(), mr.map(Path::to_path_buf)),
        None => {
            let dir = with_progress(crate::phantom::ensure_demo)?;
            (
                dir.join("ct.nii.gz"),
                Some(mr.map(Path::to_path_buf).unwrap_or(dir.join("mr.nii.gz"))),
            )
        }
    };
    let (ct_image, mr_image, warnings) = read_ct_mr(&KneeInput {
        ct: &ct_path,
        mr: mr_path.as_deref(),
        ct_series: args.series,
        mr_series: args.mr_series,
        accept_uneven: args.accept_uneven,
    })?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mr_path = mr_image.as_ref().and(mr_path);
    if let Some(d) = args.dicom_out {
        // Refuse a non-empty folder before hours of work, not after.
        if !args.force && d.is_dir() && std::fs::read_dir(d).map(|mut e| e.next().is_some())? {
            anyhow::bail!(
                "{}: exists and is not empty; choose a new folder or pass --force to write into it",
                d.display()
            );
        }
    }
    let ct_source = ct_image.dicom;
    let ct_vol = ct_image.volume;
    let mr_vol = mr_image.map(|m| m.volume);
    let start = match args.init {
        Some(path) if mr_vol.is_none() => anyhow::bail!(
            "--init {}: a registration start needs an MR (--mr)",
            path.display()
        ),
        Some(path) => Some(super::register::read_rigid_start(path)?),
        None => None,
    };
    let dir = models_dir(models);
    let request = Request {
        sides,
        start_mr_from_ct: start,
    };
    // tch modules are not Sync: the models are loaded on the worker thread.
    let (analyses, context) = with_progress(|p| {
        let m = Models::load(&dir)?;
        let analyses = analyze_request(&ct_vol, mr_vol.as_ref(), &request, &m, p)
            .map_err(|e| e.in_file(&ct_path))?;
        let context = ReportContext::new(
            ct_path.display().to_string(),
            mr_path.as_ref().map(|p| p.display().to_string()),
            &dir,
            &m,
        );
        Ok((analyses, context))
    })?;
    let several = analyses.len() > 1;
    for KneeAnalysis { folder, analysis } in &analyses {
        let in_folder = |d: &Path| match folder {
            Some(s) => d.join(s.name()),
            None => d.to_path_buf(),
        };
        let knee_out = in_folder(out);
        let dicom_dir = args.dicom_out.map(in_folder);
        let (report, export) = write_knee_folder(
            &KneeFolder {
                out: &knee_out,
                ct: &ct_vol,
                context: &context,
                dicom: dicom_dir.as_deref().map(|dir| DicomOut {
                    dir,
                    source: ct_source.as_ref(),
                    force: args.force,
                }),
            },
            analysis,
            t0,
        )?;
        if let (Some(export), Some(dicom_dir)) = (&export, &dicom_dir) {
            for w in &export.warnings {
                eprintln!("warning: DICOM export: {w}");
            }
            if !json_out {
                println!(
                    "DICOM: {} files in {} (Segmentation with {} segments, {} frames; parametric maps; measurement report)",
                    export.files.len(),
                    dicom_dir.display(),
                    export.seg_segments,
                    export.seg_frames
                );
            }
        }
        if json_out {
            let json = report.to_json()?;
            if several {
                println!("{}", serde_json::to_string(&json)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&json)?);
            }
        } else {
            print!("{}", report.summary_text());
            println!(
                "maps, labels, report.json and report.html in {}",
                knee_out.display()
            );
        }
    }
    Ok(())
}
