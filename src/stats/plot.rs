//! Minimal PNG charts (640x480, white background) drawn pixel by pixel with a built-in 5x7
//! bitmap font: predicted-vs-truth scatter plots with the identity line, and line charts
//! (loss curves, optionally log-y). Files are written atomically (temp file, then rename).

use std::io::{BufWriter, Write};
use std::path::Path;

/// Image width in pixels.
pub const WIDTH: u32 = 640;
/// Image height in pixels.
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

// Plot area in pixels (inclusive edges).
const PLOT_LEFT: i64 = 78;
const PLOT_RIGHT: i64 = 620;
const PLOT_TOP: i64 = 40;
const PLOT_BOTTOM: i64 = 420;

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const GRID: [u8; 3] = [232, 232, 232];
const IDENTITY: [u8; 3] = [150, 150, 150];

/// Mapping from data coordinates to pixels. On a log-y frame `y_min`/`y_max` are log10 values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    pub x_min: f64,
    pub x_max: f64,
    pub y_min: f64,
    pub y_max: f64,
    pub log_y: bool,
}

impl Frame {
    /// Pixel (column, row) of a data point, rounded; `None` for non-finite input or y <= 0 on
    /// a log axis. Points outside the range map outside the plot area.
    pub(crate) fn project(&self, x: f64, y: f64) -> Option<(i64, i64)> {
        let (px, py) = self.project_f(x, y)?;
        Some((px.round() as i64, py.round() as i64))
    }

    fn project_f(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let y = if self.log_y {
            if y <= 0.0 {
                return None;
            }
            y.log10()
        } else {
            y
        };
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        let fx = (x - self.x_min) / (self.x_max - self.x_min);
        let fy = (y - self.y_min) / (self.y_max - self.y_min);
        let px = PLOT_LEFT as f64 + fx * (PLOT_RIGHT - PLOT_LEFT) as f64;
        let py = PLOT_BOTTOM as f64 - fy * (PLOT_BOTTOM - PLOT_TOP) as f64;
        // Keep far-away values representable; drawing clips to the plot area anyway.
        Some((px.clamp(-1e6, 1e6), py.clamp(-1e6, 1e6)))
    }
}

/// Finite points of all series (y > 0 too when `log_y`), with y as log10 when `log_y`.
fn usable_points(series: &[Series], log_y: bool) -> impl Iterator<Item = (f64, f64)> + '_ {
    series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter_map(move |&(x, y)| {
            let y = if log_y {
                if y > 0.0 { y.log10() } else { f64::NAN }
            } else {
                y
            };
            (x.is_finite() && y.is_finite()).then_some((x, y))
        })
}

/// Pads a data range by 5% each side; widens empty or zero-width ranges.
fn padded(min: f64, max: f64) -> (f64, f64) {
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

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// Viridis-like colour at `t` in [0, 1]: linear between ten anchors of the published map.
/// The parameter maps' colours, in the viewer and in the reports.
pub fn viridis_rgb(t: f32) -> [u8; 3] {
    const ANCHORS: [[u8; 3]; 10] = [
        [68, 1, 84],
        [72, 40, 120],
        [62, 74, 137],
        [49, 104, 142],
        [38, 130, 142],
        [31, 158, 137],
        [53, 183, 121],
        [109, 205, 89],
        [180, 222, 44],
        [253, 231, 37],
    ];
    let x = if t.is_nan() {
        0.0
    } else {
        t.clamp(0.0, 1.0) * 9.0
    };
    let i = (x.floor() as usize).min(8);
    let f = x - i as f32;
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * f).round() as u8;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}

/// The frame `scatter_png` uses: one common range on both axes, so y = x is the diagonal.
pub(crate) fn scatter_frame(series: &[Series]) -> Frame {
    let (lo, hi) = min_max(usable_points(series, false).flat_map(|(x, y)| [x, y]));
    let (lo, hi) = padded(lo, hi);
    Frame {
        x_min: lo,
        x_max: hi,
        y_min: lo,
        y_max: hi,
        log_y: false,
    }
}

