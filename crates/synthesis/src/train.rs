//! Training: the edge network on tissue boundaries, then SPSNet (or, with its switches
//! off, plain CycleGAN) on unpaired crMR and CT slice stacks. LSGAN adversarial losses,
//! cycle consistency, identity, and the MI loss between each synthesized image and its
//! source; Adam (lr 2e-4, beta1 0.5) with a linear decay over the second half.
//! Checkpoints are safetensors plus a JSON state (resume), a loss CSV, a loss plot and a
//! sample slice (crMR | edges | sCT) refreshed at every log step.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use super::data::SliceData;
use super::edges::{EdgeDetector, balanced_bce};
use super::mi::SoftHistogram;
use super::nets::{
    Discriminator, EdgeNet, Generator, SynthConfig, discriminator, edge_net, generator,
};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::rng::Rng;
use srrd_regression::train::save_weights;

/// Loss weights and schedule. `spsnet()` is the paper's method, `cyclegan()` its
/// baseline (no edge maps, no MI loss) from the same code.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SynthSettings {
    pub iterations: usize,
    pub batch: i64,
    pub lr: f64,
    pub w_cycle: f64,
    pub w_identity: f64,
    /// Weight of the MI loss (0: off).
    pub w_mi: f64,
    /// Whether generators and discriminators see edge maps.
    pub use_edges: bool,
    /// Iterations between log rows and checkpoints.
    pub log_every: usize,
    pub seed: u64,
}

impl SynthSettings {
    /// SPSNet: edges, MI loss (weight 1), cycle 10, identity 5.
    pub fn spsnet() -> Self {
        SynthSettings {
            iterations: 2000,
            batch: 4,
            lr: 2e-4,
            w_cycle: 10.0,
            w_identity: 5.0,
            w_mi: 1.0,
            use_edges: true,
            log_every: 100,
            seed: 1,
        }
    }

    /// Plain CycleGAN: the same with edges and MI off.
    pub fn cyclegan() -> Self {
        SynthSettings {
            w_mi: 0.0,
            use_edges: false,
            ..Self::spsnet()
        }
    }

    /// "spsnet" or "cyclegan".
    pub fn method(&self) -> &'static str {
        if self.use_edges || self.w_mi > 0.0 {
            "spsnet"
        } else {
            "cyclegan"
        }
    }

    fn lr_at(&self, iteration: usize) -> f64 {
        let half = self.iterations / 2;
        if iteration < half || self.iterations == 0 {
            self.lr
        } else {
            self.lr * (self.iterations - iteration) as f64 / (self.iterations - half) as f64
        }
    }
}

/// The two generators and two discriminators with their VarStores.
pub struct SynthNets {
    pub vs_g: nn::VarStore,
    pub vs_d: nn::VarStore,
    /// crMR -> sCT.
    pub g_mr_to_ct: Generator,
    /// CT -> sMR.
    pub g_ct_to_mr: Generator,
    pub d_ct: Discriminator,
    pub d_mr: Discriminator,
    pub use_edges: bool,
    pub slices: i64,
}

impl SynthNets {
    /// Fresh networks for `cfg`, with edge channels when `use_edges`.
    pub fn new(cfg: &SynthConfig, use_edges: bool) -> Self {
        let vs_g = nn::VarStore::new(Device::Cpu);
        let vs_d = nn::VarStore::new(Device::Cpu);
        let e = use_edges as i64;
        let g_mr_to_ct = generator(&(vs_g.root() / "g_mr_to_ct"), cfg.slices + e, cfg);
        let g_ct_to_mr = generator(&(vs_g.root() / "g_ct_to_mr"), cfg.slices + e, cfg);
        let d_ct = discriminator(&(vs_d.root() / "d_ct"), 1 + e, cfg);
        let d_mr = discriminator(&(vs_d.root() / "d_mr"), 1 + e, cfg);
        SynthNets {
            vs_g,
            vs_d,
            g_mr_to_ct,
            g_ct_to_mr,
            d_ct,
            d_mr,
            use_edges,
            slices: cfg.slices,
        }
    }

