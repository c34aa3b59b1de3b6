//! The 3D view (crates/app/src/view3d) on software rendering (wgpu on Mesa's llvmpipe or
//! lavapipe): the small phantom knee's bone surfaces are drawn, the femur above the tibia
//! in the default front view, a drag rotates and a double-click resets, colourings
//! change the image, and the view says why it cannot draw without a GPU or a scene.
//! Snapshot: tests/snapshots/view3d_knee.png (`UPDATE_SNAPSHOTS=1` rewrites it); the
//! rendered frames are also written to target/view3d/*.png for a look.

use std::sync::{Arc, OnceLock};

use eframe::egui;
use egui_kittest::kittest::Queryable;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use egui_kittest::{Harness, SnapshotOptions};
use srrd::app::view3d::{
    ColourBy, KneeSurfaces, NO_GPU_TEXT, NO_SCENE_TEXT, Scene3d, View3d, View3dRenderer,
};
use srrd::phantom::{Config, Grade, Preset, generate};
use srrd::progress::Progress;
use srrd::segmentation::bones::{FEMUR, TIBIA};
use srrd::volume::Volume;

const SIZE: [f32; 2] = [640.0, 480.0];

struct State {
    view: View3d,
    scene: Option<Scene3d>,
}

/// The small phantom's truth bone labels, subregions, a parameter map and landmarks.
fn knee_scene() -> Scene3d {
    static SCENE: OnceLock<Scene3d> = OnceLock::new();
    SCENE
        .get_or_init(|| {
            let p = generate(
                Config {
                    seed: 5,
                    grade: Grade::Mild,
                    preset: Preset::Small,
                },
                &Progress::new(),
            )
            .expect("phantom");
            let g = &p.ct.geometry;
            // A stand-in parameter map: the CT's HU inside the subregions, NaN elsewhere.
            let map = Volume::from_fn(g.clone(), |i, j, k| {
                if p.ct_subregions.at(i, j, k) > 0 {
                    p.ct.data[[k, j, i]]
                } else {
                    f32::NAN
                }
            });
            let surfaces = KneeSurfaces::from_bones(&p.ct_labels, 1)
                .with_subregion_labels(&p.ct_subregions)
                .with_map("HU", &map);
            let centre = surfaces.centre_and_radius().0.map(f64::from);
            Scene3d::new(Arc::new(surfaces))
                .with_landmarks(&p.landmarks_ct, [255, 40, 255, 255])
                .with_crosshair([centre[0], centre[1], centre[2] - 5.0])
        })
        .clone()
}

fn render_state() -> eframe::egui_wgpu::RenderState {
    create_render_state(
        srrd::app::gpu::with_volume_limits(default_wgpu_setup()),
        eframe::egui_wgpu::RendererOptions::PREDICTABLE,
    )
}

fn harness(view: View3d, scene: Option<Scene3d>, gpu: bool) -> Harness<'static, State> {
    harness_on(view, scene, gpu.then(render_state))
}

fn harness_on(
    view: View3d,
    scene: Option<Scene3d>,
    rs: Option<eframe::egui_wgpu::RenderState>,
) -> Harness<'static, State> {
    let builder = Harness::builder().with_size(SIZE).with_step_dt(0.05);
    let app = |ui: &mut egui::Ui, s: &mut State| {
        let size = ui.available_size();
        s.view.ui(ui, size, s.scene.as_ref());
    };
    let mut state = State { view, scene };
    let mut h = if let Some(rs) = rs {
        state.view.enable_gpu(&rs);
        builder
            .renderer(WgpuTestRenderer::from_render_state(rs))
            .build_ui_state(app, state)
    } else {
        builder.build_ui_state(app, state)
    };
    h.run_steps(2);
    h
}

/// The scene area of the rendered frame, as (x, y, rgba) pixels; also saved for a look.
fn pixels(h: &mut Harness<'static, State>, name: &str) -> Vec<(u32, u32, [u8; 4])> {
    let image = h.render().expect("render");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/view3d");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = image.save(dir.join(format!("{name}.png")));
    }
    let ppp = image.width() as f32 / SIZE[0];
    let r = h.state().view.image_rect().expect("drawn");
    let mut out = Vec::new();
    for y in (r.min.y * ppp) as u32..(r.max.y * ppp) as u32 {
        for x in (r.min.x * ppp) as u32..(r.max.x * ppp) as u32 {
            out.push((x, y, image.get_pixel(x, y).0));
        }
    }
    out
}