/// The frame `lines_png` uses: independent x and y ranges (y in log10 when `log_y`).
pub(crate) fn lines_frame(series: &[Series], log_y: bool) -> Frame {
    let (x_lo, x_hi) = padded_pair(usable_points(series, log_y).map(|p| p.0));
    // With no usable points this is (0, 1): 1 .. 10 on a log axis.
    let (y_lo, y_hi) = padded_pair(usable_points(series, log_y).map(|p| p.1));
    Frame {
        x_min: x_lo,
        x_max: x_hi,
        y_min: y_lo,
        y_max: y_hi,
        log_y,
    }
}

fn padded_pair(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = min_max(values);
    padded(lo, hi)
}

/// Scatter plot of predicted (y) against truth (x): axes with tick labels, the dashed grey
/// identity line y = x, points as small filled squares, and a legend.
pub fn scatter_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> std::io::Result<()> {
    let frame = scatter_frame(series);
    let mut c = Canvas::new();
    draw_frame(&mut c, &frame, title, x_label, y_label);
    // Identity line across the plot area, dashed.
    let (a, b) = (frame.x_min, frame.x_max);
    if let (Some(p0), Some(p1)) = (frame.project_f(a, a), frame.project_f(b, b)) {
        c.line(p0, p1, IDENTITY, 1, Some((6, 4)));
    }
    for s in series {
        for &(x, y) in &s.points {
            if let Some((px, py)) = frame.project(x, y) {
                c.fill_rect_clipped(px - 2, py - 2, 5, 5, s.color);
            }
        }
    }
    let mut entries: Vec<(&str, [u8; 3], LegendMark)> = series
        .iter()
        .map(|s| (s.name.as_str(), s.color, LegendMark::Square))
        .collect();
    entries.push(("y = x", IDENTITY, LegendMark::Dashed));
    draw_axes_box(&mut c);
    draw_legend(&mut c, &entries, false);
    write_png_atomic(path, &c)
}

/// Line chart (e.g. loss curves): the same frame as [`scatter_png`] without the identity
/// line, each series' points joined in order; `log_y` puts y on a log10 axis (y <= 0 points
/// skipped). Non-finite points break the line.
pub fn lines_png(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> std::io::Result<()> {
    let frame = lines_frame(series, log_y);
    let mut c = Canvas::new();
    draw_frame(&mut c, &frame, title, x_label, y_label);
    for s in series {
        let mut prev: Option<(f64, f64)> = None;
        for &(x, y) in &s.points {
            let cur = frame.project_f(x, y);
            match (prev, cur) {
                (Some(p0), Some(p1)) => c.line(p0, p1, s.color, 2, None),
                (None, Some(p1)) => c.line(p1, p1, s.color, 2, None),
                _ => {}
            }
            prev = cur;
        }
    }
    let entries: Vec<(&str, [u8; 3], LegendMark)> = series
        .iter()
        .map(|s| (s.name.as_str(), s.color, LegendMark::Line))
        .collect();
    draw_axes_box(&mut c);
    draw_legend(&mut c, &entries, true);
    write_png_atomic(path, &c)
}

/// RGB raster with clipped drawing primitives.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self {
            pixels: vec![255; (WIDTH * HEIGHT * 3) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if x < 0 || y < 0 || x >= WIDTH as i64 || y >= HEIGHT as i64 {
            return;
        }
        let i = ((y * WIDTH as i64 + x) * 3) as usize;
        self.pixels[i..i + 3].copy_from_slice(&color);
    }

    /// Sets a pixel only inside the plot area.
    fn set_clipped(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if (PLOT_LEFT..=PLOT_RIGHT).contains(&x) && (PLOT_TOP..=PLOT_BOTTOM).contains(&y) {
            self.set(x, y, color);
        }
    }

    fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, color: [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, color);
            }
        }
    }

    fn fill_rect_clipped(&mut self, x: i64, y: i64, w: i64, h: i64, color: [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set_clipped(xx, yy, color);
            }
        }
    }

    /// Line from `p0` to `p1` clipped to the plot area, `width` px thick, optionally dashed
    /// with (on, off) lengths in pixels.
    fn line(
        &mut self,
        p0: (f64, f64),
        p1: (f64, f64),
        color: [u8; 3],
        width: i64,
        dash: Option<(usize, usize)>,
    ) {
        let Some((p0, p1)) = clip_segment(p0, p1) else {
            return;
        };
        let (x0, y0) = (p0.0.round() as i64, p0.1.round() as i64);
        let (x1, y1) = (p1.0.round() as i64, p1.1.round() as i64);
        // Bresenham.
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let mut step = 0usize;
        loop {
            let on = dash.is_none_or(|(a, b)| step % (a + b) < a);
            if on {
                let off = (width - 1) / 2;
                self.fill_rect_clipped(x - off, y - off, width, width, color);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
            step += 1;
        }
    }

    /// Draws `text` with its top-left corner at (x, y), `scale` pixels per font pixel;
    /// `vertical` rotates it 90° counter-clockwise (reading bottom to top from (x, y)).
    fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, color: [u8; 3], vertical: bool) {
        for (i, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            let offset = i as i64 * ADVANCE * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5i64 {
                    if bits & (0b10000 >> col) == 0 {
                        continue;
                    }
                    let (gx, gy) = (col * scale, r as i64 * scale);
                    let (px, py) = if vertical {
                        (x + gy, y - offset - gx - scale + 1)
                    } else {
                        (x + offset + gx, y + gy)
                    };
                    self.fill_rect(px, py, scale, scale, color);
                }
            }
        }
    }
}

