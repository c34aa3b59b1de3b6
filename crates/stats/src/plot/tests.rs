//! Tests of the figures: sizes and parsing of PNG and SVG output, the SVG beside each PNG,
//! the names, units and statistics in their text, tick labels, the Bland-Altman limits,
//! box plots. With `SRRD_KEEP_FIGURES=DIR`, a set of figures drawn from realistic numbers
//! is kept in DIR to be looked at.

use super::*;
use crate::{delong, icc_a1, pearson};

fn series() -> Vec<Series> {
    vec![
        Series {
            name: "fold 1".into(),
            points: vec![(0.1, 0.12), (0.2, 0.18), (0.3, 0.33), (f64::NAN, 1.0)],
            color: [230, 120, 20],
        },
        Series {
            name: "fold 2".into(),
            points: vec![(0.15, 0.1), (0.25, 0.3), (0.3, 0.26)],
            color: [30, 90, 200],
        },
    ]
}

/// The text of every <text> element, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG parses");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

fn keep(files: &[&std::path::Path]) {
    if let Ok(dir) = std::env::var("SRRD_KEEP_FIGURES") {
        let dir = std::path::Path::new(&dir);
        let _ = std::fs::create_dir_all(dir);
        for f in files {
            if let Some(name) = f.file_name() {
                let _ = std::fs::copy(f, dir.join(name));
            }
        }
    }
}

#[test]
fn png_and_svg_figures_have_their_size_and_parse() {
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("scatter.png");
    scatter_png(&png, "Tb.Th", "truth", "predicted", &series()).expect("png");
    let img = image::open(&png).expect("decodes").to_rgb8();
    assert_eq!(img.dimensions(), (SQUARE, SQUARE));
    // Not blank: the points' orange is there, and dark text.
    let orange = img
        .pixels()
        .filter(|p| p[0] > 200 && (100..170).contains(&p[1]) && p[2] < 90)
        .count();
    assert!(orange > 20, "{orange} orange pixels");
    assert!(img.pixels().filter(|p| p[0] < 60 && p[1] < 60).count() > 200);
    // The same figure as SVG beside it.
    let beside = std::fs::read_to_string(dir.path().join("scatter.svg")).expect("svg beside");
    assert!(svg_texts(&beside).iter().any(|t| t == "predicted"));
    let svg = dir.path().join("loss.svg");
    lines_png(&svg, "loss", "epoch", "loss", &series(), true).expect("svg");
    let text = std::fs::read_to_string(&svg).expect("read");
    let doc = roxmltree::Document::parse(&text).expect("the SVG parses");
    assert_eq!(doc.root_element().attribute("width"), Some("640"));
    let texts = svg_texts(&text);
    assert!(texts.iter().any(|t| t == "epoch"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "fold 2"), "{texts:?}");
    assert!(
        !dir.path().join("loss.png").exists(),
        "an SVG path gets no PNG"
    );
}

#[test]
fn scatter_legends_carry_icc_and_r_as_the_stats_compute_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("scatter_tb_th_mm.png");
    let s = series();
    scatter_png(
        &png,
        "Tb.Th: predicted vs MR ground truth",
        &with_unit("MR ground truth Tb.Th", "mm"),
        &with_unit("predicted Tb.Th", "mm"),
        &s,
    )
    .expect("png");
    assert!(png.is_file());
    let texts = svg_texts(&std::fs::read_to_string(svg_beside(&png)).expect("svg"));
    assert!(
        texts.iter().any(|t| t == "MR ground truth Tb.Th (mm)"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t == "predicted Tb.Th (mm)"),
        "{texts:?}"
    );
    for one in &s {
        let (x, y): (Vec<f64>, Vec<f64>) = one
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .copied()
            .unzip();
        let icc = icc_a1(&y, &x).expect("icc").value;
        let r = pearson(&y, &x).expect("r");
        let want = format!("{}: ICC {icc:.3}, r = {r:.3}", one.name);
        assert!(texts.contains(&want), "{want} in {texts:?}");
    }
    // Too few points for an ICC: the name alone.
    assert_eq!(agreement_label("a", &[(1.0, 2.0)]), "a");
    assert_eq!(with_unit("BV/TV", "1"), "BV/TV");
}

#[test]
fn roc_legends_carry_the_auc_and_its_delong_interval() {
    let scores = vec![0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.6];
    let positive = vec![false, false, true, true, true, false, true, false];
    let curve = RocCurve {
        name: "SRRD-CT (distilled)".into(),
        scores: scores.clone(),
        positive: positive.clone(),
        color: [30, 90, 200],
    };
    let d = delong(&scores, &positive).expect("delong");
    let want = format!(
        "SRRD-CT (distilled): AUC {:.2} ({:.2}\u{2013}{:.2})",
        d.auc, d.ci95.0, d.ci95.1
    );
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("roc.png");
    roc_png(&png, "KOA vs normal", std::slice::from_ref(&curve)).expect("roc");
    assert!(png.is_file());
    let texts = svg_texts(&std::fs::read_to_string(svg_beside(&png)).expect("svg"));
    assert!(texts.contains(&want), "{want} in {texts:?}");
    let html = roc_svg("", &[curve]).expect("svg");
    assert!(svg_texts(&html).contains(&want));
    // One class only: no interval, the name alone.
    assert_eq!(roc_label("x", &[0.1, 0.2], &[true, true]), "x");
}