/// Femur colour (warm: red well above blue) and tibia colour (blue well above red), after
/// shading.
fn is_femur(p: [u8; 4]) -> bool {
    p[0] > 50 && f32::from(p[0]) > 1.4 * f32::from(p[2]) && p[1] > p[2]
}
fn is_tibia(p: [u8; 4]) -> bool {
    p[2] > 50 && f32::from(p[2]) > 1.4 * f32::from(p[0])
}

fn mean_y(px: &[(u32, u32, [u8; 4])], pred: impl Fn([u8; 4]) -> bool) -> (usize, f64) {
    let ys: Vec<f64> = px
        .iter()
        .filter(|p| pred(p.2))
        .map(|p| f64::from(p.1))
        .collect();
    (ys.len(), ys.iter().sum::<f64>() / ys.len().max(1) as f64)
}

/// Share of pixels differing by more than 24 (of 255) in some channel.
fn changed(a: &[(u32, u32, [u8; 4])], b: &[(u32, u32, [u8; 4])]) -> f64 {
    assert_eq!(a.len(), b.len());
    let n = a
        .iter()
        .zip(b)
        .filter(|(p, q)| (0..3).any(|c| p.2[c].abs_diff(q.2[c]) > 24))
        .count();
    n as f64 / a.len() as f64
}

fn bones_only() -> View3d {
    let mut v = View3d::default();
    v.settings.show_planes = false;
    v.settings.show_landmarks = false;
    v
}

#[test]
fn front_view_shows_the_femur_above_the_tibia() {
    let scene = knee_scene();
    let mut h = harness(bones_only(), Some(scene.clone()), true);
    let px = pixels(&mut h, "front_bones");
    let (femur, femur_y) = mean_y(&px, is_femur);
    let (tibia, tibia_y) = mean_y(&px, is_tibia);
    let n = px.len() as f64;
    eprintln!(
        "femur {:.1}% of the view at mean y {femur_y:.0}, tibia {:.1}% at {tibia_y:.0}",
        100.0 * femur as f64 / n,
        100.0 * tibia as f64 / n
    );
    assert!(femur as f64 > 0.02 * n && tibia as f64 > 0.02 * n);
    assert!(
        ((femur + tibia) as f64) < 0.8 * n,
        "bones fill the whole view"
    );
    assert!(
        femur_y + 20.0 < tibia_y,
        "femur at {femur_y}, tibia at {tibia_y}"
    );
    // The projection the widget reports agrees with the pixels.
    let centroid = |label: u8| {
        let m = &scene.surfaces.mesh;
        let (mut s, mut count) = ([0f64; 3], 0.0);
        for (p, l) in m.positions_mm.iter().zip(&m.labels) {
            if *l == label {
                (0..3).for_each(|a| s[a] += f64::from(p[a]));
                count += 1.0;
            }
        }
        s.map(|x| x / count)
    };
    let v = &h.state().view;
    let pf = v.project(&scene, centroid(FEMUR)).expect("femur in view");
    let pt = v.project(&scene, centroid(TIBIA)).expect("tibia in view");
    assert!(
        (f64::from(pf.y) - femur_y).abs() < 40.0,
        "{pf:?} vs {femur_y}"
    );
    assert!(
        (f64::from(pt.y) - tibia_y).abs() < 40.0,
        "{pt:?} vs {tibia_y}"
    );
}

#[test]
fn unchanged_frames_reuse_the_offscreen_image() {
    let rs = render_state();
    let mut h = harness_on(bones_only(), Some(knee_scene()), Some(rs.clone()));
    let passes = || {
        let r = rs.renderer.read();
        r.callback_resources
            .get::<View3dRenderer>()
            .map(|v| v.passes)
            .expect("renderer installed")
    };
    let first = pixels(&mut h, "reuse_1");
    let drawn = passes();
    assert!(drawn >= 1);
    h.run_steps(2);
    let second = pixels(&mut h, "reuse_2");
    assert_eq!(passes(), drawn, "an unchanged frame drew again");
    assert!(changed(&first, &second) < 1e-9);
    h.state_mut().view.settings.yaw_rad = 0.3;
    h.run_steps(1);
    let _ = pixels(&mut h, "reuse_3");
    assert_eq!(passes(), drawn + 1);
}

