//! Synthesis training data (the store `experiments::synthesis_data` builds): per subject of a phantom cohort, the CT (table removed) and
//! the crMR (the MR coarsely registered onto the CT grid by our own registration, never
//! by the phantom's true transforms), with their tissue labels for the edge network; and
//! the unpaired 2.5D slice stacks the networks train on.
//!
//! Values the networks see: CT in HU, [-1000, 2000] -> [-1, 1]; MR divided by the
//! 99.5th percentile of its positive voxels, [0, 1] -> [-1, 1]. Both clamped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use srrd_base::error::{Error, Result};
use srrd_base::io::read_image;
use srrd_base::rng::Rng;
use srrd_base::volume::Volume;

/// The store's format tag.
pub const FORMAT: &str = "srrd-synthesis-data/1";
/// CT values mapped to [-1, 1].
pub const CT_RANGE_HU: (f32, f32) = (-1000.0, 2000.0);
/// The MR percentile mapped to 1.
pub const MR_PERCENTILE: f64 = 99.5;

/// One subject of the store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataSubject {
    pub id: String,
    pub dir: String,
    pub seed: Option<u64>,
    pub grade: Option<String>,
}

/// `manifest.json` of a synthesis store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataManifest {
    pub format: String,
    pub source: String,
    pub preset: Option<String>,
    pub subjects: Vec<DataSubject>,
}

impl DataManifest {
    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let m: DataManifest = serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("not a synthesis data manifest: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::file(
                &path,
                format!("format '{}' is not {FORMAT}", m.format),
            ));
        }
        Ok(m)
    }

    /// Writes `dir/manifest.json` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid(format!("manifest: {e}")))?;
        srrd_base::io::atomic_write(&dir.join("manifest.json"), |w| w.write_all(text.as_bytes()))
    }

    /// The folder of subject `s`.
    pub fn dir_of(&self, store: &Path, s: &DataSubject) -> PathBuf {
        store.join(&s.dir)
    }
}

/// A volume as a `[D, H, W]` tensor (D along k).
pub fn volume_tensor(v: &Volume) -> Tensor {
    let [ni, nj, nk] = v.geometry.size;
    let data: Vec<f32> = v.data.iter().copied().collect();
    Tensor::from_slice(&data).view([nk as i64, nj as i64, ni as i64])
}

/// CT in HU to the networks' range.
pub fn normalize_ct(hu: &Tensor) -> Tensor {
    let (lo, hi) = CT_RANGE_HU;
    ((hu.clamp(lo as f64, hi as f64) - lo as f64) / ((hi - lo) as f64 / 2.0)) - 1.0
}

/// The networks' range back to HU.
pub fn denormalize_ct(x: &Tensor) -> Tensor {
    let (lo, hi) = CT_RANGE_HU;
    (x + 1.0) * ((hi - lo) as f64 / 2.0) + lo as f64
}

/// The value the MR is divided by: its 99.5th percentile of positive voxels (1 if none).
pub fn mr_scale(v: &Volume) -> f32 {
    let mut positive: Vec<f32> = v.data.iter().copied().filter(|x| *x > 0.0).collect();
    if positive.is_empty() {
        return 1.0;
    }
    let n = ((positive.len() - 1) as f64 * MR_PERCENTILE / 100.0).round() as usize;
    let (_, p, _) = positive.select_nth_unstable_by(n, |a, b| a.total_cmp(b));
    p.max(1e-6)
}

/// MR to the networks' range with `scale` from [`mr_scale`].
pub fn normalize_mr(mr: &Tensor, scale: f32) -> Tensor {
    (mr / scale as f64).clamp(0.0, 1.0) * 2.0 - 1.0
}

/// The 2.5D stack `[slices, H, W]` centred on slice `k` of `[D, H, W]` (edges repeated).
pub fn stack(volume: &Tensor, k: i64, slices: i64) -> Tensor {
    let d = volume.size()[0];
    let half = slices / 2;
    let index: Vec<i64> = (k - half..=k + half).map(|s| s.clamp(0, d - 1)).collect();
    volume.index_select(0, &Tensor::from_slice(&index))
}

/// One domain (CT or crMR) of the training set, normalized, with the slices worth
/// sampling: those whose centre has signal over at least a fifth of its area.
pub struct Domain {
    pub volumes: Vec<Tensor>,
    /// Tissue labels `[D, H, W]` (u8) when the store has them.
    pub labels: Vec<Option<Tensor>>,
    pub slices: Vec<(usize, i64)>,
}

impl Domain {
    fn new(volumes: Vec<Tensor>, labels: Vec<Option<Tensor>>) -> Self {
        let mut slices = Vec::new();
        for (v, vol) in volumes.iter().enumerate() {
            let signal =
                vol.gt(-0.95)
                    .to_kind(Kind::Float)
                    .mean_dim([1, 2].as_slice(), false, Kind::Float);
            let fractions = Vec::<f32>::try_from(signal).unwrap_or_default();
            for (k, f) in fractions.iter().enumerate() {
                if *f > 0.2 {
                    slices.push((v, k as i64));
                }
            }
        }
        Domain {
            volumes,
            labels,
            slices,
        }
    }

