//! `cargo bench --bench morph`: 3D local thickness of a 256^3 trabecular-like binary volume
//! (BV/TV 0.3) against porespy and localthickness in the same run, and the parameters of
//! 10,000 patches of 48x48x16 voxels (the regression stage's load).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use srrd::io::read_nifti;
use srrd::morphometry::{Method, patch_parameters, thickness::local_thickness};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-ref/bin/python");
    if !python.exists() {
        eprintln!("run scripts/setup-refvenv.sh first (the reference venv is missing)");
        std::process::exit(1);
    }
    let out = Command::new(&python)
        .arg(root.join("benches/morph_reference.py"))
        .arg(root.join("target/bench-data"))
        .output()
        .expect("run the reference script");
    if !out.status.success() {
        eprintln!(
            "reference script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let volume = read_nifti(&PathBuf::from(
        reference["path"].as_str().unwrap_or_default(),
    ))
    .expect("read")
    .volume;
    let size = volume.geometry.size;
    let bone: Vec<bool> = volume.data.iter().map(|v| *v > 0.5).collect();
    let marrow: Vec<bool> = bone.iter().map(|b| !b).collect();
    let mut times = Vec::new();
    let mut tb_th = 0.0;
    for _ in 0..5 {
        let t = Instant::now();
        let map = local_thickness(&bone, &marrow, size, [1.0; 3]).expect("thickness");
        times.push(t.elapsed().as_secs_f64());
        let n = bone.iter().filter(|b| **b).count();
        tb_th = map
            .iter()
            .zip(&bone)
            .filter(|(_, b)| **b)
            .map(|(v, _)| *v as f64)
            .sum::<f64>()
            / n as f64;
    }
    times.sort_by(f64::total_cmp);
    let ours = times[2];
    let pore = reference["porespy_s"].as_f64().unwrap_or(f64::NAN);
    let lt = reference["localthickness_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "threads: {} (rayon); 256^3, BV/TV {:.3}",
        rayon::current_num_threads(),
        reference["bv_tv"]
    );
    println!(
        "{:<40} {:>9} {:>9} {:>7}",
        "local thickness of bone, 256^3", "time (s)", "ratio", "Tb.Th"
    );
    println!(
        "{:<40} {:>9.3} {:>9} {:>7.3}",
        "srrd (median of 5)", ours, "1.00", tb_th
    );
    println!(
        "{:<40} {:>9.3} {:>9.2} {:>7.3}",
        "porespy 3.2 (default)",
        pore,
        pore / ours,
        reference["porespy_tb_th"].as_f64().unwrap_or(f64::NAN)
    );
    let pore_all = reference["porespy_all_sizes_s"]
        .as_f64()
        .unwrap_or(f64::NAN);
    println!(
        "{:<40} {:>9.3} {:>9.2} {:>7.3}",
        format!(
            "porespy 3.2, radii 1..{} (+{:.2} s EDT)",
            reference["porespy_sizes"].as_u64().unwrap_or(0),
            reference["porespy_all_sizes_rmax_s"]
                .as_f64()
                .unwrap_or(f64::NAN)
        ),
        pore_all,
        pore_all / ours,
        reference["porespy_all_sizes_tb_th"]
            .as_f64()
            .unwrap_or(f64::NAN)
    );
    println!(
        "{:<40} {:>9.3} {:>9.2} {:>7.3}",
        "localthickness 0.1.3",
        lt,
        lt / ours,
        reference["localthickness_tb_th"]
            .as_f64()
            .unwrap_or(f64::NAN)
    );

    // 10,000 patches of 48x48x16 from the same volume, all four parameters each.
    let mask = vec![true; bone.len()];
    let mut state = 7u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    };
    let centres: Vec<[usize; 3]> = (0..10_000)
        .map(|_| [24 + next(208), 24 + next(208), 8 + next(240)])
        .collect();
    let t = Instant::now();
    let results = patch_parameters(
        &bone,
        &mask,
        size,
        [1.0; 3],
        &centres,
        [48, 48, 16],
        [0, 0, 0],
        Method::BoneJ,
    );
    let elapsed = t.elapsed().as_secs_f64();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!(
        "10,000 patches of 48x48x16 (bonej, 4 parameters): {elapsed:.2} s ({:.2} ms per patch), {ok} measured",
        1000.0 * elapsed / 10_000.0
    );
}
