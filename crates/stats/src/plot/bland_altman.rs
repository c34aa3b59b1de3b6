//! Bland-Altman plots: the difference of two measurements against their mean, with the
//! bias and the 95% limits of agreement.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    DrawResult, Figure, GRID, HEIGHT, IDENTITY, WIDTH, desc_style, err, label_style, left_centre,
    range, render, rgb, tick, with_unit,
};

/// Bland-Altman agreement of two measurements of the same things: bias and 95% limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlandAltman {
    /// Mean difference a - b.
    pub bias: f64,
    /// bias - 1.96 SD of the differences.
    pub lower: f64,
    /// bias + 1.96 SD of the differences.
    pub upper: f64,
    /// Finite pairs.
    pub n: usize,
}

impl BlandAltman {
    /// From (a, b) pairs: differences a - b against means (a + b) / 2; limits bias ±
    /// 1.96 SD of the differences. Non-finite pairs are skipped.
    pub fn of(pairs: &[(f64, f64)]) -> Self {
        let d: Vec<f64> = pairs
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .map(|(a, b)| a - b)
            .collect();
        let n = d.len();
        if n == 0 {
            return BlandAltman {
                bias: f64::NAN,
                lower: f64::NAN,
                upper: f64::NAN,
                n,
            };
        }
        let bias = d.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (d.iter().map(|x| (x - bias).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        BlandAltman {
            bias,
            lower: bias - 1.96 * sd,
            upper: bias + 1.96 * sd,
            n,
        }
    }
}

/// A Bland-Altman plot of (a, b) pairs (a: predicted, b: truth): the difference a - b
/// against the mean, with the bias and the 95% limits of agreement as dashed lines labelled
/// in the right margin. `names` are what a and b are ("SRRD-CT", "MR ground truth") and
/// `unit` the values' unit ("" or "1" for none), for the axis titles. A `.png` gets its SVG
/// beside it.
pub fn bland_altman_png(
    path: &Path,
    title: &str,
    names: (&str, &str),
    unit: &str,
    pairs: &[(f64, f64)],
    color: [u8; 3],
) -> std::io::Result<BlandAltman> {
    let ba = BlandAltman::of(pairs);
    let points: Vec<(f64, f64)> = pairs
        .iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| ((a + b) / 2.0, a - b))
        .collect();
    let (x0, x1) = range(points.iter().map(|p| p.0));
    let (y0, y1) = range(
        points
            .iter()
            .map(|p| p.1)
            .chain([ba.lower, ba.upper].into_iter().filter(|v| v.is_finite())),
    );
    let fig = BaFigure {
        title,
        x_label: with_unit(&format!("mean of {} and {}", names.0, names.1), unit),
        y_label: with_unit(&format!("{} \u{2212} {}", names.0, names.1), unit),
        points: &points,
        ba,
        color: rgb(color),
        x: (x0, x1),
        y: (y0, y1),
    };
    render(path, (WIDTH, HEIGHT), &fig)?;
    Ok(ba)
}

struct BaFigure<'a> {
    title: &'a str,
    x_label: String,
    y_label: String,
    points: &'a [(f64, f64)],
    ba: BlandAltman,
    color: RGBColor,
    x: (f64, f64),
    y: (f64, f64),
}

/// Room right of the plot for the lines' labels, in pixels.
const LABELS: u32 = 84;

impl Figure for BaFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let BaFigure {
            title,
            ref x_label,
            ref y_label,
            points,
            ba,
            color: c,
            x: (x0, x1),
            y: (y0, y1),
        } = *self;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, super::caption_style())
            .margin(12)
            .margin_right(LABELS)
            .x_label_area_size(54)
            .y_label_area_size(76)
            .build_cartesian_2d(x0..x1, y0..y1)
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
        let alpha = if points.len() > 1000 { 0.35 } else { 0.7 };
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 2, c.mix(alpha).filled())),
            )
            .map_err(err)?;
        // Upper limit, bias, lower limit: top to bottom on the page.
        let lines = [
            (ba.upper, "+1.96 SD", IDENTITY.stroke_width(2)),
            (ba.bias, "bias", BLACK.stroke_width(2)),
            (ba.lower, "\u{2212}1.96 SD", IDENTITY.stroke_width(2)),
        ];
        let mut next_free = i32::MIN;
        let decimals = decimals_for(ba.upper - ba.lower);
        for (value, name, style) in lines {
            if !value.is_finite() {
                continue;
            }
            chart
                .draw_series(DashedLineSeries::new(
                    [(x0, value), (x1, value)],
                    6,
                    4,
                    style,
                ))
                .map_err(err)?;
            // Two lines of text at the line's height, pushed down clear of the one above.
            let (px, py) = chart.backend_coord(&(x1, value));
            let (bx, by) = root.get_base_pixel();
            let (px, py) = (px - bx, py - by);
            let top = (py - 9).max(next_free);
            next_free = top + 36;
            for (k, text) in [name.to_string(), fixed(value, decimals)]
                .into_iter()
                .enumerate()
            {
                root.draw(&Text::new(
                    text,
                    (px + 8, top + 17 * k as i32),
                    left_centre(label_style()),
                ))
                .map_err(err)?;
            }
        }
        Ok(())
    }
}

/// Decimals that show a value to about a hundredth of `spread` (the width of the limits of
/// agreement), so that the bias and both limits are written alike.
fn decimals_for(spread: f64) -> usize {
    if !(spread.is_finite() && spread > 0.0) {
        return 3;
    }
    (2 - (spread / 2.0).log10().floor() as i32).clamp(0, 8) as usize
}

/// `value` with `decimals` decimals and a true minus sign.
fn fixed(value: f64, decimals: usize) -> String {
    let s = format!("{value:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c != '0' && c != '.') => format!("\u{2212}{rest}"),
        Some(rest) => rest.to_string(),
        None => s,
    }
}
