//! The teacher (MR) and student (CT) regression networks, as builder functions over
//! `nn::Path`: a 3D ResNet backbone shared in design, a 61-d projection and a linear
//! layer to the four normalized parameters behind a sigmoid. Both return the feature maps
//! of every backbone stage so distillation can pick the ones it matches.

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// Width of the projection both networks end in (the paper's 61).
pub const PROJECTION_DIM: i64 = 61;
/// Number of regressed parameters: BV/TV, Tb.Th, Tb.Sp, Tb.N.
pub const N_PARAMS: i64 = 4;

/// Size of a network: the paper's (ResNet-50, 64^3, for a GPU) or a small one that trains
/// on two CPU cores (ResNet-10 with narrow stages, 16^3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// "paper" or "small".
    pub name: String,
    /// Edge of the cube both inputs are brought to before the backbone (voxels).
    pub cube: i64,
    /// Channels of the layers before the backbone (teacher's residual blocks, student's
    /// transposed convolutions).
    pub pre_channels: i64,
    /// Channels of the four backbone stages (before a bottleneck's 4x expansion).
    pub widths: [i64; 4],
    /// Blocks per backbone stage.
    pub blocks: [usize; 4],
    /// Bottleneck blocks (ResNet-50) or basic blocks (ResNet-10/18).
    pub bottleneck: bool,
    /// The teacher brings its 16 x 48 x 48 MR patch to 16^3 with a learned strided
    /// convolution (1 x 3 x 3, stride 1 x 3 x 3) instead of interpolating it: no in-plane
    /// detail is thrown away before the network sees it (small configuration only).
    #[serde(default)]
    pub teacher_learned_resize: bool,
    /// Convolutions (1 x 3 x 3, stride 1) the teacher applies at the MR patch's full
    /// resolution before the learned resize, so it can see trabecular detail finer than
    /// the strided step keeps ("small-hr": 2; "small": 0, as its demo weights).
    #[serde(default)]
    pub teacher_full_res_convs: usize,
}

impl NetConfig {
    /// The paper's configuration: ResNet-50 backbone on 64^3 inputs.
    pub fn paper() -> Self {
        NetConfig {
            name: "paper".into(),
            cube: 64,
            pre_channels: 16,
            widths: [64, 128, 256, 512],
            blocks: [3, 4, 6, 3],
            bottleneck: true,
            teacher_learned_resize: false,
            teacher_full_res_convs: 0,
        }
    }

    /// The CPU configuration: ResNet-10 with stages of 16-128 channels on 16^3 inputs
    /// (so the student has no transposed convolutions: its CT patch is only brought to
    /// 16^3). 3D convolutions with few channels are slow on CPUs; at 32^3 the teacher's
    /// two residual blocks alone took 100 s per 1,000 patches on two cores.
    pub fn small() -> Self {
        NetConfig {
            name: "small".into(),
            cube: 16,
            pre_channels: 8,
            widths: [16, 32, 64, 128],
            blocks: [1, 1, 1, 1],
            bottleneck: false,
            teacher_learned_resize: true,
            teacher_full_res_convs: 0,
        }
    }

    /// The small configuration with a teacher that first looks at the MR patch at full
    /// resolution (two stride-1 convolutions before the learned resize).
    pub fn small_hr() -> Self {
        NetConfig {
            name: "small-hr".into(),
            teacher_full_res_convs: 2,
            ..Self::small()
        }
    }

    /// "paper" or "small".
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "paper" => Some(Self::paper()),
            "small" => Some(Self::small()),
            "small-hr" => Some(Self::small_hr()),
            _ => None,
        }
    }

    fn expansion(&self) -> i64 {
        if self.bottleneck { 4 } else { 1 }
    }

    /// Channels of the backbone's last stage (the pooled feature width).
    pub fn out_channels(&self) -> i64 {
        self.widths[3] * self.expansion()
    }
}

/// What a forward pass returns.
pub struct Outputs {
    /// Normalized parameters in (0, 1), `[N, 4]`.
    pub params: Tensor,
    /// The 61-d projection before the last linear layer, `[N, 61]`.
    pub projection: Tensor,
    /// The output of each of the four backbone stages.
    pub features: Vec<Tensor>,
}

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv3D {
    nn::conv3d(
        p,
        c_in,
        c_out,
        k,
        nn::ConvConfig {
            stride,
            padding: k / 2,
            bias: false,
            ..Default::default()
        },
    )
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm3d(p, c, Default::default())
}

