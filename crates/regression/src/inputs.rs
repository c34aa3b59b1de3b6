//! The networks' inputs: a patch store's subjects loaded into tensors ([`Inputs`],
//! [`load_inputs`]), the CT input (HU scaled, mask), the MR input scaled per patch as
//! [`MrScaling`] says, and thinning the patches per subject for training.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::dataset::{Manifest, load_patches, mr_segmentation};
use super::train::TrainSettings;
use srrd_base::error::{Error, Result};

/// Network inputs of a set of patches, in memory.
pub struct Inputs {
    /// CT: (HU - 400) / 600 and the mask, `[N, 2, 12, 12, 12]`.
    pub ct: Tensor,
    /// MR scaled inside the mask (per patch, see `MrScaling`) and the mask,
    /// `[N, 2, 16, 48, 48]`.
    pub mr: Tensor,
    /// Raw targets `[N, 4]`.
    pub target: Tensor,
    /// Subject index (into the manifest) of each patch.
    pub subject: Vec<usize>,
    /// 1 femur, 2 tibia.
    pub bone: Vec<u8>,
    /// Patch centres (LPS mm).
    pub centre_mm: Vec<[f64; 3]>,
}

impl Inputs {
    /// At most `per_subject` patches of each subject, evenly spaced in the store's order
    /// (the same ones on every call).
    pub fn thin(self, per_subject: usize) -> Inputs {
        let mut keep: Vec<i64> = Vec::new();
        let mut start = 0;
        while start < self.subject.len() {
            let s = self.subject[start];
            let end = start
                + self.subject[start..]
                    .iter()
                    .take_while(|&&t| t == s)
                    .count();
            let n = end - start;
            let k = per_subject.min(n);
            keep.extend((0..k).map(|i| (start + i * n / k.max(1)) as i64));
            start = end;
        }
        let idx = Tensor::from_slice(&keep);
        Inputs {
            ct: self.ct.index_select(0, &idx),
            mr: self.mr.index_select(0, &idx),
            target: self.target.index_select(0, &idx),
            subject: keep.iter().map(|&i| self.subject[i as usize]).collect(),
            bone: keep.iter().map(|&i| self.bone[i as usize]).collect(),
            centre_mm: keep.iter().map(|&i| self.centre_mm[i as usize]).collect(),
        }
    }

    /// The training patches `settings` asks for (all, or thinned per subject).
    pub fn for_training(self, settings: &TrainSettings) -> Inputs {
        match settings.train_patches_per_subject {
            Some(n) => self.thin(n),
            None => self,
        }
    }
}

/// The CT network input from raw HU patches and masks (`[N, 1, d, h, w]` each).
pub fn ct_input(ct_hu: &Tensor, mask: &Tensor) -> Tensor {
    Tensor::cat(&[(ct_hu - 400.0) / 600.0, mask.shallow_clone()], 1)
}

/// How each MR patch is scaled before the teacher sees it (MR has no absolute units).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MrScaling {
    /// Mean 0 and SD 1 inside the mask: models trained before 2026-11-30, and what a
    /// model card without the field means.
    #[default]
    Standardized,
    /// The 1st and 99th percentiles inside the mask to 0 and 1, clamped: the scaling the
    /// ground truth's binarization works on (its 0-255 rescale), so the threshold's
    /// offset means the same in every patch. The default for new training: on the
    /// 32-knee cohort it raised the teacher's ICC for BV/TV from 0.825 to 0.873.
    Percentile,
    /// The ground truth's own segmentation of the patch (bone 1, marrow and outside 0):
    /// the teacher sees exactly what the morphometry measures.
    Segmented,
}

impl MrScaling {
    /// "standardized", "percentile" or "segmented".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standardized" => Some(MrScaling::Standardized),
            "percentile" => Some(MrScaling::Percentile),
            "segmented" => Some(MrScaling::Segmented),
            _ => None,
        }
    }
}

/// The MR network input: each patch scaled inside its mask, and the mask.
pub fn mr_input(mr: &Tensor, mask: &Tensor, scaling: MrScaling) -> Tensor {
    match scaling {
        MrScaling::Standardized => mr_standardized(mr, mask),
        MrScaling::Percentile => mr_percentile(mr, mask),
        MrScaling::Segmented => mr_segmented(mr, mask),
    }
}