    fn centre(&self, x: &Tensor) -> Tensor {
        x.narrow(1, self.slices / 2, 1)
    }

    /// A generator's input: the stack, plus the edge map of its centre slice.
    pub fn generator_input(&self, stack: &Tensor, edges: &Tensor) -> Tensor {
        if self.use_edges {
            Tensor::cat(&[stack, edges], 1)
        } else {
            stack.shallow_clone()
        }
    }

    fn discriminator_input(&self, centre: &Tensor, edges: &Tensor) -> Tensor {
        if self.use_edges {
            Tensor::cat(&[centre, edges], 1)
        } else {
            centre.shallow_clone()
        }
    }
}

/// One row of the loss log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogRow {
    pub iteration: usize,
    pub loss_g: f64,
    pub loss_d: f64,
    pub gan: f64,
    pub cycle: f64,
    pub identity: f64,
    pub mi: f64,
    pub seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct State {
    iterations_done: usize,
    log: Vec<LogRow>,
}

/// Where training writes: `generators.safetensors`, `discriminators.safetensors`,
/// `state.json`, `loss.csv`, `loss.png`, `sample.png` in `dir`.
pub struct SynthCheckpoint {
    pub dir: PathBuf,
    pub resume: bool,
}

impl SynthCheckpoint {
    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn load(&self, nets: &mut SynthNets) -> Result<Option<State>> {
        if !self.resume || !self.state_path().exists() {
            return Ok(None);
        }
        let path = self.state_path();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let state: State = serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("bad training state: {e}")))?;
        for (vs, file) in [
            (&mut nets.vs_g, "generators.safetensors"),
            (&mut nets.vs_d, "discriminators.safetensors"),
        ] {
            let p = self.dir.join(file);
            vs.load(&p)
                .map_err(|e| Error::file(&p, format!("cannot load weights: {e}")))?;
        }
        Ok(Some(state))
    }

    fn save(&self, nets: &SynthNets, state: &State) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        save_weights(&nets.vs_g, &self.dir.join("generators.safetensors"))?;
        save_weights(&nets.vs_d, &self.dir.join("discriminators.safetensors"))?;
        write_json(&self.state_path(), state)?;
        write_log(&self.dir, &state.log)
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::invalid(e.to_string()))?;
    srrd_base::io::atomic_write(path, |w| w.write_all(text.as_bytes()))
}

fn write_log(dir: &Path, log: &[LogRow]) -> Result<()> {
    let mut csv = String::from("iteration,loss_g,loss_d,gan,cycle,identity,mi,seconds\n");
    for r in log {
        csv += &format!(
            "{},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.1}\n",
            r.iteration, r.loss_g, r.loss_d, r.gan, r.cycle, r.identity, r.mi, r.seconds
        );
    }
    srrd_base::io::atomic_write(&dir.join("loss.csv"), |w| w.write_all(csv.as_bytes()))?;
    let series = |name: &str, pick: fn(&LogRow) -> f64, color: [u8; 3]| srrd_stats::Series {
        name: name.into(),
        points: log.iter().map(|r| (r.iteration as f64, pick(r))).collect(),
        color,
    };
    let png = dir.join("loss.png");
    srrd_stats::lines_png(
        &png,
        "synthesis training losses",
        "iteration",
        "loss",
        &[
            series("generators", |r| r.loss_g, [200, 60, 60]),
            series("discriminators", |r| r.loss_d, [30, 90, 200]),
            series("cycle L1", |r| r.cycle, [40, 150, 60]),
            series("MI (nats)", |r| r.mi.max(1e-3), [150, 80, 170]),
        ],
        true,
    )
    .map_err(|e| Error::io(&png, e))
}

