//! The synthesis stage on a two-knee small cohort: the crMR/CT store, the reference CT in
//! the MR's pose lining up with the MR's own bone labels, a few training steps lowering
//! the losses, checkpoint resume, a saved model giving the outputs of the one in memory,
//! and inference keeping the crMR's grid.

use std::path::Path;

use srrd::io::read_image;
use srrd::phantom::{self, Config, Grade, Preset, scan_specs, write_cohort};
use srrd::pipeline::experiments::synthesis_data::build_data;
use srrd::pipeline::experiments::synthesis_eval::geometry_in_mr_world;
use srrd::progress::Progress;
use srrd::segmentation::bones::{CT_BONE_HU, FEMUR, TIBIA, segment_bones};
use srrd::synthesis::data::{DataManifest, load_data};
use srrd::synthesis::edges::EdgeDetector;
use srrd::synthesis::model::{FORMAT, PROVENANCE, SynthCard, load_model, synthesize};
use srrd::synthesis::nets::SynthConfig;
use srrd::synthesis::train::{SynthCheckpoint, SynthSettings, train_edges, train_synthesis};
use srrd::volume::{Transform, Volume};

fn tiny() -> SynthConfig {
    SynthConfig {
        name: "tiny".into(),
        ngf: 8,
        blocks: 1,
        ndf: 8,
        hed_widths: [4, 8, 8],
        crop: 32,
        ..SynthConfig::small()
    }
}

fn store(dir: &Path) -> DataManifest {
    let cohort = dir.join("cohort");
    write_cohort(
        &cohort,
        2,
        11,
        Preset::Small,
        phantom::CohortCt::default(),
        &Default::default(),
        &Progress::new(),
        |_, _| {},
    )
    .expect("cohort");
    build_data(&cohort, &dir.join("store"), None, &Progress::new(), |_| {}).expect("store")
}