fn mr_segmented(mr: &Tensor, mask: &Tensor) -> Tensor {
    let dims = mr.size();
    let n = dims.first().copied().unwrap_or(0).max(1) as usize;
    let per = (mr.numel() / n).max(1);
    // [N, 1, d, h, w]: i runs along w, j along h, k along d.
    let size = match dims.as_slice() {
        [_, _, d, h, w] => [*w as usize, *h as usize, *d as usize],
        _ => [per, 1, 1],
    };
    let values = Vec::<f32>::try_from(mr.flatten(0, -1)).unwrap_or_default();
    let inside = Vec::<f32>::try_from(mask.flatten(0, -1)).unwrap_or_default();
    let out: Vec<f32> = values
        .par_chunks(per)
        .zip(inside.par_chunks(per))
        .flat_map_iter(|(v, m)| {
            let m: Vec<bool> = m.iter().map(|x| *x > 0.5).collect();
            let bone = mr_segmentation(v, &m, size).unwrap_or_else(|| vec![false; v.len()]);
            bone.into_iter().map(|b| if b { 1.0f32 } else { 0.0 })
        })
        .collect();
    let seg = Tensor::from_slice(&out).view(dims.as_slice());
    Tensor::cat(&[seg, mask.shallow_clone()], 1)
}

fn mr_standardized(mr: &Tensor, mask: &Tensor) -> Tensor {
    let dims = [1i64, 2, 3, 4];
    let count = mask
        .sum_dim_intlist(dims.as_slice(), true, Kind::Float)
        .clamp_min(1.0);
    let mean = (mr * mask).sum_dim_intlist(dims.as_slice(), true, Kind::Float) / &count;
    let centred = mr - &mean;
    let var =
        (&centred * &centred * mask).sum_dim_intlist(dims.as_slice(), true, Kind::Float) / &count;
    let sd = var.sqrt().clamp_min(1e-3);
    Tensor::cat(&[centred / sd, mask.shallow_clone()], 1)
}

fn mr_percentile(mr: &Tensor, mask: &Tensor) -> Tensor {
    let n = mr.size().first().copied().unwrap_or(0).max(1) as usize;
    let per = mr.numel() / n;
    let values = Vec::<f32>::try_from(mr.flatten(0, -1)).unwrap_or_default();
    let inside = Vec::<f32>::try_from(mask.flatten(0, -1)).unwrap_or_default();
    let mut out = vec![0f32; values.len()];
    for ((v, m), o) in values
        .chunks(per.max(1))
        .zip(inside.chunks(per.max(1)))
        .zip(out.chunks_mut(per.max(1)))
    {
        let mut sel: Vec<f32> = v
            .iter()
            .zip(m)
            .filter(|(_, m)| **m > 0.5)
            .map(|(v, _)| *v)
            .collect();
        if sel.is_empty() {
            sel = v.to_vec(); // no mask: the whole patch
        }
        sel.sort_by(f32::total_cmp);
        let at = |f: f64| sel[((sel.len() - 1) as f64 * f).round() as usize];
        let (lo, hi) = (at(0.01), at(0.99));
        let range = (hi - lo).max(1e-3);
        for (o, x) in o.iter_mut().zip(v) {
            *o = ((x - lo) / range).clamp(0.0, 1.0);
        }
    }
    let scaled = Tensor::from_slice(&out).view(mr.size().as_slice());
    Tensor::cat(&[scaled, mask.shallow_clone()], 1)
}

