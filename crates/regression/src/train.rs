//! Training: stage 1 fits the MR teacher on MR patches (MSE on normalized parameters);
//! stage 2 fits the CT student with the teacher frozen:
//! `MSE(student, truth) + w_projection * ||p_s - p_t||^2 + sum_i w_i * L1(M_s,i, M_t,i)`.
//! The plain CNN is the student with both distillation weights at zero. Adam (lr 3e-4,
//! weight decay 1e-5), learning rate x0.1 after two thirds of the epochs, random flips.
//! Each stage checkpoints its weights (safetensors) and state after every epoch, can
//! resume, and appends to a loss CSV.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use super::inputs::{Inputs, MrScaling};
use super::nets::{NetConfig, Outputs, Regressor, student, teacher};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;

/// Training settings (saved with the model).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSettings {
    pub epochs: usize,
    /// How the teacher's MR patches are scaled (cards without it: `standardized`).
    #[serde(default)]
    pub mr_scaling: MrScaling,
    /// Epochs of the teacher (stage 1) when it should train longer than the students;
    /// None: `epochs`.
    #[serde(default)]
    pub teacher_epochs: Option<usize>,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Weight of the projection distance ||p_s - p_t||^2 (0: plain CNN).
    pub w_projection: f64,
    /// Backbone stages (0-3) whose feature maps are matched, and their L1 weights.
    pub w_features: Vec<(usize, f64)>,
    /// Weight of the response term: MSE of the student's normalized parameters against
    /// the teacher's (0 in the paper's loss and by default).
    #[serde(default)]
    pub w_output: f64,
    pub seed: i64,
    /// Train on at most this many patches of each training knee (evenly spaced in the
    /// store's order): the scarce-data experiment. None: all of them.
    #[serde(default)]
    pub train_patches_per_subject: Option<usize>,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            epochs: 12,
            mr_scaling: MrScaling::Percentile,
            teacher_epochs: None,
            batch: 16,
            lr: 3e-4,
            weight_decay: 1e-5,
            w_projection: 0.001,
            w_features: vec![(2, 0.01), (3, 0.01)],
            w_output: 0.0,
            seed: 1,
            train_patches_per_subject: None,
        }
    }
}

impl TrainSettings {
    /// The same settings without distillation (the plain CNN).
    pub fn plain(&self) -> Self {
        TrainSettings {
            w_projection: 0.0,
            w_features: Vec::new(),
            w_output: 0.0,
            ..self.clone()
        }
    }

    /// Whether the student learns from the teacher at all.
    pub fn distills(&self) -> bool {
        self.w_projection > 0.0
            || self.w_output > 0.0
            || self.w_features.iter().any(|(_, w)| *w > 0.0)
    }
}

/// Per-parameter min and max of the training targets: targets map to [0, 1].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Normalization {
    pub min: [f32; 4],
    pub max: [f32; 4],
}

impl Normalization {
    /// From raw targets `[N, 4]`.
    pub fn fit(target: &Tensor) -> Self {
        let min = target.amin([0].as_slice(), false);
        let max = target.amax([0].as_slice(), false);
        let get = |t: &Tensor| -> [f32; 4] {
            std::array::from_fn(|a| t.double_value(&[a as i64]) as f32)
        };
        Normalization {
            min: get(&min),
            max: get(&max),
        }
    }

    fn tensors(&self) -> (Tensor, Tensor) {
        let min = Tensor::from_slice(&self.min).reshape([1, 4]);
        let span: Vec<f32> = (0..4)
            .map(|a| (self.max[a] - self.min[a]).max(1e-6))
            .collect();
        (min, Tensor::from_slice(&span).reshape([1, 4]))
    }

    /// Raw -> [0, 1] (clamped).
    pub fn normalize(&self, raw: &Tensor) -> Tensor {
        let (min, span) = self.tensors();
        ((raw - min) / span).clamp(0.0, 1.0)
    }

    /// [0, 1] -> raw.
    pub fn denormalize(&self, unit: &Tensor) -> Tensor {
        let (min, span) = self.tensors();
        unit * span + min
    }
}

/// Random flips of the spatial axes, the same for every tensor given (paired patches).
fn flip_all(tensors: &[&Tensor], rng: &mut u64) -> Vec<Tensor> {
    let mut dims = Vec::new();
    for d in [2i64, 3, 4] {
        *rng = srrd_base::rng::mix(rng.wrapping_add(0x9e37_79b9_7f4a_7c15));
        if *rng & 1 == 1 {
            dims.push(d);
        }
    }
    tensors
        .iter()
        .map(|t| {
            if dims.is_empty() {
                t.shallow_clone()
            } else {
                t.flip(dims.as_slice())
            }
        })
        .collect()
}

