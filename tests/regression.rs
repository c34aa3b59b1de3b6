//! The regression stage on small phantoms: paired patches (through the phantom's true
//! transform here, so the pairing itself is checked), the store round trip, training that
//! lowers the losses, checkpoint resume, the saved student giving the same outputs, and
//! CT-only inference whose maps carry the patch values on the CT grid.

use std::path::Path;

use srrd::phantom::{Config, Grade, Phantom, Preset, generate_with, scan_specs, truth_sampling};
use srrd::progress::Progress;
use srrd::regression::dataset::{
    FORMAT, Manifest, PatchSettings, SubjectEntry, TARGETS, extract, load_patches,
};
use srrd::regression::infer::predict_ct;
use srrd::regression::inputs::{MrScaling, load_inputs};
use srrd::regression::model::{load_student, train_bundle};
use srrd::regression::nets::NetConfig;
use srrd::regression::train::{Checkpoint, Normalization, TrainSettings, predict, train_teacher};
use srrd::segmentation::bones::{CT_BONE_HU, segment_bones};
use srrd::segmentation::subchondral::{CORTEX_MM, DEPTH_MM, subchondral_regions};
use tch::Tensor;

/// A phantom with the paper's CT (1 mm voxels, so 12-voxel patches fit the subchondral
/// band) and the small preset's MR (fast to render).
fn phantom(seed: u64, grade: Grade) -> Phantom {
    let (ct, _) = scan_specs(Preset::Paper);
    let (_, mr) = scan_specs(Preset::Small);
    generate_with(
        Config {
            seed,
            grade,
            preset: Preset::Small,
        },
        ct,
        mr,
        truth_sampling(Preset::Small),
        &Progress::new(),
    )
    .expect("phantom")
}

/// A store of two small phantoms (one normal, one advanced) in `dir`.
fn small_store(dir: &Path) -> Manifest {
    let settings = PatchSettings {
        per_subject: 24,
        stride: 4,
        ..Default::default()
    };
    let mut subjects = Vec::new();
    for (seed, grade, kl) in [(3, Grade::Normal, 0), (5, Grade::Advanced, 4)] {
        let p = phantom(seed, grade);
        let bones = segment_bones(&p.ct, CT_BONE_HU).expect("bones");
        let regions = subchondral_regions(&bones, DEPTH_MM, CORTEX_MM);
        let patches = extract(
            &p.ct,
            &p.mr,
            &p.ct_to_mr_global,
            &regions,
            &settings,
            &Progress::new(),
        )
        .expect("patches");
        assert!(patches.n >= 12, "enough measurable patches: {}", patches.n);
        let file = format!("s{seed}.safetensors");
        patches.save(&dir.join(&file), &settings).expect("save");
        subjects.push(SubjectEntry {
            id: format!("s{seed}"),
            file,
            patches: patches.n,
            grade: None,
            kl_grade: Some(kl),
            ct_acquired_mm: None,
            content_id: None,
            patient: None,
        });
    }
    let m = Manifest {
        format: FORMAT.into(),
        settings,
        targets: TARGETS
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        target_min: [0.0; 4],
        target_max: [1.0; 4],
        subjects,
        source: "test".into(),
        ct_spacing_mm: None,
        excluded: Vec::new(),
    };
    m.write(dir).expect("manifest");
    Manifest::read(dir).expect("read back")
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).expect("floats")
}

