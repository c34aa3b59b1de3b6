//! The GPU slice renderer (shaders/slice.wgsl) on software rendering (wgpu on Mesa's
//! llvmpipe or lavapipe): its pixels equal the CPU reference renderer's in every fusion
//! mode for a CT and an MR on different grids and orientations, and snapshot images of
//! what a user sees (tests/snapshots; `UPDATE_SNAPSHOTS=1` rewrites them).

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use srrd::app::fusion::FusionMode;
use srrd::app::{Colormap, Layer, ViewerApp};
use srrd::phantom::{Config, Grade, Preset, generate};
use srrd::progress::Progress;
use srrd::volume::Interpolation;

const SIZE: [f32; 2] = [1200.0, 800.0];

fn knee_layers() -> Vec<Layer> {
    let p = generate(
        Config {
            seed: 5,
            grade: Grade::Mild,
            preset: Preset::Small,
        },
        &Progress::new(),
    )
    .expect("phantom");
    let mut ct = Layer::new("CT", p.ct);
    ct.window = (400.0, 1800.0);
    let mut mr = Layer::new("MR", p.mr);
    mr.colormap = Colormap::Hot;
    mr.opacity = 0.4;
    vec![ct, mr]
}

fn gpu_harness(app: ViewerApp) -> Harness<'static, ViewerApp> {
    let rs = create_render_state(
        srrd::app::gpu::with_volume_limits(default_wgpu_setup()),
        eframe::egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let mut app = app;
    app.enable_gpu(&rs);
    let mut h = Harness::builder()
        .with_size(SIZE)
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h
}

fn cpu_harness(app: ViewerApp) -> Harness<'static, ViewerApp> {
    let mut h = Harness::builder()
        .with_size(SIZE)
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h
}

/// Fraction of the axial view's slice pixels whose GPU colour differs from the CPU
/// reference by more than `tol` (of 255) in some channel, and how many were compared.
fn mismatch(set: impl Fn(&mut ViewerApp), layers: &[Layer], tol: i32) -> (f64, usize) {
    let mut cpu_app = ViewerApp::with_layers(layers.to_vec());
    cpu_app
        .layer_stack_mut()
        .set_interpolation(Interpolation::Nearest);
    set(&mut cpu_app);
    let cpu = cpu_harness(cpu_app);
    let mut gpu_app = ViewerApp::with_layers(layers.to_vec());
    gpu_app
        .layer_stack_mut()
        .set_interpolation(Interpolation::Nearest);
    set(&mut gpu_app);
    gpu_app.set_show_overlays(false);
    let mut gpu = gpu_harness(gpu_app);
    assert!(gpu.state().drawing_on_gpu());
    assert!(!cpu.state().drawing_on_gpu());
    let (width, colours) = cpu.state().composed(0);
    let height = colours.len() / width;
    let rect = gpu.state().view_rects()[0];
    assert_eq!(rect, cpu.state().view_rects()[0]);
    // One screen pixel per slice pixel, on whole pixels: the GPU then samples exactly at
    // the slice pixel centres, where the CPU reference samples.
    let fit = (rect.width() / width as f32).min(rect.height() / height as f32);
    let half = egui::vec2(width as f32, height as f32) / 2.0;
    let min = rect.center() - half;
    let pan0 = egui::vec2(min.x.round() - min.x, min.y.round() - min.y);
    gpu.state_mut().set_zoom_pan(0, 1.0 / fit, pan0);
    gpu.state_mut().mark_dirty();
    gpu.run_steps(2);
    let image = gpu.render().expect("render");
    assert_eq!(image.width() as f32, SIZE[0], "one pixel per point");
    let img = egui::Rect::from_min_size(min.round(), half * 2.0);
    let scale = 1.0;
    let ppp = 1.0;
    let (mut bad, mut n) = (0usize, 0usize);
    for j in 0..height {
        for i in 0..width {
            let pos = img.min + egui::vec2((i as f32 + 0.5) * scale, (j as f32 + 0.5) * scale);
            let (x, y) = ((pos.x * ppp) as u32, (pos.y * ppp) as u32);
            let g = image.get_pixel(x, y).0;
            let c = colours[j * width + i];
            n += 1;
            let d = [
                g[0] as i32 - c.r() as i32,
                g[1] as i32 - c.g() as i32,
                g[2] as i32 - c.b() as i32,
            ];
            if d.iter().any(|v| v.abs() > tol) {
                if bad < 6 && std::env::var_os("SRRD_DEBUG_GPU").is_some() {
                    eprintln!("({i}, {j}) gpu {g:?} cpu {c:?}");
                }
                bad += 1;
            }
        }
    }
    (bad as f64 / n as f64, n)
}

