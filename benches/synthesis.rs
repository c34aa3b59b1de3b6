//! `cargo bench --bench synthesis`: sCT inference of a CT-size volume (90 slices of
//! 150x150, the paper's CT grid) with the demo SPSNet weights, and training throughput
//! (crop stacks per second) of the small and paper configurations on this machine's CPU.
//! Prints medians. The target: inference under 10 s on 2 CPU cores.

use std::time::Instant;

use srrd::progress::Progress;
use srrd::synthesis::edges::EdgeDetector;
use srrd::synthesis::model::{demo_model_dir, load_model, synthesize};
use srrd::synthesis::nets::SynthConfig;
use srrd::synthesis::train::{SynthNets, SynthSettings, discriminator_loss, generator_losses};
use srrd::volume::{Geometry, Volume};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor};

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Training steps per second of `cfg` at batch 4 on random crops (the same losses and
/// optimizer steps as `train_synthesis`).
fn train_throughput(cfg: &SynthConfig, steps: usize) -> f64 {
    let settings = SynthSettings::spsnet();
    let nets = SynthNets::new(cfg, true);
    let edges = EdgeDetector::Classical;
    let mut opt_g = tch::nn::Adam::default()
        .build(&nets.vs_g, 2e-4)
        .expect("adam");
    let mut opt_d = tch::nn::Adam::default()
        .build(&nets.vs_d, 2e-4)
        .expect("adam");
    let batch = 4;
    let shape = [batch, cfg.slices, cfg.crop, cfg.crop];
    let step = |opt_g: &mut tch::nn::Optimizer, opt_d: &mut tch::nn::Optimizer| {
        let mr = Tensor::rand(shape, (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let ct = Tensor::rand(shape, (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let g = generator_losses(&nets, &edges, &settings, &mr, &ct);
        opt_g.zero_grad();
        g.total.backward();
        opt_g.step();
        let d = discriminator_loss(&nets, &mr, &ct, &g);
        opt_d.zero_grad();
        d.backward();
        opt_d.step();
    };
    step(&mut opt_g, &mut opt_d);
    let t = Instant::now();
    for _ in 0..steps {
        step(&mut opt_g, &mut opt_d);
    }
    // Each step sees `batch` crMR and `batch` CT stacks.
    (steps * 2 * batch as usize) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let threads = tch::get_num_threads();
    println!("tch intra-op threads: {threads}");
    let dir = demo_model_dir();
    match load_model(&dir) {
        Ok(model) => {
            let g = Geometry::new([150, 150, 90], [0.977, 0.977, 1.0], [0.0; 3]);
            let v = Volume::from_fn(g, |i, j, k| {
                let r = ((i as f64 - 75.0).powi(2) + (j as f64 - 75.0).powi(2)).sqrt();
                ((if r < 50.0 { 800.0 } else { 50.0 }) + k as f64) as f32
            });
            let times: Vec<f64> = (0..3)
                .map(|_| {
                    let t = Instant::now();
                    synthesize(&model, &v, &Progress::new()).expect("synthesize");
                    t.elapsed().as_secs_f64()
                })
                .collect();
            println!(
                "sCT inference, 150x150x90, {} {} (edges: {}): median {:.2} s (target < 10 s)",
                model.card.method,
                model.card.config.name,
                model.card.edges,
                median(times)
            );
        }
        Err(e) => println!("no demo synthesis model in {}: {e}", dir.display()),
    }
    for (cfg, steps) in [(SynthConfig::small(), 10), (SynthConfig::paper(), 2)] {
        println!(
            "training throughput, {} configuration (crop {}, batch 4): {:.1} crop stacks/s",
            cfg.name,
            cfg.crop,
            train_throughput(&cfg, steps)
        );
    }
}
