//! Composing a view's picture from the layers: what the GPU draws (`SliceDraw`), or the
//! colours the CPU path blends (flicker, a fusion of the pair, or every visible layer by
//! its opacity). Pure functions of the layers part and a slice grid.

use eframe::egui::Color32;

use super::fusion::{FusionMode, fuse, normalize};
use super::gpu::{DrawLayer, DrawMode, MAX_LAYERS, SliceDraw};
use super::layer::{blend, colour};
use super::layers::Layers;
use super::slice::{Plane, SliceImage, sample_on_slice_moved};
use super::viewer::PLANES;
use srrd_base::volume::Interpolation;

/// What view `n` draws on the GPU, for the part `pixel_rect` of its slice.
pub(super) fn slice_draw(
    layers: &Layers,
    n: usize,
    grid: &SliceImage,
    pixel_rect: [f32; 4],
) -> SliceDraw {
    let list = layers.list();
    let c = layers.comparison();
    let draw_layer = |li: usize, opacity: f32| {
        let l = &list[li];
        DrawLayer {
            id: l.id,
            volume: l.volume.clone(),
            window: l.window,
            opacity,
            colormap: l.colormap,
            moved_by: l.moved_by.clone(),
        }
    };
    let (a, b) = c.pair;
    let pair_ok = a < list.len() && b < list.len() && a != b;
    let (draw, mode) = match (c.flicker, pair_ok) {
        (Some(show_b), true) => (
            vec![draw_layer(if show_b { b } else { a }, 1.0)],
            DrawMode::Single,
        ),
        _ if c.fusion != FusionMode::Alpha && pair_ok => {
            let mode = match c.fusion {
                FusionMode::Checkerboard => DrawMode::Checkerboard,
                FusionMode::Yellow => DrawMode::Yellow,
                FusionMode::Difference => DrawMode::Difference,
                FusionMode::MagentaGreen | FusionMode::Alpha => DrawMode::MagentaGreen,
            };
            (vec![draw_layer(a, 1.0), draw_layer(b, 1.0)], mode)
        }
        _ => (
            list.iter()
                .enumerate()
                .filter(|(_, l)| l.visible)
                .take(MAX_LAYERS)
                .map(|(li, l)| draw_layer(li, if li == 0 { 1.0 } else { l.opacity }))
                .collect(),
            DrawMode::Alpha,
        ),
    };
    SliceDraw {
        view: n,
        plane: PLANES[n],
        grid: grid.clone(),
        pixel_rect,
        layers: draw,
        mode,
        tile_px: c.tile_px as f32,
        linear: c.interpolation == Interpolation::Linear,
        live: list.iter().map(|l| l.id).collect(),
    }
}

/// The colours of `slice` (a grid of `plane`) on the CPU path, row by row.
pub(super) fn compose_cpu(layers: &Layers, plane: Plane, slice: &SliceImage) -> Vec<Color32> {
    let list = layers.list();
    let c = layers.comparison();
    let values_of = |li: usize| -> Vec<f32> {
        let l = &list[li];
        sample_on_slice_moved(
            &l.volume,
            plane,
            slice,
            c.interpolation,
            l.moved_by.as_ref(),
        )
    };
    let (a, b) = c.pair;
    let pair_ok = a < list.len() && b < list.len() && a != b;
    match (c.flicker, pair_ok) {
        (Some(show_b), true) => {
            let li = if show_b { b } else { a };
            let layer = &list[li];
            values_of(li)
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        Color32::BLACK
                    } else {
                        colour(layer, *v)
                    }
                })
                .collect()
        }
        _ if c.fusion != FusionMode::Alpha && pair_ok => {
            let norm = |li: usize| -> Vec<f32> {
                let w = list[li].window;
                values_of(li)
                    .iter()
                    .map(|v| if v.is_nan() { *v } else { normalize(*v, w) })
                    .collect()
            };
            fuse(c.fusion, &norm(a), &norm(b), slice.width, c.tile_px)
        }
        _ => {
            let mut rgba = vec![Color32::BLACK; slice.width * slice.height];
            for (li, layer) in list.iter().enumerate() {
                if !layer.visible {
                    continue;
                }
                let values = values_of(li);
                for (px, v) in rgba.iter_mut().zip(values.iter()) {
                    if v.is_nan() {
                        continue;
                    }
                    let c = colour(layer, *v);
                    *px = blend(*px, c, if li == 0 { 1.0 } else { layer.opacity });
                }
            }
            rgba
        }
    }
}