#[test]
fn tick_labels_are_short() {
    assert_eq!(tick(0.30000000000000004), "0.3");
    assert_eq!(tick(0.25), "0.25");
    assert_eq!(tick(1500.0), "1500");
    assert_eq!(tick(-0.0004), "-4.0e-4");
    assert_eq!(tick(0.0), "0");
}

#[test]
fn bland_altman_limits_are_the_bias_plus_minus_196_sd() {
    // Differences 1, 2, 3: bias 2, SD 1.
    let pairs = [(11.0, 10.0), (22.0, 20.0), (33.0, 30.0), (f64::NAN, 1.0)];
    let ba = BlandAltman::of(&pairs);
    assert_eq!(ba.n, 3);
    assert!((ba.bias - 2.0).abs() < 1e-12);
    assert!((ba.upper - 3.96).abs() < 1e-12 && (ba.lower - 0.04).abs() < 1e-12);
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("ba.png");
    let out = bland_altman_png(
        &png,
        "t",
        ("SRRD-CT", "MR ground truth"),
        "mm",
        &pairs,
        [0, 0, 200],
    )
    .expect("png");
    assert_eq!(out, ba);
    let texts = svg_texts(&std::fs::read_to_string(svg_beside(&png)).expect("svg"));
    for want in [
        "mean of SRRD-CT and MR ground truth (mm)",
        "SRRD-CT \u{2212} MR ground truth (mm)",
        "bias",
        "2.00",
        "3.96",
        "0.04",
    ] {
        assert!(texts.iter().any(|t| t == want), "{want} in {texts:?}");
    }
}

#[test]
fn box_plot_quartiles_and_svg() {
    let v: Vec<f64> = (1..=9).map(f64::from).chain([100.0]).collect();
    let [lo, q1, q2, q3, hi] = boxes::five_numbers(&v).expect("numbers");
    assert_eq!((q1, q2, q3), (3.25, 5.5, 7.75));
    assert_eq!(lo, 1.0);
    assert_eq!(
        hi, 9.0,
        "100 is beyond 1.5 IQR: an outlier, not the whisker"
    );
    let svg = box_plot_svg("P(KOA)", &[("KOA".into(), v.clone())], Some((0.0, 1.0))).expect("svg");
    let texts = svg_texts(&svg);
    assert!(texts.iter().any(|t| t == "KOA") && texts.iter().any(|t| t == "n = 10"));
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("boxes.png");
    let panel = |title: &str| BoxPanel {
        title: title.into(),
        y_label: title.into(),
        groups: vec![("KL 0".into(), v.clone()), ("KL 3".into(), vec![2.0, 3.0])],
        limits: None,
    };
    box_panels_png(
        &png,
        "by KL grade",
        &[panel("Tb.Th (mm)"), panel("BV/TV"), panel("Tb.N (1/mm)")],
        2,
    )
    .expect("png");
    let img = image::open(&png).expect("decodes").to_rgb8();
    assert_eq!(img.dimensions(), (840, 2 * 360 + 40));
    let texts = svg_texts(&std::fs::read_to_string(svg_beside(&png)).expect("svg"));
    for want in ["Tb.Th (mm)", "Tb.N (1/mm)", "KL 3", "n = 2", "by KL grade"] {
        assert!(texts.iter().any(|t| t == want), "{want} in {texts:?}");
    }
}

