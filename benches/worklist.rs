//! Switching to the next case of a worklist: from the key press until the case's CT and
//! MR (the demo knee's paper-size images: CT 150x150x90, MR 640x640x120, gzipped NIfTI)
//! are read and drawn, with the open case autosaved; the GPU renderer (Mesa's software
//! rasterizer here). Compared with reading the same two files with nibabel (the reading
//! alone, which is most of the switch), when the reference venv is there.
//! Run: `cargo bench --bench worklist`.

use std::time::Instant;

use egui_kittest::Harness;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use srrd::app::ViewerApp;

fn main() {
    let demo = srrd::phantom::ensure_demo(&srrd::progress::Progress::new()).expect("demo knee");
    let tmp = tempfile::tempdir().expect("tmp");
    let mut csv = String::from("subject,ct,mr\n");
    for k in 1..=8 {
        csv.push_str(&format!(
            "knee{k},{},{}\n",
            demo.join("ct.nii.gz").display(),
            demo.join("mr.nii.gz").display()
        ));
    }
    let list = tmp.path().join("study.csv");
    std::fs::write(&list, csv).expect("csv");
    let rs = create_render_state(
        srrd::app::gpu::with_volume_limits(default_wgpu_setup()),
        eframe::egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let adapter = rs.adapter.get_info().name;
    let mut app = ViewerApp::with_layers(Vec::new());
    app.enable_gpu(&rs);
    app.open_worklist(&list, &tmp.path().join("reader"))
        .expect("worklist");
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .renderer(WgpuTestRenderer::from_render_state(rs))
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    let settle = |h: &mut Harness<'static, ViewerApp>| {
        h.run_steps(1);
        while h.state().is_loading() {
            std::thread::sleep(std::time::Duration::from_millis(5));
            h.run_steps(1);
        }
        h.run_steps(1);
        let _ = h.render();
    };
    settle(&mut h);
    let mut ms = Vec::new();
    for _ in 0..7 {
        // A landmark on the open case, so the switch also saves it.
        h.state_mut()
            .landmarks_mut()
            .place(nalgebra::Point3::new(0.0, 0.0, 0.0));
        let t = Instant::now();
        h.state_mut().step_case(1);
        settle(&mut h);
        assert_eq!(h.state().layers().len(), 2);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!(
        "next case (read CT + MR, draw, autosave) on {adapter}: median {median:.0} ms, max {:.0} ms over {} switches",
        ms[ms.len() - 1],
        ms.len()
    );
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-ref/bin/python");
    if python.exists() {
        let script = format!(
            "import time, nibabel as nib\nts=[]\nfor _ in range(7):\n t=time.perf_counter()\n for f in ['{}','{}']:\n  nib.load(f).get_fdata(dtype='float32')\n ts.append(time.perf_counter()-t)\nts.sort()\nprint(ts[len(ts)//2]*1000)",
            demo.join("ct.nii.gz").display(),
            demo.join("mr.nii.gz").display()
        );
        if let Ok(out) = std::process::Command::new(&python)
            .args(["-c", &script])
            .output()
            && let Ok(text) = String::from_utf8(out.stdout)
            && let Ok(nib_ms) = text.trim().parse::<f64>()
        {
            println!(
                "nibabel reading the same two files: median {nib_ms:.0} ms; the whole switch takes {:.2}x nibabel's read alone",
                median / nib_ms
            );
        }
    }
}
