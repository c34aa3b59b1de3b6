//! How long a phantom takes, and how the time grows with resolution.
//!
//! `cargo bench --bench phantom`: the `small` and `paper` presets end to end (generate and
//! write), then the paper scanners scaled to 1/4, 1/2, 3/4 and 1x voxels per axis (CT and
//! MR rendering only). There is no Python phantom generator to compare against.

use std::time::Instant;

use srrd::phantom::{
    Config, Grade, Preset, generate, generate_with, scan_specs_scaled, truth_sampling,
};
use srrd::progress::Progress;

fn main() {
    let p = Progress::new();
    let dir = tempfile::tempdir().expect("tempdir");
    for preset in [Preset::Small, Preset::Paper] {
        let mut best = f64::MAX;
        for _ in 0..2 {
            let t = Instant::now();
            let ph = generate(
                Config {
                    seed: 1,
                    grade: Grade::Advanced,
                    preset,
                },
                &p,
            )
            .expect("generate");
            ph.write(dir.path(), &p).expect("write");
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "preset {:<6} generate + write: {best:.2} s (best of 2)",
            preset.name()
        );
    }
    println!("scale  CT voxels   MR voxels    CT s    MR s   MR ns/voxel");
    for scale in [0.25, 0.5, 0.75, 1.0] {
        let (ct, mr) = scan_specs_scaled(scale);
        let (nc, nm) = (ct.geometry.num_voxels(), mr.geometry.num_voxels());
        let mut sampling = truth_sampling(Preset::Small);
        sampling.cubes_per_subregion = 1;
        let ph = generate_with(
            Config {
                seed: 1,
                grade: Grade::Advanced,
                preset: Preset::Paper,
            },
            ct,
            mr,
            sampling,
            &p,
        )
        .expect("generate");
        let t = |n: &str| {
            ph.timings_s
                .iter()
                .find(|(k, _)| k == n)
                .map_or(0.0, |x| x.1)
        };
        println!(
            "{scale:<5}  {nc:>9}  {nm:>10}  {:>6.2}  {:>6.2}   {:>6.0}",
            t("ct"),
            t("mr"),
            t("mr") * 1e9 / nm as f64
        );
    }
}
