//! `srrd analyze` on CTs as clinics make them (phantom knees scanned otherwise than the
//! models' training grid): a bilateral CT needs a side and each of its knees reads as
//! that knee alone; a left knee's subregions mirror the right knee's; the same knee at
//! another spacing agrees with its reference; and each way a CT cannot be trusted ends in
//! a refusal naming the file, or in a report whose failed check withholds the score.

use std::path::{Path, PathBuf};
use std::process::Command;

use srrd::io::{WriteDtype, read_image, write_nifti};
use srrd::phantom::acquisition::{Acquisition, generate_acquired_with};
use srrd::phantom::{CohortCt, Config, Grade, Phantom, Preset};
use srrd::progress::Progress;
use srrd::volume::{Geometry, LabelMap, Volume};

const SEED: u64 = 3;

fn srrd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(args)
        .output()
        .expect("run srrd")
}

fn knee(acq: &Acquisition) -> Phantom {
    let config = Config {
        seed: SEED,
        grade: Grade::Advanced,
        preset: Preset::Paper,
    };
    generate_acquired_with(config, CohortCt::default(), acq, false, &Progress::new())
        .expect("phantom")
}

fn write(dir: &Path, name: &str, v: &Volume) -> PathBuf {
    let p = dir.join(name);
    write_nifti(&p, v, WriteDtype::I16).expect("write");
    p
}

/// Runs `srrd analyze --json` and returns the report, or the error text.
fn analyze(ct: &Path, out: &Path, side: Option<&str>) -> Result<serde_json::Value, String> {
    let mut args = vec![
        "analyze",
        "--ct",
        ct.to_str().expect("utf8"),
        "--out",
        out.to_str().expect("utf8"),
    ];
    if let Some(s) = side {
        args.extend(["--side", s]);
    }
    let o = srrd(&args);
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).to_string());
    }
    if side == Some("both") {
        return Ok(serde_json::Value::Null);
    }
    let text = std::fs::read(out.join("report.json")).map_err(|e| e.to_string())?;
    serde_json::from_slice(&text).map_err(|e| e.to_string())
}

/// The 48 subregion means of a report, parameter by parameter.
fn means(report: &serde_json::Value) -> Vec<f64> {
    let rows = report["subregions_ct"].as_array().expect("subregions");
    ["bv_tv", "tb_th_mm", "tb_sp_mm", "tb_n_per_mm"]
        .iter()
        .flat_map(|p| {
            rows.iter()
                .map(move |r| r["parameters"][p]["mean"].as_f64().expect("mean"))
        })
        .collect()
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) / y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_bilateral_ct_needs_a_side_and_each_knee_reads_as_itself_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let both = knee(&Acquisition {
        bilateral: true,
        ..Default::default()
    });
    let alone = knee(&Acquisition::default());
    let ct = write(dir.path(), "both.nii.gz", &both.ct);
    let err = analyze(&ct, &dir.path().join("none"), None).expect_err("needs a side");
    assert!(
        err.contains("both.nii.gz") && err.contains("--side left") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!dir.path().join("none/report.json").exists());
    let out = dir.path().join("both");
    analyze(&ct, &out, Some("both")).expect("both knees");
    let right = read_report(&out.join("right"));
    let left = read_report(&out.join("left"));
    assert_eq!(right["knee"]["side"], "right");
    assert_eq!(left["knee"]["side"], "left");
    assert_eq!(right["knee"]["knees_in_ct"], 2);
    let right_alone = analyze(
        &write(dir.path(), "right.nii.gz", &alone.ct),
        &dir.path().join("ra"),
        None,
    )
    .expect("right alone");
    let other = both.other_knee.as_ref().expect("other knee");
    let left_alone = analyze(
        &write(dir.path(), "left.nii.gz", &other.ct),
        &dir.path().join("la"),
        None,
    )
    .expect("left alone");
    let (dr, dl) = (
        max_rel_diff(&means(&right), &means(&right_alone)),
        max_rel_diff(&means(&left), &means(&left_alone)),
    );
    let dp = |a: &serde_json::Value, b: &serde_json::Value| {
        (a["koa"]["probability"].as_f64().expect("p")
            - b["koa"]["probability"].as_f64().expect("p"))
        .abs()
    };
    eprintln!(
        "bilateral vs alone: right max rel diff {dr:.4}, |dP| {:.4}; left {dl:.4}, |dP| {:.4}",
        dp(&right, &right_alone),
        dp(&left, &left_alone)
    );
    assert!(dr < 0.02 && dl < 0.05, "right {dr}, left {dl}");
    assert!(dp(&right, &right_alone) < 0.05 && dp(&left, &left_alone) < 0.1);
    // One side only, into the folder itself.
    let one = dir.path().join("one");
    let r = analyze(&ct, &one, Some("left")).expect("left only");
    assert_eq!(r["knee"]["side"], "left");
}