/// Loads the given subjects (indices into the manifest) of a patch store, the MR scaled
/// as `mr_scaling` says.
pub fn load_inputs(
    store: &Path,
    manifest: &Manifest,
    subjects: &[usize],
    mr_scaling: MrScaling,
) -> Result<Inputs> {
    let mut ct = Vec::new();
    let mut mr = Vec::new();
    let mut target = Vec::new();
    let mut subject = Vec::new();
    let mut bone = Vec::new();
    let mut centre_mm = Vec::new();
    for &s in subjects {
        let entry = manifest
            .subjects
            .get(s)
            .ok_or_else(|| Error::invalid(format!("no subject {s} in the store")))?;
        let p = load_patches(&manifest.path_of(store, entry))?;
        let n = p.target.size()[0] as usize;
        if n == 0 {
            continue;
        }
        ct.push(ct_input(&p.ct, &p.ct_mask));
        mr.push(mr_input(&p.mr, &p.mr_mask, mr_scaling));
        target.push(p.target);
        subject.extend(std::iter::repeat_n(s, n));
        bone.extend(Vec::<u8>::try_from(&p.bone.to_kind(Kind::Uint8)).unwrap_or_default());
        let c = Vec::<f64>::try_from(p.centre_mm.flatten(0, -1)).unwrap_or_default();
        centre_mm.extend(c.chunks(3).map(|v| [v[0], v[1], v[2]]));
    }
    if target.is_empty() {
        return Err(Error::invalid("no patches in the chosen subjects"));
    }
    Ok(Inputs {
        ct: Tensor::cat(&ct, 0),
        mr: Tensor::cat(&mr, 0),
        target: Tensor::cat(&target, 0),
        subject,
        bone,
        centre_mm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn percentile_scaling_maps_the_masked_range_to_0_1() {
        // One patch: values 0..100 inside the mask, 1000 outside it.
        let values: Vec<f32> = (0..200)
            .map(|v| if v < 101 { v as f32 } else { 1000.0 })
            .collect();
        let mask: Vec<f32> = (0..200).map(|v| f32::from(v < 101)).collect();
        let shape = [1i64, 1, 2, 10, 10];
        let mr = Tensor::from_slice(&values).view(shape);
        let m = Tensor::from_slice(&mask).view(shape);
        let x = mr_input(&mr, &m, MrScaling::Percentile);
        let scaled = Vec::<f32>::try_from(x.get(0).get(0).flatten(0, -1)).expect("values");
        // 1st percentile 1, 99th 99: 50 -> 49/98, and everything outside clamps to 1.
        assert!((scaled[50] - 49.0 / 98.0).abs() < 1e-6);
        assert_eq!(scaled[0], 0.0);
        assert_eq!(scaled[150], 1.0);
        let standard = mr_input(&mr, &m, MrScaling::Standardized);
        assert!(Vec::<f32>::try_from(standard.get(0).get(0).flatten(0, -1)).expect("v")[0] < -1.0);
    }

    #[test]
    fn segmented_input_is_the_ground_truths_segmentation() {
        // Two patches of 8 x 8 x 2: dark stripes (bone) on a bright background, the second
        // with another stripe period; the mask leaves out the last column.
        let (w, h, d) = (8usize, 8usize, 2usize);
        let mut values = Vec::new();
        let mut mask = Vec::new();
        for period in [2usize, 3] {
            for _k in 0..d {
                for _j in 0..h {
                    for i in 0..w {
                        values.push(if i % period == 0 { 100.0f32 } else { 800.0 });
                        mask.push(i < w - 1);
                    }
                }
            }
        }
        let shape = [2i64, 1, d as i64, h as i64, w as i64];
        let mr = Tensor::from_slice(&values).view(shape);
        let m =
            Tensor::from_slice(&mask.iter().map(|&b| f32::from(b)).collect::<Vec<_>>()).view(shape);
        let x = mr_input(&mr, &m, MrScaling::Segmented);
        assert_eq!(x.size(), [2, 2, d as i64, h as i64, w as i64]);
        let per = w * h * d;
        for p in 0..2 {
            let want = mr_segmentation(
                &values[p * per..(p + 1) * per],
                &mask[p * per..(p + 1) * per],
                [w, h, d],
            )
            .expect("segmentable");
            let got = Vec::<f32>::try_from(x.get(p as i64).get(0).flatten(0, -1)).expect("v");
            let got: Vec<bool> = got.iter().map(|v| *v > 0.5).collect();
            assert_eq!(got, want, "patch {p}");
            // The stripes are bone, the background is not, nothing outside the mask.
            assert!(got[0] && !got[1] && !got[w - 1]);
        }
    }

    #[test]
    fn thinning_keeps_evenly_spaced_patches_of_every_subject() {
        let n = 10i64;
        let subject = vec![3, 3, 3, 3, 3, 3, 7, 7, 7, 9];
        let ids = Tensor::arange(n, (Kind::Float, Device::Cpu));
        let data = Inputs {
            ct: ids.view([n, 1, 1, 1, 1]),
            mr: ids.view([n, 1, 1, 1, 1]),
            target: ids.view([n, 1]).repeat([1, 4]),
            subject,
            bone: vec![1; n as usize],
            centre_mm: (0..n).map(|i| [i as f64, 0.0, 0.0]).collect(),
        };
        let thin = data.thin(2);
        // Six of subject 3 -> indices 0 and 3; three of 7 -> 6 and 7; one of 9 -> 9.
        assert_eq!(thin.subject, vec![3, 3, 7, 7, 9]);
        let kept = Vec::<f32>::try_from(thin.target.select(1, 0)).expect("v");
        assert_eq!(kept, vec![0.0, 3.0, 6.0, 7.0, 9.0]);
        assert_eq!(
            Vec::<f32>::try_from(thin.ct.flatten(0, -1)).expect("v"),
            kept
        );
        assert_eq!(thin.centre_mm[1][0], 3.0);
        let all = TrainSettings::default();
        assert_eq!(thin.for_training(&all).subject.len(), 5);
    }
}