#[test]
fn patches_pair_train_save_and_predict() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).expect("mkdir");
    let manifest = small_store(&store);

    // The store: shapes, masks, plausible ground truth.
    let p = load_patches(&store.join(&manifest.subjects[0].file)).expect("load");
    let n = p.target.size()[0];
    assert_eq!(p.ct.size(), [n, 1, 12, 12, 12]);
    assert_eq!(p.mr.size(), [n, 1, 16, 48, 48]);
    let t = values(&p.target);
    for row in t.chunks(4) {
        assert!(row[0] > 0.0 && row[0] < 1.0, "BV/TV {}", row[0]);
        assert!(row[1] > 0.0 && row[2] > 0.0 && row[3] > 0.0, "{row:?}");
        // Tb.N = 1 / (Tb.Th + Tb.Sp) by definition (bonej method).
        assert!((row[3] - 1.0 / (row[1] + row[2])).abs() < 1e-4);
    }
    // The MR mask is the CT region carried onto the MR grid of the same box: the same
    // fraction of each patch within a few percent.
    let ct_frac = values(
        &p.ct_mask
            .mean_dim([1i64, 2, 3, 4].as_slice(), false, tch::Kind::Float),
    );
    let mr_frac = values(
        &p.mr_mask
            .mean_dim([1i64, 2, 3, 4].as_slice(), false, tch::Kind::Float),
    );
    for (a, b) in ct_frac.iter().zip(&mr_frac) {
        assert!(*a >= 0.5, "patch at least half in its region: {a}");
        assert!((a - b).abs() < 0.08, "CT mask {a} vs MR mask {b}");
    }
    // The pairing through the true transform: where the CT patch is bone-bright, the MR
    // patch is dark (trabecular bone is dark in MR): mean CT HU and mean MR signal inside
    // the masks correlate negatively across patches.
    let mean_in = |v: &Tensor, m: &Tensor| {
        values(
            &((v * m).sum_dim_intlist([1i64, 2, 3, 4].as_slice(), false, tch::Kind::Float)
                / m.sum_dim_intlist([1i64, 2, 3, 4].as_slice(), false, tch::Kind::Float)),
        )
        .into_iter()
        .map(f64::from)
        .collect::<Vec<f64>>()
    };
    let (ct_mean, mr_mean) = (mean_in(&p.ct, &p.ct_mask), mean_in(&p.mr, &p.mr_mask));
    let r = srrd::stats::pearson(&ct_mean, &mr_mean).expect("r");
    assert!(r < -0.3, "CT and MR patches see the same bone: r = {r}");

    // Training lowers the teacher's loss; resume continues where it stopped.
    let data = load_inputs(&store, &manifest, &[0, 1], MrScaling::Percentile).expect("inputs");
    // The teacher sees the MR as the ground truth's binarization does: the 1st and 99th
    // percentiles inside the mask at 0 and 1, about 1% of the mask clamped at each end.
    let first = data.mr.get(0);
    let values = Vec::<f32>::try_from(first.get(0).flatten(0, -1)).expect("values");
    let mask = Vec::<f32>::try_from(first.get(1).flatten(0, -1)).expect("mask");
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    let inside: Vec<f32> = values
        .iter()
        .zip(&mask)
        .filter(|(_, m)| **m > 0.5)
        .map(|(v, _)| *v)
        .collect();
    let share = |x: f32| inside.iter().filter(|v| **v == x).count() as f64 / inside.len() as f64;
    assert!((0.005..0.05).contains(&share(0.0)), "at 0: {}", share(0.0));
    assert!((0.005..0.05).contains(&share(1.0)), "at 1: {}", share(1.0));
    let norm = Normalization::fit(&data.target);
    let cfg = NetConfig::small();
    let settings = TrainSettings {
        epochs: 2,
        batch: 8,
        lr: 1e-3,
        ..Default::default()
    };
    let ck = Checkpoint {
        dir: dir.path().join("ck"),
        name: "teacher".into(),
        resume: true,
    };
    train_teacher(&data, &norm, &cfg, &settings, Some(&ck), &Progress::new()).expect("train");
    let more = TrainSettings {
        epochs: 6,
        ..settings.clone()
    };
    train_teacher(&data, &norm, &cfg, &more, Some(&ck), &Progress::new()).expect("resume");
    let csv = std::fs::read_to_string(dir.path().join("ck/teacher.loss.csv")).expect("csv");
    let mse: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).expect("mse").parse().expect("number"))
        .collect();
    assert_eq!(mse.len(), 6, "two epochs, then four more on resume: {csv}");
    assert!(
        dir.path().join("ck/teacher.loss.png").is_file(),
        "loss curves drawn"
    );
    assert!(mse[5] < mse[0], "training lowers the loss: {mse:?}");

    // The whole bundle; the saved student reproduces the trained one exactly.
    let model_dir = dir.path().join("model");
    let quick = TrainSettings {
        epochs: 2,
        teacher_epochs: Some(3),
        batch: 8,
        ..Default::default()
    };
    let bundle = train_bundle(
        &store,
        &manifest,
        &[0, 1],
        &cfg,
        &quick,
        &model_dir,
        false,
        &Progress::new(),
    )
    .expect("bundle");
    let (loaded, card) = load_student(&model_dir, false).expect("load student");
    let a = predict(&bundle.student, &data.ct, &card.normalization, 16);
    let b = predict(&loaded, &data.ct, &card.normalization, 16);
    let diff = (a - b).abs().max().double_value(&[]);
    assert!(diff < 1e-6, "safetensors round trip: {diff}");
    assert_eq!(card.patches, data.subject.len());
    assert!(card.provenance.contains("phantoms"));
    // The teacher trained its own number of epochs, the students the common one.
    let epochs_logged = |name: &str| {
        std::fs::read_to_string(model_dir.join(format!("{name}.loss.csv")))
            .expect("loss log")
            .lines()
            .skip(1)
            .count()
    };
    assert_eq!(epochs_logged("teacher"), 3);
    assert_eq!(epochs_logged("student"), 2);
    assert_eq!(epochs_logged("plain"), 2);
    assert_eq!(card.train.teacher_epochs, Some(3));

    // Held-out evaluation of a trained folder: trained on both knees, nothing is held out.
    let held = dir.path().join("held");
    let err = srrd::pipeline::experiments::regression_held_out::evaluate_held_out(
        &store,
        &manifest,
        &model_dir,
        &held,
        &Progress::new(),
    )
    .expect_err("nothing held out");
    assert!(err.to_string().contains("nothing held out"), "{err}");
    // A card that says it saw s3 only is evaluated on s5, every patch of it, and its
    // student's ICC is that of its own predictions on s5's patches.
    let mut only_s3 = card.clone();
    only_s3.subjects = vec!["s3".into()];
    srrd::regression::model::write_card(&model_dir, &only_s3).expect("card");
    let report = srrd::pipeline::experiments::regression_held_out::evaluate_held_out(
        &store,
        &manifest,
        &model_dir,
        &held,
        &Progress::new(),
    )
    .expect("held out");
    assert_eq!(report.subjects, vec!["s5".to_string()]);
    assert_eq!(report.left_out, 1);
    assert_eq!(report.patches, manifest.subjects[1].patches);
    let s5 = load_inputs(&store, &manifest, &[1], card.train.mr_scaling).expect("s5");
    let pred = crate::values(&predict(&loaded, &s5.ct, &card.normalization, 16));
    let truth = crate::values(&s5.target);
    let col = |v: &[f32], a: usize| -> Vec<f64> { v.chunks(4).map(|r| f64::from(r[a])).collect() };
    let tb_th = srrd::stats::icc_a1(&col(&pred, 1), &col(&truth, 1))
        .expect("icc")
        .value;
    let row = report
        .rows
        .iter()
        .find(|r| r.network == "SRRD-CT (distilled)" && r.parameter == "tb_th_mm")
        .expect("student Tb.Th row");
    assert!((row.icc - tb_th).abs() < 1e-6, "{} vs {tb_th}", row.icc);
    let oof = std::fs::read_to_string(held.join("oof.csv")).expect("oof");
    assert_eq!(
        oof.lines().count(),
        1 + 4 * report.patches,
        "truth and three networks"
    );
    assert!(oof.lines().skip(1).all(|l| l.starts_with("s5,")));

    // CT-only inference: maps on the CT grid, zero outside the regions, each region voxel
    // carrying one of the predicted patch values.
    let ph = phantom(9, Grade::Mild);
    let bones = segment_bones(&ph.ct, CT_BONE_HU).expect("bones");
    let regions = subchondral_regions(&bones, DEPTH_MM, CORTEX_MM);
    let pred = predict_ct(&ph.ct, &regions, &loaded, &card, 4, &Progress::new()).expect("predict");
    assert!(!pred.patches.is_empty());
    assert_eq!(pred.maps.len(), 4);
    let bv: Vec<f32> = pred.maps[0].data.iter().copied().collect();
    assert_eq!(pred.maps[0].geometry, ph.ct.geometry);
    let mut covered = 0usize;
    for (v, r) in bv.iter().zip(&regions) {
        if *r == 0 {
            assert_eq!(*v, 0.0, "nothing outside the regions");
        } else if *v != 0.0 {
            covered += 1;
            assert!(
                pred.patches
                    .iter()
                    .any(|p| (p.params[0] as f32 - v).abs() < 1e-6),
                "a map value is a patch value"
            );
        }
    }
    let region_voxels = regions.iter().filter(|r| **r > 0).count();
    assert!(
        covered as f64 > 0.6 * region_voxels as f64,
        "most of the regions are mapped: {covered} of {region_voxels}"
    );
}

