//! `srrd analyze [--ct CT] [--mr MR] --out DIR`: the whole method for one knee; with no
//! `--ct`, the demo knee (its CT and MR). Writes the parameter maps, bone, region and
//! subregion labels (NIfTI), `report.json`, and a one-page `report.html` with a coronal
//! figure of the Tb.Th map over the CT.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

pub(super) use super::common::with_progress;
use crate::diagnosis::features::SubregionStats;
use crate::io::nifti::write_labels;
use crate::io::{ReadOptions, WriteDtype, read_image, read_image_with, write_nifti};
use crate::pipeline::analyze::{
    Analysis, KneeChoice, Models, analyze_knee_from, bilateral_choices, prepare,
};
use crate::pipeline::dicom_export::{
    ExportContext, KneeResults, export_dicom, model_ids, model_version,
};
use crate::pipeline::quality::Status;
use crate::regression::dataset::TARGETS;
use crate::segmentation::knees::Side;
use crate::volume::Volume;

/// The models folder: `--models`, else `$SRRD_ASSETS`, else the source tree's `assets`.
pub(super) fn models_dir(explicit: Option<&Path>) -> PathBuf {
    explicit.map(Path::to_path_buf).unwrap_or_else(|| {
        crate::regression::model::demo_model_dir()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    })
}

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
    /// A study instead of one CT: a manifest CSV (subject,ct[,mr,side,label]) or a
    /// folder of subjects; each knee goes to OUT/<subject>, models loaded once.
    #[arg(long, conflicts_with_all = ["ct", "mr", "side"])]
    manifest: Option<PathBuf>,
    /// With --manifest: only these subjects (comma-separated ids).
    #[arg(long, requires = "manifest")]
    subjects: Option<String>,
    /// Worker threads for rayon and libtorch (default: all cores); set it to a job's
    /// CPUs so jobs sharing a node do not oversubscribe it.
    #[arg(long)]
    threads: Option<usize>,
    /// In a DICOM folder holding several series: the CT series to read (an id from
    /// `srrd series`).
    #[arg(long, conflicts_with = "manifest")]
    series: Option<String>,
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
    #[arg(long, requires = "manifest")]
    reviews: Option<PathBuf>,
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
    // tch modules are not Sync: the models are loaded on the worker thread.
    let (analyses, provenance, model_summary, classifier_note) = with_progress(|p| {
        let m = Models::load(&dir)?;
        let prepared = prepare(&ct_vol, &m, p).map_err(|e| e.in_file(&ct_path))?;
        let choices: Vec<(Option<Side>, KneeChoice)> =
            match (&sides, prepared.layout.is_bilateral()) {
                (None, true) => {
                    return Err(crate::Error::file(
                        &ct_path,
                        bilateral_choices(&prepared.layout),
                    ));
                }
                (None, false) => vec![(None, KneeChoice::Only)],
                (Some(list), true) if list.len() > 1 => list
                    .iter()
                    .map(|s| (Some(*s), KneeChoice::Side(*s)))
                    .collect(),
                (Some(list), _) if list.len() > 1 => {
                    return Err(crate::Error::file(
                        &ct_path,
                        "--side both: this CT holds one knee; analyse it without --side",
                    ));
                }
                (Some(list), _) => vec![(None, KneeChoice::Side(list[0]))],
            };
        let mut analyses = Vec::new();
        for (folder, choice) in choices {
            let a = analyze_knee_from(
                &ct_vol,
                &prepared,
                choice,
                mr_vol.as_ref(),
                start.as_ref(),
                &m,
                p,
            )
            .map_err(|e| e.in_file(&ct_path))?;
            analyses.push((folder, a));
        }
        Ok((
            analyses,
            m.card.provenance.clone(),
            m.card.summary_lines(),
            m.classifier.as_ref().map(|c| c.trained_on.clone()),
        ))
    })?;
    let several = analyses.len() > 1;
    for (folder, analysis) in &analyses {
        let knee_out = match folder {
            Some(s) => out.join(s.name()),
            None => out.to_path_buf(),
        };
        let written = Written {
            ct_path: &ct_path,
            mr_path: mr_path.as_deref(),
            ct_vol: &ct_vol,
            models_dir: &dir,
            provenance: &provenance,
            model_summary: &model_summary,
            classifier_note: classifier_note.as_deref(),
            subject: None,
            label: None,
            t0,
        };
        let mut report = written.write(&knee_out, analysis)?;
        if let Some(d) = args.dicom_out {
            let dicom_dir = match folder {
                Some(s) => d.join(s.name()),
                None => d.to_path_buf(),
            };
            let export = export_dicom(
                &KneeResults::of(analysis),
                &ExportContext {
                    ct_geometry: &ct_vol.geometry,
                    source: ct_source.as_ref(),
                    provenance: &provenance,
                    model_version: model_version(&dir),
                },
                &dicom_dir,
                args.force,
            )
            .with_context(|| format!("writing DICOM into {}", dicom_dir.display()))?;
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
            report["dicom"] = serde_json::to_value(&export)?;
            let text = serde_json::to_string_pretty(&report)?;
            crate::io::atomic_write(&knee_out.join("report.json"), |w| {
                w.write_all(text.as_bytes())
            })?;
        }
        if json_out {
            if several {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
        } else {
            print!("{}", text_summary(analysis, &provenance));
            println!(
                "maps, labels, report.json and report.html in {}",
                knee_out.display()
            );
        }
    }
    Ok(())
}

