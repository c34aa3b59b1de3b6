//! `cargo bench --bench io`: reading a 640x640x120 int16 .nii.gz and a 120-slice DICOM CT
//! series, and trilinear resampling between the paper's MR and CT grids, side by side with
//! nibabel, pydicom+numpy and SimpleITK in the same run (needs `scripts/setup-refvenv.sh`).
//! Prints medians and ratios (reference time / our time: above 1 means we are faster).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use srrd::io::{read_dicom, read_nifti};
use srrd::volume::{AffineTransform, Geometry, Interpolation, resample};

fn median_time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..repeats)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-ref/bin/python");
    if !python.exists() {
        eprintln!("run scripts/setup-refvenv.sh first (the reference venv is missing)");
        std::process::exit(1);
    }
    let repeats: usize = std::env::var("SRRD_BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let data = root.join("target/bench-data");
    let out = Command::new(&python)
        .arg(root.join("benches/io_reference.py"))
        .arg(&data)
        .arg(repeats.to_string())
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
    let r = |k: &str| reference[k].as_f64().unwrap_or(f64::NAN);
    let nii = PathBuf::from(reference["nifti"].as_str().unwrap_or_default());
    let dcm = PathBuf::from(reference["dicom"].as_str().unwrap_or_default());

    let ours_nifti = median_time(repeats, || {
        read_nifti(Path::new(&nii)).expect("read nifti");
    });
    let ours_dicom = median_time(repeats, || {
        read_dicom(Path::new(&dcm), None).expect("read dicom");
    });
    let mr = read_nifti(&nii).expect("read").volume;
    let ct_grid = Geometry::new([150, 150, 90], [0.977, 0.977, 1.0], [10.0, 10.0, 20.0]);
    let id = AffineTransform::identity();
    let ours_down = median_time(repeats, || {
        resample(&mr, &ct_grid, &id, Interpolation::Linear, 0.0);
    });
    let ct = resample(&mr, &ct_grid, &id, Interpolation::Linear, 0.0);
    let ours_up = median_time(repeats, || {
        resample(&ct, &mr.geometry, &id, Interpolation::Linear, 0.0);
    });

    println!(
        "threads: srrd {} (rayon), SimpleITK {}; median of {repeats}",
        rayon::current_num_threads(),
        reference["threads"]
    );
    println!(
        "{:<52} {:>9} {:>11} {:>7}",
        "task", "srrd (s)", "ref (s)", "ratio"
    );
    let row = |task: &str, ours: f64, theirs: f64| {
        println!(
            "{task:<52} {ours:>9.3} {theirs:>11.3} {:>7.2}",
            theirs / ours
        );
    };
    row(
        "read 640x640x120 int16 .nii.gz vs nibabel get_fdata",
        ours_nifti,
        r("nibabel_get_fdata_s"),
    );
    row(
        "read 640x640x120 int16 .nii.gz vs SimpleITK",
        ours_nifti,
        r("sitk_read_nifti_s"),
    );
    row(
        "read 120-slice CT series vs pydicom+numpy stack",
        ours_dicom,
        r("pydicom_stack_s"),
    );
    row(
        "trilinear 640x640x120 -> 150x150x90 vs SimpleITK",
        ours_down,
        r("sitk_resample_mr_to_ct_s"),
    );
    row(
        "trilinear 150x150x90 -> 640x640x120 vs SimpleITK",
        ours_up,
        r("sitk_resample_ct_to_mr_s"),
    );
}