/// Writes images `[1, H, W]` in [-1, 1] side by side as a grey PNG (4-pixel gaps).
pub fn write_montage(path: &Path, images: &[Tensor]) -> Result<()> {
    let h = images.iter().map(|t| t.size()[1]).max().unwrap_or(1) as usize;
    let widths: Vec<usize> = images.iter().map(|t| t.size()[2] as usize).collect();
    let total = (widths.iter().sum::<usize>() + 4 * images.len().saturating_sub(1)).max(1);
    let mut rgb = vec![0u8; total * h * 3];
    let mut x0 = 0;
    for (t, w) in images.iter().zip(&widths) {
        let v = Vec::<f32>::try_from(t.flatten(0, -1).to_kind(Kind::Float)).unwrap_or_default();
        let th = t.size()[1] as usize;
        for y in 0..th {
            for x in 0..*w {
                let g = ((v[y * w + x] + 1.0) * 127.5).clamp(0.0, 255.0) as u8;
                let o = (y * total + x0 + x) * 3;
                rgb[o..o + 3].copy_from_slice(&[g, g, g]);
            }
        }
        x0 += w + 4;
    }
    srrd_base::io::raster::write_rgb_png(path, total as u32, h as u32, &rgb)
}

fn lsgan(scores: &Tensor, target: f64) -> Tensor {
    (scores - target).square().mean(Kind::Float)
}

/// The losses of one generator step (before weighting, except `total`).
pub struct GeneratorLosses {
    pub total: Tensor,
    pub gan: f64,
    pub cycle: f64,
    pub identity: f64,
    pub mi: f64,
    pub fake_ct: Tensor,
    pub fake_mr: Tensor,
    pub edges_fake_ct: Tensor,
    pub edges_fake_mr: Tensor,
    /// Edge maps of the real centre slices (detached), reused by the discriminator step.
    pub edges_real_mr: Tensor,
    pub edges_real_ct: Tensor,
}

/// The generators' loss on one batch of real crMR and CT stacks `[N, slices, H, W]`.
pub fn generator_losses(
    nets: &SynthNets,
    edges: &EdgeDetector,
    settings: &SynthSettings,
    real_mr: &Tensor,
    real_ct: &Tensor,
) -> GeneratorLosses {
    let hist = SoftHistogram::default();
    // Edge maps only where the networks see them (SPSNet), never for plain CycleGAN.
    let edge_map = |x: &Tensor| {
        if nets.use_edges {
            edges.edges(&nets.centre(x))
        } else {
            Tensor::zeros([1], tch::kind::FLOAT_CPU)
        }
    };
    let e_mr = edge_map(real_mr).detach();
    let e_ct = edge_map(real_ct).detach();
    let fake_ct = nets
        .g_mr_to_ct
        .forward(&nets.generator_input(real_mr, &e_mr));
    let fake_mr = nets
        .g_ct_to_mr
        .forward(&nets.generator_input(real_ct, &e_ct));
    let (e_fake_ct, e_fake_mr) = (edge_map(&fake_ct), edge_map(&fake_mr));
    let gan = lsgan(
        &nets
            .d_ct
            .forward(&nets.discriminator_input(&nets.centre(&fake_ct), &e_fake_ct)),
        1.0,
    ) + lsgan(
        &nets
            .d_mr
            .forward(&nets.discriminator_input(&nets.centre(&fake_mr), &e_fake_mr)),
        1.0,
    );
    let rec_mr = nets
        .g_ct_to_mr
        .forward(&nets.generator_input(&fake_ct, &e_fake_ct));
    let rec_ct = nets
        .g_mr_to_ct
        .forward(&nets.generator_input(&fake_mr, &e_fake_mr));
    let cycle =
        (&rec_mr - real_mr).abs().mean(Kind::Float) + (&rec_ct - real_ct).abs().mean(Kind::Float);
    let mut total = &gan + &cycle * settings.w_cycle;
    let mut identity_v = 0.0;
    if settings.w_identity > 0.0 {
        let same_ct = nets
            .g_mr_to_ct
            .forward(&nets.generator_input(real_ct, &e_ct));
        let same_mr = nets
            .g_ct_to_mr
            .forward(&nets.generator_input(real_mr, &e_mr));
        let identity = (same_ct - real_ct).abs().mean(Kind::Float)
            + (same_mr - real_mr).abs().mean(Kind::Float);
        identity_v = identity.double_value(&[]);
        total += identity * settings.w_identity;
    }
    // MI between each synthesized centre slice and the real one it came from.
    let mi = hist
        .mutual_information(&nets.centre(&fake_ct), &nets.centre(real_mr))
        .mean(Kind::Float)
        + hist
            .mutual_information(&nets.centre(&fake_mr), &nets.centre(real_ct))
            .mean(Kind::Float);
    let mi_v = mi.double_value(&[]) / 2.0;
    if settings.w_mi > 0.0 {
        total -= mi * settings.w_mi;
    }
    GeneratorLosses {
        gan: gan.double_value(&[]),
        cycle: cycle.double_value(&[]),
        identity: identity_v,
        mi: mi_v,
        total,
        fake_ct,
        fake_mr,
        edges_fake_ct: e_fake_ct,
        edges_fake_mr: e_fake_mr,
        edges_real_mr: e_mr,
        edges_real_ct: e_ct,
    }
}

