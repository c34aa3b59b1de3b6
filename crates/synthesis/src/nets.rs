//! SPSNet's networks as builder functions over `nn::Path`: the 2.5D ResNet generator
//! (CycleGAN's design: 7x7 stem, two stride-2 downsamplings, residual blocks, two
//! transposed upsamplings, 7x7 out, instance norm, tanh), the PatchGAN discriminator and
//! the HED-style edge network (side outputs of three stages, fused by a 1x1 convolution).

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, Module};

/// Sizes of the synthesis networks: the paper's (ngf 64, 9 residual blocks, for a GPU)
/// or a small one that trains on two CPU cores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// "paper" or "small".
    pub name: String,
    /// Slices in a 2.5D stack (the slice and its neighbours; odd).
    pub slices: i64,
    /// Generator channels after the stem.
    pub ngf: i64,
    /// Residual blocks of the generator.
    pub blocks: usize,
    /// Discriminator channels of the first layer.
    pub ndf: i64,
    /// Strided layers of the discriminator.
    pub d_layers: usize,
    /// Channels of the edge network's three stages.
    pub hed_widths: [i64; 3],
    /// Edge (pixels) of the square training crops.
    pub crop: i64,
}

impl SynthConfig {
    /// The paper's sizes (CycleGAN's ResNet-9 generator, 70x70 PatchGAN).
    pub fn paper() -> Self {
        SynthConfig {
            name: "paper".into(),
            slices: 3,
            ngf: 64,
            blocks: 9,
            ndf: 64,
            d_layers: 3,
            hed_widths: [64, 128, 256],
            crop: 128,
        }
    }

    /// Sizes that train on two CPU cores in minutes.
    pub fn small() -> Self {
        SynthConfig {
            name: "small".into(),
            slices: 3,
            ngf: 16,
            blocks: 4,
            ndf: 16,
            d_layers: 3,
            hed_widths: [8, 16, 32],
            crop: 64,
        }
    }

    /// "paper" or "small".
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "paper" => Some(Self::paper()),
            "small" => Some(Self::small()),
            _ => None,
        }
    }
}

fn conv2d(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    nn::conv2d(
        p,
        c_in,
        c_out,
        k,
        nn::ConvConfig {
            stride,
            padding,
            ..Default::default()
        },
    )
}

/// Instance normalization without learned scale (CycleGAN's choice).
fn inorm(x: &Tensor) -> Tensor {
    x.instance_norm::<Tensor>(None, None, None, None, true, 0.1, 1e-5, false)
}

/// One residual block: reflect-pad, 3x3 conv, norm, relu, reflect-pad, 3x3 conv, norm, plus x.
#[derive(Debug)]
struct ResBlock {
    c1: nn::Conv2D,
    c2: nn::Conv2D,
}

impl ResBlock {
    fn new(p: nn::Path, c: i64) -> Self {
        ResBlock {
            c1: conv2d(&p / "conv1", c, c, 3, 1, 0),
            c2: conv2d(&p / "conv2", c, c, 3, 1, 0),
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = inorm(&x.reflection_pad2d([1, 1, 1, 1]).apply(&self.c1)).relu();
        let y = inorm(&y.reflection_pad2d([1, 1, 1, 1]).apply(&self.c2));
        x + y
    }
}

/// The 2.5D generator: `[N, c_in, H, W]` (a stack of slices, plus an edge map when used)
/// to `[N, slices, H, W]` in (-1, 1). H and W must be multiples of 4.
#[derive(Debug)]
pub struct Generator {
    stem: nn::Conv2D,
    down: [nn::Conv2D; 2],
    blocks: Vec<ResBlock>,
    up: [nn::ConvTranspose2D; 2],
    out: nn::Conv2D,
}

/// Builds a generator under `p` taking `c_in` channels.
pub fn generator(p: &nn::Path, c_in: i64, cfg: &SynthConfig) -> Generator {
    let g = cfg.ngf;
    let up = |name: &str, a: i64, b: i64| {
        nn::conv_transpose2d(
            p / name,
            a,
            b,
            3,
            nn::ConvTransposeConfig {
                stride: 2,
                padding: 1,
                output_padding: 1,
                ..Default::default()
            },
        )
    };
    Generator {
        stem: conv2d(p / "stem", c_in, g, 7, 1, 0),
        down: [
            conv2d(p / "down1", g, 2 * g, 3, 2, 1),
            conv2d(p / "down2", 2 * g, 4 * g, 3, 2, 1),
        ],
        blocks: (0..cfg.blocks)
            .map(|b| ResBlock::new(p / format!("block{b}"), 4 * g))
            .collect(),
        up: [up("up1", 4 * g, 2 * g), up("up2", 2 * g, g)],
        out: conv2d(p / "out", g, cfg.slices, 7, 1, 0),
    }
}

impl Module for Generator {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = inorm(&x.reflection_pad2d([3, 3, 3, 3]).apply(&self.stem)).relu();
        for d in &self.down {
            y = inorm(&y.apply(d)).relu();
        }
        for b in &self.blocks {
            y = b.forward(&y);
        }
        for u in &self.up {
            y = inorm(&y.apply(u)).relu();
        }
        y.reflection_pad2d([3, 3, 3, 3]).apply(&self.out).tanh()
    }
}

