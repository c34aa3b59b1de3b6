//! The results view: runs `pipeline::analyze` on the loaded CT (and MR) in the
//! background, then shows the per-subregion table, the KOA prediction with what the models
//! were trained on, and a colour bar for the parameter map layers; exports the report.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;

use srrd_base::progress::Progress;
use srrd_base::volume::{LabelMap, Volume};
use srrd_diagnosis::features::SubregionStats;
use srrd_pipeline::analyze::{KneeReport, Koa, Models, Request, analyze_request};
use srrd_pipeline::overlays::{label_overlay, map_in_regions};
use srrd_pipeline::quality::{Check, Status};
use srrd_pipeline::report::{Report, ReportContext};
use srrd_segmentation::knees::Side;

/// Display names and units of the four parameter layers, in `srrd_regression::dataset::TARGETS` order.
pub const MAP_LAYERS: [(&str, &str); 4] = [
    ("BV/TV", "1"),
    ("Tb.Th", "mm"),
    ("Tb.Sp", "mm"),
    ("Tb.N", "1/mm"),
];

/// What the results view shows after an analysis.
#[derive(Clone, Debug)]
pub struct ResultsSummary {
    pub stats: Vec<SubregionStats>,
    pub mr_stats: Option<Vec<SubregionStats>>,
    pub koa: Option<Koa>,
    /// Why the KOA score is withheld (a failed quality check).
    pub koa_withheld: Option<String>,
    /// Quality checks of the analysis.
    pub checks: Vec<Check>,
    /// Which knee, and the spacings.
    pub knee: Option<KneeReport>,
    /// "trained on ..." lines of the regression model and the classifier.
    pub provenance: Vec<String>,
    /// Value range of each map inside the regions (for the colour bars).
    pub ranges: [(f32, f32); 4],
    /// Which parameter the table shows.
    pub shown: usize,
    pub timings: Vec<(String, f64)>,
    /// Bone and subregion labels on the CT grid (for the DICOM export).
    pub bones: Arc<LabelMap>,
    pub subregions: Arc<LabelMap>,
    /// The models' provenance line and content ids (for the DICOM export).
    pub model_provenance: String,
    pub model_version: String,
    /// The analysis' report, as `srrd analyze` writes it (the Export button saves it).
    pub report: Report,
}

/// The maps (NaN outside the regions, so they overlay only the bone), the subregion labels
/// as a volume, and the summary.
/// Parameter maps, subregion labels, MR-side layers (crMR, sCT, rrMR) and the summary.
pub type AnalysisOutput = (
    Vec<(String, Volume)>,
    Volume,
    Vec<(String, Volume)>,
    ResultsSummary,
);

/// Where the analysed images came from, for the report (a path, or the layer's name).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub ct: String,
    pub mr: Option<String>,
}

/// The start of the error a bilateral CT analysed without a side gives: the viewer then
/// asks which knee.
pub const WHICH_KNEE: &str = "analysis: this CT holds both knees";

