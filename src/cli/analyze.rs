//! `srrd analyze [--ct CT] [--mr MR] --out DIR`: the whole method for one knee; with no
//! `--ct`, the demo knee (its CT and MR). Writes the parameter maps, bone, region and
//! subregion labels (NIfTI), `report.json`, and a one-page `report.html` with a coronal
//! figure of the Tb.Th map over the CT.

use std::path::Path;

pub(super) use super::phantom::with_progress;
use crate::io::{ReadOptions, read_image, read_image_with};
use crate::pipeline::analyze::{KneeAnalysis, Models, Request, analyze_request};
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

/// The options of `srrd analyze` for one CT.
pub struct AnalyzeArgs<'a> {
    pub ct: Option<&'a Path>,
    pub mr: Option<&'a Path>,
    pub models: Option<&'a Path>,
    pub side: Option<&'a str>,
    pub series: Option<&'a str>,
    pub accept_uneven: bool,
    pub dicom_out: Option<&'a Path>,
    pub force: bool,
    /// A corrected registration start for the MR (rigid .tfm, fixed -> moving).
    pub init: Option<&'a Path>,
    pub out: &'a Path,
    pub json: bool,
}

/// Runs `srrd analyze`.
pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let AnalyzeArgs {
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
    let ct_image = read_image_with(
        &ct_path,
        &ReadOptions {
            series: args.series,
            accept_uneven: args.accept_uneven,
        },
    )?;
    for w in &ct_image.warnings {
        eprintln!("warning: {}: {w}", ct_path.display());
    }
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
    let mr_vol = match &mr_path {
        Some(p) => Some(read_image(p, None)?.volume),
        None => None,
    };
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
        let context = ReportContext {
            ct: ct_path.display().to_string(),
            mr: mr_path.as_ref().map(|p| p.display().to_string()),
            models_dir: dir.clone(),
            provenance: m.card.provenance.clone(),
            model_summary: m.card.summary_lines(),
            classifier_note: m.classifier.as_ref().map(|c| c.trained_on.clone()),
            subject: None,
            label: None,
        };
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

