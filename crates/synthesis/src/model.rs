//! A trained synthesis model on disk and its use: `model.json` (the card: sizes,
//! settings, edge map, data, command, metrics), `generators.safetensors` and, for the HED
//! edge map, `hed.safetensors`. Inference turns a crMR volume into an sCT volume on the
//! same grid, slice by slice along k, in batches, with progress and cancel.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use super::data::{denormalize_ct, mr_scale, normalize_mr, stack, volume_tensor};
use super::edges::EdgeDetector;
use super::nets::{SynthConfig, edge_net, pad_to_multiple};
use super::train::{SynthNets, SynthSettings};
use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::volume::Volume;

/// The model card's format tag.
pub const FORMAT: &str = "srrd-synthesis-model/1";

/// `model.json`: what the model is and where it came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SynthCard {
    pub format: String,
    /// "spsnet" or "cyclegan".
    pub method: String,
    pub config: SynthConfig,
    pub settings: SynthSettings,
    /// "hed", "classical" or "none".
    pub edges: String,
    /// What it was trained on (cohort, subjects).
    pub trained_on: String,
    pub command: String,
    pub seconds: f64,
    /// Filled by the evaluation when it is run.
    #[serde(default)]
    pub metrics: serde_json::Value,
    pub provenance: String,
}

impl SynthCard {
    /// Reads `dir/model.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("model.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let card: SynthCard = serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("not a synthesis model card: {e}")))?;
        if card.format != FORMAT {
            return Err(Error::file(
                &path,
                format!("format '{}' is not {FORMAT}", card.format),
            ));
        }
        Ok(card)
    }

    /// Writes `dir/model.json` through a temporary name.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::invalid(e.to_string()))?;
        srrd_base::io::atomic_write(&dir.join("model.json"), |w| w.write_all(text.as_bytes()))
    }
}

/// What the demo weights are, in one sentence for every place that shows an sCT.
pub const PROVENANCE: &str = "Synthetic CT from a small SPSNet trained on synthetic phantom \
knees only (srrd's phantom generator): a registration aid for research, not a diagnostic image.";

/// The demo synthesis model's folder: `$SRRD_ASSETS/synthesis` or the crate's
/// `assets/synthesis`.
pub fn demo_model_dir() -> PathBuf {
    srrd_base::assets::assets_dir().join("synthesis")
}

/// A loaded model ready for inference.
pub struct SynthModel {
    pub card: SynthCard,
    pub nets: SynthNets,
    pub edges: EdgeDetector,
    /// The edge network's weights (kept alive with the network).
    pub hed_vs: Option<nn::VarStore>,
}

/// Loads the model in `dir`.
pub fn load_model(dir: &Path) -> Result<SynthModel> {
    let card = SynthCard::read(dir)?;
    let mut nets = SynthNets::new(&card.config, card.settings.use_edges);
    // Inference needs only the MR -> CT generator: a file may hold that one alone (the
    // GPU script's float16 export of the paper configuration). Values convert to f32.
    let g = dir.join("generators.safetensors");
    let missing = load_converting(&nets.vs_g, &g)?;
    if let Some(name) = missing.iter().find(|n| n.starts_with("g_mr_to_ct.")) {
        return Err(Error::file(
            &g,
            format!("no weights for {name}: not a generator of this configuration"),
        ));
    }
    let (edges, hed_vs) = match card.edges.as_str() {
        "hed" => {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let net = edge_net(&(vs.root() / "hed"), &card.config);
            let p = dir.join("hed.safetensors");
            vs.load(&p)
                .map_err(|e| Error::file(&p, format!("cannot load the edge network: {e}")))?;
            vs.freeze();
            (EdgeDetector::Hed(Box::new(net)), Some(vs))
        }
        _ => (EdgeDetector::Classical, None),
    };
    nets.vs_g.freeze();
    Ok(SynthModel {
        card,
        nets,
        edges,
        hed_vs,
    })
}

/// Loads the safetensors file `path` into the variables of `vs` it names, converting each
/// value to its variable's kind (a float16 file loads into f32 variables; tch's own
/// loader would swap in the file's kind). Returns the names of variables the file lacks.
fn load_converting(vs: &nn::VarStore, path: &Path) -> Result<Vec<String>> {
    let tensors = Tensor::read_safetensors(path)
        .map_err(|e| Error::file(path, format!("cannot load the generators: {e}")))?;
    let mut vars = vs.variables();
    let _guard = tch::no_grad_guard();
    for (name, value) in tensors {
        if let Some(mut var) = vars.remove(&name) {
            if var.size() != value.size() {
                return Err(Error::file(
                    path,
                    format!(
                        "{name} has shape {:?}, the model expects {:?}",
                        value.size(),
                        var.size()
                    ),
                ));
            }
            var.copy_(&value.to_kind(var.kind()));
        }
    }
    let mut missing: Vec<String> = vars.into_keys().collect();
    missing.sort();
    Ok(missing)
}

/// Slices synthesized per forward pass.
const BATCH: i64 = 8;

/// crMR (any grid) to sCT in HU on the same grid: each slice along k with its neighbours
/// through the MR -> CT generator; the centre output slice is kept.
pub fn synthesize(model: &SynthModel, cr_mr: &Volume, progress: &Progress) -> Result<Volume> {
    let _guard = tch::no_grad_guard();
    let slices = model.card.config.slices;
    let v = normalize_mr(&volume_tensor(cr_mr), mr_scale(cr_mr));
    let depth = v.size()[0];
    progress.start("synthesizing sCT", depth as u64);
    let mut out = Vec::new();
    let mut k = 0;
    while k < depth {
        progress.check()?;
        let n = BATCH.min(depth - k);
        let stacks: Vec<Tensor> = (k..k + n).map(|s| stack(&v, s, slices)).collect();
        let batch = Tensor::stack(&stacks, 0);
        let (padded, (h, w)) = pad_to_multiple(&batch, 4);
        let centre = padded.narrow(1, slices / 2, 1);
        let e = model.edges.edges(&centre);
        let fake = model
            .nets
            .g_mr_to_ct
            .forward(&model.nets.generator_input(&padded, &e));
        out.push(
            fake.narrow(1, slices / 2, 1)
                .narrow(2, 0, h)
                .narrow(3, 0, w)
                .squeeze_dim(1),
        );
        k += n;
        progress.advance(n as u64);
    }
    let hu = denormalize_ct(&Tensor::cat(&out, 0)).to_kind(Kind::Float);
    let data: Vec<f32> =
        Vec::<f32>::try_from(hu.flatten(0, -1)).map_err(|e| Error::invalid(format!("sCT: {e}")))?;
    let [ni, nj, nk] = cr_mr.geometry.size;
    let array = ndarray::Array3::from_shape_vec((nk, nj, ni), data)
        .map_err(|e| Error::invalid(format!("sCT: {e}")))?;
    Volume::from_data(cr_mr.geometry.clone(), array)
}
