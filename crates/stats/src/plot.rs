//! Figures, drawn with `plotters`: predicted-vs-truth scatter plots with the identity line
//! and each series' ICC(A,1) and Pearson r (the paper's Figure 5), line charts (loss
//! curves), ROC curves with each curve's AUC and DeLong 95% CI, Bland-Altman plots and
//! per-group box plots. A `.png` path gets the PNG (encoded with the `image` crate) and the
//! same figure as SVG beside it (same name, `.svg`), both written atomically; the HTML
//! reports embed the SVG text.
//!
//! Text is set in a proportional sans font: `SRRD_FIGURE_FONT` (a TTF file) when set,
//! else DejaVu Sans where Debian's `fonts-dejavu-core` is installed, else Ubuntu Light,
//! which egui ships (`epaint_default_fonts`), so a figure never needs a system font.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod bland_altman;
mod boxes;
mod lines;
mod roc;
mod scatter;

pub use bland_altman::{BlandAltman, bland_altman_png};
pub use boxes::{BoxPanel, box_panels_png, box_plot_svg};
pub use lines::lines_png;
pub use roc::{RocCurve, roc_label, roc_png, roc_svg};
pub use scatter::{agreement_label, scatter_png};

/// Width and height of a line chart or Bland-Altman plot, in pixels.
pub const WIDTH: u32 = 640;
/// Height of a line chart or Bland-Altman plot, in pixels.
pub const HEIGHT: u32 = 480;
/// Edge of the square scatter and ROC figures, in pixels.
pub const SQUARE: u32 = 600;

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

/// The family name the figures' font is registered under (and the SVG asks for).
const FONT: &str = "sans-serif";
const IDENTITY: RGBColor = RGBColor(150, 150, 150);
const GRID: RGBColor = RGBColor(235, 235, 235);

/// System fonts tried in order, (regular, bold): Debian's DejaVu Sans.
const SYSTEM_FONTS: [(&str, &str); 2] = [
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    ),
];

/// A font file's bytes, kept for the process (fonts are registered once).
fn font_file(path: &Path) -> Option<&'static [u8]> {
    let bytes = std::fs::read(path).ok()?;
    Some(Box::leak(bytes.into_boxed_slice()))
}

/// Registers `regular` (and `bold`, else `regular`, for bold text); false when the
/// regular font does not parse.
fn register(regular: &'static [u8], bold: Option<&'static [u8]>) -> bool {
    if plotters::style::register_font(FONT, FontStyle::Normal, regular).is_err() {
        return false;
    }
    let bold = bold.filter(|b| plotters::style::register_font(FONT, FontStyle::Bold, b).is_ok());
    if bold.is_none() {
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, regular);
    }
    true
}

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Some(path) = std::env::var_os("SRRD_FIGURE_FONT")
            && font_file(Path::new(&path)).is_some_and(|f| register(f, None))
        {
            return;
        }
        for (regular, bold) in SYSTEM_FONTS {
            if let Some(r) = font_file(Path::new(regular))
                && register(r, font_file(Path::new(bold)))
            {
                return;
            }
        }
        if !register(epaint_default_fonts::UBUNTU_LIGHT, None) {
            let _ = register(epaint_default_fonts::HACK_REGULAR, None);
        }
    });
}

/// A quantity with its unit for an axis or title: `Tb.Th (mm)`; no parentheses for a
/// dimensionless one (unit "" or "1": `BV/TV`).
pub fn with_unit(name: &str, unit: &str) -> String {
    if unit.is_empty() || unit == "1" {
        name.to_string()
    } else {
        format!("{name} ({unit})")
    }
}

/// The SVG written beside a PNG: the same path with the extension `.svg`.
pub fn svg_beside(png: &Path) -> PathBuf {
    png.with_extension("svg")
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

/// Draws `fig` onto a PNG (`.png`, with the same figure as SVG beside it) or SVG (any
/// other extension) file at `path`, each written through a temporary name.
fn render(path: &Path, size: (u32, u32), fig: &impl Figure) -> std::io::Result<()> {
    fonts();
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let svg = svg_string(size, fig).map_err(std::io::Error::other)?;
    let write = |p: &Path, bytes: &[u8]| {
        srrd_base::io::atomic_write(p, |w| w.write_all(bytes)).map_err(std::io::Error::other)
    };
    if !is_png {
        return write(path, svg.as_bytes());
    }
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        fig.draw(&root).map_err(std::io::Error::other)?;
        root.present().map_err(|e| std::io::Error::other(err(e)))?;
    }
    let png = srrd_base::io::raster::encode_png_rgb(size.0, size.1, &buf)?;
    write(path, &png)?;
    write(&svg_beside(path), svg.as_bytes())
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
    (FONT, 19).into_font().into()
}

/// Tick labels.
fn label_style() -> TextStyle<'static> {
    (FONT, 14).into_font().into()
}

/// Axis titles.
fn desc_style() -> TextStyle<'static> {
    (FONT, 16).into_font().into()
}

/// Text of the legends.
fn legend_style() -> TextStyle<'static> {
    (FONT, 14).into_font().into()
}

/// Text anchored at its left end, vertically centred.
fn left_centre(style: TextStyle<'static>) -> TextStyle<'static> {
    style.pos(Pos::new(HPos::Left, VPos::Center))
}

#[cfg(test)]
mod tests;
