//! Predicted-vs-truth scatter plots (the paper's Figure 5): the identity line, and each
//! series' ICC(A,1) and Pearson r with the truth in its legend entry.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    DrawResult, Figure, GRID, IDENTITY, SQUARE, Series, desc_style, emptiest_corner, err,
    label_style, legend_style, range, render, rgb, tick, usable,
};
use crate::{icc_a1, pearson};

/// A series' legend entry with its agreement with the truth, `name: ICC 0.912, r = 0.934`:
/// ICC(A,1) ([`icc_a1`]) and Pearson r ([`pearson`]) of its finite (truth x, predicted y)
/// points, computed as the tables compute them (predicted first); the name alone where
/// neither is defined (fewer than 3 points, no spread).
pub fn agreement_label(name: &str, points: &[(f64, f64)]) -> String {
    let (truth, predicted): (Vec<f64>, Vec<f64>) = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .copied()
        .unzip();
    let icc = icc_a1(&predicted, &truth).map(|i| i.value);
    let r = pearson(&predicted, &truth).filter(|r| r.is_finite());
    match (icc.filter(|v| v.is_finite()), r) {
        (Some(i), Some(r)) => format!("{name}: ICC {i:.3}, r = {r:.3}"),
        (Some(i), None) => format!("{name}: ICC {i:.3}"),
        (None, Some(r)) => format!("{name}: r = {r:.3}"),
        (None, None) => name.to_string(),
    }
}

/// Predicted (y) against truth (x) with the dashed identity line y = x, on one square range
/// so that the line is the diagonal; each series' legend entry carries its ICC(A,1) and
/// Pearson r ([`agreement_label`]). A square figure; a `.png` gets its SVG beside it.
pub fn scatter_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> std::io::Result<()> {
    let (lo, hi) = range(usable(series, false).flat_map(|(x, y)| [x, y]));
    let labelled: Vec<Series> = series
        .iter()
        .map(|s| Series {
            name: agreement_label(&s.name, &s.points),
            ..s.clone()
        })
        .collect();
    let fig = Scatter {
        title,
        x_label,
        y_label,
        series: &labelled,
        lo,
        hi,
    };
    render(path, (SQUARE, SQUARE), &fig)
}

struct Scatter<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    lo: f64,
    hi: f64,
}

/// Dot radius and opacity for `n` points: smaller and lighter as they crowd, so that a
/// dense cloud shows where it is densest.
fn dot(n: usize) -> (u32, f64) {
    match n {
        0..=200 => (3, 0.8),
        201..=1000 => (2, 0.6),
        _ => (2, 0.35),
    }
}

impl Figure for Scatter<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let Scatter {
            title,
            x_label,
            y_label,
            series,
            lo,
            hi,
        } = *self;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, super::caption_style())
            .margin(12)
            .margin_right(22)
            .x_label_area_size(54)
            .y_label_area_size(72)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style(label_style())
            .axis_desc_style(desc_style())
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                [(lo, lo), (hi, hi)],
                6,
                4,
                IDENTITY.stroke_width(1),
            ))
            .map_err(err)?
            .label("y = x")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], IDENTITY));
        for s in series {
            let c = rgb(s.color);
            let finite = || {
                s.points
                    .iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
            };
            let (radius, alpha) = dot(finite().count());
            chart
                .draw_series(
                    finite().map(|&(x, y)| Circle::new((x, y), radius, c.mix(alpha).filled())),
                )
                .map_err(err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        }
        let corner = emptiest_corner(usable(series, false), (lo, hi), (lo, hi));
        chart
            .configure_series_labels()
            .position(corner)
            .margin(10)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font(legend_style())
            .draw()
            .map_err(err)?;
        Ok(())
    }
}
