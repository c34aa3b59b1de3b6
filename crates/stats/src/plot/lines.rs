//! Line charts: loss curves of the trainers.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    DrawResult, Figure, GRID, HEIGHT, Series, WIDTH, desc_style, emptiest_corner, err, label_style,
    legend_style, line_samples, range, render, rgb, tick, usable,
};

/// Line chart (loss curves): each series' points joined in order; `log_y` puts y on a
/// log10 axis (y <= 0 points skipped). Non-finite points break the line. A `.png` gets
/// its SVG beside it.
pub fn lines_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> std::io::Result<()> {
    let (x0, x1) = range(usable(series, log_y).map(|p| p.0));
    let (y0, y1) = if log_y {
        let (lo, hi) = range(usable(series, true).map(|p| p.1.log10()));
        (10f64.powf(lo), 10f64.powf(hi))
    } else {
        range(usable(series, false).map(|p| p.1))
    };
    let fig = Lines {
        title,
        x_label,
        y_label,
        series,
        log_y,
        x: (x0, x1),
        y: (y0, y1),
    };
    render(path, (WIDTH, HEIGHT), &fig)
}

struct Lines<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    log_y: bool,
    x: (f64, f64),
    y: (f64, f64),
}

impl Figure for Lines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let Lines {
            title,
            x_label,
            y_label,
            series,
            log_y,
            x: (x0, x1),
            y: (y0, y1),
        } = *self;
        root.fill(&WHITE).map_err(err)?;
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(title, super::caption_style())
            .margin(12)
            .margin_right(22)
            .x_label_area_size(54)
            .y_label_area_size(76);
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
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
                for s in series {
                    let c = rgb(s.color);
                    // Split at unusable points so that they break the line.
                    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                    for &(x, y) in &s.points {
                        if x.is_finite() && y.is_finite() && (!log_y || y > 0.0) {
                            if let Some(run) = runs.last_mut() {
                                run.push((x, y));
                            }
                        } else if runs.last().is_some_and(|r| !r.is_empty()) {
                            runs.push(Vec::new());
                        }
                    }
                    let mut first = true;
                    for run in runs.into_iter().filter(|r| !r.is_empty()) {
                        let drawn = chart
                            .draw_series(LineSeries::new(run, c.stroke_width(2)))
                            .map_err(err)?;
                        if first {
                            drawn.label(s.name.as_str()).legend(move |(x, y)| {
                                PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2))
                            });
                            first = false;
                        }
                    }
                }
                let on_axis = |(px, py): (f64, f64)| (px, if log_y { py.log10() } else { py });
                let axis_y = if log_y {
                    (y0.log10(), y1.log10())
                } else {
                    (y0, y1)
                };
                let corner = emptiest_corner(
                    // The points and samples along the joined lines.
                    usable(series, log_y)
                        .chain(line_samples(series, log_y))
                        .map(on_axis),
                    (x0, x1),
                    axis_y,
                );
                chart
                    .configure_series_labels()
                    .position(corner)
                    .margin(10)
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK.mix(0.3))
                    .label_font(legend_style())
                    .draw()
                    .map_err(err)
            }};
        }
        if log_y {
            body!(
                builder
                    .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                    .map_err(err)?
            )
        } else {
            body!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?)
        }
    }
}