#[test]
fn store_train_resume_save_and_synthesize() {
    let tmp = tempfile::tempdir().expect("tmp");
    let manifest = store(tmp.path());
    let data_dir = tmp.path().join("store");
    assert_eq!(manifest.subjects.len(), 2);
    assert!(manifest.subjects.iter().all(|s| s.seed.is_some()));

    // The reference CT in the MR's pose, on crMR's sample points, has its bones where the
    // MR's bone labels land through the same (estimated) transform.
    let s = &manifest.subjects[0];
    let sdir = manifest.dir_of(&data_dir, s);
    let ct = read_image(&sdir.join("ct.nii.gz"), None)
        .expect("ct")
        .volume;
    let cr_mr = read_image(&sdir.join("crmr.nii.gz"), None)
        .expect("crmr")
        .volume;
    assert_eq!(cr_mr.geometry, ct.geometry, "crMR lies on the CT grid");
    let coarse = match srrd::io::transform_file::read_transform(&sdir.join("coarse.tfm")) {
        Ok(Transform::Affine(a)) => a,
        _ => panic!("coarse.tfm is affine"),
    };
    let (ct_spec, _) = scan_specs(Preset::Small);
    let config = Config {
        seed: s.seed.unwrap_or_default(),
        grade: Grade::parse(s.grade.as_deref().unwrap_or("normal")).expect("grade"),
        preset: Preset::Small,
    };
    let reference = phantom::render_ct_in_mr_pose(
        config,
        &ct_spec,
        geometry_in_mr_world(&ct.geometry, &coarse),
        &Progress::new(),
    )
    .expect("reference");
    let ref_bones = segment_bones(
        &Volume::from_data(ct.geometry.clone(), reference.data).expect("volume"),
        CT_BONE_HU,
    )
    .expect("bones");
    let mr_labels = read_image(&sdir.join("crmr_labels.nii.gz"), None)
        .expect("labels")
        .volume;
    let bone = |l: f32| l as u8 == FEMUR || l as u8 == TIBIA;
    let (mut both, mut n) = (0usize, 0usize);
    for (r, m) in ref_bones.iter().zip(mr_labels.data.iter()) {
        let (a, b) = (*r == FEMUR || *r == TIBIA, bone(*m));
        both += (a && b) as usize;
        n += a as usize + b as usize;
    }
    let dice = 2.0 * both as f64 / n.max(1) as f64;
    assert!(
        dice > 0.85,
        "reference bones vs MR bone labels through crMR: Dice {dice}"
    );

    // A few steps lower the losses (edge network, then SPSNet).
    let cfg = tiny();
    let data = load_data(&data_dir, &manifest, &[0, 1]).expect("load");
    let edges = train_edges(&data, &cfg, 60, 4, 1, &Progress::new()).expect("edges");
    let first = edges.log.first().map(|l| l.1).unwrap_or(f64::NAN);
    let last = edges.log.last().map(|l| l.1).unwrap_or(f64::NAN);
    assert!(last < first, "edge loss {first} -> {last}");
    let settings = SynthSettings {
        iterations: 24,
        batch: 2,
        log_every: 8,
        ..SynthSettings::spsnet()
    };
    let detector = EdgeDetector::Hed(Box::new(edges.net));
    let out = tmp.path().join("model");
    let checkpoint = SynthCheckpoint {
        dir: out.clone(),
        resume: true,
    };
    let (_, log) = train_synthesis(
        &data,
        &cfg,
        &SynthSettings {
            iterations: 16,
            ..settings.clone()
        },
        &detector,
        None,
        Some(&checkpoint),
        &Progress::new(),
    )
    .expect("train");
    assert_eq!(log.len(), 2);
    // Resume to 24: the log continues where it stopped.
    let (nets, log) = train_synthesis(
        &data,
        &cfg,
        &settings,
        &detector,
        None,
        Some(&checkpoint),
        &Progress::new(),
    )
    .expect("resume");
    assert_eq!(
        log.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        vec![8, 16, 24]
    );
    assert!(
        log[2].cycle < log[0].cycle,
        "cycle L1 {} -> {}",
        log[0].cycle,
        log[2].cycle
    );
    assert!(log.iter().all(|r| r.mi.is_finite() && r.loss_g.is_finite()));

    // Saved and loaded: the same sCT as the networks in memory.
    srrd::regression::train::save_weights(&edges.vs, &out.join("hed.safetensors")).expect("hed");
    SynthCard {
        format: FORMAT.into(),
        method: "spsnet".into(),
        config: cfg.clone(),
        settings: settings.clone(),
        edges: "hed".into(),
        trained_on: "test".into(),
        command: "test".into(),
        seconds: 0.0,
        metrics: serde_json::Value::Null,
        provenance: PROVENANCE.into(),
    }
    .write(&out)
    .expect("card");
    let loaded = load_model(&out).expect("load model");
    let sct = synthesize(&loaded, &cr_mr, &Progress::new()).expect("synthesize");
    assert_eq!(sct.geometry, cr_mr.geometry, "sCT keeps crMR's grid");
    assert!(
        sct.data
            .iter()
            .all(|v| v.is_finite() && *v >= -1000.5 && *v <= 2000.5)
    );
    let in_memory = srrd::synthesis::model::SynthModel {
        card: loaded.card.clone(),
        nets,
        edges: detector,
        hed_vs: None,
    };
    let again = synthesize(&in_memory, &cr_mr, &Progress::new()).expect("again");
    let diff = sct
        .data
        .iter()
        .zip(again.data.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-2, "loaded vs in-memory sCT differ by {diff} HU");

    // Cancel stops inference with Cancelled.
    let p = Progress::new();
    p.cancel();
    assert!(matches!(
        synthesize(&loaded, &cr_mr, &p),
        Err(srrd::Error::Cancelled)
    ));
}

