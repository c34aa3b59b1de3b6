//! Figures, drawn with `plotters`: predicted-vs-truth scatter plots with the identity line
//! (the paper's Figure 5), line charts (loss curves, ROC curves), Bland-Altman plots and
//! per-group box plots. Each is written as PNG or SVG by the file's extension (PNG encoded
//! with the `image` crate, written atomically); the HTML reports embed the SVG text.
//! Text is set in the Hack font egui ships (`epaint_default_fonts`), so the figures
//! look the same on every machine and need no system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width and height of a figure, in pixels.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;

/// One named set of points drawn in one colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (x, y) points; non-finite ones (and y <= 0 on a log axis) are skipped.
    pub points: Vec<(f64, f64)>,
    /// RGB colour.
    pub color: [u8; 3],
}

const FONT: &str = "sans-serif";
const IDENTITY: RGBColor = RGBColor(150, 150, 150);

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font(FONT, style, epaint_default_fonts::HACK_REGULAR);
        }
    });
}

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A figure that can be drawn on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// Draws `fig` onto a PNG (`.png`) or SVG (any other extension) file at `path`, written
/// through a temporary name.
fn render(path: &Path, size: (u32, u32), fig: &impl Figure) -> std::io::Result<()> {
    fonts();
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let bytes = if is_png {
        let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
            fig.draw(&root).map_err(std::io::Error::other)?;
            root.present().map_err(|e| std::io::Error::other(err(e)))?;
        }
        srrd_base::io::raster::encode_png_rgb(size.0, size.1, &buf)?
    } else {
        svg_string(size, fig)
            .map_err(std::io::Error::other)?
            .into_bytes()
    };
    srrd_base::io::atomic_write(path, |w| w.write_all(&bytes)).map_err(std::io::Error::other)
}

/// A figure as SVG text.
fn svg_string(size: (u32, u32), fig: &impl Figure) -> Result<String, String> {
    fonts();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(s)
}

/// Finite points of all series (y > 0 too when `log_y`).
fn usable(series: &[Series], log_y: bool) -> impl Iterator<Item = (f64, f64)> + '_ {
    series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(move |(x, y)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0))
}

/// Points along each series' joined segments (ten per segment), where a line chart draws.
fn line_samples(series: &[Series], log_y: bool) -> impl Iterator<Item = (f64, f64)> + '_ {
    series.iter().flat_map(move |s| {
        s.points
            .windows(2)
            .filter(move |w| {
                w.iter()
                    .all(|(x, y)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0))
            })
            .flat_map(|w| {
                (1..10).map(move |t| {
                    let t = f64::from(t) / 10.0;
                    (
                        w[0].0 + t * (w[1].0 - w[0].0),
                        w[0].1 + t * (w[1].1 - w[0].1),
                    )
                })
            })
    })
}

/// Pads a data range by 5% each side; widens empty or zero-width ranges.
pub fn padded(min: f64, max: f64) -> (f64, f64) {
    if !(min.is_finite() && max.is_finite()) || min > max {
        return (0.0, 1.0);
    }
    if max - min <= 1e-12 * min.abs().max(max.abs()) {
        let half = if min == 0.0 { 1.0 } else { 0.5 * min.abs() };
        return (min - half, max + half);
    }
    let pad = 0.05 * (max - min);
    (min - pad, max + pad)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    padded(lo, hi)
}

/// A tick label: a few significant digits, no binary noise (0.30000000000000004 -> 0.3).
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs();
    if !(1e-3..1e5).contains(&mag) {
        return format!("{v:.1e}");
    }
    let decimals = (3 - mag.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The corner of the plot with the fewest points near it (x, y fractions of the ranges,
/// y on the axis scale), where the legend hides least.
fn emptiest_corner(
    points: impl Iterator<Item = (f64, f64)>,
    x: (f64, f64),
    y: (f64, f64),
) -> SeriesLabelPosition {
    let mut counts = [0usize; 4]; // upper left, upper right, lower left, lower right
    for (px, py) in points {
        let fx = (px - x.0) / (x.1 - x.0);
        let fy = (py - y.0) / (y.1 - y.0);
        let (left, right) = (fx < 0.5, fx > 0.5);
        let (upper, lower) = (fy > 0.65, fy < 0.35);
        counts[0] += usize::from(left && upper);
        counts[1] += usize::from(right && upper);
        counts[2] += usize::from(left && lower);
        counts[3] += usize::from(right && lower);
    }
    let best = (0..4)
        .min_by_key(|&i| (counts[i], [1, 0, 3, 2][i]))
        .unwrap_or(1);
    [
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::LowerLeft,
        SeriesLabelPosition::LowerRight,
    ][best]
        .clone()
}

fn caption_style() -> TextStyle<'static> {
    (FONT, 20).into_font().into()
}

/// Predicted (y) against truth (x) with the dashed identity line y = x, on one square range
/// so that the line is the diagonal.
pub fn scatter_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> std::io::Result<()> {
    let (lo, hi) = range(usable(series, false).flat_map(|(x, y)| [x, y]));
    let fig = Scatter {
        title,
        x_label,
        y_label,
        series,
        lo,
        hi,
    };
    render(path, (WIDTH, HEIGHT), &fig)
}

struct Scatter<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series],
    lo: f64,
    hi: f64,
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
            .caption(title, caption_style())
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(58)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style((FONT, 14))
            .light_line_style(RGBColor(238, 238, 238))
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
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(|(x, y)| x.is_finite() && y.is_finite())
                        .map(|&(x, y)| Circle::new((x, y), 3, c.mix(0.8).filled())),
                )
                .map_err(err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        }
        let corner = emptiest_corner(usable(series, false), (lo, hi), (lo, hi));
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 14))
            .draw()
            .map_err(err)
    }
}