/// The discriminators' LSGAN loss on real stacks and (detached) fakes.
pub fn discriminator_loss(
    nets: &SynthNets,
    real_mr: &Tensor,
    real_ct: &Tensor,
    g: &GeneratorLosses,
) -> Tensor {
    let real_ct_c = nets.centre(real_ct);
    let real_mr_c = nets.centre(real_mr);
    let (e_ct, e_mr) = (&g.edges_real_ct, &g.edges_real_mr);
    let d = |disc: &Discriminator, c: &Tensor, e: &Tensor, target: f64| {
        lsgan(&disc.forward(&nets.discriminator_input(c, e)), target)
    };
    let fake_ct = nets.centre(&g.fake_ct).detach();
    let fake_mr = nets.centre(&g.fake_mr).detach();
    (d(&nets.d_ct, &real_ct_c, e_ct, 1.0)
        + d(&nets.d_ct, &fake_ct, &g.edges_fake_ct.detach(), 0.0)
        + d(&nets.d_mr, &real_mr_c, e_mr, 1.0)
        + d(&nets.d_mr, &fake_mr, &g.edges_fake_mr.detach(), 0.0))
        * 0.5
}

/// Trains SPSNet (or CycleGAN, per `settings`) on `data`. `sample` is a full crMR stack
/// `[1, slices, H, W]` (H, W multiples of 4) drawn into `sample.png` at each log step.
pub fn train_synthesis(
    data: &SliceData,
    cfg: &SynthConfig,
    settings: &SynthSettings,
    edges: &EdgeDetector,
    sample: Option<&Tensor>,
    checkpoint: Option<&SynthCheckpoint>,
    progress: &Progress,
) -> Result<(SynthNets, Vec<LogRow>)> {
    tch::manual_seed(settings.seed as i64);
    let mut nets = SynthNets::new(cfg, settings.use_edges);
    let state = match checkpoint {
        Some(c) => c.load(&mut nets)?,
        None => None,
    };
    let (mut done, mut log) = state
        .map(|s| (s.iterations_done, s.log))
        .unwrap_or_default();
    let adam = nn::Adam {
        beta1: 0.5,
        beta2: 0.999,
        wd: 0.0,
        eps: 1e-8,
        amsgrad: false,
    };
    let mut opt_g = adam
        .build(&nets.vs_g, settings.lr)
        .map_err(|e| Error::invalid(format!("optimizer: {e}")))?;
    let mut opt_d = adam
        .build(&nets.vs_d, settings.lr)
        .map_err(|e| Error::invalid(format!("optimizer: {e}")))?;
    let mut rng = Rng::new(settings.seed ^ done as u64, "synthesis batches");
    progress.start(
        &format!("training {}", settings.method()),
        settings.iterations as u64,
    );
    progress.advance(done as u64);
    let clock = Instant::now();
    let already = log.last().map(|r: &LogRow| r.seconds).unwrap_or(0.0);
    let mut sums = [0.0f64; 6];
    let mut count = 0.0;
    while done < settings.iterations {
        progress.check()?;
        let lr = settings.lr_at(done);
        opt_g.set_lr(lr);
        opt_d.set_lr(lr);
        let real_mr = data
            .mr
            .sample(&mut rng, settings.batch, cfg.slices, cfg.crop, true);
        let real_ct = data
            .ct
            .sample(&mut rng, settings.batch, cfg.slices, cfg.crop, true);
        let g = generator_losses(&nets, edges, settings, &real_mr, &real_ct);
        opt_g.zero_grad();
        g.total.backward();
        opt_g.step();
        let loss_d = discriminator_loss(&nets, &real_mr, &real_ct, &g);
        opt_d.zero_grad();
        loss_d.backward();
        opt_d.step();
        for (s, v) in sums.iter_mut().zip([
            g.total.double_value(&[]),
            loss_d.double_value(&[]),
            g.gan,
            g.cycle,
            g.identity,
            g.mi,
        ]) {
            *s += v;
        }
        count += 1.0;
        done += 1;
        progress.advance(1);
        if done % settings.log_every.max(1) == 0 || done == settings.iterations {
            log.push(LogRow {
                iteration: done,
                loss_g: sums[0] / count,
                loss_d: sums[1] / count,
                gan: sums[2] / count,
                cycle: sums[3] / count,
                identity: sums[4] / count,
                mi: sums[5] / count,
                seconds: already + clock.elapsed().as_secs_f64(),
            });
            sums = [0.0; 6];
            count = 0.0;
            if let Some(c) = checkpoint {
                c.save(
                    &nets,
                    &State {
                        iterations_done: done,
                        log: log.clone(),
                    },
                )?;
                if let Some(s) = sample {
                    let _guard = tch::no_grad_guard();
                    let e = edges.edges(&nets.centre(s));
                    let fake = nets.g_mr_to_ct.forward(&nets.generator_input(s, &e));
                    write_montage(
                        &c.dir.join("sample.png"),
                        &[
                            nets.centre(s).get(0),
                            e.get(0) * 2.0 - 1.0,
                            nets.centre(&fake).get(0),
                        ],
                    )?;
                }
            }
        }
    }
    Ok((nets, log))
}