/// The PatchGAN discriminator: `[N, c_in, H, W]` to a map of real/fake scores (LSGAN: no
/// sigmoid), each seeing a patch of the input.
#[derive(Debug)]
pub struct Discriminator {
    layers: Vec<(nn::Conv2D, bool)>,
    out: nn::Conv2D,
}

/// Builds a discriminator under `p` taking `c_in` channels.
pub fn discriminator(p: &nn::Path, c_in: i64, cfg: &SynthConfig) -> Discriminator {
    let mut layers = vec![(conv2d(p / "conv0", c_in, cfg.ndf, 4, 2, 1), false)];
    let mut c = cfg.ndf;
    for n in 1..=cfg.d_layers {
        let stride = if n == cfg.d_layers { 1 } else { 2 };
        let c_next = cfg.ndf * (1 << n.min(3));
        layers.push((
            conv2d(p / format!("conv{n}"), c, c_next, 4, stride, 1),
            true,
        ));
        c = c_next;
    }
    Discriminator {
        layers,
        out: conv2d(p / "out", c, 1, 4, 1, 1),
    }
}

impl Module for Discriminator {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = x.shallow_clone();
        for (conv, norm) in &self.layers {
            y = y.apply(conv);
            if *norm {
                y = inorm(&y);
            }
            // Leaky relu with slope 0.2 (tch's leaky_relu has 0.01).
            y = y.maximum(&(&y * 0.2));
        }
        y.apply(&self.out)
    }
}

/// The HED-style edge network: three VGG-like stages (two 3x3 convolutions each, max-pool
/// between), a 1x1 side output per stage upsampled to the input size, and a 1x1 fusion of
/// the sides. `[N, 1, H, W]` to logits `[N, 4, H, W]`: sides 1-3, then the fused map.
#[derive(Debug)]
pub struct EdgeNet {
    stages: Vec<[nn::Conv2D; 2]>,
    sides: Vec<nn::Conv2D>,
    fuse: nn::Conv2D,
}

/// Builds the edge network under `p`.
pub fn edge_net(p: &nn::Path, cfg: &SynthConfig) -> EdgeNet {
    let mut c = 1;
    let mut stages = Vec::new();
    let mut sides = Vec::new();
    for (s, &w) in cfg.hed_widths.iter().enumerate() {
        let sp = p / format!("stage{}", s + 1);
        stages.push([
            conv2d(&sp / "conv1", c, w, 3, 1, 1),
            conv2d(&sp / "conv2", w, w, 3, 1, 1),
        ]);
        sides.push(conv2d(p / format!("side{}", s + 1), w, 1, 1, 1, 0));
        c = w;
    }
    let fuse = nn::conv2d(
        p / "fuse",
        cfg.hed_widths.len() as i64,
        1,
        1,
        nn::ConvConfig {
            ws_init: nn::Init::Const(1.0 / cfg.hed_widths.len() as f64),
            ..Default::default()
        },
    );
    EdgeNet {
        stages,
        sides,
        fuse,
    }
}

impl EdgeNet {
    /// Side and fused logits, `[N, 4, H, W]`.
    pub fn logits(&self, x: &Tensor) -> Tensor {
        let (h, w) = (x.size()[2], x.size()[3]);
        let mut y = x.shallow_clone();
        let mut sides = Vec::new();
        for (s, (convs, side)) in self.stages.iter().zip(&self.sides).enumerate() {
            if s > 0 {
                y = y.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true);
            }
            y = y.apply(&convs[0]).relu().apply(&convs[1]).relu();
            let out = y.apply(side);
            sides.push(if s == 0 {
                out
            } else {
                out.upsample_bilinear2d([h, w], false, None, None)
            });
        }
        let fused = Tensor::cat(&sides, 1).apply(&self.fuse);
        sides.push(fused);
        Tensor::cat(&sides, 1)
    }

    /// The fused edge probability, `[N, 1, H, W]` in (0, 1).
    pub fn edges(&self, x: &Tensor) -> Tensor {
        let n = self.sides.len() as i64;
        self.logits(x).narrow(1, n, 1).sigmoid()
    }
}

