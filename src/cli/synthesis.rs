//! `srrd synth-data` (crMR/CT store from a phantom cohort), `srrd train-edges`,
//! `srrd train-synthesis` (SPSNet or the CycleGAN baseline), `srrd synthesize` (crMR ->
//! sCT for one knee) and `srrd eval-synthesis` (the paper's Table 2, top half).

use std::path::Path;

use anyhow::Context;

use super::phantom::with_progress;
use crate::io::nifti::{WriteDtype, write_nifti};
use crate::io::read_image;
use crate::pipeline::experiments::synthesis_data::build_data;
use crate::synthesis::data::{
    DataManifest, load_data, mr_scale, normalize_mr, stack, volume_tensor,
};
use crate::synthesis::edges::EdgeDetector;
use crate::synthesis::model::{
    FORMAT, PROVENANCE, SynthCard, demo_model_dir, load_model, synthesize as run_synthesis,
};
use crate::synthesis::nets::{SynthConfig, edge_net, pad_to_multiple};
use crate::synthesis::train::{
    SynthCheckpoint, SynthSettings, train_edges as fit_edges, train_synthesis as fit_synthesis,
};

/// Subject indices from "A..B" (B excluded), "A,B,C" or "all" for a store of `n`.
pub fn parse_subjects(text: &str, n: usize) -> anyhow::Result<Vec<usize>> {
    let list: Vec<usize> = if text == "all" {
        (0..n).collect()
    } else if let Some((a, b)) = text.split_once("..") {
        let a: usize = if a.is_empty() {
            0
        } else {
            a.parse().context("--subjects start")?
        };
        let b: usize = if b.is_empty() {
            n
        } else {
            b.parse().context("--subjects end")?
        };
        (a..b.min(n)).collect()
    } else {
        text.split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .with_context(|| format!("--subjects '{s}'"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if list.is_empty() || list.iter().any(|i| *i >= n) {
        anyhow::bail!("--subjects {text}: the store has subjects 0..{n}");
    }
    Ok(list)
}

fn config(name: &str) -> anyhow::Result<SynthConfig> {
    SynthConfig::parse(name).with_context(|| format!("--config {name}: use small or paper"))
}

/// `srrd synth-data --cohort DIR --out DIR`.
pub fn synth_data(
    cohort: &Path,
    out: &Path,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let manifest = with_progress(|p| {
        build_data(cohort, out, limit, p, |line| {
            if !json {
                eprintln!("  {line}");
            }
        })
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        println!(
            "crMR and CT of {} subjects in {} (coarse registration, Mattes MI)",
            manifest.subjects.len(),
            out.display()
        );
    }
    Ok(())
}

/// `srrd train-edges --data DIR --out DIR`: the HED-style edge network.
pub fn train_edges(
    data: &Path,
    out: &Path,
    config_name: &str,
    subjects: &str,
    iterations: usize,
    batch: i64,
) -> anyhow::Result<()> {
    let cfg = config(config_name)?;
    let manifest = DataManifest::read(data)?;
    let subjects = parse_subjects(subjects, manifest.subjects.len())?;
    let clock = std::time::Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let log = with_progress(|p| {
        let slices = load_data(data, &manifest, &subjects)?;
        let trained = fit_edges(&slices, &cfg, iterations, batch, 1, p)?;
        crate::regression::train::save_weights(&trained.vs, &out.join("hed.safetensors"))?;
        Ok(trained.log)
    })?;
    let info = serde_json::json!({
        "config": cfg,
        "iterations": iterations,
        "batch": batch,
        "subjects": subjects,
        "data": data.display().to_string(),
        "seconds": clock.elapsed().as_secs_f64(),
        "log_balanced_bce": log,
    });
    std::fs::write(out.join("hed.json"), serde_json::to_string_pretty(&info)?)
        .with_context(|| format!("writing {}", out.join("hed.json").display()))?;
    let last = log.last().map(|l| l.1).unwrap_or(f64::NAN);
    println!(
        "edge network: {iterations} iterations in {:.0} s, balanced BCE {last:.3}, in {}",
        clock.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

/// Options of `srrd train-synthesis`.
pub struct TrainArgs<'a> {
    pub data: &'a Path,
    pub out: &'a Path,
    pub method: &'a str,
    pub config: &'a str,
    pub subjects: &'a str,
    pub iterations: usize,
    pub batch: i64,
    pub hed: Option<&'a Path>,
    pub resume: bool,
}

/// `srrd train-synthesis`: SPSNet or its CycleGAN baseline; writes a model folder.
pub fn train_synthesis(a: TrainArgs) -> anyhow::Result<()> {
    let cfg = config(a.config)?;
    let mut settings = match a.method {
        "spsnet" => SynthSettings::spsnet(),
        "cyclegan" => SynthSettings::cyclegan(),
        o => anyhow::bail!("--method {o}: use spsnet or cyclegan"),
    };
    settings.iterations = a.iterations;
    settings.batch = a.batch;
    settings.log_every = (a.iterations / 20).clamp(1, 100);
    let manifest = DataManifest::read(a.data)?;
    let subjects = parse_subjects(a.subjects, manifest.subjects.len())?;
    std::fs::create_dir_all(a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let clock = std::time::Instant::now();
    let (log, edge_name, counts) = with_progress(|p| {
        let data = load_data(a.data, &manifest, &subjects)?;
        // The edge map: the trained network when given (copied into the model folder).
        let mut hed_vs = None;
        let edges = match (settings.use_edges, a.hed) {
            (true, Some(dir)) => {
                let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
                let net = edge_net(&(vs.root() / "hed"), &cfg);
                let src = dir.join("hed.safetensors");
                vs.load(&src).map_err(|e| {
                    crate::Error::file(&src, format!("cannot load the edge network: {e}"))
                })?;
                vs.freeze();
                let dst = a.out.join("hed.safetensors");
                std::fs::copy(&src, &dst).map_err(|e| crate::Error::io(&dst, e))?;
                hed_vs = Some(vs);
                EdgeDetector::Hed(Box::new(net))
            }
            _ => EdgeDetector::Classical,
        };
        // The sample drawn at every log step: the middle slice of the first subject's crMR.
        let first = &manifest.subjects[subjects[0]];
        let cr = read_image(&manifest.dir_of(a.data, first).join("crmr.nii.gz"), None)?.volume;
        let v = normalize_mr(&volume_tensor(&cr), mr_scale(&cr));
        let sample = pad_to_multiple(&stack(&v, v.size()[0] / 2, cfg.slices).unsqueeze(0), 4).0;
        let checkpoint = SynthCheckpoint {
            dir: a.out.to_path_buf(),
            resume: a.resume,
        };
        let (_nets, log) = fit_synthesis(
            &data,
            &cfg,
            &settings,
            &edges,
            Some(&sample),
            Some(&checkpoint),
            p,
        )?;
        drop(hed_vs);
        Ok((
            log,
            edges.name(),
            (data.mr.slices.len(), data.ct.slices.len()),
        ))
    })?;
    let card = SynthCard {
        format: FORMAT.into(),
        method: settings.method().into(),
        config: cfg.clone(),
        settings: settings.clone(),
        edges: if settings.use_edges {
            edge_name.into()
        } else {
            "none".into()
        },
        trained_on: format!(
            "subjects {} of {} ({} crMR and {} CT slices, unpaired)",
            a.subjects, manifest.source, counts.0, counts.1
        ),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        seconds: log.last().map(|r| r.seconds).unwrap_or(0.0),
        metrics: serde_json::Value::Null,
        provenance: PROVENANCE.into(),
    };
    card.write(a.out)?;
    let last = log.last();
    println!(
        "{}: {} iterations in {:.0} s ({:.1} crops/s); cycle L1 {:.3}, MI {:.3} nats; model in {}",
        settings.method(),
        settings.iterations,
        clock.elapsed().as_secs_f64(),
        (settings.iterations as f64 * settings.batch as f64 * 2.0)
            / clock.elapsed().as_secs_f64().max(1e-9),
        last.map(|r| r.cycle).unwrap_or(f64::NAN),
        last.map(|r| r.mi).unwrap_or(f64::NAN),
        a.out.display()
    );
    Ok(())
}

/// `srrd synthesize --crmr FILE --out FILE` or `--ct CT --mr MR --out DIR`.
pub fn synthesize(
    crmr: Option<&Path>,
    ct: Option<&Path>,
    mr: Option<&Path>,
    model: Option<&Path>,
    out: &Path,
) -> anyhow::Result<()> {
    let dir = model.map(Path::to_path_buf).unwrap_or_else(demo_model_dir);
    // Loaded here to fail early; loaded again on the worker (tch tensors stay on one thread).
    let card = load_model(&dir)
        .with_context(|| format!("loading the synthesis model in {}", dir.display()))?
        .card;
    let (cr_mr, sct_path) = match (crmr, ct, mr) {
        (Some(p), None, None) => (read_image(p, None)?.volume, out.to_path_buf()),
        (None, Some(ct), Some(mr)) => {
            let ct = read_image(ct, None)?.volume;
            let mr = read_image(mr, None)?.volume;
            let coarse = with_progress(|p| {
                crate::pipeline::registration::coarse(
                    &ct,
                    &mr,
                    crate::registration::Metric::MattesMi { bins: 32 },
                    false,
                    p,
                )
            })?;
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            write_nifti(&out.join("crmr.nii.gz"), &coarse.cr_mr, WriteDtype::F32)?;
            (coarse.cr_mr, out.join("sct.nii.gz"))
        }
        _ => anyhow::bail!("give --crmr FILE (an MR already on the CT grid), or --ct and --mr"),
    };
    let clock = std::time::Instant::now();
    let sct = with_progress(|p| run_synthesis(&load_model(&dir)?, &cr_mr, p))?;
    write_nifti(&sct_path, &sct, WriteDtype::I16)?;
    println!(
        "sCT ({}, {} slices) in {:.1} s: {}\n{}",
        card.method,
        sct.geometry.size[2],
        clock.elapsed().as_secs_f64(),
        sct_path.display(),
        PROVENANCE
    );
    Ok(())
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
