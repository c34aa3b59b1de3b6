//! `srrd patches` (a patch store from a phantom cohort) and `srrd train-regression`
//! (teacher, distilled student and plain CNN on a store, written as a model folder).

use std::path::Path;

use anyhow::Context;

use super::phantom::with_progress;
use crate::pipeline::experiments::patches::build_store;
use crate::regression::dataset::{Manifest, PatchSettings};
use crate::regression::model::{ModelBundle, train_bundle};
use crate::regression::nets::NetConfig;
use crate::regression::train::{MrScaling, TrainSettings};

/// `srrd patches --cohort DIR --out DIR`.
#[allow(clippy::too_many_arguments)]
pub fn patches(
    cohort: &Path,
    out: &Path,
    per_subject: usize,
    method: &str,
    ct_spacing_mm: Option<[f64; 3]>,
    mr_protocols: Option<Vec<String>>,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    crate::morphometry::Method::parse(method)?;
    for p in mr_protocols.iter().flatten() {
        crate::phantom::acquisition::MrProtocol::parse(p)
            .map_err(|e| anyhow::anyhow!("--mr-protocols: {e}"))?;
    }
    let settings = PatchSettings {
        per_subject,
        method: method.to_string(),
        mr_protocols,
        ..Default::default()
    };
    let manifest = with_progress(|p| {
        build_store(cohort, out, &settings, ct_spacing_mm, limit, p, |line| {
            if !json {
                eprintln!("  {line}");
            }
        })
    })?;
    let total: usize = manifest.subjects.iter().map(|s| s.patches).sum();
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        println!(
            "{} patches from {} subjects in {} (ground truth: {} on the MR patches)",
            total,
            manifest.subjects.len(),
            out.display(),
            manifest.settings.method
        );
        for (a, (name, unit)) in manifest.targets.iter().enumerate() {
            println!(
                "  {name:<12} {:>8.3} .. {:<8.3} {unit}",
                manifest.target_min[a], manifest.target_max[a]
            );
        }
    }
    Ok(())
}

/// Training options of `train-regression` and `eval-regression`.
#[derive(clap::Args, Clone, Debug)]
pub struct TrainArgs {
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Epochs of the MR teacher (stage 1), when it should train longer than the
    /// students (default: --epochs).
    #[arg(long)]
    teacher_epochs: Option<usize>,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Weight of the projection distance ||p_s - p_t||^2 in the student's loss.
    #[arg(long, default_value_t = 0.001)]
    distill_projection: f64,
    /// Weight of the response term: MSE of the student's parameters against the
    /// teacher's (not in the paper's loss; default 0).
    #[arg(long, default_value_t = 0.0)]
    distill_output: f64,
    /// Backbone stages (0-3) whose feature maps the student matches by L1, with their
    /// weights: `2:0.01,3:0.01`; `none` for no feature term.
    #[arg(long, default_value = "2:0.01,3:0.01")]
    distill_features: String,
    /// How the teacher's MR patches are scaled: percentile (1st-99th inside the mask to
    /// 0-1, as the ground truth's binarization), segmented (the ground truth's own
    /// segmentation of the patch) or standardized (mean 0, SD 1; models before
    /// 2026-11-30).
    #[arg(long, default_value = "percentile")]
    mr_scaling: String,
    /// Train on at most N patches of each training knee (evenly spaced); test patches
    /// are never thinned. The scarce-data experiment.
    #[arg(long)]
    train_patches: Option<usize>,
}