fn read_report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report")).expect("json")
}

/// A left knee's subregion labels are the mirror image of the same knee scanned as a
/// right knee: medial lies towards the body's midline in both.
#[test]
fn a_left_knee_s_subregions_mirror_the_right_knee_s() {
    let dir = tempfile::tempdir().expect("tmp");
    let right = knee(&Acquisition::default());
    let left = knee(&Acquisition {
        left: true,
        ..Default::default()
    });
    let rr = analyze(
        &write(dir.path(), "r.nii.gz", &right.ct),
        &dir.path().join("r"),
        None,
    )
    .expect("right");
    let lr = analyze(
        &write(dir.path(), "l.nii.gz", &left.ct),
        &dir.path().join("l"),
        None,
    )
    .expect("left");
    assert_eq!(rr["knee"]["side"], "right");
    assert_eq!(lr["knee"]["side"], "left");
    let labels = |p: &Path| {
        let v = read_image(&p.join("subregions.nii.gz"), None)
            .expect("labels")
            .volume;
        LabelMap::from_volume(&v)
    };
    let r_lab = labels(&dir.path().join("r"));
    let l_lab = labels(&dir.path().join("l"));
    let g = r_lab.geometry().clone();
    assert_eq!(&g, l_lab.geometry(), "the mirrored grid is the same grid");
    let [ni, nj, nk] = g.size;
    let (mut same, mut either) = (0usize, 0usize);
    let mut medial_x = [(0.0, 0usize); 2];
    let mut lateral_x = [(0.0, 0usize); 2];
    for k in 0..nk {
        for j in 0..nj {
            for i in 0..ni {
                let (a, b) = (l_lab.at(i, j, k), r_lab.at(ni - 1 - i, j, k));
                if a > 0 || b > 0 {
                    either += 1;
                    same += (a == b) as usize;
                }
                let x = g
                    .index_to_world(nalgebra::Vector3::new(i as f64, j as f64, k as f64))
                    .x;
                for (s, lab) in [(0, r_lab.at(i, j, k)), (1, l_lab.at(i, j, k))] {
                    if lab == 0 {
                        continue;
                    }
                    let medial = ((lab - 1) % 6) < 3;
                    let acc = if medial {
                        &mut medial_x[s]
                    } else {
                        &mut lateral_x[s]
                    };
                    acc.0 += x;
                    acc.1 += 1;
                }
            }
        }
    }
    let agreement = same as f64 / either as f64;
    eprintln!("left vs mirrored right subregion labels: {agreement:.4} agree");
    assert!(agreement > 0.97, "{agreement}");
    let mean = |a: (f64, usize)| a.0 / a.1 as f64;
    // Right knee: medial towards the patient's left (+x); left knee: towards -x.
    assert!(mean(medial_x[0]) > mean(lateral_x[0]));
    assert!(mean(medial_x[1]) < mean(lateral_x[1]));
}

