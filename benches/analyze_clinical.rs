//! `cargo bench --bench analyze_clinical`: CT-only `analyze` of a clinical-size knee CT,
//! 512 x 512 x 300 voxels at 0.4 x 0.4 x 0.6 mm (the target: at most 5 s on 2
//! cores, resampling included), against the demo CT (150 x 150 x 90 at 0.977 x 0.977 x 1
//! mm). The clinical CT is the demo knee's phantom rendered by the scanner on the fine
//! grid in its field of view, padded with air to 512 x 512 x 300. Prints the median of 3
//! runs and the stages of the last, then the resampling step alone (compare with
//! `benches/regrid_reference.py`, SimpleITK on the same job).

use std::time::Instant;

use srrd::phantom::acquisition::{Acquisition, generate_acquired_with};
use srrd::phantom::{CohortCt, DEMO};
use srrd::pipeline::analyze::{KneeChoice, Models, analyze_knee, prepare};
use srrd::progress::Progress;
use srrd::volume::{AffineTransform, Geometry, Interpolation, Volume, resample};

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn run(name: &str, ct: &Volume, models: &Models) {
    let progress = Progress::new();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let t0 = Instant::now();
        let prepared = prepare(ct, models, &progress).expect("prepare");
        let t_prep = t0.elapsed().as_secs_f64();
        let a = analyze_knee(ct, &prepared, KneeChoice::Only, None, models, &progress)
            .expect("analyze");
        times.push(t0.elapsed().as_secs_f64());
        last = Some((t_prep, a.timings));
    }
    let g = &ct.geometry;
    println!(
        "{name}: {} x {} x {} at {:.3} x {:.3} x {:.3} mm: median {:.2} s (of {:?})",
        g.size[0],
        g.size[1],
        g.size[2],
        g.spacing_mm.x,
        g.spacing_mm.y,
        g.spacing_mm.z,
        median(times.clone()),
        times
            .iter()
            .map(|t| (t * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    if let Some((prep, stages)) = last {
        println!("  resampling and knee finding {prep:.2} s");
        for (stage, s) in stages {
            println!("  {stage} {s:.2} s");
        }
    }
}

fn main() {
    let models = Models::load(
        srrd::regression::model::demo_model_dir()
            .parent()
            .expect("assets"),
    )
    .expect("models");
    let progress = Progress::new();
    let demo = generate_acquired_with(
        DEMO,
        CohortCt::default(),
        &Acquisition::default(),
        false,
        &progress,
    )
    .expect("demo knee");
    run("demo CT", &demo.ct, &models);
    let fine = generate_acquired_with(
        DEMO,
        CohortCt::default(),
        &Acquisition {
            ct_pixel_mm: Some(0.4),
            ct_slice_mm: Some(0.6),
            ..Default::default()
        },
        false,
        &progress,
    )
    .expect("fine knee");
    // Padded with air to a clinical 512 x 512 x 300 matrix (204.8 mm in-plane field of
    // view, 180 mm along the leg), same centre.
    let spacing = [0.4, 0.4, 0.6];
    let size = [512usize, 512, 300];
    let c = fine.ct.geometry.center_mm();
    let half: [f64; 3] = std::array::from_fn(|a| spacing[a] * (size[a] - 1) as f64 / 2.0);
    let g = Geometry::new(size, spacing, [c.x - half[0], c.y - half[1], c.z - half[2]]);
    let clinical = resample(
        &fine.ct,
        &g,
        &AffineTransform::identity(),
        Interpolation::Nearest,
        -1000.0,
    );
    run("clinical CT", &clinical, &models);
    // The resampling step alone, to compare with SimpleITK on the same job
    // (benches/regrid_reference.py: Gaussian smoothing + linear resampling).
    let mut times = Vec::new();
    for _ in 0..3 {
        let t0 = Instant::now();
        let w = srrd::volume::regrid::to_working_grid(&clinical, [0.977, 0.977, 1.0]);
        times.push(t0.elapsed().as_secs_f64());
        assert!(w.geometry.num_voxels() > 0);
    }
    println!(
        "to the models' grid alone (512 x 512 x 300 -> 0.977 x 0.977 x 1 mm): median {:.2} s",
        median(times)
    );
}