/// Horizontal advance of one character at scale 1 (5 px glyph + 1 px gap).
const ADVANCE: i64 = 6;

/// Width in pixels of `text` at `scale`.
fn text_width(text: &str, scale: i64) -> i64 {
    let n = text.chars().count() as i64;
    if n == 0 { 0 } else { (n * ADVANCE - 1) * scale }
}

/// Liang-Barsky clipping of a segment to the plot area.
fn clip_segment(p0: (f64, f64), p1: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (p1.0 - p0.0, p1.1 - p0.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    let checks = [
        (-dx, p0.0 - PLOT_LEFT as f64),
        (dx, PLOT_RIGHT as f64 - p0.0),
        (-dy, p0.1 - PLOT_TOP as f64),
        (dy, PLOT_BOTTOM as f64 - p0.1),
    ];
    for (p, q) in checks {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    Some((
        (p0.0 + t0 * dx, p0.1 + t0 * dy),
        (p0.0 + t1 * dx, p0.1 + t1 * dy),
    ))
}

/// "Nice" tick values (steps of 1, 2 or 5 x 10^k) covering [lo, hi], and the step.
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return (Vec::new(), 1.0);
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .collect();
    (ticks, step)
}

/// Tick label: fixed decimals suited to the step, or scientific for extreme magnitudes.
fn format_tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{v:.decimals$}")
}

/// Tick positions on the y axis as (value in frame units, label).
fn y_ticks(frame: &Frame) -> Vec<(f64, String)> {
    if !frame.log_y {
        let (ticks, step) = nice_ticks(frame.y_min, frame.y_max, 6);
        return ticks
            .into_iter()
            .map(|t| (t, format_tick(t, step)))
            .collect();
    }
    let first = frame.y_min.ceil() as i64;
    let last = frame.y_max.floor() as i64;
    if last - first >= 1 {
        // Whole decades, thinned to at most ~8 labels.
        let stride = ((last - first) / 8 + 1).max(1);
        return (first..=last)
            .filter(|k| (k - first) % stride == 0)
            .map(|k| {
                let v = 10f64.powi(k as i32);
                (k as f64, format_tick(v, v))
            })
            .collect();
    }
    // Less than a decade: linear ticks in value space, placed on the log axis.
    let (lo, hi) = (10f64.powf(frame.y_min), 10f64.powf(frame.y_max));
    let (ticks, step) = nice_ticks(lo, hi, 5);
    ticks
        .into_iter()
        .filter(|t| *t > 0.0)
        .map(|t| (t.log10(), format_tick(t, step)))
        .collect()
}