/// A trained network with what is needed to use it.
pub struct Trained {
    pub vs: nn::VarStore,
    pub net: Regressor,
}

/// One row of the loss log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub stage: String,
    pub epoch: usize,
    pub loss: f64,
    pub mse: f64,
    pub seconds: f64,
}

/// Where a stage writes: `<dir>/<name>.safetensors`, `<name>.state.json`, `loss.csv`.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub name: String,
    pub resume: bool,
}

#[derive(Serialize, Deserialize)]
struct State {
    epochs_done: usize,
    log: Vec<EpochLog>,
}

impl Checkpoint {
    fn weights(&self) -> PathBuf {
        self.dir.join(format!("{}.safetensors", self.name))
    }
    fn state(&self) -> PathBuf {
        self.dir.join(format!("{}.state.json", self.name))
    }

    fn load(&self, vs: &mut nn::VarStore) -> Result<Option<State>> {
        if !self.resume || !self.state().exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(self.state()).map_err(|e| Error::io(self.state(), e))?;
        let state: State = serde_json::from_str(&text)
            .map_err(|e| Error::file(self.state(), format!("bad training state: {e}")))?;
        vs.load(self.weights())
            .map_err(|e| Error::file(self.weights(), format!("cannot load weights: {e}")))?;
        Ok(Some(state))
    }

    fn save(&self, vs: &nn::VarStore, state: &State) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        save_weights(vs, &self.weights())?;
        let text =
            serde_json::to_string_pretty(state).map_err(|e| Error::invalid(e.to_string()))?;
        srrd_base::io::atomic_write(&self.state(), |w| w.write_all(text.as_bytes()))?;
        let mut csv = String::from("stage,epoch,loss,mse,seconds\n");
        for r in &state.log {
            csv += &format!(
                "{},{},{:.6},{:.6},{:.2}\n",
                r.stage, r.epoch, r.loss, r.mse, r.seconds
            );
        }
        srrd_base::io::atomic_write(&self.dir.join(format!("{}.loss.csv", self.name)), |w| {
            w.write_all(csv.as_bytes())
        })?;
        // The loss curves as a picture, refreshed every epoch.
        let series = |name: &str, pick: fn(&EpochLog) -> f64, color: [u8; 3]| srrd_stats::Series {
            name: name.into(),
            points: state
                .log
                .iter()
                .map(|r| (r.epoch as f64, pick(r)))
                .collect(),
            color,
        };
        let png = self.dir.join(format!("{}.loss.png", self.name));
        srrd_stats::lines_png(
            &png,
            &format!("{} training loss", self.name),
            "epoch",
            "loss",
            &[
                series("loss", |r| r.loss, [200, 60, 60]),
                series("MSE", |r| r.mse, [30, 90, 200]),
            ],
            true,
        )
        .map_err(|e| Error::io(&png, e))
    }
}

