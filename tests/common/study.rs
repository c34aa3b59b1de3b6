//! The reading room's study for the GUI tests (`#[path]`-included by reading_room.rs and
//! reading_room_batch.rs): five knees of one small phantom, knee3's MR header turned half
//! a turn; the viewer on it as a worklist, waiting for its background work, a key press.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use eframe::egui;
use egui_kittest::Harness;
use nalgebra::{Matrix3, Point3, Vector3};
use srrd::app::ViewerApp;
use srrd::io::Landmark;
use srrd::io::nifti::{WriteDtype, write_nifti};

pub struct Study {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub list: PathBuf,
    /// Knee 3's CT landmarks and its turned MR's landmarks (the truth).
    pub ct_marks: Vec<Landmark>,
    pub turned_marks: Vec<Landmark>,
}

/// Five knees of one small phantom; knee3's MR header is turned half a turn about S.
pub fn study() -> Study {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let p = srrd::phantom::generate(
        srrd::phantom::Config {
            seed: 5,
            grade: srrd::phantom::Grade::Mild,
            preset: srrd::phantom::Preset::Small,
        },
        &srrd::progress::Progress::new(),
    )
    .expect("phantom");
    write_nifti(&dir.join("ct.nii.gz"), &p.ct, WriteDtype::I16).expect("ct");
    write_nifti(&dir.join("mr.nii.gz"), &p.mr, WriteDtype::F32).expect("mr");
    let mut mr = p.mr.clone();
    let c = mr.geometry.center_mm();
    let turn = Matrix3::from_diagonal(&Vector3::new(-1.0, -1.0, 1.0));
    let turned = |q: Point3<f64>| c + turn * (q - c);
    mr.geometry.direction = turn * mr.geometry.direction;
    mr.geometry.origin_mm = turned(mr.geometry.origin_mm);
    write_nifti(&dir.join("mr_turned.nii.gz"), &mr, WriteDtype::F32).expect("mr");
    let turned_marks: Vec<Landmark> = p
        .landmarks_mr
        .iter()
        .map(|l| Landmark {
            label: l.label.clone(),
            position_mm: turned(Point3::from(l.position_mm)).coords.into(),
        })
        .collect();
    let mut csv = String::from("subject,ct,mr\n");
    for k in 1..=5 {
        let mr = if k == 3 {
            "mr_turned.nii.gz"
        } else {
            "mr.nii.gz"
        };
        csv.push_str(&format!("knee{k},ct.nii.gz,{mr}\n"));
    }
    let list = dir.join("study.csv");
    std::fs::write(&list, csv).expect("csv");
    Study {
        _tmp: tmp,
        dir,
        list,
        ct_marks: p.landmarks_ct.clone(),
        turned_marks,
    }
}

pub fn harness(list: &Path, reader: &Path) -> Harness<'static, ViewerApp> {
    let mut app = ViewerApp::with_layers(Vec::new());
    app.open_worklist(list, reader).expect("worklist");
    let mut h = Harness::builder()
        .with_size([1500.0, 2200.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    wait(&mut h);
    h
}

/// [`harness`] drawn on wgpu (Mesa's software rasterizer), for a look at the window.
pub fn gpu_harness(list: &Path, reader: &Path) -> Harness<'static, ViewerApp> {
    use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
    let rs = create_render_state(
        srrd::app::gpu::with_volume_limits(default_wgpu_setup()),
        eframe::egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let mut app = ViewerApp::with_layers(Vec::new());
    app.enable_gpu(&rs);
    app.open_worklist(list, reader).expect("worklist");
    let mut h = Harness::builder()
        .with_size([1500.0, 1100.0])
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    wait(&mut h);
    h
}

/// Renders the window into target/reading_room/NAME.png, for a look.
pub fn save_look(h: &mut Harness<'static, ViewerApp>, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/reading_room");
    if let (Ok(image), Ok(())) = (h.render(), std::fs::create_dir_all(&dir)) {
        let _ = image.save(dir.join(format!("{name}.png")));
    }
}

/// Steps the UI until loading and background jobs are over.
pub fn wait(h: &mut Harness<'static, ViewerApp>) {
    let start = std::time::Instant::now();
    h.run_steps(1);
    while h.state().is_loading() || h.state().is_busy() {
        assert!(start.elapsed().as_secs() < 300, "still busy");
        std::thread::sleep(std::time::Duration::from_millis(100));
        h.run_steps(1);
    }
    h.run_steps(3);
}

pub fn key(h: &mut Harness<'static, ViewerApp>, key: egui::Key, modifiers: egui::Modifiers) {
    h.key_down_modifiers(modifiers, key);
    h.key_up_modifiers(modifiers, key);
    h.run_steps(2);
}
