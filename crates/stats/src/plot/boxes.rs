//! Box plots of groups side by side (median, quartiles, Tukey whiskers, every value a
//! dot): P(KOA) and the parameters by KL grade or group.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    DrawResult, FONT, Figure, GRID, desc_style, err, label_style, range, render, svg_string, tick,
};

/// One panel of box plots: a quantity by group.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxPanel {
    /// Panel title ("Tb.Th (mm)").
    pub title: String,
    /// Value axis title; empty for none.
    pub y_label: String,
    /// (group name, values) in the order drawn.
    pub groups: Vec<(String, Vec<f64>)>,
    /// Fixed value axis (P(KOA) in 0-1); None fits the values.
    pub limits: Option<(f64, f64)>,
}

/// Quartiles and whiskers (Tukey: 1.5 IQR) of a group, for box plots.
pub(super) fn five_numbers(values: &[f64]) -> Option<[f64; 5]> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (i, f) = (pos.floor() as usize, pos.fract());
        v[i] + f * (v[(i + 1).min(v.len() - 1)] - v[i])
    };
    let (q1, q2, q3) = (q(0.25), q(0.5), q(0.75));
    let iqr = q3 - q1;
    let lo = v
        .iter()
        .copied()
        .find(|x| *x >= q1 - 1.5 * iqr)
        .unwrap_or(q1);
    let hi = v
        .iter()
        .rev()
        .copied()
        .find(|x| *x <= q3 + 1.5 * iqr)
        .unwrap_or(q3);
    Some([lo, q1, q2, q3, hi])
}

/// Box plots of groups side by side (median, quartiles, Tukey whiskers, every value as a
/// dot), as SVG text for an HTML page; `limits` fixes the value axis (P(KOA) in 0-1).
pub fn box_plot_svg(
    title: &str,
    groups: &[(String, Vec<f64>)],
    limits: Option<(f64, f64)>,
) -> Result<String, String> {
    let n = groups.len().max(1);
    let width = (110 * n as u32 + 120).clamp(300, 900);
    let panel = BoxPanel {
        title: title.to_string(),
        y_label: String::new(),
        groups: groups.to_vec(),
        limits,
    };
    svg_string(
        (width, 320),
        &Panels {
            title: "",
            panels: std::slice::from_ref(&panel),
            cols: 1,
        },
    )
}

/// Panels of box plots in a grid of `cols` columns under one `title` (none when empty),
/// each panel 420 x 360 pixels. A `.png` gets its SVG beside it.
pub fn box_panels_png(
    path: &Path,
    title: &str,
    panels: &[BoxPanel],
    cols: usize,
) -> std::io::Result<()> {
    let cols = cols.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    let caption = if title.is_empty() { 0 } else { 40 };
    let size = (420 * cols as u32, 360 * rows as u32 + caption);
    render(
        path,
        size,
        &Panels {
            title,
            panels,
            cols,
        },
    )
}

struct Panels<'a> {
    title: &'a str,
    panels: &'a [BoxPanel],
    cols: usize,
}

impl Figure for Panels<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(err)?;
        let body = if self.title.is_empty() {
            root.clone()
        } else {
            root.titled(self.title, super::caption_style())
                .map_err(err)?
        };
        let rows = self.panels.len().div_ceil(self.cols).max(1);
        let areas = body.split_evenly((rows, self.cols));
        for (panel, area) in self.panels.iter().zip(&areas) {
            draw_panel(panel, area)?;
        }
        Ok(())
    }
}

const PALETTE: [RGBColor; 5] = [
    RGBColor(72, 120, 200),
    RGBColor(60, 160, 90),
    RGBColor(230, 150, 20),
    RGBColor(220, 90, 40),
    RGBColor(170, 40, 60),
];

fn draw_panel<DB: DrawingBackend>(panel: &BoxPanel, root: &DrawingArea<DB, Shift>) -> DrawResult {
    let groups = &panel.groups;
    let (y0, y1) = panel.limits.unwrap_or_else(|| {
        range(
            groups
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .filter(|x| x.is_finite()),
        )
    });
    let n = groups.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(&panel.title, (FONT, 16))
        .margin(10)
        .margin_right(16)
        .x_label_area_size(46)
        .y_label_area_size(if panel.y_label.is_empty() { 56 } else { 76 })
        .build_cartesian_2d(0f64..n as f64, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(&panel.y_label)
        .y_label_formatter(&|v| tick(*v))
        .label_style(label_style())
        .axis_desc_style(desc_style())
        .max_light_lines(0)
        .bold_line_style(GRID)
        .draw()
        .map_err(err)?;
    for (i, (name, values)) in groups.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let centre = i as f64 + 0.5;
        // The group's name and count under its box, in the label area.
        let (px, py) = chart.backend_coord(&(centre, y0));
        // Backend coordinates, to the panel's own.
        let (bx, by) = root.get_base_pixel();
        let (px, py) = (px - bx, py - by);
        let n_finite = values.iter().filter(|v| v.is_finite()).count();
        for (k, text) in [name.clone(), format!("n = {n_finite}")]
            .into_iter()
            .enumerate()
        {
            root.draw(&Text::new(
                text,
                (px, py + 8 + 17 * k as i32),
                label_style().pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
        }
        if let Some([lo, q1, q2, q3, hi]) = five_numbers(values) {
            let (l, r) = (centre - 0.25, centre + 0.25);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(l, q1), (r, q3)],
                    c.mix(0.25).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(l, q1), (r, q3)],
                    c.stroke_width(1),
                )))
                .map_err(err)?;
            for seg in [
                [(l, q2), (r, q2)],
                [(centre, q3), (centre, hi)],
                [(centre, q1), (centre, lo)],
                [(centre - 0.1, hi), (centre + 0.1, hi)],
                [(centre - 0.1, lo), (centre + 0.1, lo)],
            ] {
                chart
                    .draw_series(std::iter::once(PathElement::new(seg, c.stroke_width(2))))
                    .map_err(err)?;
            }
        }
        // Every value, spread a little sideways so ties stay visible.
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(k, v)| {
                        let dx = ((k * 37) % 17) as f64 / 17.0 * 0.24 - 0.12;
                        Circle::new((centre + dx, *v), 2, BLACK.mix(0.6).filled())
                    }),
            )
            .map_err(err)?;
    }
    Ok(())
}
