//! A learned aggregator for the KOA classifier, beyond the paper (the authors' journal
//! follow-up replaced the subregion SVM with one): attention-based multiple-instance
//! learning (Ilse, Tomczak & Welling 2018) over a knee's patch-level predictions.
//!
//! A knee is a bag of patches. Each patch is an instance of 17 numbers: its four regressed
//! parameters, standardised on the training knees, and its subregion one-hot (12, plus
//! "outside every subregion"). An encoder (two small fully connected layers) maps each
//! instance to h_i; the gated-free attention a_i = softmax_i(w . tanh(V h_i)) weighs them;
//! the bag is z = sum_i a_i h_i and a linear layer gives the KOA logit. Trained with
//! class-weighted binary cross-entropy, Adam, one bag per step. The output is a
//! probability by construction; it is invariant to the order of the patches.

use tch::{Device, Kind, Tensor, nn, nn::Module, nn::OptimizerConfig};

/// A knee's patches: (subregion label 0-12, BV/TV, Tb.Th, Tb.Sp, Tb.N).
pub type Bag = Vec<(u8, [f64; 4])>;

/// Numbers per instance: 4 parameters + 13 subregion indicators.
pub const INSTANCE_FEATURES: i64 = 4 + 13;

/// Sizes and training of the aggregator.
#[derive(Clone, Debug)]
pub struct AttentionSettings {
    /// Width of the instance embedding h.
    pub hidden: i64,
    /// Width of the attention layer V.
    pub attention: i64,
    /// Passes over the training bags.
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: i64,
}

impl Default for AttentionSettings {
    fn default() -> Self {
        AttentionSettings {
            hidden: 16,
            attention: 8,
            epochs: 60,
            lr: 3e-3,
            weight_decay: 1e-3,
            seed: 7,
        }
    }
}

/// The network (see the module comment).
struct AttentionMil {
    encoder: nn::Sequential,
    v: nn::Linear,
    w: nn::Linear,
    out: nn::Linear,
}

fn attention_mil(p: &nn::Path, s: &AttentionSettings) -> AttentionMil {
    let encoder = nn::seq()
        .add(nn::linear(
            p / "enc1",
            INSTANCE_FEATURES,
            s.hidden,
            Default::default(),
        ))
        .add_fn(|x| x.relu())
        .add(nn::linear(
            p / "enc2",
            s.hidden,
            s.hidden,
            Default::default(),
        ))
        .add_fn(|x| x.relu());
    AttentionMil {
        encoder,
        v: nn::linear(p / "v", s.hidden, s.attention, Default::default()),
        w: nn::linear(p / "w", s.attention, 1, Default::default()),
        out: nn::linear(p / "out", s.hidden, 1, Default::default()),
    }
}

impl AttentionMil {
    /// `[n, 17]` instances -> (logit `[1]`, attention weights `[n]`).
    fn forward(&self, bag: &Tensor) -> (Tensor, Tensor) {
        let h = self.encoder.forward(bag);
        let a = h
            .apply(&self.v)
            .tanh()
            .apply(&self.w)
            .squeeze_dim(1)
            .softmax(0, Kind::Float);
        let z = a.unsqueeze(0).matmul(&h);
        (z.apply(&self.out).view([1]), a)
    }
}

/// Re-initialises every layer from our own generator, as PyTorch's default does
/// (uniform within 1/sqrt(fan-in)): torch's generator is global, so fits running at the
/// same time on other threads would otherwise change each other's starting weights.
fn seeded_init(vs: &nn::VarStore, seed: u64) {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let fan_in = |layer: &str| {
        vars.iter()
            .find(|(n, _)| n.as_str() == format!("{layer}.weight"))
            .map_or(1, |(_, w)| w.size().get(1).copied().unwrap_or(1))
    };
    let mut state = seed ^ 0x1417;
    for (name, var) in &vars {
        let layer = name.rsplit_once('.').map_or(name.as_str(), |(l, _)| l);
        let bound = 1.0 / (fan_in(layer).max(1) as f64).sqrt();
        let values: Vec<f32> = (0..var.numel())
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 40) as f64 / (1u64 << 24) as f64;
                ((2.0 * u - 1.0) * bound) as f32
            })
            .collect();
        let mut var = var.shallow_clone();
        tch::no_grad(|| var.copy_(&Tensor::from_slice(&values).view(var.size().as_slice())));
    }
}

/// A fitted aggregator with the standardisation of its training patches.
pub struct AttentionClassifier {
    _vs: nn::VarStore,
    net: AttentionMil,
    mean: [f64; 4],
    sd: [f64; 4],
}

