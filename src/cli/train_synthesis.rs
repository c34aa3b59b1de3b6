//! `srrd train-synthesis`: SPSNet (or the plain CycleGAN baseline) on a synthesis store,
//! written as a model folder.

use std::path::PathBuf;

use anyhow::Context;

use super::common::{SynthConfigArg, parse_subjects, with_progress};
use crate::io::read_image;
use crate::synthesis::data::{
    DataManifest, load_data, mr_scale, normalize_mr, stack, volume_tensor,
};
use crate::synthesis::edges::EdgeDetector;
use crate::synthesis::model::{FORMAT, PROVENANCE, SynthCard};
use crate::synthesis::nets::{edge_net, pad_to_multiple};
use crate::synthesis::train::{SynthCheckpoint, SynthSettings, train_synthesis as fit_synthesis};

/// Arguments of `srrd train-synthesis`.
#[derive(Debug, clap::Args)]
pub struct TrainSynthesisArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// spsnet or cyclegan.
    #[arg(long, value_enum, default_value = "spsnet")]
    method: SynthMethodArg,
    /// small (CPU) or paper (ngf 64, 9 blocks; for a GPU).
    #[arg(long, value_enum, default_value = "small")]
    config: SynthConfigArg,
    /// Training subjects: "A..B", "A,B,C" or "all".
    #[arg(long, default_value = "all")]
    subjects: String,
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    #[arg(long, default_value_t = 4)]
    batch: i64,
    /// A trained edge network (folder of `srrd train-edges`); without it, the
    /// classical edge map.
    #[arg(long)]
    hed: Option<PathBuf>,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

/// `--method` of `srrd train-synthesis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthMethodArg {
    Spsnet,
    Cyclegan,
}

impl TrainSynthesisArgs {
    /// Runs `srrd train-synthesis`.
    pub fn run(self) -> anyhow::Result<()> {
        train_synthesis(&self)
    }
}

/// `srrd train-synthesis`: SPSNet or its CycleGAN baseline; writes a model folder.
fn train_synthesis(a: &TrainSynthesisArgs) -> anyhow::Result<()> {
    let cfg = a.config.config();
    let mut settings = match a.method {
        SynthMethodArg::Spsnet => SynthSettings::spsnet(),
        SynthMethodArg::Cyclegan => SynthSettings::cyclegan(),
    };
    settings.iterations = a.iterations;
    settings.batch = a.batch;
    settings.log_every = (a.iterations / 20).clamp(1, 100);
    let manifest = DataManifest::read(&a.data)?;
    let subjects = parse_subjects(&a.subjects, manifest.subjects.len())?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let clock = std::time::Instant::now();
    let (log, edge_name, counts) = with_progress(|p| {
        let data = load_data(&a.data, &manifest, &subjects)?;
        // The edge map: the trained network when given (copied into the model folder).
        let mut hed_vs = None;
        let edges = match (settings.use_edges, &a.hed) {
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
        let cr = read_image(&manifest.dir_of(&a.data, first).join("crmr.nii.gz"), None)?.volume;
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
    card.write(&a.out)?;
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
