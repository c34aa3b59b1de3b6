//! The 3D view's costs on this machine: bone surface extraction (surface nets) for the
//! demo knee CT's bone labels (150 x 150 x 90) and for the same knee on a 512 x 512 x 300
//! grid at step 2, sampling of the subregion map at the vertices, and the 3D view's frame
//! time on this machine's renderer (wgpu on Mesa's software rasterizer here): rotating
//! (every frame redraws the offscreen image), still (the offscreen image is reused) and
//! no scene (egui and the read-back alone).
//! Run: `cargo bench --bench view3d` (frames include egui's layout and the read-back of
//! the rendered image, which a window does not pay).

use std::sync::Arc;
use std::time::Instant;

use egui_kittest::Harness;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use srrd::app::view3d::{KneeSurfaces, Scene3d, View3d, auto_step};
use srrd::progress::Progress;
use srrd::volume::surface::label_surface;
use srrd::volume::{Geometry, LabelMap, Volume};

fn stats(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

fn as_labels(v: &Volume) -> LabelMap {
    LabelMap::from_fn(v.geometry.clone(), |i, j, k| {
        let x = v.data[[k, j, i]];
        if x.is_finite() {
            x.round().clamp(0.0, 255.0) as u8
        } else {
            0
        }
    })
}

/// Median and worst of `runs` timings of `f`, in ms, and its last result.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut ms = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (median, worst) = stats(ms);
    (median, worst, last.expect("runs > 0"))
}

/// The labels on a finer grid over the same field of view (nearest neighbour).
fn upsample(labels: &LabelMap, size: [usize; 3]) -> LabelMap {
    let g = labels.geometry();
    let spacing: [f64; 3] =
        std::array::from_fn(|a| g.spacing_mm[a] * g.size[a] as f64 / size[a] as f64);
    let fine = Geometry::new(size, spacing, g.origin_mm.into()).with_direction(g.direction);
    let [ni, _, _] = g.size;
    let map = |a: usize, n: usize| ((n as f64 + 0.5) * g.size[a] as f64 / size[a] as f64) as usize;
    let (fi, fj): (Vec<usize>, Vec<usize>) = (
        (0..size[0]).map(|n| map(0, n)).collect(),
        (0..size[1]).map(|n| map(1, n)).collect(),
    );
    let mut out = Vec::with_capacity(size.iter().product());
    for k in 0..size[2] {
        let k0 = map(2, k);
        for &j0 in &fj {
            let row = &labels[g.index(0, j0, k0)..][..ni];
            out.extend(fi.iter().map(|&i0| row[i0]));
        }
    }
    LabelMap::new(fine, out).expect("one label per fine voxel")
}

fn frames(scene: Option<Scene3d>, rotate: bool, n: usize) -> (f64, f64, String) {
    let rs = create_render_state(
        srrd::app::gpu::with_volume_limits(default_wgpu_setup()),
        eframe::egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let info = rs.adapter.get_info();
    let mut view = View3d::default();
    view.enable_gpu(&rs);
    let mut h = Harness::builder()
        .with_size([640.0, 480.0])
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(
            |ui, s: &mut (View3d, Option<Scene3d>)| {
                let size = ui.available_size();
                s.0.ui(ui, size, s.1.as_ref());
            },
            (view, scene),
        );
    h.run_steps(1);
    h.render().expect("render");
    let mut ms = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        if rotate {
            h.state_mut().0.settings.yaw_rad += 0.05;
        }
        h.run_steps(1);
        h.render().expect("render");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (median, worst) = stats(ms);
    (
        median,
        worst,
        format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type),
    )
}

fn main() {
    let dir = match srrd::phantom::ensure_demo(&Progress::new()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot prepare the demo knee: {e}");
            std::process::exit(1);
        }
    };
    let read = |name: &str| match srrd::io::read_image(&dir.join(name), None) {
        Ok(img) => img.volume,
        Err(e) => {
            eprintln!("cannot read {name}: {e}");
            std::process::exit(1);
        }
    };
    let bones_v = read("ct_labels.nii.gz");
    let subregions = read("ct_subregions.nii.gz");
    let g = bones_v.geometry.clone();
    let bones = as_labels(&bones_v);
    let threads = rayon::current_num_threads();
    println!(
        "demo knee CT {:?} at {:?} mm; {threads} threads",
        g.size,
        g.spacing_mm.as_slice()
    );
    let (median, worst, mesh) = time(10, || KneeSurfaces::from_bones(&bones, 1));
    println!(
        "surfaces of 4 bones, step 1: median {median:.1} ms, worst {worst:.1} ms ({} vertices, {} triangles)",
        mesh.mesh.positions_mm.len(),
        mesh.mesh.num_triangles()
    );
    let (median, _, sampled) = time(10, || mesh.clone().with_subregions(&subregions));
    let found = sampled
        .subregions
        .as_ref()
        .map_or(0, |s| s.iter().filter(|v| v.is_finite()).count());
    println!(
        "subregions sampled at the vertices: median {median:.1} ms ({found} vertices in a subregion)"
    );
    let t = Instant::now();
    let big = upsample(&bones, [512, 512, 300]);
    let big_g = big.geometry().clone();
    eprintln!(
        "512 x 512 x 300 labels made in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let step = auto_step(&big_g);
    for s in [2, 3] {
        let (median, worst, m) = time(5, || label_surface(&big, &[1, 2, 3, 4], s));
        println!(
            "512 x 512 x 300 at {:.3} mm, step {s}{}: median {median:.0} ms, worst {worst:.0} ms ({} triangles)",
            big_g.spacing_mm[0],
            if s == step { " (auto)" } else { "" },
            m.num_triangles()
        );
    }
    let big_mesh = KneeSurfaces::from_bones(&big, 2);
    drop(big);
    let n = 30;
    let demo = Scene3d::new(Arc::new(sampled));
    for (name, scene, rotate) in [
        ("demo knee, rotating", Some(demo.clone()), true),
        ("demo knee, still", Some(demo), false),
        (
            "512^2 x 300 knee at step 2, rotating",
            Some(Scene3d::new(Arc::new(big_mesh))),
            true,
        ),
        ("no scene (UI and read-back only)", None, false),
    ] {
        let (median, worst, adapter) = frames(scene, rotate, n);
        println!(
            "3D view 640 x 480, {name}: median {median:.1} ms, worst {worst:.1} ms per frame ({n} frames; {adapter})"
        );
    }
}