#[test]
fn drag_rotates_and_double_click_resets() {
    let mut h = harness(bones_only(), Some(knee_scene()), true);
    let before = pixels(&mut h, "drag_before");
    let r = h.state().view.image_rect().expect("drawn");
    let c = r.center();
    h.drag_at(c);
    h.run_steps(1);
    for dx in [30.0, 60.0, 90.0, 100.0] {
        h.hover_at(c + egui::vec2(dx, 0.0));
        h.run_steps(1);
    }
    h.drop_at(c + egui::vec2(100.0, 0.0));
    h.run_steps(2);
    let yaw = h.state().view.settings.yaw_rad;
    let turned = (yaw - std::f32::consts::TAU).abs().min(yaw.abs());
    assert!((turned - 1.0).abs() < 0.05, "yaw {yaw}");
    let after = pixels(&mut h, "drag_after");
    let moved = changed(&before, &after);
    assert!(moved > 0.05, "only {:.1}% of pixels changed", moved * 100.0);
    // Wheel zooms in.
    h.hover_at(c);
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, 120.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: egui::Modifiers::NONE,
    });
    h.run_steps(10);
    assert!(
        h.state().view.settings.zoom > 1.1,
        "zoom {}",
        h.state().view.settings.zoom
    );
    for pressed in [true, false, true, false] {
        h.event(egui::Event::PointerButton {
            pos: c,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        h.run_steps(1);
    }
    h.remove_cursor();
    h.run_steps(2);
    let s = &h.state().view.settings;
    assert_eq!((s.yaw_rad, s.pitch_rad, s.zoom), (0.0, 0.0, 1.0));
    let reset = pixels(&mut h, "drag_reset");
    assert!(changed(&before, &reset) < 0.001);
}

#[test]
fn colourings_landmarks_and_planes_change_the_image() {
    let scene = knee_scene();
    let mut h = harness(bones_only(), Some(scene.clone()), true);
    let bones = pixels(&mut h, "colour_bone");
    h.state_mut().view.settings.colour_by = ColourBy::Subregion;
    h.run_steps(1);
    let sub = pixels(&mut h, "colour_subregion");
    assert!(
        changed(&bones, &sub) > 0.01,
        "subregion colouring changed nothing"
    );
    h.state_mut().view.settings.colour_by = ColourBy::Parameter("HU".into());
    h.run_steps(1);
    let map = pixels(&mut h, "colour_parameter");
    assert!(
        changed(&sub, &map) > 0.01,
        "parameter colouring changed nothing"
    );
    // An unknown map falls back to bone colours.
    h.state_mut().view.settings.colour_by = ColourBy::Parameter("nonexistent".into());
    h.run_steps(1);
    assert!(changed(&bones, &pixels(&mut h, "colour_fallback")) < 0.001);
    h.state_mut().view.settings.colour_by = ColourBy::Bone;
    h.state_mut().view.settings.show_landmarks = true;
    h.state_mut().view.settings.show_planes = true;
    h.run_steps(1);
    let all = pixels(&mut h, "landmarks_planes");
    let magenta = all
        .iter()
        .filter(|p| p.2[0] > 90 && p.2[2] > 90 && p.2[1] < p.2[0] / 2)
        .count();
    let red_line = all
        .iter()
        .filter(|p| p.2[0] > 180 && p.2[1] < 100 && p.2[2] < 100)
        .count();
    eprintln!(
        "{} landmarks: {magenta} magenta pixels; {red_line} axial-plane pixels",
        scene.landmarks.len()
    );
    assert!(magenta > 20 && red_line > 100);
}

#[test]
fn says_why_it_cannot_draw() {
    let h = harness(View3d::default(), Some(knee_scene()), false);
    assert!(!h.state().view.has_gpu());
    h.get_by_label(NO_GPU_TEXT);
    let h = harness(View3d::default(), None, true);
    h.get_by_label(NO_SCENE_TEXT);
}

#[test]
fn snapshot_knee_front_view() {
    let mut view = View3d::default();
    view.settings.pitch_rad = 0.3;
    view.settings.yaw_rad = -0.5;
    let mut h = harness(view, Some(knee_scene()), true);
    let _ = pixels(&mut h, "snapshot");
    // Silhouettes may rasterize a pixel apart on other backends: the pixel statistics
    // above are the real checks, the snapshot shows the look.
    h.snapshot_options(
        "view3d_knee",
        &SnapshotOptions::new().threshold(1.0).max_failed_pixels(400),
    );
}

/// The workstation on a CT alone: the bones are segmented and meshed by themselves after
/// loading, in the background, and drawn in the 3D quadrant before any analysis; the
/// "Bones (3D)" button does it again; the analysis then colours them by subregion.
#[test]
fn the_workstation_shows_bones_in_3d_before_an_analysis() {
    use srrd::app::ViewerApp;
    let dir = tempfile::tempdir().expect("tmp");
    let p = generate(
        Config {
            seed: 5,
            grade: Grade::Mild,
            preset: Preset::Small,
        },
        &Progress::new(),
    )
    .expect("phantom");
    let ct_path = dir.path().join("ct.nii.gz");
    srrd::io::write_nifti(&ct_path, &p.ct, srrd::io::WriteDtype::I16).expect("ct");
    let rs = render_state();
    let mut app = ViewerApp::start(Some(ct_path), None);
    app.enable_gpu(&rs);
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    let settle = |h: &mut Harness<'static, ViewerApp>| {
        let start = std::time::Instant::now();
        h.run_steps(1);
        while h.state().is_loading() || h.state().is_busy() {
            assert!(start.elapsed().as_secs() < 300, "still busy");
            std::thread::sleep(std::time::Duration::from_millis(50));
            h.run_steps(1);
        }
        h.run_steps(3);
    };
    settle(&mut h);
    let s = h.state();
    assert!(s.results().is_none(), "no analysis ran");
    let bones = s.bone_surfaces().expect("bones before an analysis").clone();
    let count = |label: u8| bones.mesh.labels.iter().filter(|l| **l == label).count();
    assert!(
        count(FEMUR) > 1000 && count(TIBIA) > 1000,
        "{} {}",
        count(FEMUR),
        count(TIBIA)
    );
    assert!(
        bones.subregions.is_none(),
        "not coloured before the analysis"
    );
    // Drawn in the fourth quadrant: femur and tibia colours, the femur above.
    let image = h.render().expect("render");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/view3d");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = image.save(out.join("workstation_bones.png"));
    }
    let ppp = image.width() as f32 / 1400.0;
    let r = h.state().view3d().image_rect().expect("3D view drawn");
    let mut px = Vec::new();
    for y in (r.min.y * ppp) as u32..(r.max.y * ppp) as u32 {
        for x in (r.min.x * ppp) as u32..(r.max.x * ppp) as u32 {
            px.push((x, y, image.get_pixel(x, y).0));
        }
    }
    let (femur, femur_y) = mean_y(&px, is_femur);
    let (tibia, tibia_y) = mean_y(&px, is_tibia);
    let n = px.len() as f64;
    assert!(
        femur as f64 > 0.02 * n && tibia as f64 > 0.02 * n,
        "{femur} {tibia} of {n}"
    );
    assert!(femur_y < tibia_y, "femur at {femur_y}, tibia at {tibia_y}");

    // Again with the button: new surfaces of the same bones.
    h.get_by_label("Bones (3D)").click();
    settle(&mut h);
    let again = h.state().bone_surfaces().expect("bones").clone();
    assert_ne!(again.id, bones.id);
    assert_eq!(again.mesh.indices.len(), bones.mesh.indices.len());
    let status = h.state().status().to_string();
    assert!(
        status.contains("bones in 3D from the segmentation"),
        "{status}"
    );

    // The analysis colours them: its surfaces carry the subregions.
    h.get_by_label("Analyze (SRRD)").click();
    settle(&mut h);
    assert!(h.state().results().is_some(), "{:?}", h.state().error());
    let coloured = h.state().bone_surfaces().expect("surfaces");
    let subregions = coloured.subregions.as_ref().expect("subregions");
    assert!(subregions.iter().any(|v| v.is_finite() && *v >= 1.0));
    // The same bones as the analysis segments: femur and tibia within 5% of its counts.
    for label in [FEMUR, TIBIA] {
        let analysed = coloured.mesh.labels.iter().filter(|l| **l == label).count();
        let alone = count(label);
        assert!(
            (analysed as f64 - alone as f64).abs() < 0.05 * analysed as f64,
            "label {label}: {alone} vertices from the bones alone, {analysed} from the analysis"
        );
    }
}
