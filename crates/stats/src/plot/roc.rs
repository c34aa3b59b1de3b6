//! ROC curves with the chance diagonal; each curve's legend entry carries its AUC and
//! DeLong 95% confidence interval.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    DrawResult, Figure, GRID, IDENTITY, SQUARE, desc_style, err, label_style, legend_style, render,
    rgb, svg_string, tick,
};
use crate::{delong, roc_points};

/// One classifier's scores for an ROC figure.
#[derive(Clone, Debug, PartialEq)]
pub struct RocCurve {
    /// What scored ("SRRD-CT (distilled)").
    pub name: String,
    /// One score per case; higher means positive.
    pub scores: Vec<f64>,
    /// Each case's truth.
    pub positive: Vec<bool>,
    /// RGB colour.
    pub color: [u8; 3],
}

/// A curve's legend entry, `name: AUC 0.78 (0.62–0.94)`: the AUC and its 95% CI by
/// [`delong`], two decimals; the name alone where DeLong's interval is undefined (fewer
/// than two cases of a class).
pub fn roc_label(name: &str, scores: &[f64], positive: &[bool]) -> String {
    match delong(scores, positive) {
        Some(d) => format!(
            "{name}: AUC {:.2} ({:.2}\u{2013}{:.2})",
            d.auc, d.ci95.0, d.ci95.1
        ),
        None => name.to_string(),
    }
}

/// ROC curves of `curves` (each from [`roc_points`]) on the unit square with the chance
/// diagonal, each labelled by [`roc_label`]. A square figure; a `.png` gets its SVG
/// beside it.
pub fn roc_png(path: &Path, title: &str, curves: &[RocCurve]) -> std::io::Result<()> {
    render(path, (SQUARE, SQUARE), &Roc::new(title, curves))
}

/// The same figure as [`roc_png`], 480 pixels square, as SVG text for an HTML page.
pub fn roc_svg(title: &str, curves: &[RocCurve]) -> Result<String, String> {
    svg_string((480, 480), &Roc::new(title, curves))
}

/// A curve as drawn: legend entry, points, colour.
type Drawn = (String, Vec<(f64, f64)>, RGBColor);

struct Roc<'a> {
    title: &'a str,
    curves: Vec<Drawn>,
}

impl<'a> Roc<'a> {
    fn new(title: &'a str, curves: &[RocCurve]) -> Self {
        Roc {
            title,
            curves: curves
                .iter()
                .map(|c| {
                    (
                        roc_label(&c.name, &c.scores, &c.positive),
                        roc_points(&c.scores, &c.positive),
                        rgb(c.color),
                    )
                })
                .collect(),
        }
    }
}

impl Figure for Roc<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(err)?;
        let mut builder = ChartBuilder::on(root);
        builder
            .margin(12)
            .margin_right(22)
            .x_label_area_size(54)
            .y_label_area_size(72);
        if !self.title.is_empty() {
            builder.caption(self.title, super::caption_style());
        }
        let mut chart = builder
            .build_cartesian_2d(-0.01f64..1.01f64, -0.01f64..1.01f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("1 \u{2212} specificity (false positive rate)")
            .y_desc("sensitivity (true positive rate)")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .x_labels(6)
            .y_labels(6)
            .label_style(label_style())
            .axis_desc_style(desc_style())
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                IDENTITY.stroke_width(1),
            ))
            .map_err(err)?
            .label("chance")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], IDENTITY));
        for (label, points, c) in &self.curves {
            let c = *c;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                .map_err(err)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .margin(10)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font(legend_style())
            .draw()
            .map_err(err)
    }
}