/// Background grid, ticks with labels, title and axis labels.
fn draw_frame(c: &mut Canvas, frame: &Frame, title: &str, x_label: &str, y_label: &str) {
    let (x_ticks, x_step) = nice_ticks(frame.x_min, frame.x_max, 7);
    let x_px = |v: f64| {
        PLOT_LEFT as f64
            + (v - frame.x_min) / (frame.x_max - frame.x_min) * (PLOT_RIGHT - PLOT_LEFT) as f64
    };
    let y_px = |v: f64| {
        PLOT_BOTTOM as f64
            - (v - frame.y_min) / (frame.y_max - frame.y_min) * (PLOT_BOTTOM - PLOT_TOP) as f64
    };
    let y_ticks = y_ticks(frame);
    // Grid.
    for &t in &x_ticks {
        let x = x_px(t).round() as i64;
        for y in PLOT_TOP..=PLOT_BOTTOM {
            c.set_clipped(x, y, GRID);
        }
    }
    for (t, _) in &y_ticks {
        let y = y_px(*t).round() as i64;
        for x in PLOT_LEFT..=PLOT_RIGHT {
            c.set_clipped(x, y, GRID);
        }
    }
    // Ticks and labels.
    for &t in &x_ticks {
        let x = x_px(t).round() as i64;
        c.fill_rect(x, PLOT_BOTTOM + 1, 1, 5, BLACK);
        let label = format_tick(t, x_step);
        c.text(
            x - text_width(&label, 1) / 2,
            PLOT_BOTTOM + 9,
            &label,
            1,
            BLACK,
            false,
        );
    }
    for (t, label) in &y_ticks {
        let y = y_px(*t).round() as i64;
        c.fill_rect(PLOT_LEFT - 5, y, 5, 1, BLACK);
        c.text(
            PLOT_LEFT - 8 - text_width(label, 1),
            y - 3,
            label,
            1,
            BLACK,
            false,
        );
    }
    // Title (large when it fits), axis labels.
    let scale = if text_width(title, 2) <= WIDTH as i64 - 20 {
        2
    } else {
        1
    };
    let tx = (WIDTH as i64 - text_width(title, scale)) / 2;
    c.text(
        tx.max(2),
        (PLOT_TOP - 7 * scale) / 2,
        title,
        scale,
        BLACK,
        false,
    );
    let xl = PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT - text_width(x_label, 1)) / 2;
    c.text(xl.max(2), PLOT_BOTTOM + 32, x_label, 1, BLACK, false);
    let yl = PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP - text_width(y_label, 1)) / 2;
    c.text(6, yl.min(HEIGHT as i64 - 2), y_label, 1, BLACK, true);
}

/// The black box around the plot area, drawn over the data.
fn draw_axes_box(c: &mut Canvas) {
    for x in PLOT_LEFT..=PLOT_RIGHT {
        c.set(x, PLOT_TOP, BLACK);
        c.set(x, PLOT_BOTTOM, BLACK);
    }
    for y in PLOT_TOP..=PLOT_BOTTOM {
        c.set(PLOT_LEFT, y, BLACK);
        c.set(PLOT_RIGHT, y, BLACK);
    }
}

#[derive(Clone, Copy)]
enum LegendMark {
    Square,
    Line,
    Dashed,
}