/// conv-bn-relu-conv-bn plus the (projected) input, then relu.
fn basic_block(p: nn::Path, c_in: i64, c_out: i64, stride: i64) -> impl ModuleT + use<> {
    let c1 = conv(&p / "conv1", c_in, c_out, 3, stride);
    let b1 = bn(&p / "bn1", c_out);
    let c2 = conv(&p / "conv2", c_out, c_out, 3, 1);
    let b2 = bn(&p / "bn2", c_out);
    let down = (stride != 1 || c_in != c_out).then(|| {
        (
            conv(&p / "down", c_in, c_out, 1, stride),
            bn(&p / "down_bn", c_out),
        )
    });
    nn::func_t(move |x, train| {
        let y = x
            .apply(&c1)
            .apply_t(&b1, train)
            .relu()
            .apply(&c2)
            .apply_t(&b2, train);
        let skip = match &down {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    })
}

/// 1x1 reduce, 3x3 (strided), 1x1 expand by 4, plus the (projected) input, then relu.
fn bottleneck_block(p: nn::Path, c_in: i64, width: i64, stride: i64) -> impl ModuleT + use<> {
    let c_out = 4 * width;
    let c1 = conv(&p / "conv1", c_in, width, 1, 1);
    let b1 = bn(&p / "bn1", width);
    let c2 = conv(&p / "conv2", width, width, 3, stride);
    let b2 = bn(&p / "bn2", width);
    let c3 = conv(&p / "conv3", width, c_out, 1, 1);
    let b3 = bn(&p / "bn3", c_out);
    let down = (stride != 1 || c_in != c_out).then(|| {
        (
            conv(&p / "down", c_in, c_out, 1, stride),
            bn(&p / "down_bn", c_out),
        )
    });
    nn::func_t(move |x, train| {
        let y = x
            .apply(&c1)
            .apply_t(&b1, train)
            .relu()
            .apply(&c2)
            .apply_t(&b2, train)
            .relu()
            .apply(&c3)
            .apply_t(&b3, train);
        let skip = match &down {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    })
}

/// The 3D ResNet backbone and the head: stem (3^3 conv, stride 2; a max-pool too at
/// 64^3), four stages (strides 1, 2, 2, 2), global average pooling, 61-d projection with
/// relu, linear to 4, sigmoid.
struct Backbone {
    stem: nn::Conv3D,
    stem_bn: nn::BatchNorm,
    pool: bool,
    stages: Vec<Vec<Box<dyn ModuleT>>>,
    projection: nn::Linear,
    out: nn::Linear,
}

impl Backbone {
    fn new(p: &nn::Path, c_in: i64, cfg: &NetConfig) -> Self {
        let stem_c = cfg.widths[0];
        let mut stages: Vec<Vec<Box<dyn ModuleT>>> = Vec::new();
        let mut c = stem_c;
        for s in 0..4 {
            let sp = p / format!("layer{}", s + 1);
            let mut blocks: Vec<Box<dyn ModuleT>> = Vec::new();
            for b in 0..cfg.blocks[s] {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let bp = &sp / b.to_string();
                if cfg.bottleneck {
                    blocks.push(Box::new(bottleneck_block(bp, c, cfg.widths[s], stride)));
                    c = 4 * cfg.widths[s];
                } else {
                    blocks.push(Box::new(basic_block(bp, c, cfg.widths[s], stride)));
                    c = cfg.widths[s];
                }
            }
            stages.push(blocks);
        }
        Backbone {
            stem: conv(p / "stem", c_in, stem_c, 3, 2),
            stem_bn: bn(p / "stem_bn", stem_c),
            pool: cfg.cube >= 64,
            stages,
            projection: nn::linear(p / "projection", c, PROJECTION_DIM, Default::default()),
            out: nn::linear(p / "out", PROJECTION_DIM, N_PARAMS, Default::default()),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Outputs {
        let mut y = x.apply(&self.stem).apply_t(&self.stem_bn, train).relu();
        if self.pool {
            y = y.max_pool3d([3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], false);
        }
        let mut features = Vec::with_capacity(4);
        for stage in &self.stages {
            for block in stage {
                y = block.forward_t(&y, train);
            }
            features.push(y.shallow_clone());
        }
        let pooled = y.mean_dim(&[2i64, 3, 4][..], false, Kind::Float);
        let projection = pooled.apply(&self.projection).relu();
        let params = projection.apply(&self.out).sigmoid();
        Outputs {
            params,
            projection,
            features,
        }
    }
}

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Sees the MR patch (2 channels: image, mask; 16 x 48 x 48).
    Teacher,
    /// Sees the CT patch (2 channels: image, mask; 12^3).
    Student,
}

/// A teacher or student network.
pub struct Regressor {
    pub role: Role,
    /// Edge the input is interpolated to first (None: the first layer resizes it).
    resize_to: Option<i64>,
    pre: Vec<Box<dyn ModuleT>>,
    backbone: Backbone,
}

impl Regressor {
    /// Forward pass; `train` selects batch statistics (training) or running ones.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Outputs {
        let mut y = match self.resize_to {
            Some(edge) => x.upsample_trilinear3d([edge; 3], false, None, None, None),
            None => x.shallow_clone(),
        };
        for layer in &self.pre {
            y = layer.forward_t(&y, train);
        }
        self.backbone.forward_t(&y, train)
    }
}

/// A 3D convolution without bias (batch norm follows), Kaiming-uniform weights.
fn conv_no_bias(stride: [i64; 3], padding: [i64; 3]) -> nn::ConvConfigND<[i64; 3]> {
    nn::ConvConfigND {
        stride,
        padding,
        dilation: [1, 1, 1],
        groups: 1,
        bias: false,
        ws_init: nn::init::DEFAULT_KAIMING_UNIFORM,
        bs_init: nn::Init::Const(0.0),
        padding_mode: nn::PaddingMode::Zeros,
    }
}

/// The teacher: the MR patch brought to `cube`^3 (interpolated, or by a learned strided
/// convolution in the small configuration), a conv and two residual blocks at that size,
/// then the backbone and head.
pub fn teacher(p: &nn::Path, cfg: &NetConfig) -> Regressor {
    let c = cfg.pre_channels;
    let (kernel, stride, padding) = if cfg.teacher_learned_resize {
        ([1, 3, 3], [1, 3, 3], [0, 0, 0])
    } else {
        ([3, 3, 3], [1, 1, 1], [1, 1, 1])
    };
    // Optional full-resolution convolutions first (learned resize only).
    let full_res: Vec<(nn::Conv<[i64; 3]>, nn::BatchNorm)> = if cfg.teacher_learned_resize {
        (0..cfg.teacher_full_res_convs)
            .map(|n| {
                let conv = nn::conv(
                    p / format!("hr_conv{n}"),
                    if n == 0 { 2 } else { c },
                    c,
                    [1, 3, 3],
                    conv_no_bias([1, 1, 1], [0, 1, 1]),
                );
                (conv, bn(p / format!("hr_bn{n}"), c))
            })
            .collect()
    } else {
        Vec::new()
    };
    let stem_in = if full_res.is_empty() { 2 } else { c };
    let stem = nn::conv(
        p / "pre_conv",
        stem_in,
        c,
        kernel,
        conv_no_bias(stride, padding),
    );
    let stem_bn = bn(p / "pre_bn", c);
    let pre: Vec<Box<dyn ModuleT>> = vec![
        Box::new(nn::func_t(move |x, train| {
            let mut x = x.shallow_clone();
            for (conv, norm) in &full_res {
                x = x.apply(conv).apply_t(norm, train).relu();
            }
            x.apply(&stem).apply_t(&stem_bn, train).relu()
        })),
        Box::new(basic_block(p / "pre_res1", c, c, 1)),
        Box::new(basic_block(p / "pre_res2", c, c, 1)),
    ];
    Regressor {
        role: Role::Teacher,
        resize_to: (!cfg.teacher_learned_resize).then_some(cfg.cube),
        pre,
        backbone: Backbone::new(&(p / "backbone"), c, cfg),
    }
}

/// The student: the CT patch brought to 16^3, then stride-2 transposed convolutions up to
/// `cube`^3 (two for 64^3, the paper's; none for the small 16^3), then the backbone and
/// head.
pub fn student(p: &nn::Path, cfg: &NetConfig) -> Regressor {
    let c = cfg.pre_channels;
    let mut pre: Vec<Box<dyn ModuleT>> = Vec::new();
    let mut size = 16;
    let mut c_in = 2;
    let mut n = 0;
    while size < cfg.cube {
        let up = nn::conv_transpose3d(
            p / format!("up{n}"),
            c_in,
            c,
            4,
            nn::ConvTransposeConfig {
                stride: 2,
                padding: 1,
                bias: false,
                ..Default::default()
            },
        );
        let up_bn = bn(p / format!("up{n}_bn"), c);
        pre.push(Box::new(nn::func_t(move |x, train| {
            x.apply(&up).apply_t(&up_bn, train).relu()
        })));
        size *= 2;
        c_in = c;
        n += 1;
    }
    Regressor {
        role: Role::Student,
        resize_to: Some(16),
        pre,
        backbone: Backbone::new(&(p / "backbone"), c_in, cfg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, nn::OptimizerConfig};

    #[test]
    fn shapes_of_both_networks_small() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = NetConfig::small();
        let t = teacher(&(vs.root() / "teacher"), &cfg);
        let s = student(&(vs.root() / "student"), &cfg);
        let mr = Tensor::randn([3, 2, 16, 48, 48], (Kind::Float, Device::Cpu));
        let ct = Tensor::randn([3, 2, 12, 12, 12], (Kind::Float, Device::Cpu));
        let (ot, os) = (t.forward_t(&mr, false), s.forward_t(&ct, false));
        for o in [&ot, &os] {
            assert_eq!(o.params.size(), [3, 4]);
            assert_eq!(o.projection.size(), [3, PROJECTION_DIM]);
            assert_eq!(o.features.len(), 4);
            let min = o.params.min().double_value(&[]);
            let max = o.params.max().double_value(&[]);
            assert!(min > 0.0 && max < 1.0, "sigmoid range: {min}..{max}");
        }
        // Same backbone design: the stage outputs match in shape, so they can be compared.
        for (a, b) in ot.features.iter().zip(&os.features) {
            assert_eq!(a.size(), b.size());
        }
        assert_eq!(ot.features[0].size(), [3, 16, 8, 8, 8]);
        assert_eq!(ot.features[3].size(), [3, 128, 1, 1, 1]);
    }

    #[test]
    fn small_hr_teacher_sees_full_resolution_first() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = NetConfig::parse("small-hr").expect("config");
        assert_eq!(cfg.teacher_full_res_convs, 2);
        let t = teacher(&(vs.root() / "teacher"), &cfg);
        let mr = Tensor::randn([2, 2, 16, 48, 48], (Kind::Float, Device::Cpu));
        let o = t.forward_t(&mr, false);
        assert_eq!(o.params.size(), [2, 4]);
        assert_eq!(
            o.features[0].size(),
            [2, 16, 8, 8, 8],
            "same backbone as small"
        );
        // Two full-resolution convolutions (2 -> 8 and 8 -> 8 channels, 1x3x3) before the
        // strided one, which now takes 8 channels in.
        let vars = vs.variables();
        assert_eq!(vars["teacher.hr_conv0.weight"].size(), [8, 2, 1, 3, 3]);
        assert_eq!(vars["teacher.hr_conv1.weight"].size(), [8, 8, 1, 3, 3]);
        assert_eq!(vars["teacher.pre_conv.weight"].size(), [8, 8, 1, 3, 3]);
        // The plain small configuration is unchanged (its demo weights still load).
        let vs0 = nn::VarStore::new(Device::Cpu);
        let _ = teacher(&(vs0.root() / "teacher"), &NetConfig::small());
        assert_eq!(
            vs0.variables()["teacher.pre_conv.weight"].size(),
            [8, 2, 1, 3, 3]
        );
        assert!(!vs0.variables().keys().any(|k| k.contains("hr_conv")));
    }

    #[test]
    fn paper_student_reaches_64_cubed_and_resnet50_widths() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = NetConfig::paper();
        let s = student(&vs.root(), &cfg);
        let ct = Tensor::randn([1, 2, 12, 12, 12], (Kind::Float, Device::Cpu));
        let o = s.forward_t(&ct, false);
        assert_eq!(o.params.size(), [1, 4]);
        // 64^3 -> stem 32^3 -> pool 16^3 -> stages 16, 8, 4, 2; 4x expansion.
        assert_eq!(o.features[0].size(), [1, 256, 16, 16, 16]);
        assert_eq!(o.features[3].size(), [1, 2048, 2, 2, 2]);
    }

    #[test]
    fn gradients_reach_the_first_layer() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = NetConfig::small();
        let s = student(&vs.root(), &cfg);
        let ct = Tensor::randn([4, 2, 12, 12, 12], (Kind::Float, Device::Cpu));
        let target = Tensor::full([4, 4], 0.3, (Kind::Float, Device::Cpu));
        let mut opt = nn::Adam::default().build(&vs, 1e-3).expect("optimizer");
        let loss = s
            .forward_t(&ct, true)
            .params
            .mse_loss(&target, tch::Reduction::Mean);
        opt.zero_grad();
        loss.backward();
        let vars = vs.variables();
        let first = vars.get("backbone.stem.weight").expect("first convolution");
        let g = first.grad().abs().sum(Kind::Float).double_value(&[]);
        assert!(g > 0.0, "gradient flows back to the first layer");
    }
}
