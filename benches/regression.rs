//! `cargo bench --bench regression`: CT-student inference on every subchondral patch of
//! the demo knee with the demo weights (the target: under 10 s on 2 CPU cores),
//! and training throughput (patches per second) of the teacher, the distilled student and
//! the plain CNN for each network configuration on this machine's CPU. Prints medians.

use std::time::Instant;

use srrd::io::read_image;
use srrd::phantom::ensure_demo;
use srrd::progress::Progress;
use srrd::regression::infer::predict_ct;
use srrd::regression::inputs::Inputs;
use srrd::regression::model::{demo_model_dir, load_student};
use srrd::regression::nets::NetConfig;
use srrd::regression::train::{Normalization, TrainSettings, train_student, train_teacher};
use srrd::segmentation::bones::{CT_BONE_HU, segment_bones};
use srrd::segmentation::subchondral::{CORTEX_MM, DEPTH_MM, subchondral_regions};
use tch::{Device, Kind, Tensor};

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Random patches with the store's shapes (CT 12^3, MR 16 x 48 x 48, both with a mask).
fn random_inputs(n: i64) -> Inputs {
    let opts = (Kind::Float, Device::Cpu);
    let with_mask = |shape: [i64; 5]| {
        let mut one = shape;
        one[1] = 1;
        Tensor::cat(&[Tensor::randn(one, opts), Tensor::ones(one, opts)], 1)
    };
    Inputs {
        ct: with_mask([n, 2, 12, 12, 12]),
        mr: with_mask([n, 2, 16, 48, 48]),
        target: Tensor::rand([n, 4], opts) + 0.5,
        subject: vec![0; n as usize],
        bone: vec![1; n as usize],
        centre_mm: vec![[0.0; 3]; n as usize],
    }
}

/// Patches per second of one epoch over `n` patches for each of the three networks.
fn train_throughput(cfg: &NetConfig, n: i64, batch: usize) -> [f64; 3] {
    let data = random_inputs(n);
    let norm = Normalization::fit(&data.target);
    let settings = TrainSettings {
        epochs: 1,
        batch,
        ..Default::default()
    };
    let progress = Progress::new();
    let t = Instant::now();
    let teacher = train_teacher(&data, &norm, cfg, &settings, None, &progress).expect("teacher");
    let teacher_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    train_student(
        &data,
        &norm,
        cfg,
        &settings,
        Some(&teacher),
        None,
        &progress,
    )
    .expect("student");
    let student_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    train_student(&data, &norm, cfg, &settings.plain(), None, None, &progress).expect("plain");
    let plain_s = t.elapsed().as_secs_f64();
    [teacher_s, student_s, plain_s].map(|s| n as f64 / s)
}

fn main() {
    println!("tch intra-op threads: {}", tch::get_num_threads());
    let progress = Progress::new();
    let demo = ensure_demo(&progress).expect("demo knee");
    let ct = read_image(&demo.join("ct.nii.gz"), None)
        .expect("demo CT")
        .volume;
    let bones = segment_bones(&ct, CT_BONE_HU).expect("bones");
    let regions = subchondral_regions(&bones, DEPTH_MM, CORTEX_MM);
    let (student, card) = load_student(&demo_model_dir(), false).expect("demo weights");
    for stride in [4usize, 2] {
        let mut patches = 0;
        let times: Vec<f64> = (0..3)
            .map(|_| {
                let t = Instant::now();
                let p =
                    predict_ct(&ct, &regions, &student, &card, stride, &progress).expect("predict");
                patches = p.patches.len();
                t.elapsed().as_secs_f64()
            })
            .collect();
        let s = median(times);
        println!(
            "student inference, demo knee, stride {stride}: {patches} patches in {s:.2} s ({:.0} patches/s; target < 10 s)",
            patches as f64 / s
        );
    }
    for (cfg, n, batch) in [
        (NetConfig::small(), 256, 32),
        (NetConfig::small_hr(), 128, 32),
        (NetConfig::paper(), 8, 4),
    ] {
        let [t, s, p] = train_throughput(&cfg, n, batch);
        println!(
            "training, {} configuration, batch {batch}: teacher {t:.1}, distilled student {s:.1}, plain CNN {p:.1} patches/s",
            cfg.name
        );
    }
}