/// Saves a VarStore as safetensors through a temporary name.
pub fn save_weights(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let tmp = path.with_extension("tmp.safetensors");
    vs.save(&tmp)
        .map_err(|e| Error::file(&tmp, format!("cannot save weights: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn batches(n: usize, batch: usize, seed: u64, epoch: usize) -> Vec<Vec<i64>> {
    let mut order: Vec<i64> = (0..n as i64).collect();
    let mut rng = srrd_base::rng::Rng::new(seed ^ epoch as u64, "batches");
    for a in (1..order.len()).rev() {
        let b = (rng.next_u64() % (a as u64 + 1)) as usize;
        order.swap(a, b);
    }
    order.chunks(batch.max(1)).map(|c| c.to_vec()).collect()
}

fn lr_at(settings: &TrainSettings, epoch: usize) -> f64 {
    if epoch >= (2 * settings.epochs).div_ceil(3) && settings.epochs >= 3 {
        settings.lr * 0.1
    } else {
        settings.lr
    }
}

/// Stage 1: the teacher on MR patches.
pub fn train_teacher(
    data: &Inputs,
    norm: &Normalization,
    cfg: &NetConfig,
    settings: &TrainSettings,
    checkpoint: Option<&Checkpoint>,
    progress: &Progress,
) -> Result<Trained> {
    tch::manual_seed(settings.seed);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = teacher(&vs.root(), cfg);
    let settings = &TrainSettings {
        epochs: settings.teacher_epochs.unwrap_or(settings.epochs),
        ..settings.clone()
    };
    run_stage(
        "teacher",
        &mut vs,
        data,
        norm,
        settings,
        checkpoint,
        progress,
        |batch_mr, _batch_ct, y, train| {
            let out = net.forward_t(batch_mr, train);
            let mse = out.params.mse_loss(y, tch::Reduction::Mean);
            (mse.shallow_clone(), mse)
        },
    )?;
    Ok(Trained { vs, net })
}

/// Stage 2: the student on CT patches, guided by a frozen teacher (none, or zero weights:
/// the plain CNN).
pub fn train_student(
    data: &Inputs,
    norm: &Normalization,
    cfg: &NetConfig,
    settings: &TrainSettings,
    teacher_net: Option<&Trained>,
    checkpoint: Option<&Checkpoint>,
    progress: &Progress,
) -> Result<Trained> {
    if settings.distills() && teacher_net.is_none() {
        return Err(Error::invalid("distillation needs a trained teacher"));
    }
    tch::manual_seed(settings.seed + 1);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = student(&vs.root(), cfg);
    let stage = if settings.distills() {
        "student"
    } else {
        "plain"
    };
    run_stage(
        stage,
        &mut vs,
        data,
        norm,
        settings,
        checkpoint,
        progress,
        |batch_mr, batch_ct, y, train| {
            let out = net.forward_t(batch_ct, train);
            let mse = out.params.mse_loss(y, tch::Reduction::Mean);
            // Not `+=`: that adds in place into `mse`'s storage (shallow clones share it),
            // and the logged MSE would include the distillation terms.
            let loss = match (teacher_net, settings.distills()) {
                (Some(t), true) => {
                    let guide: Outputs = tch::no_grad(|| t.net.forward_t(batch_mr, false));
                    &mse + distillation_loss(&out, &guide, settings)
                }
                _ => mse.shallow_clone(),
            };
            (loss, mse)
        },
    )?;
    Ok(Trained { vs, net })
}

/// `w_projection * ||p_s - p_t||^2 + sum_i w_i * L1(M_s,i, M_t,i)` (means over the batch).
pub fn distillation_loss(student: &Outputs, teacher: &Outputs, settings: &TrainSettings) -> Tensor {
    let diff = &student.projection - &teacher.projection;
    let mut loss = (&diff * &diff)
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .mean(Kind::Float)
        * settings.w_projection;
    for &(block, w) in &settings.w_features {
        if let (Some(s), Some(t)) = (student.features.get(block), teacher.features.get(block)) {
            loss += s.l1_loss(t, tch::Reduction::Mean) * w;
        }
    }
    if settings.w_output > 0.0 {
        loss += student
            .params
            .mse_loss(&teacher.params, tch::Reduction::Mean)
            * settings.w_output;
    }
    loss
}

#[allow(clippy::too_many_arguments)]
fn run_stage(
    stage: &str,
    vs: &mut nn::VarStore,
    data: &Inputs,
    norm: &Normalization,
    settings: &TrainSettings,
    checkpoint: Option<&Checkpoint>,
    progress: &Progress,
    step: impl Fn(&Tensor, &Tensor, &Tensor, bool) -> (Tensor, Tensor),
) -> Result<()> {
    let mut state = match checkpoint {
        Some(c) => c.load(vs)?,
        None => None,
    }
    .unwrap_or(State {
        epochs_done: 0,
        log: Vec::new(),
    });
    let mut opt = nn::Adam {
        wd: settings.weight_decay,
        ..Default::default()
    }
    .build(vs, settings.lr)
    .map_err(|e| Error::invalid(format!("optimizer: {e}")))?;
    let y_all = norm.normalize(&data.target);
    let n = data.subject.len();
    let mut rng = settings.seed as u64 ^ 0x5eed;
    for epoch in state.epochs_done..settings.epochs {
        let t0 = Instant::now();
        opt.set_lr(lr_at(settings, epoch));
        let order = batches(n, settings.batch, settings.seed as u64, epoch);
        progress.start(
            &format!("training {stage}, epoch {}/{}", epoch + 1, settings.epochs),
            order.len() as u64,
        );
        let (mut sum_loss, mut sum_mse, mut count) = (0.0, 0.0, 0usize);
        for idx in order {
            progress.check()?;
            let idx = Tensor::from_slice(&idx);
            let (mr, ct, y) = (
                data.mr.index_select(0, &idx),
                data.ct.index_select(0, &idx),
                y_all.index_select(0, &idx),
            );
            let flipped = flip_all(&[&mr, &ct], &mut rng);
            let (loss, mse) = step(&flipped[0], &flipped[1], &y, true);
            opt.backward_step(&loss);
            let b = idx.size()[0] as usize;
            sum_loss += loss.double_value(&[]) * b as f64;
            sum_mse += mse.double_value(&[]) * b as f64;
            count += b;
            progress.advance(1);
        }
        state.log.push(EpochLog {
            stage: stage.into(),
            epoch: epoch + 1,
            loss: sum_loss / count.max(1) as f64,
            mse: sum_mse / count.max(1) as f64,
            seconds: t0.elapsed().as_secs_f64(),
        });
        state.epochs_done = epoch + 1;
        if let Some(c) = checkpoint {
            c.save(vs, &state)?;
        }
    }
    Ok(())
}

/// Predictions of a trained network (raw units, `[N, 4]`), in batches, evaluation mode.
pub fn predict(trained: &Trained, input: &Tensor, norm: &Normalization, batch: i64) -> Tensor {
    let n = input.size()[0];
    let mut out = Vec::new();
    tch::no_grad(|| {
        let mut start = 0;
        while start < n {
            let len = batch.min(n - start);
            let x = input.narrow(0, start, len);
            out.push(trained.net.forward_t(&x, false).params);
            start += len;
        }
    });
    if out.is_empty() {
        return Tensor::zeros([0, 4], (Kind::Float, Device::Cpu));
    }
    norm.denormalize(&Tensor::cat(&out, 0))
}

#[cfg(test)]
mod tests {

    #[test]
    fn cards_without_mr_scaling_mean_standardized() {
        let mut value = serde_json::to_value(TrainSettings::default()).expect("json");
        assert_eq!(value["mr_scaling"], "percentile");
        value.as_object_mut().expect("object").remove("mr_scaling");
        let old: TrainSettings = serde_json::from_value(value).expect("old card");
        assert_eq!(old.mr_scaling, MrScaling::Standardized);
    }

    use super::*;
    use crate::nets::Outputs;

    fn t(v: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).reshape(shape)
    }

    #[test]
    fn distillation_loss_matches_a_hand_computation() {
        // Batch of 2, projection of 3, one matched stage of 2 values per sample.
        let s = Outputs {
            params: t(&[0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], &[2, 4]),
            projection: t(&[1.0, 2.0, 3.0, 0.0, 0.0, 1.0], &[2, 3]),
            features: vec![t(&[0.0; 4], &[2, 2]), t(&[1.0, -1.0, 2.0, 0.5], &[2, 2])],
        };
        let te = Outputs {
            params: t(&[0.0; 8], &[2, 4]),
            projection: t(&[1.0, 0.0, 3.0, 2.0, 0.0, 1.0], &[2, 3]),
            features: vec![t(&[9.0; 4], &[2, 2]), t(&[0.0, 0.0, 2.0, 0.0], &[2, 2])],
        };
        let settings = TrainSettings {
            w_projection: 0.5,
            w_features: vec![(1, 2.0)],
            w_output: 4.0,
            ..Default::default()
        };
        // Squared distances per sample: (0 + 4 + 0) = 4 and (4 + 0 + 0) = 4: mean 4.
        // L1 of stage 1: mean(|1|, |-1|, |0|, |0.5|) = 0.625. Stage 0 has weight 0 (unused).
        // Parameters against the teacher's zeros: (0.25 + 1) / 8 = 0.15625.
        let expected = 0.5 * 4.0 + 2.0 * 0.625 + 4.0 * 0.15625;
        let got = distillation_loss(&s, &te, &settings).double_value(&[]);
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        assert!(!settings.plain().distills());
        assert_eq!(
            distillation_loss(&s, &te, &settings.plain()).double_value(&[]),
            0.0
        );
    }

    #[test]
    fn normalization_round_trips_inside_the_training_range() {
        let raw = t(
            &[0.3, 0.6, 0.9, 0.5, 0.5, 1.2, 0.7, 0.8, 0.4, 0.9, 0.8, 0.6],
            &[3, 4],
        );
        let norm = Normalization::fit(&raw);
        assert_eq!(norm.min, [0.3, 0.6, 0.7, 0.5]);
        assert_eq!(norm.max, [0.5, 1.2, 0.9, 0.8]);
        let unit = norm.normalize(&raw);
        assert!(unit.min().double_value(&[]) >= 0.0 && unit.max().double_value(&[]) <= 1.0);
        let back = norm.denormalize(&unit);
        let err = (back - &raw).abs().max().double_value(&[]);
        assert!(err < 1e-6, "round trip error {err}");
    }
}