/// Legend box in the top-left (or top-right) corner of the plot area.
fn draw_legend(c: &mut Canvas, entries: &[(&str, [u8; 3], LegendMark)], right: bool) {
    if entries.is_empty() {
        return;
    }
    let line_h = 12;
    let text_w = entries
        .iter()
        .map(|(name, _, _)| text_width(name, 1))
        .max()
        .unwrap_or(0);
    let w = 8 + 16 + 6 + text_w + 8;
    let h = 6 + line_h * entries.len() as i64 + 2;
    let x0 = if right {
        PLOT_RIGHT - 8 - w
    } else {
        PLOT_LEFT + 8
    };
    let y0 = PLOT_TOP + 8;
    c.fill_rect(x0, y0, w, h, WHITE);
    for x in x0..x0 + w {
        c.set(x, y0, BLACK);
        c.set(x, y0 + h - 1, BLACK);
    }
    for y in y0..y0 + h {
        c.set(x0, y, BLACK);
        c.set(x0 + w - 1, y, BLACK);
    }
    for (i, (name, color, mark)) in entries.iter().enumerate() {
        let cy = y0 + 6 + i as i64 * line_h + 3; // vertical centre of the text row
        let mx = x0 + 8;
        match mark {
            LegendMark::Square => c.fill_rect(mx + 5, cy - 2, 5, 5, *color),
            LegendMark::Line => c.fill_rect(mx, cy - 1, 16, 2, *color),
            LegendMark::Dashed => {
                c.fill_rect(mx, cy, 6, 1, *color);
                c.fill_rect(mx + 10, cy, 6, 1, *color);
            }
        }
        c.text(mx + 22, cy - 3, name, 1, BLACK, false);
    }
}

/// Encodes the canvas and writes it to `path` via `path.png.tmp` and a rename.
fn write_png_atomic(path: &Path, c: &Canvas) -> std::io::Result<()> {
    write_rgb_png(path, WIDTH, HEIGHT, &c.pixels)
}