#[test]
fn gpu_slice_matches_cpu_reference_in_every_mode() {
    let layers = knee_layers();
    // Alpha: the CT in grey under the MR's hot overlay (the MR on its own oblique grid).
    let (frac, n) = mismatch(|_| {}, &layers, 3);
    assert!(n > 5000, "compared {n} pixels");
    assert!(frac < 0.01, "alpha: {:.2}% of pixels differ", frac * 100.0);
    for mode in FusionMode::ALL {
        let (frac, _) = mismatch(
            |app| {
                app.layer_stack_mut().set_fusion(mode);
                app.layer_stack_mut().set_pair((0, 1));
                app.layer_stack_mut().set_tile_px(12);
            },
            &layers,
            3,
        );
        assert!(
            frac < 0.01,
            "{mode:?}: {:.2}% of pixels differ",
            frac * 100.0
        );
    }
    for show_b in [false, true] {
        let (frac, _) = mismatch(
            |app| app.layer_stack_mut().set_flicker(Some(show_b)),
            &layers,
            3,
        );
        assert!(frac < 0.01, "flicker {show_b}: {:.2}% differ", frac * 100.0);
    }
    // A parameter map (no value outside the bone, NaN) in viridis over both.
    let mut with_map = layers.clone();
    let ct = &layers[0].volume;
    let map_data = ct
        .data
        .mapv(|v| if v > 300.0 { v / 10.0 } else { f32::NAN });
    let map = srrd::volume::Volume::from_data(ct.geometry.clone(), map_data).expect("map");
    let mut map = Layer::new("Tb.Th", map);
    map.colormap = Colormap::Viridis;
    map.opacity = 0.8;
    with_map.push(map);
    let (frac, _) = mismatch(|_| {}, &with_map, 3);
    assert!(frac < 0.01, "map: {:.2}% differ", frac * 100.0);
    // Other colour maps on the overlay.
    for cmap in [Colormap::Jet, Colormap::Viridis, Colormap::Grey] {
        let (frac, _) = mismatch(
            |app| app.layer_stack_mut().list_mut()[1].colormap = cmap,
            &layers,
            3,
        );
        assert!(frac < 0.01, "{cmap:?}: {:.2}% differ", frac * 100.0);
    }
}

