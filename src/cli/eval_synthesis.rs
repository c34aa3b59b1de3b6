//! `srrd eval-synthesis`: the paper's Table 2, top half: structure preservation and the
//! registration effect of synthesis models on held-out phantoms.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::common::{parse_subjects, with_progress};
use crate::synthesis::data::{DataManifest, mr_scale, normalize_mr, volume_tensor};
use crate::synthesis::model::{SynthCard, load_model};

/// Arguments of `srrd eval-synthesis`.
#[derive(Debug, clap::Args)]
pub struct EvalSynthesisArgs {
    /// The synthesis store (`srrd synth-data`).
    #[arg(long)]
    data: PathBuf,
    /// The phantom cohort the store came from (landmarks, MR grids, the true CT in the
    /// MR's pose): a clinic's study list is refused, it has no such truth.
    #[arg(long = "cohort", visible_alias = "manifest", value_name = "COHORT")]
    cohort: PathBuf,
    /// Models as NAME=DIR, comma-separated (e.g. spsnet=DIR,cyclegan=DIR).
    #[arg(long)]
    models: String,
    /// Held-out subjects: "A..B", "A,B,C" or "all".
    #[arg(long)]
    subjects: String,
    #[arg(long)]
    out: PathBuf,
    /// Write the held-out metrics into each model's model.json.
    #[arg(long)]
    record: bool,
}

impl EvalSynthesisArgs {
    /// Runs `srrd eval-synthesis`.
    pub fn run(self) -> anyhow::Result<()> {
        eval_synthesis(
            &self.data,
            &self.cohort,
            &self.models,
            &self.subjects,
            &self.out,
            self.record,
        )
    }
}

/// Mean and SD of `v` (NaN values skipped).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64;
    (m, var.sqrt())
}