impl TrainArgs {
    /// The training settings these options ask for.
    pub fn settings(&self) -> anyhow::Result<TrainSettings> {
        let mut w_features = Vec::new();
        if self.distill_features.trim() != "none" {
            for item in self.distill_features.split(',') {
                let parsed = item.split_once(':').and_then(|(b, w)| {
                    Some((
                        b.trim().parse::<usize>().ok()?,
                        w.trim().parse::<f64>().ok()?,
                    ))
                });
                match parsed {
                    Some((b, w)) if b <= 3 && w >= 0.0 && w.is_finite() => w_features.push((b, w)),
                    _ => anyhow::bail!(
                        "--distill-features {:?}: expected STAGE:WEIGHT pairs with stages 0-3, e.g. 2:0.01,3:0.01, or none",
                        self.distill_features
                    ),
                }
            }
        }
        if !(self.distill_output >= 0.0 && self.distill_output.is_finite()) {
            anyhow::bail!(
                "--distill-output {}: expected a weight >= 0",
                self.distill_output
            );
        }
        if !(self.distill_projection >= 0.0 && self.distill_projection.is_finite()) {
            anyhow::bail!(
                "--distill-projection {}: expected a weight >= 0",
                self.distill_projection
            );
        }
        if self.train_patches == Some(0) {
            anyhow::bail!("--train-patches 0: expected at least 1 patch per knee");
        }
        let mr_scaling = MrScaling::parse(&self.mr_scaling).ok_or_else(|| {
            anyhow::anyhow!(
                "--mr-scaling {:?}: expected percentile, segmented or standardized",
                self.mr_scaling
            )
        })?;
        Ok(TrainSettings {
            epochs: self.epochs,
            mr_scaling,
            teacher_epochs: self.teacher_epochs,
            batch: self.batch,
            w_projection: self.distill_projection,
            w_output: self.distill_output,
            w_features,
            train_patches_per_subject: self.train_patches,
            ..Default::default()
        })
    }
}

/// `srrd train-regression --data DIR --out DIR`.
pub fn train(
    data: &Path,
    out: &Path,
    config: &str,
    settings: &TrainSettings,
    resume: bool,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let cfg = NetConfig::parse(config)
        .with_context(|| format!("--config {config}: use small, small-hr or paper"))?;
    let all: Vec<usize> = (0..manifest.subjects.len()).collect();
    let bundle: ModelBundle =
        with_progress(|p| train_bundle(data, &manifest, &all, &cfg, settings, out, resume, p))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&bundle.card)?);
    } else {
        println!("models written to {}", out.display());
        for line in bundle.card.summary_lines() {
            println!("  {line}");
        }
    }
    Ok(())
}

/// `srrd eval-regression --data DIR --out DIR`: the paper's Table 3 by cross-validation.
pub fn evaluate(
    data: &Path,
    out: &Path,
    folds: usize,
    config: &str,
    settings: &TrainSettings,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let cfg = NetConfig::parse(config)
        .with_context(|| format!("--config {config}: use small, small-hr or paper"))?;
    let report = with_progress(|p| {
        crate::pipeline::experiments::regression_eval::cross_validate(
            data,
            &manifest,
            folds,
            &cfg,
            settings,
            out,
            p,
            |line| {
                if !json {
                    eprintln!("  {line}");
                }
            },
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            crate::pipeline::experiments::regression_eval::markdown(&report)
        );
        println!("\n(table, JSON and scatter plots in {})", out.display());
    }
    by_acquisition(&manifest, out, json)
}

/// `srrd eval-regression --data DIR --models DIR --out DIR`: trained networks on the
/// store's knees they were not trained on.
pub fn evaluate_held_out(data: &Path, models: &Path, out: &Path, json: bool) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let models = if models == Path::new("demo") {
        crate::regression::model::demo_model_dir()
    } else {
        models.to_path_buf()
    };
    let report = with_progress(|p| {
        crate::pipeline::experiments::regression_held_out::evaluate_held_out(
            data, &manifest, &models, out, p,
        )
    })
    .with_context(|| format!("evaluating {} on {}", models.display(), data.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            crate::pipeline::experiments::regression_held_out::markdown(&report)
        );
        println!(
            "\n(table, JSON and per-patch predictions in {})",
            out.display()
        );
    }
    by_acquisition(&manifest, out, json)
}