/// What every knee's report shares.
pub(super) struct Written<'a> {
    pub ct_path: &'a Path,
    pub mr_path: Option<&'a Path>,
    pub ct_vol: &'a Volume,
    pub models_dir: &'a Path,
    pub provenance: &'a str,
    pub model_summary: &'a [String],
    pub classifier_note: Option<&'a str>,
    /// The study's subject id and label (`--manifest`).
    pub subject: Option<&'a str>,
    pub label: Option<&'a str>,
    pub t0: std::time::Instant,
}

impl Written<'_> {
    /// Writes one knee's maps, labels and reports into `out` (report.json last, so its
    /// presence means the folder is complete) and returns the report.
    pub fn write(&self, out: &Path, analysis: &Analysis) -> anyhow::Result<serde_json::Value> {
        let (ct_path, mr_path, ct_vol, dir, provenance) = (
            self.ct_path,
            self.mr_path,
            self.ct_vol,
            self.models_dir,
            self.provenance,
        );
        let (model_summary, classifier_note, t0) =
            (self.model_summary, self.classifier_note, self.t0);
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        for (a, (name, _)) in TARGETS.iter().enumerate() {
            write_nifti(
                &out.join(format!("{name}.nii.gz")),
                &analysis.prediction.maps[a],
                WriteDtype::F32,
            )?;
        }
        let g = &ct_vol.geometry;
        write_labels(&out.join("bones.nii.gz"), g, &analysis.bones)?;
        write_labels(&out.join("regions.nii.gz"), g, &analysis.regions)?;
        write_labels(&out.join("subregions.nii.gz"), g, &analysis.subregions)?;
        let mut registration = serde_json::Value::Null;
        if let Some(r) = &analysis.registered {
            write_nifti(&out.join("crMR.nii.gz"), &r.cr_mr, WriteDtype::F32)?;
            write_nifti(&out.join("rrMR.nii.gz"), &r.rr_mr, WriteDtype::F32)?;
            if let Some(sct) = &r.sct {
                write_nifti(&out.join("sCT.nii.gz"), sct, WriteDtype::I16)?;
            }
            let files: Vec<&str> = ["crMR.nii.gz", "rrMR.nii.gz"]
                .into_iter()
                .chain(r.sct.as_ref().map(|_| "sCT.nii.gz"))
                .collect();
            registration = json!({
                "refined_on": r.refined_on,
                "files": files,
                "synthesis_provenance": r.sct.as_ref().map(|_| crate::synthesis::model::PROVENANCE),
            });
        }
        let figure = coronal_figure(ct_vol, &analysis.prediction.maps[1], &analysis.regions);
        if let Some((png, lo, hi)) = &figure {
            crate::io::atomic_write(&out.join("tb_th_coronal.png"), |w| w.write_all(png))?;
            let _ = (lo, hi);
        }
        let table = |stats: &[SubregionStats]| -> serde_json::Value {
            stats
            .iter()
            .map(|s| {
                let mut params = serde_json::Map::new();
                for (a, (name, unit)) in TARGETS.iter().enumerate() {
                    params.insert(
                        name.to_string(),
                        json!({"mean": s.mean[a], "sd": s.sd[a], "unit": unit}),
                    );
                }
                json!({"label": s.label, "subregion": s.name, "patches": s.patches, "parameters": params})
            })
            .collect()
        };
        let report = json!({
            "status": "done",
            "subject": self.subject,
            "label": self.label,
            "srrd_version": env!("CARGO_PKG_VERSION"),
            "model_ids": model_ids(dir),
            "ct": ct_path.display().to_string(),
            "mr": mr_path.map(|p| p.display().to_string()),
            "knee": analysis.knee,
            "checks": analysis.checks,
            "koa": analysis.koa,
            "koa_withheld": analysis.koa_withheld,
            "subregions_ct": table(&analysis.stats),
            "subregions_mr": analysis.mr_stats.as_deref().map(table),
            "knee_frame": analysis.frame,
            "registration": registration,
            "patches": analysis.prediction.patches.len(),
            "models": dir.display().to_string(),
            "regression_model": model_summary,
            "classifier_trained_on": classifier_note,
            "provenance": provenance,
            "timings_s": analysis.timings,
            "total_s": t0.elapsed().as_secs_f64(),
        });
        let text = serde_json::to_string_pretty(&report)?;
        let html = html_report(
            ct_path,
            analysis,
            provenance,
            figure.as_ref().map(|f| (f.1, f.2)),
        );
        crate::io::atomic_write(&out.join("report.html"), |w| w.write_all(html.as_bytes()))?;
        // report.json last: its presence means the knee's folder is complete.
        crate::io::atomic_write(&out.join("report.json"), |w| w.write_all(text.as_bytes()))?;
        Ok(report)
    }
}

