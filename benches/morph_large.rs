//! `cargo bench --bench morph_large`: Tb.Th + Tb.Sp in a VOI on trabecular-like volumes
//! whose marrow spaces are about 10, 30 and 60 voxels across, and on a 200 x 200 x 166
//! HR-pQCT-like volume with Tb.Sp about 40 voxels, and on `--bench morph`'s 256^3 volume
//! without a VOI, against porespy and ORMIR_XCT in the same run
//! (`benches/morph_large_reference.py` writes the volumes and times them).
//!
//! The reference Python is `$SRRD_MORPH_PYTHON` (a venv with porespy and, for its
//! columns, ormir-xct), else `.venv-ref/bin/python`. `SRRD_MORPH_CASES` picks cases
//! (default sp10,sp30,sp60,hrpqct40,random256) and `SRRD_MORPH_NO_ORMIR` the cases ORMIR_XCT skips
//! (it paints a sphere at every marrow voxel: minutes on the large ones).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use srrd::io::read_nifti;
use srrd::morphometry::{Method, parameters_voi};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("SRRD_MORPH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-ref/bin/python"));
    if !python.exists() && std::env::var_os("SRRD_MORPH_REFERENCE").is_none() {
        eprintln!(
            "{}: no reference Python (run scripts/setup-refvenv.sh or set SRRD_MORPH_PYTHON)",
            python.display()
        );
        std::process::exit(1);
    }
    let cases =
        std::env::var("SRRD_MORPH_CASES").unwrap_or_else(|_| "sp10,sp30,sp60,hrpqct40".to_string());
    let no_ormir = std::env::var("SRRD_MORPH_NO_ORMIR").unwrap_or_default();
    // `SRRD_MORPH_REFERENCE=FILE.json`: the reference side's output of an earlier run,
    // read instead of running it (for working on srrd's side; report same-run figures).
    let out = match std::env::var_os("SRRD_MORPH_REFERENCE") {
        Some(file) => std::fs::read(&file).map(|stdout| std::process::Output {
            status: std::process::ExitStatus::default(),
            stdout,
            stderr: Vec::new(),
        }),
        None => Command::new(&python)
            .arg(root.join("benches/morph_large_reference.py"))
            .arg(root.join("target/bench-data/morph_large"))
            .args(["--cases", &cases, "--no-ormir", &no_ormir])
            .output(),
    };
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            eprintln!(
                "reference script failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot run {}: {e}", python.display());
            std::process::exit(1);
        }
    };
    let reference: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("reference output is not JSON: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "threads: {} (rayon); porespy {}, ORMIR_XCT {}; Tb.Th + Tb.Sp in a VOI, voxels",
        rayon::current_num_threads(),
        reference["porespy"].as_str().unwrap_or("?"),
        reference["ormir_xct"].as_str().unwrap_or("absent"),
    );
    println!(
        "{:<10} {:>15} {:>6} | {:>8} {:>6} {:>6} | {:>8} {:>6} {:>6} {:>6} | {:>8} {:>6} {:>6} {:>6}",
        "case",
        "size",
        "BV/TV",
        "srrd s",
        "Tb.Th",
        "Tb.Sp",
        "porespy",
        "Tb.Th",
        "Tb.Sp",
        "ratio",
        "ORMIR",
        "Tb.Th",
        "Tb.Sp",
        "ratio"
    );
    let empty = Vec::new();
    let wanted: Vec<&str> = cases.split(',').collect();
    for case in reference["cases"].as_array().unwrap_or(&empty) {
        if !wanted.contains(&case["name"].as_str().unwrap_or("")) {
            continue;
        }
        let read = |key: &str| -> Option<(Vec<bool>, [usize; 3])> {
            let v = read_nifti(&PathBuf::from(case[key].as_str()?)).ok()?.volume;
            Some((v.data.iter().map(|x| *x > 0.5).collect(), v.geometry.size))
        };
        let (Some((bone, size)), Some((voi, _))) = (read("bone"), read("voi")) else {
            eprintln!("{}: cannot read its volumes", case["name"]);
            std::process::exit(1);
        };
        let mut times = Vec::new();
        let mut result = None;
        for _ in 0..3 {
            let t = Instant::now();
            let r = parameters_voi(&bone, &voi, size, [1.0; 3], Method::BoneJ);
            times.push(t.elapsed().as_secs_f64());
            result = Some(r);
        }
        let Some(Ok((p, _))) = result else {
            eprintln!("{}: srrd could not measure it", case["name"]);
            std::process::exit(1);
        };
        times.sort_by(f64::total_cmp);
        let ours = times[1];
        let f = |key: &str| case[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<10} {:>15} {:>6.3} | {:>8.2} {:>6.2} {:>6.2} | {:>8.2} {:>6.2} {:>6.2} {:>5.1}x | {:>8.2} {:>6.2} {:>6.2} {:>5.1}x",
            case["name"].as_str().unwrap_or("?"),
            format!("{}x{}x{}", size[0], size[1], size[2]),
            p.bv_tv,
            ours,
            p.tb_th_mm,
            p.tb_sp_mm,
            f("porespy_s"),
            f("porespy_tb_th"),
            f("porespy_tb_sp"),
            f("porespy_s") / ours,
            f("ormir_s"),
            f("ormir_tb_th"),
            f("ormir_tb_sp"),
            f("ormir_s") / ours,
        );
    }
    println!("srrd: median of 3; ratio: the tool's time / srrd's (higher is faster srrd)");
}
