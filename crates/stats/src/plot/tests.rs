//! Tests of the figures: sizes and parsing of PNG and SVG output, tick labels, the
//! Bland-Altman limits, box plots.

use super::*;

fn series() -> Vec<Series> {
    vec![
        Series {
            name: "fold 1".into(),
            points: vec![(0.1, 0.12), (0.2, 0.18), (0.3, 0.33), (f64::NAN, 1.0)],
            color: [230, 120, 20],
        },
        Series {
            name: "fold 2".into(),
            points: vec![(0.15, 0.1), (0.25, 0.3)],
            color: [30, 90, 200],
        },
    ]
}

/// The text of every <text> element, trimmed.
fn svg_texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

#[test]
fn png_and_svg_figures_have_their_size_and_parse() {
    let dir = tempfile::tempdir().expect("tmp");
    let png = dir.path().join("scatter.png");
    scatter_png(&png, "Tb.Th", "truth", "predicted", &series()).expect("png");
    let img = image::open(&png).expect("decodes").to_rgb8();
    assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
    // Not blank: the points' orange is there, and dark text.
    let orange = img
        .pixels()
        .filter(|p| p[0] > 200 && (100..170).contains(&p[1]) && p[2] < 90)
        .count();
    assert!(orange > 20, "{orange} orange pixels");
    assert!(img.pixels().filter(|p| p[0] < 60 && p[1] < 60).count() > 200);
    let svg = dir.path().join("loss.svg");
    lines_png(&svg, "loss", "epoch", "loss", &series(), true).expect("svg");
    let text = std::fs::read_to_string(&svg).expect("read");
    if let Ok(keep) = std::env::var("SRRD_KEEP_FIGURES") {
        let keep = std::path::Path::new(&keep);
        let _ = std::fs::create_dir_all(keep);
        let _ = std::fs::copy(&svg, keep.join("loss.svg"));
        let _ = std::fs::copy(&png, keep.join("scatter.png"));
    }
    let doc = roxmltree::Document::parse(&text).expect("the SVG parses");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert_eq!(doc.root_element().attribute("width"), Some("640"));
    let texts = svg_texts(&doc);
    assert!(texts.iter().any(|t| t == "epoch"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "fold 2"), "{texts:?}");
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
    let out =
        bland_altman_png(&dir.path().join("ba.png"), "t", "mm", &pairs, [0, 0, 200]).expect("png");
    assert_eq!(out, ba);
}

#[test]
fn box_plot_quartiles_and_svg() {
    let v: Vec<f64> = (1..=9).map(f64::from).chain([100.0]).collect();
    let [lo, q1, q2, q3, hi] = five_numbers(&v).expect("numbers");
    assert_eq!((q1, q2, q3), (3.25, 5.5, 7.75));
    assert_eq!(lo, 1.0);
    assert_eq!(
        hi, 9.0,
        "100 is beyond 1.5 IQR: an outlier, not the whisker"
    );
    let svg = box_plot_svg("P(KOA)", &[("KOA".into(), v)], Some((0.0, 1.0))).expect("svg");
    let doc = roxmltree::Document::parse(&svg).expect("parses");
    assert!(svg_texts(&doc).iter().any(|t| t == "KOA (n=10)"));
    let roc = roc_svg(&[(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)], "AUC 0.80").expect("roc");
    roxmltree::Document::parse(&roc).expect("parses");
}