/// Writes 8-bit RGB `pixels` (row-major, `width * height * 3`) as a PNG, through
/// `path.png.tmp` and a rename.
pub fn write_rgb_png(path: &Path, width: u32, height: u32, pixels: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("png.tmp");
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        {
            let mut enc = png::Encoder::new(&mut w, width, height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(std::io::Error::other)?;
            writer
                .write_image_data(pixels)
                .map_err(std::io::Error::other)?;
            writer.finish().map_err(std::io::Error::other)?;
        }
        w.flush()?;
        w.get_ref().sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// 5x7 glyph rows (bit 4 = leftmost column). Lowercase letters reuse the uppercase glyphs;
/// unknown characters draw as '?'.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        ' ' => [0; 7],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '^' => [0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04], // '?'
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn viridis_runs_from_purple_to_yellow_getting_brighter() {
        assert_eq!(viridis_rgb(0.0), [68, 1, 84]);
        assert_eq!(viridis_rgb(1.0), [253, 231, 37]);
        assert_eq!(viridis_rgb(-3.0), viridis_rgb(0.0));
        assert_eq!(viridis_rgb(f32::NAN), viridis_rgb(0.0));
        let luma = |c: [u8; 3]| 0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32;
        let mut last = -1.0;
        for n in 0..=100 {
            let l = luma(viridis_rgb(n as f32 / 100.0));
            assert!(l > last, "brighter at every step: {n}");
            last = l;
        }
    }

    use super::*;
    use std::path::PathBuf;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// A fresh, unique folder under the system temp dir.
    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "srrd-stats-plot-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Decodes an RGB PNG: (width, height, pixels).
    fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixel(buf: &[u8], x: i64, y: i64) -> [u8; 3] {
        let i = ((y * WIDTH as i64 + x) * 3) as usize;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    /// Whether `color` occurs within `r` pixels of (x, y).
    fn color_near(buf: &[u8], x: i64, y: i64, r: i64, color: [u8; 3]) -> bool {
        (y - r..=y + r).any(|yy| (x - r..=x + r).any(|xx| pixel(buf, xx, yy) == color))
    }

    #[test]
    fn scatter_draws_points_where_the_frame_maps_them() {
        let dir = temp_dir("scatter");
        let path = dir.join("pred_vs_truth.png");
        let red = [220, 30, 30];
        let blue = [30, 60, 200];
        let series = vec![
            Series {
                name: "Test BV/TV (n=3)".into(),
                points: vec![(1.0, 1.2), (2.0, 3.0), (4.0, 3.5), (f64::NAN, 1.0)],
                color: red,
            },
            Series {
                name: "train".into(),
                points: vec![(0.5, 0.4), (f64::INFINITY, 2.0)],
                color: blue,
            },
        ];
        scatter_png(
            &path,
            "Tb.Th: pred vs truth",
            "truth (mm)",
            "pred (mm)",
            &series,
        )
        .unwrap();
        assert!(!path.with_extension("png.tmp").exists());
        let (w, h, buf) = decode(&path);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        assert_eq!(pixel(&buf, 0, 0), WHITE);
        assert_eq!(pixel(&buf, WIDTH as i64 - 1, HEIGHT as i64 - 1), WHITE);
        let frame = scatter_frame(&series);
        assert_eq!((frame.x_min, frame.x_max), (frame.y_min, frame.y_max));
        let (px, py) = frame.project(4.0, 3.5).unwrap();
        assert_eq!(pixel(&buf, px, py), red);
        let (px, py) = frame.project(0.5, 0.4).unwrap();
        assert!(color_near(&buf, px, py, 1, blue));
        // Identity line passes through (2.5, 2.5), away from all points.
        let (px, py) = frame.project(2.5, 2.5).unwrap();
        assert!(color_near(&buf, px, py, 3, IDENTITY));
        // Far from any point, the series colour is absent.
        let (px, py) = frame.project(3.0, 1.0).unwrap();
        assert!(!color_near(&buf, px, py, 5, red));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lines_log_y_and_empty_series_give_valid_images() {
        let dir = temp_dir("lines");
        let path = dir.join("loss.png");
        let green = [20, 150, 60];
        let series = vec![Series {
            name: "val loss".into(),
            points: (1..=50)
                .map(|e| (e as f64, 10.0 * (-0.1 * e as f64).exp()))
                .chain([(51.0, 0.0), (52.0, f64::NAN)])
                .collect(),
            color: green,
        }];
        lines_png(&path, "loss", "epoch", "MSE", &series, true).unwrap();
        let (w, h, buf) = decode(&path);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        assert_eq!(pixel(&buf, 0, 0), WHITE);
        let frame = lines_frame(&series, true);
        assert!(frame.log_y);
        let (px, py) = frame.project(20.0, 10.0 * (-2.0f64).exp()).unwrap();
        assert!(color_near(&buf, px, py, 1, green));
        assert!(frame.project(1.0, 0.0).is_none());

        let empty = dir.join("empty.png");
        lines_png(&empty, "nothing", "x", "y", &[], false).unwrap();
        scatter_png(&empty, "nothing", "x", "y", &[]).unwrap();
        let (w, h, buf) = decode(&empty);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        // The axes box is drawn.
        assert_eq!(pixel(&buf, PLOT_LEFT, PLOT_BOTTOM), BLACK);
        assert_eq!(pixel(&buf, PLOT_RIGHT, PLOT_TOP), BLACK);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ticks_and_labels() {
        let (ticks, step) = nice_ticks(-0.5, 10.5, 5);
        assert_eq!(step, 5.0);
        assert_eq!(ticks, vec![0.0, 5.0, 10.0]);
        let (ticks, step) = nice_ticks(-0.13, 1.07, 4);
        assert!((step - 0.5).abs() < 1e-12);
        assert_eq!(ticks.len(), 3); // 0, 0.5, 1
        assert_eq!(format_tick(0.4, 0.2), "0.4");
        assert_eq!(format_tick(-2.0, 1.0), "-2");
        assert_eq!(format_tick(1e-4, 1e-4), "1e-4");
        assert_eq!(text_width("abc", 1), 17);
        assert_eq!(glyph('a'), glyph('A'));
        assert_eq!(glyph('~'), glyph('?'));
    }

    #[test]
    fn clipping_keeps_segments_inside() {
        let inside = ((100.0, 100.0), (200.0, 200.0));
        assert_eq!(clip_segment(inside.0, inside.1), Some(inside));
        assert!(clip_segment((0.0, 0.0), (10.0, 10.0)).is_none());
        let (a, b) = clip_segment((0.0, 200.0), (1000.0, 200.0)).unwrap();
        assert_eq!((a.0, b.0), (PLOT_LEFT as f64, PLOT_RIGHT as f64));
    }
}