    /// `n` random crops `[n, slices, crop, crop]`: a random usable slice, a random
    /// position, with `augment` a zoom of 0.9-1.1 and a left-right flip at random.
    pub fn sample(&self, rng: &mut Rng, n: i64, slices: i64, crop: i64, augment: bool) -> Tensor {
        let crops: Vec<Tensor> = (0..n)
            .map(|_| {
                let (v, k) = self.slices[(rng.next_u64() % self.slices.len() as u64) as usize];
                let s = stack(&self.volumes[v], k, slices);
                let (h, w) = (s.size()[1], s.size()[2]);
                let zoom = if augment { rng.range(0.9, 1.1) } else { 1.0 };
                let side = ((crop as f64 * zoom).round() as i64).min(h).min(w).max(8);
                let y = (rng.next_u64() % (h - side + 1) as u64) as i64;
                let x = (rng.next_u64() % (w - side + 1) as u64) as i64;
                let mut c = s.narrow(1, y, side).narrow(2, x, side).unsqueeze(0);
                if side != crop {
                    c = c.upsample_bilinear2d([crop, crop], false, None, None);
                }
                if augment && rng.uniform() < 0.5 {
                    c = c.flip([3]);
                }
                c
            })
            .collect();
        Tensor::cat(&crops, 0)
    }

    /// `n` random centre slices `[n, 1, crop, crop]` with their label boundaries
    /// `[n, 1, crop, crop]` (table and clothing counted as air), flipped at random.
    pub fn sample_edges(&self, rng: &mut Rng, n: i64, crop: i64) -> (Tensor, Tensor) {
        let mut images = Vec::new();
        let mut targets = Vec::new();
        while (images.len() as i64) < n {
            let (v, k) = self.slices[(rng.next_u64() % self.slices.len() as u64) as usize];
            let Some(labels) = &self.labels[v] else {
                continue;
            };
            let img = self.volumes[v].get(k);
            let (h, w) = (img.size()[0], img.size()[1]);
            let side = crop.min(h).min(w);
            let y = (rng.next_u64() % (h - side + 1) as u64) as i64;
            let x = (rng.next_u64() % (w - side + 1) as u64) as i64;
            let l = labels.get(k).to_kind(Kind::Int64);
            let l = l.where_self(&l.lt(12), &Tensor::zeros_like(&l));
            let b = super::edges::label_boundaries(&l);
            let mut i = img
                .narrow(0, y, side)
                .narrow(1, x, side)
                .view([1, 1, side, side]);
            let mut t = b
                .narrow(0, y, side)
                .narrow(1, x, side)
                .view([1, 1, side, side]);
            if rng.uniform() < 0.5 {
                i = i.flip([3]);
                t = t.flip([3]);
            }
            images.push(i);
            targets.push(t);
        }
        (Tensor::cat(&images, 0), Tensor::cat(&targets, 0))
    }
}

/// The two domains of a training set.
pub struct SliceData {
    pub ct: Domain,
    pub mr: Domain,
}

/// Loads subjects `subjects` (indices into the manifest) of the store.
pub fn load_data(store: &Path, manifest: &DataManifest, subjects: &[usize]) -> Result<SliceData> {
    let mut ct = Vec::new();
    let mut mr = Vec::new();
    let mut ct_labels = Vec::new();
    let mut mr_labels = Vec::new();
    for &i in subjects {
        let s = manifest.subjects.get(i).ok_or_else(|| {
            Error::invalid(format!(
                "subject {i} is not in the store ({} subjects)",
                manifest.subjects.len()
            ))
        })?;
        let dir = manifest.dir_of(store, s);
        let ct_v = read_image(&dir.join("ct.nii.gz"), None)?.volume;
        let mr_v = read_image(&dir.join("crmr.nii.gz"), None)?.volume;
        ct.push(normalize_ct(&volume_tensor(&ct_v)));
        mr.push(normalize_mr(&volume_tensor(&mr_v), mr_scale(&mr_v)));
        let labels = |file: &str| -> Result<Option<Tensor>> {
            let p = dir.join(file);
            if !p.exists() {
                return Ok(None);
            }
            let v = read_image(&p, None)?.volume;
            Ok(Some(volume_tensor(&v).to_kind(Kind::Uint8)))
        };
        ct_labels.push(labels("ct_labels.nii.gz")?);
        mr_labels.push(labels("crmr_labels.nii.gz")?);
    }
    let data = SliceData {
        ct: Domain::new(ct, ct_labels),
        mr: Domain::new(mr, mr_labels),
    };
    if data.ct.slices.is_empty() || data.mr.slices.is_empty() {
        return Err(Error::invalid(format!(
            "{}: no slice with signal in the chosen subjects",
            store.display()
        )));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_normalization_round_trips_inside_its_range() {
        let hu = Tensor::from_slice(&[-1000.0f32, -100.0, 0.0, 400.0, 2000.0]);
        let back = denormalize_ct(&normalize_ct(&hu));
        let d = (back - &hu).abs().max().double_value(&[]);
        assert!(d < 1e-3, "{d}");
        let x = normalize_ct(&Tensor::from_slice(&[-3000.0f32, 5000.0]));
        assert_eq!(Vec::<f32>::try_from(x).unwrap_or_default(), vec![-1.0, 1.0]);
    }

    #[test]
    fn stacks_repeat_the_edge_slices() {
        let v = Tensor::arange(4, (Kind::Float, tch::Device::Cpu))
            .view([4, 1, 1])
            .expand([4, 2, 2], false)
            .contiguous();
        let s = stack(&v, 0, 3);
        let centre: Vec<f32> = (0..3).map(|c| s.double_value(&[c, 0, 0]) as f32).collect();
        assert_eq!(centre, vec![0.0, 0.0, 1.0]);
        let s = stack(&v, 3, 3);
        assert_eq!(s.double_value(&[2, 1, 1]), 3.0);
    }
}