/// Pixels of the axial view in the rendered image matching `pred`.
fn count_in_axial(h: &mut Harness<'static, ViewerApp>, pred: impl Fn([u8; 4]) -> bool) -> usize {
    let image = h.render().expect("render");
    let ppp = image.width() as f32 / SIZE[0];
    let r = h.state().view_rects()[0];
    let mut n = 0;
    for y in (r.min.y * ppp) as u32..(r.max.y * ppp) as u32 {
        for x in (r.min.x * ppp) as u32..(r.max.x * ppp) as u32 {
            if pred(image.get_pixel(x, y).0) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn snapshot_ct_bone_window() {
    let mut layers = knee_layers();
    layers.truncate(1);
    let mut h = gpu_harness(ViewerApp::with_layers(layers));
    h.get_by_label("CT bone").click();
    h.run_steps(2);
    assert_eq!(h.state().layers()[0].window, (400.0, 1800.0));
    // Cortical bone is white in the bone window; soft tissue dark grey, not black.
    let white = count_in_axial(&mut h, |p| p[0] > 230 && p[1] > 230 && p[2] > 230);
    let tissue = count_in_axial(&mut h, |p| (60..140).contains(&p[0]) && p[0] == p[2]);
    assert!(white > 200, "bone pixels {white}");
    assert!(tissue > 2000, "soft tissue pixels {tissue}");
    h.snapshot("ct_bone_window");
}

#[test]
fn snapshot_mr_ct_checkerboard() {
    let mut app = ViewerApp::with_layers(knee_layers());
    app.layer_stack_mut().set_fusion(FusionMode::Checkerboard);
    app.layer_stack_mut().set_tile_px(16);
    let mut h = gpu_harness(app);
    h.run_steps(2);
    h.snapshot("mr_ct_checkerboard");
}

#[test]
fn snapshot_yellow_fusion() {
    let mut app = ViewerApp::with_layers(knee_layers());
    app.layer_stack_mut().set_fusion(FusionMode::Yellow);
    let mut h = gpu_harness(app);
    h.run_steps(2);
    // Bone of the CT in yellow over the grey MR.
    let yellow = count_in_axial(&mut h, |p| p[0] > 200 && p[1] > 170 && p[2] < 80);
    assert!(yellow > 300, "yellow pixels {yellow}");
    h.snapshot("yellow_fusion");
}

#[test]
fn zoom_enlarges_the_drawn_slice() {
    let mut layers = knee_layers();
    layers.truncate(1);
    let mut h = gpu_harness(ViewerApp::with_layers(layers));
    let bright = |p: [u8; 4]| p[0] > 230;
    let before = count_in_axial(&mut h, bright);
    let rect = h.state().view_rects()[0];
    h.state_mut().zoom_about(0, rect, rect.center(), 2.0);
    h.state_mut().mark_dirty();
    h.run_steps(2);
    let after = count_in_axial(&mut h, bright);
    // Twice the size: about four times the area where the bone is still in view.
    assert!(
        after as f64 > 2.5 * before as f64,
        "bright pixels {before} -> {after}"
    );
}

/// The landmark labels of close points (the tibial spines and their neighbours on the
/// small knee's coronal slice) do not overlap: each is moved aside (with a leader line)
/// when its usual place is taken, long names are shortened, and the point under the
/// pointer shows its full name. Snapshot: tests/snapshots/landmark_labels.png.
#[test]
fn snapshot_landmark_labels_do_not_collide() {
    let p = generate(
        Config {
            seed: 5,
            grade: Grade::Mild,
            preset: Preset::Small,
        },
        &Progress::new(),
    )
    .expect("phantom");
    let mut layers = knee_layers();
    layers.truncate(1);
    let mut app = ViewerApp::with_layers(layers);
    *app.landmarks_mut() =
        srrd::app::landmarks::LandmarkEditor::with_sets(p.landmarks_ct.clone(), Vec::new());
    let spine = p
        .landmarks_ct
        .iter()
        .find(|l| l.label == "tibia_medial_spine")
        .expect("spine");
    app.set_crosshair(nalgebra::Point3::from(spine.position_mm));
    app.set_show_overlays(false);
    let mut h = gpu_harness(app);
    h.run_steps(2);
    let labels = h.state().landmark_labels(1).to_vec();
    assert!(labels.len() >= 4, "{} labels on the slice", labels.len());
    for (a, (na, pa)) in labels.iter().enumerate() {
        assert!(!pa.crowded, "{na} found no place");
        for (nb, pb) in &labels[a + 1..] {
            assert!(!pa.rect.intersects(pb.rect), "{na} and {nb} overlap");
        }
    }
    assert!(
        labels.iter().any(|(_, p)| p.moved),
        "some label had to move"
    );
    // Hover the medial spine: its full name is drawn beside the pointer.
    let at = labels
        .iter()
        .find(|(n, _)| n == "tibia_medial_spine")
        .map(|(_, p)| p.rect.center())
        .expect("the spine's label");
    h.hover_at(at);
    h.run_steps(2);
    h.snapshot("landmark_labels");
}