/// A reproducible standard normal stream (LCG and Box-Muller).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The study's figures drawn from numbers like a real run's (3000 patches, 40 knees),
/// each PNG with its SVG; kept in `SRRD_KEEP_FIGURES` when set, to be looked at.
#[test]
fn a_studys_figures_from_realistic_numbers() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut z = Normal(7);
    let mut kept = Vec::new();
    // Figure 5: Tb.Th, truth skewed from 0.6 mm, predictions pulled to the mean.
    let truth: Vec<f64> = (0..3000)
        .map(|_| 0.58 + 0.12 * z.next().abs().powf(1.3))
        .collect();
    let predicted = |z: &mut Normal, shrink: f64, noise: f64| -> Vec<(f64, f64)> {
        truth
            .iter()
            .map(|t| (*t, 0.68 + shrink * (t - 0.68) + noise * z.next()))
            .collect()
    };
    let teacher = predicted(&mut z, 0.8, 0.04);
    let student = predicted(&mut z, 0.7, 0.05);
    let scatter = dir.path().join("scatter_tb_th_mm.png");
    scatter_png(
        &scatter,
        "Tb.Th: predicted vs MR ground truth",
        &with_unit("MR ground truth Tb.Th", "mm"),
        &with_unit("predicted Tb.Th", "mm"),
        &[
            Series {
                name: "MR teacher (from MR)".into(),
                points: teacher,
                color: [230, 120, 20],
            },
            Series {
                name: "SRRD-CT (from CT)".into(),
                points: student.clone(),
                color: [30, 90, 200],
            },
        ],
    )
    .expect("scatter");
    kept.push(scatter);
    let ba = dir.path().join("bland_altman_tb_th_mm.png");
    let pairs: Vec<(f64, f64)> = student.iter().map(|(t, p)| (*p, *t)).collect();
    bland_altman_png(
        &ba,
        "Tb.Th: SRRD-CT against MR ground truth",
        ("SRRD-CT", "MR ground truth"),
        "mm",
        &pairs,
        [30, 90, 200],
    )
    .expect("ba");
    kept.push(ba);
    // ROC: 40 knees, 22 KOA; five sources of decreasing separation.
    let positive: Vec<bool> = (0..40).map(|k| k % 9 < 5).collect();
    let sources = [
        ("radiomics", 0.8, [120, 120, 120]),
        ("plain CNN", 1.2, [200, 60, 60]),
        ("SRRD-CT (distilled)", 1.6, [30, 90, 200]),
        ("MR teacher", 1.8, [230, 120, 20]),
        ("MR ground truth", 2.2, [40, 160, 80]),
    ];
    let curves: Vec<RocCurve> = sources
        .iter()
        .map(|(name, sep, color)| RocCurve {
            name: name.to_string(),
            scores: positive
                .iter()
                .map(|p| 1.0 / (1.0 + (-(z.next() + if *p { *sep } else { 0.0 })).exp()))
                .collect(),
            positive: positive.clone(),
            color: *color,
        })
        .collect();
    let roc = dir.path().join("roc.png");
    roc_png(&roc, "KOA vs normal (out-of-fold)", &curves).expect("roc");
    kept.push(roc);
    // Box plots by KL grade.
    let kl: Vec<u32> = (0..40).map(|k| (k % 5) as u32).collect();
    let by_kl = |value: &dyn Fn(u32, f64) -> f64, z: &mut Normal| -> Vec<(String, Vec<f64>)> {
        (0..5)
            .map(|g| {
                let v = kl
                    .iter()
                    .filter(|k| **k == g)
                    .map(|_| value(g, z.next()))
                    .collect();
                (format!("KL {g}"), v)
            })
            .collect()
    };
    let params = [
        ("BV/TV", "", 0.25, -0.015, 0.03),
        ("Tb.Th", "mm", 0.68, 0.02, 0.03),
        ("Tb.Sp", "mm", 1.2, -0.05, 0.1),
        ("Tb.N", "1/mm", 1.1, -0.04, 0.08),
    ];
    let panels: Vec<BoxPanel> = params
        .iter()
        .map(|(name, unit, base, slope, sd)| BoxPanel {
            title: with_unit(name, unit),
            y_label: with_unit(name, unit),
            groups: by_kl(&|g, e| base + slope * f64::from(g) + sd * e, &mut z),
            limits: None,
        })
        .collect();
    let boxes = dir.path().join("boxes_parameters.png");
    box_panels_png(
        &boxes,
        "Parameters predicted by SRRD-CT, by KL grade",
        &panels,
        2,
    )
    .expect("boxes");
    kept.push(boxes);
    let p = dir.path().join("boxes_p_koa.png");
    let p_koa = BoxPanel {
        title: "P(KOA) by KL grade".into(),
        y_label: "P(KOA), SRRD-CT".into(),
        groups: by_kl(
            &|g, e| (0.15 + 0.18 * f64::from(g) + 0.12 * e).clamp(0.0, 1.0),
            &mut z,
        ),
        limits: Some((0.0, 1.0)),
    };
    box_panels_png(&p, "", &[p_koa], 1).expect("p");
    kept.push(p);
    let loss = dir.path().join("loss.png");
    let curve = |name: &str, scale: f64, color| Series {
        name: name.into(),
        points: (0..60)
            .map(|e| (f64::from(e), scale * (0.02 + (-f64::from(e) / 12.0).exp())))
            .collect(),
        color,
    };
    lines_png(
        &loss,
        "teacher loss",
        "epoch",
        "loss",
        &[
            curve("training", 1.0, [30, 90, 200]),
            curve("validation", 1.3, [230, 120, 20]),
        ],
        true,
    )
    .expect("loss");
    kept.push(loss);
    for png in &kept {
        assert!(
            png.is_file() && svg_beside(png).is_file(),
            "{}",
            png.display()
        );
    }
    let with_svg: Vec<std::path::PathBuf> = kept
        .iter()
        .flat_map(|p| [p.clone(), svg_beside(p)])
        .collect();
    keep(&with_svg.iter().map(|p| p.as_path()).collect::<Vec<_>>());
}