/// Number of trainable values in a VarStore.
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.size().iter().product::<i64>())
        .sum()
}

/// Reflect-pads `[N, C, H, W]` so H and W are multiples of `m`; returns the padded tensor
/// and the original (H, W) to crop back to.
pub fn pad_to_multiple(x: &Tensor, m: i64) -> (Tensor, (i64, i64)) {
    let (h, w) = (x.size()[2], x.size()[3]);
    let (ph, pw) = ((m - h % m) % m, (m - w % m) % m);
    if ph == 0 && pw == 0 {
        return (x.shallow_clone(), (h, w));
    }
    // Replicate, not reflect: reflection needs the pad smaller than the side.
    (x.replication_pad2d([0, pw, 0, ph]), (h, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn grads_nonzero(vs: &nn::VarStore) -> bool {
        vs.trainable_variables()
            .iter()
            .all(|t| t.grad().defined() && t.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0)
    }

    #[test]
    fn generator_keeps_the_size_and_every_weight_learns() {
        let cfg = SynthConfig {
            blocks: 2,
            ..SynthConfig::small()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let g = generator(&vs.root(), cfg.slices + 1, &cfg);
        let x = Tensor::randn([2, cfg.slices + 1, 32, 40], (Kind::Float, Device::Cpu));
        let y = g.forward(&x);
        assert_eq!(y.size(), vec![2, cfg.slices, 32, 40]);
        assert!(y.abs().max().double_value(&[]) <= 1.0);
        y.square().mean(Kind::Float).backward();
        assert!(grads_nonzero(&vs));
    }

    #[test]
    fn patchgan_scores_patches() {
        let cfg = SynthConfig::small();
        let vs = nn::VarStore::new(Device::Cpu);
        let d = discriminator(&vs.root(), 2, &cfg);
        let x = Tensor::randn([3, 2, 64, 64], (Kind::Float, Device::Cpu));
        let y = d.forward(&x);
        // 64 -> 32 -> 16 -> 8 (stride 2) -> 7 -> 6 (4x4, stride 1): a 6x6 map of patches.
        assert_eq!(y.size(), vec![3, 1, 6, 6]);
        y.mean(Kind::Float).backward();
        assert!(grads_nonzero(&vs));
    }

    #[test]
    fn edge_network_returns_sides_and_fusion_at_input_size() {
        let cfg = SynthConfig::small();
        let vs = nn::VarStore::new(Device::Cpu);
        let e = edge_net(&vs.root(), &cfg);
        let x = Tensor::randn([2, 1, 36, 44], (Kind::Float, Device::Cpu));
        let l = e.logits(&x);
        assert_eq!(l.size(), vec![2, 4, 36, 44]);
        let p = e.edges(&x);
        assert_eq!(p.size(), vec![2, 1, 36, 44]);
        l.mean(Kind::Float).backward();
        assert!(grads_nonzero(&vs));
    }

    #[test]
    fn padding_reaches_a_multiple_and_crops_back() {
        let x = Tensor::randn([1, 3, 75, 75], (Kind::Float, Device::Cpu));
        let (p, (h, w)) = pad_to_multiple(&x, 4);
        assert_eq!(p.size(), vec![1, 3, 76, 76]);
        assert_eq!((h, w), (75, 75));
        let back = p.narrow(2, 0, h).narrow(3, 0, w);
        assert_eq!((back - x).abs().max().double_value(&[]), 0.0);
    }

    #[test]
    fn the_paper_generator_has_cyclegans_size() {
        // CycleGAN's ResNet-9 generator with 3 channels in and out has 11.378 M weights;
        // ours takes 4 in (3 slices + edges) and gives 3.
        let cfg = SynthConfig::paper();
        let vs = nn::VarStore::new(Device::Cpu);
        let _g = generator(&vs.root(), 3, &cfg);
        let n = parameter_count(&vs);
        assert!((n - 11_378_179).abs() < 20_000, "{n}");
    }
}