/// The demo weights were trained by a PyTorch transcription of our networks on a GPU
/// (`scripts/gpu/train_synthesis.py`); `check.safetensors` holds an input and PyTorch's
/// output for it. Our tch generator, with the weights loaded, must compute the same.
#[test]
fn demo_weights_compute_what_pytorch_computed() {
    use tch::nn::Module;
    let dir = srrd::synthesis::model::demo_model_dir();
    let check = dir.join("check.safetensors");
    if !check.exists() {
        eprintln!(
            "no {} (demo weights trained here): nothing to compare",
            check.display()
        );
        return;
    }
    let model = load_model(&dir).expect("demo model");
    let tensors = tch::Tensor::read_safetensors(&check).expect("check file");
    let get = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .expect(name)
    };
    let (input, expected) = (get("input"), get("output"));
    let _guard = tch::no_grad_guard();
    let s = model.card.config.slices;
    let edges = model.edges.edges(&input.narrow(1, s / 2, 1));
    let ours = model
        .nets
        .g_mr_to_ct
        .forward(&model.nets.generator_input(&input, &edges));
    assert_eq!(ours.size(), expected.size());
    let d = (ours - &expected).abs();
    let (max, mean) = (
        d.max().double_value(&[]),
        d.mean(tch::Kind::Float).double_value(&[]),
    );
    eprintln!(
        "tch vs PyTorch on {:?}: max {max:.2e}, mean {mean:.2e}",
        expected.size()
    );
    // The script computes the check output in full fp32 (TF32 off) on the GPU: only
    // summation order differs (~1e-6 on outputs in (-1, 1)); a wrong layer gives ~0.1-1.
    assert!(
        max < 1e-4 && mean < 1e-5,
        "tch vs PyTorch: max {max}, mean {mean}"
    );
}

/// The GPU script exports the paper configuration's MR -> CT generator alone, in float16:
/// it loads into the f32 model as those values, and a file without that generator, or of
/// another configuration, is refused with the file's name.
#[test]
fn float16_mr_to_ct_generator_alone_loads_and_bad_files_are_refused() {
    use srrd::synthesis::train::SynthNets;
    use tch::Kind;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = tiny();
    let settings = SynthSettings::cyclegan();
    let card = SynthCard {
        format: FORMAT.into(),
        method: "cyclegan".into(),
        config: cfg.clone(),
        settings: settings.clone(),
        edges: "none".into(),
        trained_on: "test".into(),
        command: "test".into(),
        seconds: 0.0,
        metrics: serde_json::Value::Null,
        provenance: PROVENANCE.into(),
    };
    card.write(dir.path()).expect("card");
    let trained = SynthNets::new(&cfg, settings.use_edges);
    let half: Vec<(String, tch::Tensor)> = trained
        .vs_g
        .variables()
        .into_iter()
        .filter(|(n, _)| n.starts_with("g_mr_to_ct."))
        .map(|(n, t)| (n, (t * 1.01 + 1e-3).to_kind(Kind::Half)))
        .collect();
    assert!(!half.is_empty());
    let file = dir.path().join("generators.safetensors");
    tch::Tensor::write_safetensors(&half, &file).expect("write");

    let loaded = load_model(dir.path()).expect("float16 generator alone");
    let vars = loaded.nets.vs_g.variables();
    for (name, value) in &half {
        let var = &vars[name];
        assert_eq!(var.kind(), Kind::Float, "{name} stays f32");
        let d = (var - value.to_kind(Kind::Float))
            .abs()
            .max()
            .double_value(&[]);
        assert_eq!(d, 0.0, "{name} holds the file's values");
    }

    // Only the CT -> MR generator: refused, naming the file and a missing weight.
    let other: Vec<(String, tch::Tensor)> = trained
        .vs_g
        .variables()
        .into_iter()
        .filter(|(n, _)| n.starts_with("g_ct_to_mr."))
        .collect();
    tch::Tensor::write_safetensors(&other, &file).expect("write");
    let err = load_model(dir.path())
        .err()
        .expect("no MR -> CT generator")
        .to_string();
    assert!(
        err.contains("generators.safetensors") && err.contains("g_mr_to_ct."),
        "{err}"
    );

    // Weights of a wider generator: refused with the shapes.
    let wide = SynthNets::new(
        &SynthConfig {
            ngf: 16,
            ..cfg.clone()
        },
        false,
    );
    wide.vs_g.save(&file).expect("save");
    let err = load_model(dir.path())
        .err()
        .expect("wrong shapes")
        .to_string();
    assert!(
        err.contains("has shape") && err.contains("expects"),
        "{err}"
    );
}