pub(super) fn text_summary(a: &Analysis, provenance: &str) -> String {
    let mut s = a.knee.describe() + "\n";
    s += "quality checks:\n";
    for c in &a.checks {
        s += &format!("  [{}] {}: {}\n", c.status.name(), c.name, c.reason);
    }
    if let Some(why) = &a.koa_withheld {
        s += &format!("KOA prediction withheld: {why}\n");
    }
    match &a.koa {
        Some(k) => {
            s += &format!(
                "KOA prediction: {} (P(KOA) = {:.2})",
                k.class, k.probability
            );
            if let Some(t) = k.three_group {
                s += &format!(
                    "; normal {:.2}, mild {:.2}, advanced {:.2}",
                    t[0], t[1], t[2]
                );
            }
            s += "\n";
        }
        None if a.koa_withheld.is_some() => {}
        None => s += "KOA prediction: no classifier in the models folder\n",
    }
    s += &format!("({provenance})\n\n");
    s += "subregion      patches  BV/TV          Tb.Th (mm)     Tb.Sp (mm)     Tb.N (1/mm)\n";
    for st in &a.stats {
        s += &format!("{:<14} {:>7}", st.name, st.patches);
        for k in 0..4 {
            s += &format!("  {:.3} ± {:.3}", st.mean[k], st.sd[k]);
        }
        s += "\n";
    }
    s
}

