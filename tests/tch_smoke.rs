//! tch is a real dependency: a small 3D conv net trains a step, saves as safetensors and
//! loads back to the same outputs.

use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

fn net(p: &nn::Path) -> nn::Sequential {
    nn::seq()
        .add(nn::conv3d(
            p / "c1",
            1,
            4,
            3,
            nn::ConvConfig {
                padding: 1,
                ..Default::default()
            },
        ))
        .add_fn(|x| x.relu())
        .add_fn(|x| x.mean_dim(&[2i64, 3, 4][..], false, Kind::Float))
        .add(nn::linear(p / "fc", 4, 2, Default::default()))
}

#[test]
fn forward_backward_save_load() {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = net(&vs.root());
    let x = Tensor::randn([3, 1, 6, 6, 6], (Kind::Float, Device::Cpu));
    let target = Tensor::ones([3, 2], (Kind::Float, Device::Cpu));
    let mut opt = nn::Adam::default().build(&vs, 1e-2).expect("optimizer");
    let loss0 = model.forward(&x).mse_loss(&target, tch::Reduction::Mean);
    let l0 = loss0.double_value(&[]);
    for _ in 0..20 {
        let loss = model.forward(&x).mse_loss(&target, tch::Reduction::Mean);
        opt.backward_step(&loss);
    }
    let l1 = model
        .forward(&x)
        .mse_loss(&target, tch::Reduction::Mean)
        .double_value(&[]);
    assert!(l1 < l0, "training lowers the loss: {l0} -> {l1}");

    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("net.safetensors");
    vs.save(&file).expect("save");
    let mut vs2 = nn::VarStore::new(Device::Cpu);
    let model2 = net(&vs2.root());
    vs2.load(&file).expect("load");
    let diff = (model.forward(&x) - model2.forward(&x))
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-7, "loaded model gives the same output: {diff}");
}