/// The same knee at 0.5 x 0.5 x 1 mm and at 0.7 x 0.7 x 0.5 mm against its reference scan:
/// the 48 subregion means agree (standardized per parameter: r >= 0.9) and P(KOA) within 0.1.
#[test]
fn the_same_knee_at_other_spacings_agrees_with_its_reference() {
    let models = srrd::pipeline::analyze::Models::load(
        srrd::regression::model::demo_model_dir()
            .parent()
            .expect("assets"),
    )
    .expect("models");
    let config = Config {
        seed: SEED,
        grade: Grade::Advanced,
        preset: Preset::Paper,
    };
    let acquisitions = [
        Acquisition {
            ct_pixel_mm: Some(0.5),
            ct_slice_mm: Some(1.0),
            ..Default::default()
        },
        Acquisition {
            ct_pixel_mm: Some(0.7),
            ct_slice_mm: Some(0.5),
            ..Default::default()
        },
    ];
    let cases = srrd::pipeline::experiments::robustness::evaluate(
        &[("k".into(), config)],
        &acquisitions,
        &models,
        &Progress::new(),
        |_| {},
    )
    .expect("evaluate");
    assert_eq!(cases.len(), 3);
    for c in &cases[1..] {
        eprintln!("{c:?}");
        assert_eq!(c.outcome, "analysed", "{c:?}");
        assert!(c.r_z.unwrap_or(0.0) >= 0.9, "{c:?}");
        let dp = (c.p_koa.unwrap_or(9.0) - c.p_koa_reference.unwrap_or(0.0)).abs();
        assert!(dp <= 0.1, "{c:?}");
    }
}

/// Each way a CT cannot be trusted: slices beyond the trained range (a report with the
/// score withheld, saying why), a CT stored without its rescale, a CT of the femur alone,
/// a CT of no knee (a skull-like shell): one line naming the file, no report.
#[test]
fn untrustworthy_cts_are_refused_or_their_score_withheld() {
    let dir = tempfile::tempdir().expect("tmp");
    let thick = knee(&Acquisition {
        ct_slice_mm: Some(4.0),
        ..Default::default()
    });
    let r = analyze(
        &write(dir.path(), "thick.nii.gz", &thick.ct),
        &dir.path().join("thick"),
        None,
    )
    .expect("a report");
    assert!(r["koa"].is_null(), "{}", r["koa"]);
    let why = r["koa_withheld"].as_str().expect("a reason");
    assert!(
        why.contains("acquisition") && why.contains("0.5-1.0"),
        "{why}"
    );
    let failed: Vec<&str> = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(failed, ["acquisition"]);
    let html = std::fs::read_to_string(dir.path().join("thick/report.html")).expect("html");
    assert!(html.contains("KOA prediction withheld") && html.contains("class=fail"));

    let reference = knee(&Acquisition::default());
    let mut raw = reference.ct.clone();
    raw.data.mapv_inplace(|v| v + 1024.0);
    let refused = |name: &str, v: &Volume, wants: &[&str]| {
        let p = write(dir.path(), name, v);
        let out = dir.path().join(name.replace(".nii.gz", ""));
        let err = analyze(&p, &out, None).expect_err("refused");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(name), "{err}");
        for w in wants {
            assert!(err.contains(w), "{name}: {err}");
        }
        assert!(!out.join("report.json").exists());
    };
    refused("raw.nii.gz", &raw, &["Hounsfield", "rescale"]);
    // The femur alone: the slices above the joint line.
    let g = &reference.ct.geometry;
    let femur_only = srrd::volume::filter::crop(
        &reference.ct,
        [0, 0, g.size[2] / 2 + 8],
        [g.size[0] - 1, g.size[1] - 1, g.size[2] - 1],
    );
    refused("femur.nii.gz", &femur_only, &["tibia"]);
    // A head: a bone shell of 150 mm in air and soft tissue, no knee.
    let hg = Geometry::new([90, 90, 90], [2.0; 3], [-90.0, -90.0, -90.0]);
    let head = Volume::from_fn(hg, |i, j, k| {
        let r =
            (((i as f64 - 45.0).powi(2) + (j as f64 - 45.0).powi(2) + (k as f64 - 45.0).powi(2))
                .sqrt())
                * 2.0;
        if r < 66.0 {
            30.0
        } else if r < 74.0 {
            1400.0
        } else if r < 78.0 {
            20.0
        } else {
            -1000.0
        }
    });
    refused("head.nii.gz", &head, &["knee"]);
}