fn html_report(ct: &Path, a: &Analysis, provenance: &str, range: Option<(f64, f64)>) -> String {
    let mut h = String::from(
        "<!doctype html><meta charset=utf-8><title>SRRD report</title>\
<style>body{font-family:sans-serif;background:#1b1d21;color:#ddd;max-width:1000px;margin:auto}\
table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #444;text-align:right}\
.note{color:#e8b04a}.pass{color:#6ad48a}.warn{color:#e8b04a}.fail{color:#ff6b6b}</style>",
    );
    h += &format!(
        "<h1>SRRD analysis</h1><p>CT: {}</p>",
        escape(&ct.display().to_string())
    );
    if let Some(k) = &a.koa {
        h += &format!(
            "<h2>KOA prediction: {} (P(KOA) = {:.2})</h2>",
            k.class, k.probability
        );
        if let Some(t) = k.three_group {
            h += &format!(
                "<p>normal {:.2} · mild {:.2} · advanced {:.2}</p>",
                t[0], t[1], t[2]
            );
        }
    }
    if let Some(why) = &a.koa_withheld {
        h += &format!(
            "<h2>KOA prediction withheld</h2><p class=fail>{}</p>",
            escape(why)
        );
    }
    h += &format!("<p class=note>{}</p>", escape(provenance));
    h += &format!("<p>{}</p>", escape(&a.knee.describe()));
    h += "<h3>Quality checks</h3><table>";
    for c in &a.checks {
        let (mark, class) = match c.status {
            Status::Pass => ("&#10004;", "pass"),
            Status::Warn => ("&#9888;", "warn"),
            Status::Fail => ("&#10008;", "fail"),
        };
        h += &format!(
            "<tr><td class={class}>{mark} {}</td><td style=text-align:left>{}</td><td style=text-align:left>{}</td></tr>",
            c.status.name(),
            escape(&c.name),
            escape(&c.reason)
        );
    }
    h += "</table>";
    if let Some((lo, hi)) = range {
        h += &format!(
            "<h3>Tb.Th map over the CT (coronal)</h3><img src=tb_th_coronal.png><p>colour (bar below the image): Tb.Th from {lo:.2} mm (purple, left) to {hi:.2} mm (yellow, right); the 2nd to 98th percentile of the map</p>"
        );
    }
    let table = |title: &str, stats: &[SubregionStats]| {
        let mut t = format!(
            "<h3>{title}</h3><table><tr><th>subregion</th><th>patches</th><th>BV/TV</th><th>Tb.Th (mm)</th><th>Tb.Sp (mm)</th><th>Tb.N (1/mm)</th></tr>"
        );
        for s in stats {
            t += &format!("<tr><td>{}</td><td>{}</td>", s.name, s.patches);
            for k in 0..4 {
                t += &format!("<td>{:.3} ± {:.3}</td>", s.mean[k], s.sd[k]);
            }
            t += "</tr>";
        }
        t + "</table>"
    };
    h += &table(
        "Per subregion, regressed from the CT (mean ± SD over patches)",
        &a.stats,
    );
    if let Some(mr) = &a.mr_stats {
        h += &table("Per subregion, measured on the registered MR", mr);
    }
    h += "<h3>Timings</h3><ul>";
    for (stage, s) in &a.timings {
        h += &format!("<li>{stage}: {s:.1} s</li>");
    }
    h + "</ul>"
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A coronal slice (through the regions' centroid) of the CT in a bone window with the
/// map coloured over the regions; PNG bytes and the colour range.
fn coronal_figure(ct: &Volume, map: &Volume, regions: &[u8]) -> Option<(Vec<u8>, f64, f64)> {
    let [ni, nj, nk] = ct.geometry.size;
    let (mut sum, mut n) = (0usize, 0usize);
    let mut values = Vec::new();
    let mdata = map.data.as_slice()?;
    for (idx, r) in regions.iter().enumerate() {
        if *r > 0 {
            sum += (idx / ni) % nj;
            n += 1;
            if mdata[idx] > 0.0 {
                values.push(mdata[idx] as f64);
            }
        }
    }
    if n == 0 || values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let (lo, hi) = (values[values.len() / 50], values[values.len() * 49 / 50]);
    let j = sum / n;
    let cdata = ct.data.as_slice()?;
    let scale = 3usize;
    // The slice, then a gap and a colour bar from `lo` (left) to `hi` (right).
    let (gap, bar) = (4usize, 12usize);
    let (w, h_img) = (ni * scale, nk * scale);
    let h = h_img + gap + bar;
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h_img {
        let k = nk - 1 - y / scale; // superior at the top
        for x in 0..w {
            let i = x / scale;
            let idx = (k * nj + j) * ni + i;
            let grey = ((cdata[idx] as f64 + 200.0) / 1500.0).clamp(0.0, 1.0);
            let mut c = [grey * 255.0; 3];
            if regions[idx] > 0 && mdata[idx] > 0.0 {
                let t = ((mdata[idx] as f64 - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0);
                let col = crate::stats::viridis_rgb(t as f32);
                c = std::array::from_fn(|a| 0.2 * c[a] + 0.8 * f64::from(col[a]));
            }
            let o = (y * w + x) * 3;
            for a in 0..3 {
                rgb[o + a] = c[a].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    for y in h_img + gap..h {
        for x in 0..w {
            let col = crate::stats::viridis_rgb(x as f32 / (w - 1).max(1) as f32);
            rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&col);
        }
    }
    let bytes = crate::io::raster::encode_png_rgb(w as u32, h as u32, &rgb).ok()?;
    Some((bytes, lo, hi))
}