/// `srrd eval-synthesis`: structure preservation and registration effect on held-out
/// subjects, for each model given as NAME=DIR.
pub fn eval_synthesis(
    data: &Path,
    cohort: &Path,
    models: &str,
    subjects: &str,
    out: &Path,
    record: bool,
) -> anyhow::Result<()> {
    use crate::pipeline::experiments::synthesis_eval::evaluate_subject;
    super::common::require_phantom_truth(cohort, "the synthesis evaluation")?;
    let manifest = DataManifest::read(data)?;
    let subjects = parse_subjects(subjects, manifest.subjects.len())?;
    let named: Vec<(String, std::path::PathBuf)> = models
        .split(',')
        .map(|m| {
            m.split_once('=')
                .map(|(n, d)| (n.to_string(), std::path::PathBuf::from(d)))
                .with_context(|| format!("--models '{m}': give NAME=DIR"))
        })
        .collect::<anyhow::Result<_>>()?;
    for (name, dir) in &named {
        load_model(dir).with_context(|| format!("model {name} in {}", dir.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let clock = std::time::Instant::now();
    let results = with_progress(|p| {
        let loaded: Vec<(String, crate::synthesis::model::SynthModel)> = named
            .iter()
            .map(|(n, d)| Ok((n.clone(), load_model(d)?)))
            .collect::<crate::Result<_>>()?;
        let mut results = Vec::new();
        for (count, &i) in subjects.iter().enumerate() {
            let s = &manifest.subjects[i];
            let cohort_dir = cohort.join(&s.dir);
            let (r, images) = evaluate_subject(data, &manifest, s, &cohort_dir, &loaded, p)?;
            eprintln!(
                "  {}: {}",
                s.id,
                r.preservation
                    .iter()
                    .map(|(n, v)| format!("{n} MAE {:.0} HU Dice {:.3}", v.mae_hu, v.bone_dice))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            if count == 0 {
                figure(&out.join("sct_compare.png"), &images)?;
            }
            results.push(r);
        }
        Ok(results)
    })?;
    // Tables.
    let mut md = format!(
        "Held-out subjects: {} ({} of {}). Reference: the phantom's CT rendered in the MR's pose on \
         crMR's sample points (noise-free). Inside the MR's field of view and the body.\n\n\
         | sCT from | MAE (HU) | SSIM | bone Dice | bone surface distance (mm) |\n|---|---|---|---|---|\n",
        results.len(),
        subjects
            .iter()
            .map(|s| manifest.subjects[*s].id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        data.display()
    );
    let names: Vec<String> = results
        .first()
        .map(|r| r.preservation.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let mut summary = serde_json::Map::new();
    for (m, name) in names.iter().enumerate() {
        let col = |f: fn(&crate::pipeline::experiments::synthesis_eval::Preservation) -> f64| {
            mean_sd(
                &results
                    .iter()
                    .map(|r| f(&r.preservation[m].1))
                    .collect::<Vec<_>>(),
            )
        };
        let (mae, ssim, dice, surf) = (
            col(|p| p.mae_hu),
            col(|p| p.ssim),
            col(|p| p.bone_dice),
            col(|p| p.surface_mm),
        );
        let label = if name == "reference" {
            "reference (ideal sCT)".to_string()
        } else {
            name.clone()
        };
        md += &format!(
            "| {label} | {:.1} +- {:.1} | {:.3} +- {:.3} | {:.3} +- {:.3} | {:.2} +- {:.2} |\n",
            mae.0, mae.1, ssim.0, ssim.1, dice.0, dice.1, surf.0, surf.1
        );
        summary.insert(
            name.clone(),
            serde_json::json!({"mae_hu": mae, "ssim": ssim, "bone_dice": dice, "surface_mm": surf}),
        );
    }
    md += "\n| refined registration on | landmark pairs | TRE mean +- SD (mm) | median | max |\n|---|---|---|---|---|\n";
    let rows: Vec<String> = results
        .first()
        .map(|r| r.tre_mm.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    let mut tre_summary = serde_json::Map::new();
    for (t, name) in rows.iter().enumerate() {
        let mut all: Vec<f64> = results.iter().flat_map(|r| r.tre_mm[t].1.clone()).collect();
        let (m, sd) = mean_sd(&all);
        all.sort_by(f64::total_cmp);
        let median = all.get(all.len() / 2).copied().unwrap_or(f64::NAN);
        let max = all.last().copied().unwrap_or(f64::NAN);
        md += &format!(
            "| {name} | {} | {m:.2} +- {sd:.2} | {median:.2} | {max:.2} |\n",
            all.len()
        );
        tre_summary.insert(name.clone(), serde_json::json!({"mean_mm": m, "sd_mm": sd, "median_mm": median, "max_mm": max, "pairs": all.len()}));
    }
    md += &format!(
        "\nCommand: `{}` ({:.0} s)\n",
        std::env::args().collect::<Vec<_>>().join(" "),
        clock.elapsed().as_secs_f64()
    );
    let json = serde_json::json!({
        "subjects": results,
        "preservation": summary,
        "tre": tre_summary,
    });
    crate::io::atomic_write(&out.join("table.md"), |w| w.write_all(md.as_bytes()))?;
    let text = serde_json::to_string_pretty(&json)?;
    crate::io::atomic_write(&out.join("synthesis.json"), |w| {
        w.write_all(text.as_bytes())
    })?;
    if record {
        for (name, dir) in &named {
            let mut card = SynthCard::read(dir)?;
            card.metrics = serde_json::json!({
                "held_out": subjects.iter().map(|s| manifest.subjects[*s].id.clone()).collect::<Vec<_>>(),
                "preservation": summary.get(name),
                "tre_refined_on_sct": tre_summary.get(&format!("{name} sCT (NCC)")),
                "tre_refined_on_sct_mi": tre_summary.get(&format!("{name} sCT (Mattes MI)")),
                "tre_refined_on_crmr": tre_summary.get("crMR (Mattes MI)"),
            });
            card.write(dir)?;
        }
    }
    print!("{md}");
    Ok(())
}

/// The first subject's middle slice: crMR | reference | each sCT (CT window -400..1600).
fn figure(
    path: &Path,
    images: &crate::pipeline::experiments::synthesis_eval::SubjectImages,
) -> crate::Result<()> {
    use crate::synthesis::train::write_montage;
    let k = images.cr_mr.geometry.size[2] as i64 / 2;
    let mr = volume_tensor(&images.cr_mr);
    let mr = normalize_mr(&mr, mr_scale(&images.cr_mr))
        .get(k)
        .unsqueeze(0);
    let ct = |v: &crate::volume::Volume| {
        ((volume_tensor(v).get(k) + 400.0) / 1000.0 - 1.0)
            .clamp(-1.0, 1.0)
            .unsqueeze(0)
    };
    let mut panels = vec![mr, ct(&images.reference)];
    panels.extend(images.scts.iter().map(|(_, v)| ct(v)));
    write_montage(path, &panels)
}