/// The trained edge network and its log (iteration, balanced BCE of the fused map).
pub struct TrainedEdges {
    pub vs: nn::VarStore,
    pub net: EdgeNet,
    pub log: Vec<(usize, f64)>,
}

/// Trains the edge network on CT and crMR slices against their label boundaries
/// (balanced BCE on every side output and the fused map; Adam lr 1e-3).
pub fn train_edges(
    data: &SliceData,
    cfg: &SynthConfig,
    iterations: usize,
    batch: i64,
    seed: u64,
    progress: &Progress,
) -> Result<TrainedEdges> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = edge_net(&(vs.root() / "hed"), cfg);
    let mut opt = nn::Adam::default()
        .build(&vs, 1e-3)
        .map_err(|e| Error::invalid(format!("optimizer: {e}")))?;
    let mut rng = Rng::new(seed, "edge batches");
    progress.start("training the edge network", iterations as u64);
    let mut log = Vec::new();
    let mut sum = 0.0;
    let mut n = 0.0;
    for it in 1..=iterations {
        progress.check()?;
        let half = (batch / 2).max(1);
        let (ci, ct) = data.ct.sample_edges(&mut rng, half, cfg.crop);
        let (mi, mt) = data.mr.sample_edges(&mut rng, half, cfg.crop);
        let images = Tensor::cat(&[ci, mi], 0);
        let targets = Tensor::cat(&[ct, mt], 0);
        let logits = net.logits(&images);
        let sides = logits.size()[1];
        let mut loss = Tensor::zeros([], tch::kind::FLOAT_CPU);
        for s in 0..sides {
            loss += balanced_bce(&logits.narrow(1, s, 1), &targets);
        }
        opt.zero_grad();
        loss.backward();
        opt.step();
        sum += balanced_bce(&logits.narrow(1, sides - 1, 1), &targets).double_value(&[]);
        n += 1.0;
        progress.advance(1);
        if it % 50 == 0 || it == iterations {
            log.push((it, sum / n));
            sum = 0.0;
            n = 0.0;
        }
    }
    Ok(TrainedEdges { vs, net, log })
}