/// When the store's cohort drew acquisitions (`srrd cohort --acquisitions clinical`), the
/// ICC per acquisition group, in `by_acquisition.md` and `.json`.
fn by_acquisition(manifest: &Manifest, out: &Path, json: bool) -> anyhow::Result<()> {
    use crate::pipeline::experiments::by_acquisition as ba;
    let cohort = Path::new(&manifest.source);
    let drew = crate::pipeline::experiments::patches::cohort_subjects(cohort)
        .map(|s| s.iter().any(|c| c.acquisition.is_some()))
        .unwrap_or(false);
    if !drew {
        return Ok(());
    }
    let rows = ba::icc_by_acquisition(manifest, &out.join("oof.csv"))?;
    let md = ba::markdown(&rows);
    crate::io::atomic_write(&out.join("by_acquisition.md"), |w| {
        w.write_all(md.as_bytes())
    })?;
    let text = serde_json::to_string_pretty(&rows)?;
    crate::io::atomic_write(&out.join("by_acquisition.json"), |w| {
        w.write_all(text.as_bytes())
    })?;
    if !json {
        println!("\n{md}");
    }
    Ok(())
}

/// `srrd predict --ct CT --out DIR`: CT-only trabecular parameter maps with the student.
pub fn predict(
    ct_path: &Path,
    model: Option<&Path>,
    out: &Path,
    stride: usize,
    json: bool,
) -> anyhow::Result<()> {
    use crate::io::nifti::write_labels;
    use crate::io::{WriteDtype, read_image, write_nifti};
    use crate::regression::dataset::TARGETS;
    use crate::regression::model::{demo_model_dir, load_student};
    use crate::segmentation::bones::{CT_BONE_HU, segment_bones};
    use crate::segmentation::subchondral::{CORTEX_MM, DEPTH_MM, subchondral_regions};
    let t0 = std::time::Instant::now();
    let model_dir = model.map(Path::to_path_buf).unwrap_or_else(demo_model_dir);
    let ct = read_image(ct_path, None)?.volume;
    // The network is built on the worker thread (tch modules are not Sync).
    let (card, regions, prediction) = with_progress(|p| {
        let (student, card) = load_student(&model_dir, false)?;
        p.start("segmenting femur and tibia", 1);
        // `predict` works on the CT's own grid and one knee; `analyze` handles the rest.
        let layout = crate::segmentation::knees::find_knees(&ct, CT_BONE_HU)
            .map_err(|e| e.in_file(ct_path))?;
        if layout.is_bilateral() {
            return Err(crate::Error::file(
                ct_path,
                "this CT holds both knees: use srrd analyze --side left|right|both",
            ));
        }
        let bones = segment_bones(&ct, CT_BONE_HU).map_err(|e| e.in_file(ct_path))?;
        let regions = subchondral_regions(&bones, &ct.geometry, DEPTH_MM, CORTEX_MM);
        let pred = crate::regression::infer::predict_ct(&ct, &regions, &student, &card, stride, p)?;
        Ok((card, regions, pred))
    })?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (a, (name, _)) in TARGETS.iter().enumerate() {
        write_nifti(
            &out.join(format!("{name}.nii.gz")),
            &prediction.maps[a],
            WriteDtype::F32,
        )?;
    }
    write_labels(&out.join("regions.nii.gz"), &ct.geometry, &regions)?;
    let mut bones = Vec::new();
    for (bone, name) in [(1u8, "femur"), (2, "tibia")] {
        let rows: Vec<&[f64; 4]> = prediction
            .patches
            .iter()
            .filter(|p| p.bone == bone)
            .map(|p| &p.params)
            .collect();
        let mut params = serde_json::Map::new();
        for (a, (pname, unit)) in TARGETS.iter().enumerate() {
            let v: Vec<f64> = rows.iter().map(|r| r[a]).collect();
            let (mean, sd) = crate::stats::mean_sd(&v);
            params.insert(
                pname.to_string(),
                serde_json::json!({"mean": mean, "sd": sd, "unit": unit}),
            );
        }
        bones.push(serde_json::json!({"bone": name, "patches": rows.len(), "parameters": params}));
    }
    let report = serde_json::json!({
        "ct": ct_path.display().to_string(),
        "model": model_dir.display().to_string(),
        "provenance": card.provenance,
        "model_summary": card.summary_lines(),
        "stride_voxels": stride,
        "patches": prediction.patches.len(),
        "bones": bones,
        "seconds": t0.elapsed().as_secs_f64(),
    });
    let text = serde_json::to_string_pretty(&report)?;
    crate::io::atomic_write(&out.join("report.json"), |w| w.write_all(text.as_bytes()))?;
    let mut csv = String::from("i,j,k,bone,bv_tv,tb_th_mm,tb_sp_mm,tb_n_per_mm\n");
    for p in &prediction.patches {
        csv += &format!(
            "{},{},{},{},{:.5},{:.5},{:.5},{:.5}\n",
            p.centre[0],
            p.centre[1],
            p.centre[2],
            p.bone,
            p.params[0],
            p.params[1],
            p.params[2],
            p.params[3]
        );
    }
    crate::io::atomic_write(&out.join("patches.csv"), |w| w.write_all(csv.as_bytes()))?;
    if json {
        println!("{text}");
    } else {
        for b in &bones {
            println!(
                "{}: {} patches",
                b["bone"].as_str().unwrap_or("?"),
                b["patches"]
            );
            for (pname, unit) in TARGETS {
                let v = &b["parameters"][pname];
                println!(
                    "  {pname:<12} {:.3} ± {:.3} {unit}",
                    v["mean"].as_f64().unwrap_or(f64::NAN),
                    v["sd"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        println!("({})", card.provenance);
        println!(
            "maps, regions, patches.csv and report.json in {}",
            out.display()
        );
    }
    Ok(())
}

/// `srrd eval-diagnosis --data STORE --regression CVDIR --out DIR`: the paper's Table 4.
pub fn eval_diagnosis(
    data: &Path,
    regression: &Path,
    out: &Path,
    folds: usize,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let oof = regression.join("oof.csv");
    let report = with_progress(|p| {
        crate::pipeline::experiments::diagnosis_eval::evaluate(&manifest, &oof, folds, out, p)
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            crate::pipeline::experiments::diagnosis_eval::markdown(&report)
        );
        println!("\n(table, JSON and ROC curves in {})", out.display());
    }
    Ok(())
}

/// `srrd train-classifier --data STORE --regression CVDIR --out DIR`: the demo KOA
/// classifier on the distilled student's out-of-fold features of every subject.
pub fn train_classifier(data: &Path, regression: &Path, out: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::read(data)?;
    let oof = regression.join("oof.csv");
    let file = with_progress(|p| {
        crate::pipeline::experiments::diagnosis_eval::train_classifier(
            &manifest,
            &oof,
            "SRRD-CT (distilled)",
            p,
        )
    })?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let text = serde_json::to_string_pretty(&file)?;
    let path = out.join("koa_classifier.json");
    crate::io::atomic_write(&path, |w| w.write_all(text.as_bytes()))?;
    let (c, g) = file.binary.chosen();
    println!(
        "{} written: C {c}, gamma {g:.4}, inner-CV AUC {:.3}; {}",
        path.display(),
        file.binary.cv_auc(),
        file.trained_on
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        training: TrainArgs,
    }

    #[test]
    fn default_options_are_the_default_settings() {
        let cli = Cli::parse_from(["x"]);
        let s = cli.training.settings().expect("settings");
        let d = TrainSettings::default();
        assert_eq!(
            (s.epochs, s.batch, s.teacher_epochs),
            (d.epochs, d.batch, None)
        );
        assert_eq!(s.w_projection, d.w_projection);
        assert_eq!(s.w_features, d.w_features);
        assert_eq!((s.w_output, s.train_patches_per_subject), (0.0, None));
        let cli = Cli::parse_from([
            "x",
            "--distill-features",
            "1:0.5, 3:0.002",
            "--teacher-epochs",
            "9",
        ]);
        let s = cli.training.settings().expect("settings");
        assert_eq!(s.w_features, vec![(1, 0.5), (3, 0.002)]);
        assert_eq!(s.teacher_epochs, Some(9));
        let none = Cli::parse_from([
            "x",
            "--distill-features",
            "none",
            "--distill-projection",
            "0",
        ]);
        assert!(!none.training.settings().expect("settings").distills());
        for bad in ["4:0.1", "2", "2:-1", "a:b"] {
            let cli = Cli::parse_from(["x", "--distill-features", bad]);
            assert!(cli.training.settings().is_err(), "{bad}");
        }
    }
}
