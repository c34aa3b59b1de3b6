//! `srrd predict`: CT-only trabecular parameter maps of a knee CT with the student network.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::with_progress;

/// Arguments of `srrd predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    #[arg(long)]
    ct: PathBuf,
    /// Model folder (default: the demo weights in assets/regression).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    /// Lattice step between patch centres (CT voxels).
    #[arg(long, default_value_t = 4)]
    stride: usize,
    #[arg(long)]
    json: bool,
}

impl PredictArgs {
    /// Runs `srrd predict`.
    pub fn run(self) -> anyhow::Result<()> {
        predict(
            &self.ct,
            self.model.as_deref(),
            &self.out,
            self.stride,
            self.json,
        )
    }
}

/// CT-only trabecular parameter maps with the student.
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
        let regions = subchondral_regions(&bones, DEPTH_MM, CORTEX_MM);
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
    write_labels(&out.join("regions.nii.gz"), &regions)?;
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