/// Line chart (loss curves, ROC curves): each series' points joined in order; `log_y` puts
/// y on a log10 axis (y <= 0 points skipped). Non-finite points break the line.
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
            .caption(title, caption_style())
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64);
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .x_label_formatter(&|v| tick(*v))
                    .y_label_formatter(&|v| tick(*v))
                    .label_style((FONT, 14))
                    .light_line_style(RGBColor(238, 238, 238))
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
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .label_font((FONT, 14))
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

/// Bland-Altman agreement of two measurements of the same things: bias and 95% limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlandAltman {
    pub bias: f64,
    pub lower: f64,
    pub upper: f64,
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

/// A Bland-Altman plot of (a, b) pairs (a: predicted, b: truth): the difference against the
/// mean, with the bias and the 95% limits of agreement as labelled lines.
pub fn bland_altman_png(
    path: &Path,
    title: &str,
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
        unit,
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
    unit: &'a str,
    points: &'a [(f64, f64)],
    ba: BlandAltman,
    color: RGBColor,
    x: (f64, f64),
    y: (f64, f64),
}

impl Figure for BaFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let BaFigure {
            title,
            unit,
            points,
            ba,
            color: c,
            x: (x0, x1),
            y: (y0, y1),
        } = *self;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, caption_style())
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(format!("mean of predicted and truth ({unit})"))
            .y_desc(format!("predicted - truth ({unit})"))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style((FONT, 14))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, c.mix(0.7).filled())),
            )
            .map_err(err)?;
        for (value, name, style) in [
            (ba.bias, "bias", BLACK.stroke_width(2)),
            (ba.upper, "+1.96 SD", IDENTITY.stroke_width(1)),
            (ba.lower, "-1.96 SD", IDENTITY.stroke_width(1)),
        ] {
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
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{name} {value:.3}"),
                    (x0 + 0.01 * (x1 - x0), value + 0.015 * (y1 - y0)),
                    (FONT, 13).into_font(),
                )))
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Quartiles and whiskers (Tukey: 1.5 IQR) of a group, for box plots.
fn five_numbers(values: &[f64]) -> Option<[f64; 5]> {
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
    let (y0, y1) = limits.unwrap_or_else(|| {
        range(
            groups
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .filter(|x| x.is_finite()),
        )
    });
    let n = groups.len().max(1);
    let width = (120 * n as u32 + 120).clamp(280, 900);
    svg_string(
        (width, 300),
        &Boxes {
            title,
            groups,
            y: (y0, y1),
        },
    )
}

struct Boxes<'a> {
    title: &'a str,
    groups: &'a [(String, Vec<f64>)],
    y: (f64, f64),
}

impl Figure for Boxes<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let Boxes {
            title,
            groups,
            y: (y0, y1),
        } = *self;
        let n = groups.len().max(1);
        let palette = [
            RGBColor(72, 120, 200),
            RGBColor(230, 120, 20),
            RGBColor(60, 160, 90),
            RGBColor(180, 70, 160),
            RGBColor(200, 60, 60),
        ];
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(54)
            .build_cartesian_2d(0f64..n as f64, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_label_formatter(&|v| tick(*v))
            .label_style((FONT, 12))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        for (i, (name, values)) in groups.iter().enumerate() {
            let c = palette[i % palette.len()];
            let centre = i as f64 + 0.5;
            // The group's name under its box, in the label area.
            let (px, py) = chart.backend_coord(&(centre, y0));
            root.draw(&Text::new(
                format!("{name} (n={})", values.len()),
                (px, py + 8),
                TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
            if let Some([lo, q1, q2, q3, hi]) = five_numbers(values) {
                let (l, r) = (centre - 0.22, centre + 0.22);
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
}

/// An ROC curve with its diagonal, as SVG text for an HTML page, with the caption (AUC and
/// its confidence interval) under the title.
pub fn roc_svg(points: &[(f64, f64)], caption: &str) -> Result<String, String> {
    svg_string((360, 380), &Roc { points, caption })
}

struct Roc<'a> {
    points: &'a [(f64, f64)],
    caption: &'a str,
}

impl Figure for Roc<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let Roc { points, caption } = *self;
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FONT, 13))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .label_style((FONT, 12))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                5,
                4,
                IDENTITY.stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                RGBColor(72, 120, 200).stroke_width(2),
            ))
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
