//! Viewer frame time and volume upload on this machine's renderer (wgpu on Mesa's
//! software rasterizer here; a real GPU elsewhere): three paper-size layers (MR
//! 640x640x120, CT 150x150x90, crMR 640x640x120) visible, scrolling the axial slice one
//! step per frame, GPU renderer vs the CPU reference renderer.
//! Run: `cargo bench --bench viewer` (frames include egui's layout and the read-back of
//! the rendered image, which a window does not pay).

use std::time::Instant;

use egui_kittest::Harness;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use srrd::app::gpu::SliceRenderer;
use srrd::app::{Colormap, Layer, Plane, ViewerApp};
use srrd::volume::{Geometry, Volume};

fn layer(name: &str, size: [usize; 3], spacing: [f64; 3], cmap: Colormap) -> Layer {
    let g = Geometry::new(
        size,
        spacing,
        std::array::from_fn(|a| -(size[a] as f64 - 1.0) * spacing[a] / 2.0),
    );
    let v = Volume::from_fn(g, |i, j, k| {
        ((i as f32 * 0.07).sin() + (j as f32 * 0.05).cos()) * 300.0 + k as f32
    });
    let mut l = Layer::new(name, v);
    l.colormap = cmap;
    l.opacity = 0.5;
    l
}

fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

fn main() {
    let t = Instant::now();
    let layers = vec![
        layer("MR", [640, 640, 120], [0.25, 0.25, 1.0], Colormap::Grey),
        layer("CT", [150, 150, 90], [0.977, 0.977, 1.0], Colormap::Hot),
        layer(
            "crMR",
            [640, 640, 120],
            [0.25, 0.25, 1.0],
            Colormap::Viridis,
        ),
    ];
    eprintln!("volumes made in {:.1} s", t.elapsed().as_secs_f64());
    let frames = 40;
    // (GPU renderer, linear interpolation, layers): the last run is the cost of the UI and
    // the read-back alone.
    for (gpu, linear, with_layers) in [
        (true, true, true),
        (true, false, true),
        (false, true, true),
        (true, true, false),
    ] {
        let rs = create_render_state(
            srrd::app::gpu::with_volume_limits(default_wgpu_setup()),
            eframe::egui_wgpu::RendererOptions::PREDICTABLE,
        );
        let info = rs.adapter.get_info();
        let mut app = ViewerApp::with_layers(if with_layers {
            layers.clone()
        } else {
            Vec::new()
        });
        if !linear {
            app.layer_stack_mut()
                .set_interpolation(srrd::volume::Interpolation::Nearest);
        }
        if gpu {
            app.enable_gpu(&rs);
        }
        let mut h = Harness::builder()
            .with_size([1400.0, 900.0])
            .renderer(WgpuTestRenderer::from_render_state(rs.clone()))
            .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
        let t = Instant::now();
        h.run_steps(1);
        h.render().expect("render");
        let first_s = t.elapsed().as_secs_f64();
        if gpu && linear && with_layers {
            let r = rs.renderer.read();
            let upload = r
                .callback_resources
                .get::<SliceRenderer>()
                .map(|s| s.last_upload_s)
                .unwrap_or(f64::NAN);
            println!(
                "adapter: {} ({:?}, {:?})",
                info.name, info.backend, info.device_type
            );
            println!(
                "first frame (uploads 3 volumes, {:.0} MB): {:.2} s; last upload (640x640x120 f32, 197 MB): {:.3} s",
                (2.0 * 640.0 * 640.0 * 120.0 + 150.0 * 150.0 * 90.0) * 4.0 / 1e6,
                first_s,
                upload
            );
        }
        let mut ms = Vec::new();
        for f in 0..frames {
            let t = Instant::now();
            h.state_mut()
                .scroll(Plane::Axial, if f % 20 < 10 { 1.0 } else { -1.0 });
            h.run_steps(1);
            h.render().expect("render");
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (median, worst) = stats(ms);
        println!(
            "{} renderer, {}: median {median:.1} ms, worst {worst:.1} ms per frame ({frames} frames)",
            if gpu { "GPU" } else { "CPU" },
            match (with_layers, linear) {
                (false, _) => "no layers (UI and read-back only)",
                (true, true) => "scrolling, 3 layers, trilinear",
                (true, false) => "scrolling, 3 layers, nearest",
            }
        );
    }
}