/// Runs the analysis (on a worker thread: the models are loaded there); `side` chooses a
/// knee of a bilateral CT (without it, a bilateral CT gives the [`WHICH_KNEE`] error).
pub fn run_analysis(
    ct: &Volume,
    mr: Option<&Volume>,
    start: Option<&srrd_base::volume::RigidTransform>,
    side: Option<Side>,
    sources: &Sources,
    dir: &Path,
    progress: &Progress,
) -> Result<AnalysisOutput, String> {
    let t0 = std::time::Instant::now();
    let models = Models::load(dir).map_err(|e| format!("loading the models: {e}"))?;
    let request = Request {
        sides: side.map(|s| vec![s]),
        start_mr_from_ct: start.cloned(),
    };
    let a = analyze_request(ct, mr, &request, &models, progress)
        .map_err(|e| format!("analysis: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| "analysis: no knee analysed".to_string())?
        .analysis;
    let context = ReportContext::new(sources.ct.clone(), sources.mr.clone(), dir, &models);
    let report = Report::done(&a, &context, t0.elapsed().as_secs_f64());
    let mut maps = Vec::new();
    let mut ranges = [(0f32, 1f32); 4];
    for (n, map) in a.prediction.maps.iter().enumerate() {
        let (shown, range) = map_in_regions(map, &a.regions);
        if let Some(range) = range {
            ranges[n] = range;
        }
        maps.push((MAP_LAYERS[n].0.to_string(), shown));
    }
    let labels = label_overlay(&a.subregions);
    let mut provenance = vec![super::models_choice::describe(dir, &models.card)];
    provenance.extend(models.card.summary_lines());
    if let Some(c) = &models.classifier {
        provenance.push(format!("KOA classifier: {}", c.trained_on));
    }
    let mut registered = Vec::new();
    if let Some(r) = a.registered {
        provenance.push(format!("refined registration on {}", r.refined_on));
        if r.sct.is_some() {
            provenance.push(srrd_synthesis::model::PROVENANCE.to_string());
        }
        registered.push(("crMR".to_string(), r.cr_mr));
        if let Some(sct) = r.sct {
            registered.push(("sCT".to_string(), sct));
        }
        registered.push(("rrMR".to_string(), r.rr_mr));
    }
    Ok((
        maps,
        labels,
        registered,
        ResultsSummary {
            stats: a.stats,
            mr_stats: a.mr_stats,
            koa: a.koa,
            koa_withheld: a.koa_withheld,
            checks: a.checks,
            knee: Some(a.knee),
            provenance,
            ranges,
            shown: 1,
            timings: a.timings,
            bones: Arc::new(a.bones),
            subregions: Arc::new(a.subregions),
            model_provenance: models.card.provenance.clone(),
            model_version: report.model_ids.version(),
            report,
        },
    ))
}

/// What the results panel asks of the viewer.
#[derive(Clone, Debug, PartialEq)]
pub enum ResultsAction {
    /// A line for the status bar.
    Status(String),
    /// Ask for a folder and write the analysis there as DICOM.
    ExportDicom,
    /// Open the PACS window to send the analysis (as DICOM) to a node.
    SendToPacs,
}

/// The results panel.
pub fn results_ui(ui: &mut egui::Ui, r: &mut ResultsSummary) -> Option<ResultsAction> {
    match &r.koa {
        Some(k) => {
            let colour = if k.class == "KOA" {
                egui::Color32::from_rgb(255, 150, 90)
            } else {
                egui::Color32::from_rgb(120, 220, 140)
            };
            ui.colored_label(
                colour,
                egui::RichText::new(format!("{}  P(KOA) = {:.2}", k.class, k.probability)).strong(),
            );
            if let Some(t) = k.three_group {
                ui.small(format!(
                    "normal {:.2} · mild {:.2} · advanced {:.2}",
                    t[0], t[1], t[2]
                ));
            }
        }
        None => match &r.koa_withheld {
            Some(why) => {
                ui.colored_label(
                    egui::Color32::from_rgb(255, 107, 107),
                    egui::RichText::new("KOA score withheld").strong(),
                );
                ui.small(why);
            }
            None => {
                ui.label("no KOA classifier in the models folder");
            }
        },
    }
    if let Some(k) = &r.knee {
        ui.small(k.describe());
    }
    checks_ui(ui, &r.checks);
    ui.colored_label(
        egui::Color32::from_rgb(232, 176, 74),
        caveat(&r.model_provenance),
    );
    for line in &r.provenance {
        ui.small(line);
    }
    ui.horizontal(|ui| {
        for (n, (name, _)) in MAP_LAYERS.iter().enumerate() {
            ui.selectable_value(&mut r.shown, n, *name);
        }
    });
    let (name, unit) = MAP_LAYERS[r.shown];
    colour_bar(ui, r.ranges[r.shown], unit);
    subregion_chart(ui, r);
    egui::Grid::new("subregion-table")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("subregion");
            ui.strong("n");
            ui.strong(format!("{name} CT ({unit})"));
            if r.mr_stats.is_some() {
                ui.strong("MR");
            }
            ui.end_row();
            for (n, s) in r.stats.iter().enumerate() {
                ui.label(&s.name);
                ui.label(s.patches.to_string());
                ui.label(format!("{:.3} ± {:.3}", s.mean[r.shown], s.sd[r.shown]));
                if let Some(mr) = &r.mr_stats {
                    ui.label(format!("{:.3}", mr[n].mean[r.shown]));
                }
                ui.end_row();
            }
        });
    let mut action = None;
    ui.horizontal(|ui| {
        if ui.button("Export report").clicked() {
            action = Some(ResultsAction::Status(match export(r) {
                Ok(p) => format!("report written to {}", p.display()),
                Err(e) => format!("export failed: {e}"),
            }));
        }
        if ui
            .button("Export DICOM…")
            .on_hover_text(
                "Segmentation of the bones and subregions, the four parameter maps and a measurement report (TID 1500), next to the CT's study when it was DICOM",
            )
            .clicked()
        {
            action = Some(ResultsAction::ExportDicom);
        }
        if ui
            .button("Send to PACS…")
            .on_hover_text("the same DICOM objects, stored on a node of nodes.toml (File > PACS…)")
            .clicked()
        {
            action = Some(ResultsAction::SendToPacs);
        }
    });
    action
}

