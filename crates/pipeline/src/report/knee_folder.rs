//! A knee's results folder: the four parameter maps, the bone, region and subregion
//! labels (NIfTI), the MR-side images, the coronal figure, `report.html`, the DICOM
//! objects when asked for, and `report.json` last, written once: its presence means the
//! folder is complete.

use std::path::Path;
use std::time::Instant;

use srrd_base::error::{Error, Result};
use srrd_base::io::dicom::DicomSource;
use srrd_base::io::nifti::{WriteDtype, write_labels, write_nifti};
use srrd_base::volume::Volume;
use srrd_regression::dataset::TARGETS;

use super::{Report, ReportContext, coronal_figure, html::html_report};
use crate::analyze::Analysis;
use crate::dicom_export::{DicomExport, ExportContext, KneeResults, export_dicom};

/// Where and how a knee's folder is written.
pub struct KneeFolder<'a> {
    /// The folder (created when missing).
    pub out: &'a Path,
    /// The CT on its own grid (the analysis' maps and labels are on it).
    pub ct: &'a Volume,
    pub context: &'a ReportContext,
    /// Also the results as DICOM (Segmentation, parametric maps, SR) into this folder.
    pub dicom: Option<DicomOut<'a>>,
}

/// `--dicom-out`: the folder, the CT's DICOM source when it had one, and whether a
/// non-empty folder may be written into.
pub struct DicomOut<'a> {
    pub dir: &'a Path,
    pub source: Option<&'a DicomSource>,
    pub force: bool,
}

/// Writes the folder of one analysed knee and returns its report (and what the DICOM
/// export wrote). `t0` is when the command started (the report's `total_s`).
pub fn write_knee_folder(
    folder: &KneeFolder,
    analysis: &Analysis,
    t0: Instant,
) -> Result<(Report, Option<DicomExport>)> {
    let out = folder.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    for (a, (name, _)) in TARGETS.iter().enumerate() {
        write_nifti(
            &out.join(format!("{name}.nii.gz")),
            &analysis.prediction.maps[a],
            WriteDtype::F32,
        )?;
    }
    let g = &folder.ct.geometry;
    write_labels(&out.join("bones.nii.gz"), &analysis.bones)?;
    write_labels(&out.join("regions.nii.gz"), &analysis.regions)?;
    write_labels(&out.join("subregions.nii.gz"), &analysis.subregions)?;
    if let Some(r) = &analysis.registered {
        write_nifti(&out.join("crMR.nii.gz"), &r.cr_mr, WriteDtype::F32)?;
        write_nifti(&out.join("rrMR.nii.gz"), &r.rr_mr, WriteDtype::F32)?;
        if let Some(sct) = &r.sct {
            write_nifti(&out.join("sCT.nii.gz"), sct, WriteDtype::I16)?;
        }
    }
    let figure = coronal_figure(folder.ct, &analysis.prediction.maps[1], &analysis.regions);
    if let Some((png, _, _)) = &figure {
        srrd_base::io::atomic_write(&out.join("tb_th_coronal.png"), |w| w.write_all(png))?;
    }
    let ctx = folder.context;
    let mut report = Report::done(analysis, ctx, t0.elapsed().as_secs_f64());
    let html = match report.results() {
        Some(r) => html_report(&report, r, figure.as_ref().map(|f| (f.1, f.2))),
        None => String::new(),
    };
    srrd_base::io::atomic_write(&out.join("report.html"), |w| w.write_all(html.as_bytes()))?;
    let mut exported = None;
    if let Some(d) = &folder.dicom {
        let export = export_dicom(
            &KneeResults::of(analysis),
            &ExportContext {
                ct_geometry: g,
                source: d.source,
                provenance: &ctx.provenance,
                model_version: report.model_ids.version(),
            },
            d.dir,
            d.force,
        )
        .map_err(|e| Error::invalid(format!("writing DICOM into {}: {e}", d.dir.display())))?;
        if let super::Outcome::Done(r) = &mut report.outcome {
            r.dicom = Some(
                serde_json::to_value(&export)
                    .map_err(|e| Error::invalid(format!("report: {e}")))?,
            );
        }
        exported = Some(export);
    }
    // report.json last: its presence means the knee's folder is complete.
    report.write(&out.join("report.json"))?;
    Ok((report, exported))
}