#[test]
fn distillation_needs_a_teacher_and_vanishes_at_zero_weight() {
    use srrd::regression::nets::{Outputs, student, teacher};
    use srrd::regression::train::distillation_loss;
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let cfg = NetConfig::small();
    let s = student(&(vs.root() / "s"), &cfg);
    let t = teacher(&(vs.root() / "t"), &cfg);
    let ct = Tensor::randn([2, 2, 12, 12, 12], (tch::Kind::Float, tch::Device::Cpu));
    let mr = Tensor::randn([2, 2, 16, 48, 48], (tch::Kind::Float, tch::Device::Cpu));
    let (os, ot): (Outputs, Outputs) = (s.forward_t(&ct, false), t.forward_t(&mr, false));
    let on = distillation_loss(&os, &ot, &TrainSettings::default()).double_value(&[]);
    let off = distillation_loss(&os, &ot, &TrainSettings::default().plain()).double_value(&[]);
    assert!(on > 0.0);
    assert_eq!(off, 0.0);
    // Against itself the distance is zero.
    let same = distillation_loss(&os, &os, &TrainSettings::default()).double_value(&[]);
    assert!(same.abs() < 1e-9);
}

/// `scripts/gpu/train_regression.py --check` (the PyTorch transcription that trains the
/// paper configuration on a GPU) writes a fold's teacher and student weights under our
/// VarStore names and `check.safetensors`: inputs and its outputs for them. Our tch
/// networks, with those weights loaded, must compute the same. Needs such a run:
/// `SRRD_REGRESSION_CHECK=DIR cargo test --test regression -- --ignored`.
#[test]
#[ignore = "needs SRRD_REGRESSION_CHECK=DIR from scripts/gpu/train_regression.py --check"]
fn gpu_transcription_computes_what_tch_computes() {
    use srrd::regression::nets::{student, teacher};
    use tch::nn::VarStore;
    let dir = std::path::PathBuf::from(
        std::env::var("SRRD_REGRESSION_CHECK").expect("SRRD_REGRESSION_CHECK"),
    );
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("metrics.json")).expect("metrics.json"),
    )
    .expect("json");
    let cfg = NetConfig::parse(metrics["config"].as_str().expect("config")).expect("known config");
    let tensors = Tensor::read_safetensors(dir.join("check.safetensors")).expect("check file");
    let get = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .expect(name)
    };
    let _guard = tch::no_grad_guard();
    for (role, input) in [("teacher", "mr"), ("student", "ct")] {
        let mut vs = VarStore::new(tch::Device::Cpu);
        let net = if role == "teacher" {
            teacher(&vs.root(), &cfg)
        } else {
            student(&vs.root(), &cfg)
        };
        vs.load(dir.join(format!("{role}.safetensors")))
            .expect("weights under our names");
        let out = net.forward_t(&get(input), false);
        let pairs = [
            (out.params, role.to_string()),
            (out.projection, format!("{role}.projection")),
            (out.features[3].shallow_clone(), format!("{role}.features3")),
        ];
        for (ours, name) in pairs {
            let expected = get(&name);
            let scale = expected.abs().max().double_value(&[]).max(1.0);
            let max = (ours - &expected).abs().max().double_value(&[]) / scale;
            eprintln!(
                "{name}: tch vs PyTorch max relative difference {max:.2e} on {:?}",
                expected.size()
            );
            assert!(max < 1e-4, "{name}: tch vs PyTorch differ by {max}");
        }
        // Not vacuous: the last-stage features differ between the patches.
        let f = get(&format!("{role}.features3"));
        let spread = (f.get(0) - f.get(1)).abs().max().double_value(&[]);
        assert!(
            spread > 1e-6,
            "{role}: the check's features do not depend on the input"
        );
    }
}