impl AttentionClassifier {
    /// Fits on `bags` with labels `y` (KOA = true). None when a class has no bag with
    /// patches.
    pub fn fit(bags: &[Bag], y: &[bool], s: &AttentionSettings) -> Option<Self> {
        let used: Vec<usize> = (0..bags.len().min(y.len()))
            .filter(|&b| !bags[b].is_empty())
            .collect();
        let positives = used.iter().filter(|&&b| y[b]).count();
        let negatives = used.len() - positives;
        if positives == 0 || negatives == 0 {
            return None;
        }
        // Standardisation over every training patch.
        let all: Vec<[f64; 4]> = used
            .iter()
            .flat_map(|&b| bags[b].iter().map(|p| p.1))
            .collect();
        let n = all.len() as f64;
        let mut mean = [0.0; 4];
        let mut sd = [1.0; 4];
        for a in 0..4 {
            mean[a] = all.iter().map(|v| v[a]).sum::<f64>() / n;
            let var = all.iter().map(|v| (v[a] - mean[a]).powi(2)).sum::<f64>() / n;
            sd[a] = if var > 1e-24 { var.sqrt() } else { 1.0 };
        }
        let vs = nn::VarStore::new(Device::Cpu);
        let net = attention_mil(&vs.root(), s);
        seeded_init(&vs, s.seed as u64);
        let model = AttentionClassifier {
            _vs: vs,
            net,
            mean,
            sd,
        };
        let tensors: Vec<Tensor> = used.iter().map(|&b| model.instances(&bags[b])).collect();
        let labels: Vec<Tensor> = used
            .iter()
            .map(|&b| Tensor::from_slice(&[if y[b] { 1f32 } else { 0.0 }]))
            .collect();
        // Each class weighs as much as the other in the loss.
        let pos_weight = Tensor::from_slice(&[negatives as f32 / positives as f32]);
        let mut opt = nn::Adam {
            wd: s.weight_decay,
            ..Default::default()
        }
        .build(&model._vs, s.lr)
        .ok()?;
        let mut rng = s.seed as u64 ^ 0xa77e;
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        for _ in 0..s.epochs {
            // Fisher-Yates with a fixed generator: the same fit every time.
            for i in (1..order.len()).rev() {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(i, (rng >> 33) as usize % (i + 1));
            }
            for &b in &order {
                let (logit, _) = model.net.forward(&tensors[b]);
                let loss = logit.binary_cross_entropy_with_logits::<&Tensor>(
                    &labels[b],
                    None,
                    Some(&pos_weight),
                    tch::Reduction::Mean,
                );
                opt.backward_step(&loss);
            }
        }
        Some(model)
    }

    fn instances(&self, bag: &Bag) -> Tensor {
        let mut data = Vec::with_capacity(bag.len() * INSTANCE_FEATURES as usize);
        for (label, p) in bag {
            for ((v, mean), sd) in p.iter().zip(&self.mean).zip(&self.sd) {
                data.push(((v - mean) / sd) as f32);
            }
            for l in 0..13u8 {
                data.push(if *label == l { 1.0 } else { 0.0 });
            }
        }
        Tensor::from_slice(&data).view([bag.len() as i64, INSTANCE_FEATURES])
    }

    /// Probability of KOA for a knee (0.5 for a knee without patches: no evidence).
    pub fn probability(&self, bag: &Bag) -> f64 {
        if bag.is_empty() {
            return 0.5;
        }
        tch::no_grad(|| {
            let (logit, _) = self.net.forward(&self.instances(bag));
            logit.sigmoid().double_value(&[0])
        })
    }

    /// Attention weight of each patch of `bag` (they sum to 1): which patches the
    /// decision looked at.
    pub fn weights(&self, bag: &Bag) -> Vec<f64> {
        if bag.is_empty() {
            return Vec::new();
        }
        tch::no_grad(|| {
            let (_, a) = self.net.forward(&self.instances(bag));
            (0..bag.len() as i64)
                .map(|i| a.double_value(&[i]))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Knees of 40 patches in random subregions; a KOA knee has 6 patches in subregion 3
    /// with a high Tb.Sp. The mean over the whole knee barely moves, so a bag-level
    /// average would struggle; attention can find the few patches.
    fn toy(n: usize, seed: u64) -> (Vec<Bag>, Vec<bool>) {
        let mut state = seed;
        let mut u = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 10_000) as f64 / 10_000.0
        };
        let mut bags = Vec::new();
        let mut y = Vec::new();
        for k in 0..n {
            let koa = k % 2 == 0;
            let mut bag: Bag = (0..40)
                .map(|_| {
                    (
                        1 + (u() * 12.0) as u8 % 12,
                        [
                            0.3 + 0.05 * u(),
                            0.2 + 0.02 * u(),
                            0.6 + 0.1 * u(),
                            1.2 + 0.1 * u(),
                        ],
                    )
                })
                .collect();
            if koa {
                for p in bag.iter_mut().take(6) {
                    p.0 = 3;
                    p.1[2] = 0.9 + 0.1 * u();
                }
            }
            bags.push(bag);
            y.push(koa);
        }
        (bags, y)
    }

    #[test]
    fn finds_the_few_patches_that_decide() {
        let (train, ty) = toy(24, 1);
        let (test, vy) = toy(20, 2);
        let clf = AttentionClassifier::fit(&train, &ty, &AttentionSettings::default())
            .expect("two classes");
        let p: Vec<f64> = test.iter().map(|b| clf.probability(b)).collect();
        let auc = srrd_stats::delong(&p, &vy).expect("two classes").auc;
        assert!(auc > 0.95, "held-out AUC {auc}");
        // On a KOA knee, the 6 deciding patches (15% of the bag) get most of the weight.
        let w = clf.weights(&test[0]);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-5);
        let on_key: f64 = w.iter().take(6).sum();
        assert!(on_key > 0.5, "weight on the deciding patches {on_key}");
    }

    #[test]
    fn order_of_patches_does_not_matter_and_fits_repeat() {
        let (train, ty) = toy(12, 3);
        let s = AttentionSettings {
            epochs: 5,
            ..Default::default()
        };
        let a = AttentionClassifier::fit(&train, &ty, &s).expect("two classes");
        let b = AttentionClassifier::fit(&train, &ty, &s).expect("two classes");
        let mut reversed = train[0].clone();
        reversed.reverse();
        let pa = a.probability(&train[0]);
        assert!((pa - a.probability(&reversed)).abs() < 1e-6);
        assert!(
            (pa - b.probability(&train[0])).abs() < 1e-12,
            "same seed, same fit"
        );
        assert!(a.probability(&Vec::new()) == 0.5);
    }

    #[test]
    fn one_class_is_refused() {
        let (train, _) = toy(6, 4);
        assert!(
            AttentionClassifier::fit(&train, &[true; 6], &AttentionSettings::default()).is_none()
        );
    }
}
