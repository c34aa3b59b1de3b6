//! Edge maps for SPSNet: the classical one (Sobel gradient magnitude thinned by
//! non-maximum suppression), the trained HED-style network, and the training targets of
//! the latter (tissue boundaries of the phantom labels).

use tch::{Kind, Tensor};

use super::nets::EdgeNet;

/// Which edge map SPSNet sees.
pub enum EdgeDetector {
    /// Gradient magnitude with non-maximum suppression, scaled to [0, 1] per image.
    Classical,
    /// The trained HED-style network (frozen).
    Hed(Box<EdgeNet>),
}

impl EdgeDetector {
    /// Edge maps `[N, 1, H, W]` in [0, 1] of images `[N, 1, H, W]` in [-1, 1]. Gradients
    /// flow through both (through the magnitude for the classical map).
    pub fn edges(&self, x: &Tensor) -> Tensor {
        match self {
            EdgeDetector::Classical => classical_edges(x),
            EdgeDetector::Hed(net) => net.edges(x),
        }
    }

    /// "classical" or "hed".
    pub fn name(&self) -> &'static str {
        match self {
            EdgeDetector::Classical => "classical",
            EdgeDetector::Hed(_) => "hed",
        }
    }
}

/// Sobel gradients `(gx, gy)` of `[N, 1, H, W]`, replicate-padded (same size).
fn sobel(x: &Tensor) -> (Tensor, Tensor) {
    let k = |v: [f32; 9]| {
        Tensor::from_slice(&v)
            .view([1, 1, 3, 3])
            .to_device(x.device())
    };
    let kx = k([-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0]) / 8.0;
    let ky = k([-1.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 1.0]) / 8.0;
    let p = x.replication_pad2d([1, 1, 1, 1]);
    let conv = |k: &Tensor| p.conv2d(k, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    (conv(&kx), conv(&ky))
}

/// `x` shifted by (dy, dx) with edge replication: out[y][x] = in[y + dy][x + dx].
fn shifted(x: &Tensor, dy: i64, dx: i64) -> Tensor {
    let (h, w) = (x.size()[2], x.size()[3]);
    let p = x.replication_pad2d([1, 1, 1, 1]);
    p.narrow(2, 1 + dy, h).narrow(3, 1 + dx, w)
}

/// The classical edge map: Sobel magnitude kept only where it is a maximum along the
/// gradient direction (quantized to 0, 45, 90, 135 degrees), divided by the image's
/// largest magnitude.
pub fn classical_edges(x: &Tensor) -> Tensor {
    let (gx, gy) = sobel(x);
    let mag = (gx.square() + gy.square() + 1e-12).sqrt();
    let angle = gy.atan2(&gx).detach(); // (-pi, pi]
    // Direction bins of the (undirected) gradient: 0 = horizontal, 1 = 45 deg, ...
    let a = (angle * (4.0 / std::f64::consts::PI)).round().remainder(4);
    let m = mag.detach();
    // Flat regions (magnitude at the epsilon floor) carry no edge.
    let mut keep = Tensor::zeros_like(&m).to_kind(Kind::Bool);
    for (bin, (dy, dx)) in [(0, 1), (1, 1), (1, 0), (1, -1)].iter().enumerate() {
        let is_bin = a.eq(bin as f64);
        let ahead = shifted(&m, *dy, *dx);
        let behind = shifted(&m, -*dy, -*dx);
        let local_max = m.ge_tensor(&ahead).logical_and(&m.ge_tensor(&behind));
        keep = keep.logical_or(&is_bin.logical_and(&local_max));
    }
    let n = x.size()[0];
    let peak = m
        .reshape([n, -1])
        .amax([1].as_slice(), false)
        .clamp_min(1e-6)
        .view([n, 1, 1, 1]);
    let keep = keep.logical_and(&m.gt(1e-4));
    mag * keep.to_kind(Kind::Float) / peak
}

/// Tissue boundaries of a label slice `[H, W]` (u8 labels): 1 where a 4-neighbour has
/// another label, else 0, as a float `[H, W]` tensor.
pub fn label_boundaries(labels: &Tensor) -> Tensor {
    let l = labels.to_kind(Kind::Float).unsqueeze(0).unsqueeze(0);
    let mut edge = Tensor::zeros_like(&l).to_kind(Kind::Bool);
    for (dy, dx) in [(0, 1), (1, 0), (0, -1), (-1, 0)] {
        edge = edge.logical_or(&shifted(&l, dy, dx).ne_tensor(&l));
    }
    edge.to_kind(Kind::Float).squeeze_dim(0).squeeze_dim(0)
}

/// HED's class-balanced binary cross-entropy of logits against a 0/1 target: edge pixels
/// weighted by the fraction of non-edge pixels and vice versa, per image.
pub fn balanced_bce(logits: &Tensor, target: &Tensor) -> Tensor {
    let n = target.size()[0];
    let flat = target.reshape([n, -1]);
    let pos = flat.mean_dim([1].as_slice(), true, Kind::Float);
    let weight_pos = (-&pos + 1.0).view([n, 1, 1, 1]);
    let weight_neg = pos.view([n, 1, 1, 1]);
    let weight = target * &weight_pos + (-target + 1.0) * &weight_neg;
    logits.binary_cross_entropy_with_logits::<Tensor>(
        target,
        Some(weight),
        None,
        tch::Reduction::Mean,
    ) * 2.0
}

/// A `[1, 1, H, W]` float tensor of `values` (row-major).
pub fn image_tensor(values: &[f32], h: i64, w: i64) -> Tensor {
    Tensor::from_slice(values).view([1, 1, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// A disc of radius 10 in a 40x40 image, values -1 outside and 1 inside.
    fn disc() -> Tensor {
        let v: Vec<f32> = (0..40 * 40)
            .map(|n| {
                let (y, x) = ((n / 40) as f64 - 19.5, (n % 40) as f64 - 19.5);
                if (x * x + y * y).sqrt() < 10.0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        image_tensor(&v, 40, 40)
    }

    #[test]
    fn classical_edges_are_thin_and_on_the_boundary() {
        let e = classical_edges(&disc());
        let v: Vec<f32> = Vec::<f32>::try_from(e.flatten(0, -1)).unwrap_or_default();
        let on: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .filter(|(_, x)| **x > 0.3)
            .map(|(n, _)| ((n / 40) as f64 - 19.5, (n % 40) as f64 - 19.5))
            .collect();
        // Every strong edge pixel lies within 1.5 px of the circle of radius 10.
        assert!(!on.is_empty());
        for (y, x) in &on {
            let r = (x * x + y * y).sqrt();
            assert!((r - 10.0).abs() < 1.5, "edge at r = {r}");
        }
        // Thin: about one or two pixels per unit of circumference (2 pi 10 = 63), not a
        // 3-pixel Sobel band (~190).
        assert!(on.len() > 40 && on.len() < 140, "{} pixels", on.len());
        // Flat regions carry no edge.
        assert_eq!(v[0], 0.0);
        assert_eq!(v[20 * 40 + 20], 0.0);
    }

    #[test]
    fn label_boundaries_mark_both_sides_of_a_change() {
        let mut l = vec![0u8; 6 * 6];
        for y in 0..6 {
            for x in 3..6 {
                l[y * 6 + x] = 2;
            }
        }
        let t = Tensor::from_slice(&l).view([6, 6]);
        let b = label_boundaries(&t);
        let v: Vec<f32> = Vec::<f32>::try_from(b.flatten(0, -1)).unwrap_or_default();
        for y in 0..6 {
            for x in 0..6 {
                let expect = if x == 2 || x == 3 { 1.0 } else { 0.0 };
                assert_eq!(v[y * 6 + x], expect, "({y}, {x})");
            }
        }
    }

    #[test]
    fn balanced_bce_weighs_both_classes_equally() {
        // 1 edge pixel in 100. Plain BCE finds "no edge anywhere" far cheaper than "edge
        // everywhere"; the balanced loss gives both classes the same total weight, so the
        // two wrong answers cost the same.
        let mut t = vec![0f32; 100];
        t[0] = 1.0;
        let target = image_tensor(&t, 10, 10);
        let all = |v: f64| Tensor::full([1, 1, 10, 10], v, (Kind::Float, Device::Cpu));
        let plain = |l: &Tensor| {
            l.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean)
                .double_value(&[])
        };
        assert!(plain(&all(4.0)) > 20.0 * plain(&all(-4.0)));
        let (neg, pos) = (
            balanced_bce(&all(-4.0), &target).double_value(&[]),
            balanced_bce(&all(4.0), &target).double_value(&[]),
        );
        assert!(
            (neg - pos).abs() < 1e-6 * neg.max(1e-9) + 1e-7,
            "{neg} vs {pos}"
        );
        // And a right answer costs less than either.
        let mut right = vec![-4f32; 100];
        right[0] = 4.0;
        let right = balanced_bce(&image_tensor(&right, 10, 10), &target).double_value(&[]);
        assert!(right < 0.05 * neg);
    }
}