/// The shown parameter per subregion (egui_plot): the CT's mean as a bar with ±1 SD, the
/// MR's mean as a dot when there is one; subregions 1-6 femur, 7-12 tibia.
fn subregion_chart(ui: &mut egui::Ui, r: &ResultsSummary) {
    use egui_plot::{Bar, BarChart, Line, Plot, PlotPoints, Points};
    let a = r.shown;
    let (name, unit) = MAP_LAYERS[a];
    let bars: Vec<Bar> = r
        .stats
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let colour = if n < 6 {
                egui::Color32::from_rgb(230, 200, 120)
            } else {
                egui::Color32::from_rgb(120, 180, 230)
            };
            Bar::new(n as f64 + 1.0, s.mean[a])
                .width(0.7)
                .name(&s.name)
                .fill(colour)
        })
        .collect();
    Plot::new("subregion-chart")
        .height(150.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show_x(false)
        .y_axis_label(format!("{name} ({unit})"))
        .show_axes([false, true])
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new(format!("{name} CT"), bars));
            for (n, s) in r.stats.iter().enumerate() {
                let x = n as f64 + 1.0;
                plot.line(
                    Line::new(
                        "±1 SD",
                        PlotPoints::from(vec![[x, s.mean[a] - s.sd[a]], [x, s.mean[a] + s.sd[a]]]),
                    )
                    .color(egui::Color32::GRAY)
                    .width(1.5),
                );
            }
            if let Some(mr) = &r.mr_stats {
                let dots: Vec<[f64; 2]> = mr
                    .iter()
                    .enumerate()
                    .map(|(n, s)| [n as f64 + 1.0, s.mean[a]])
                    .collect();
                plot.points(
                    Points::new(format!("{name} MR"), PlotPoints::from(dots))
                        .radius(3.5)
                        .color(egui::Color32::from_rgb(255, 120, 90)),
                );
            }
        });
    ui.small(if r.mr_stats.is_some() {
        "subregions in table order: femur (yellow), tibia (blue); bar CT mean ± SD, dot MR mean"
    } else {
        "subregions in table order: femur (yellow), tibia (blue); bar CT mean ± SD"
    });
}

/// The quality checks, a coloured mark each (green pass, amber warn, red fail).
pub fn checks_ui(ui: &mut egui::Ui, checks: &[Check]) {
    if checks.is_empty() {
        return;
    }
    egui::CollapsingHeader::new("Quality checks")
        .default_open(true)
        .show(ui, |ui| {
            for c in checks {
                let colour = match c.status {
                    Status::Pass => egui::Color32::from_rgb(106, 212, 138),
                    Status::Warn => egui::Color32::from_rgb(232, 176, 74),
                    Status::Fail => egui::Color32::from_rgb(255, 107, 107),
                };
                ui.horizontal_wrapped(|ui| {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                    ui.painter().circle_filled(rect.center(), 4.5, colour);
                    ui.colored_label(colour, format!("{} ({})", c.name, c.status.name()));
                    ui.small(&c.reason);
                });
            }
        });
}

/// A horizontal viridis bar with its range and unit.
fn colour_bar(ui: &mut egui::Ui, (lo, hi): (f32, f32), unit: &str) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(200.0, 12.0), egui::Sense::hover());
    let painter = ui.painter();
    let steps = 50;
    for s in 0..steps {
        let t = s as f32 / (steps - 1) as f32;
        let x0 = rect.min.x + rect.width() * s as f32 / steps as f32;
        let x1 = rect.min.x + rect.width() * (s + 1) as f32 / steps as f32;
        painter.rect_filled(
            egui::Rect::from_min_max(egui::pos2(x0, rect.min.y), egui::pos2(x1, rect.max.y)),
            0.0,
            super::viewer::viridis(t),
        );
    }
    ui.small(format!("{lo:.3} … {hi:.3} {unit}"));
}

/// Writes the analysis' report (`report.json`'s format) into the user's data folder (or
/// the temp folder).
fn export(r: &ResultsSummary) -> std::io::Result<PathBuf> {
    let dir = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("srrd-reports");
    std::fs::create_dir_all(&dir)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = dir.join(format!("report-{stamp}.json"));
    r.report
        .write(&path)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(path)
}

/// The models' provenance as the sentence shown under every score: "Trained on ...; for
/// research use, not clinically validated."
pub fn caveat(provenance: &str) -> String {
    let mut c = provenance.chars();
    let first: String = c
        .next()
        .map(|f| f.to_uppercase().collect())
        .unwrap_or_default();
    let rest: String = c.collect();
    let text = format!("{first}{rest}");
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}
