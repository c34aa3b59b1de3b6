//! The workstation's File > PACS… window (egui_kittest): without a network, a node
//! configuration that cannot be used is shown (naming the file and the problem) and every
//! exchange says why it cannot start, never a panic; against a real Orthanc started here
//! (scripts/pacs-local.sh on ports 14272 / 18072 / 11142-11149, stopped by its PID even on
//! failure), a CT and an MR series stored into it are echoed, found by patient ID, listed
//! with their image counts, retrieved into a cache and opened as the CT and MR layers with
//! the geometry and values they were written with; the studies found open as a worklist;
//! a phantom analysed in the workstation is sent back (Send to PACS: SEG, 4 maps, SR) and
//! found in Orthanc by C-FIND. Skipped with a message when Orthanc cannot be installed
//! (exit code 3 of the script).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use srrd::app::ViewerApp;
use srrd::app::pacs_panel::{PacsPanel, QueryForm};
use srrd::volume::{Geometry, Volume};

mod common;
use common::{SeriesTags, write_volume_series};

const STUDY: &str = "1.2.826.0.1.3680043.10.54321.32";
const CT_SERIES: &str = "1.2.826.0.1.3680043.10.54321.32.1";
const MR_SERIES: &str = "1.2.826.0.1.3680043.10.54321.32.2";
const DICOM_PORT: u16 = 14272;
const HTTP_PORT: u16 = 18072;
const SRRD_PORT: u16 = 11142;

fn harness() -> Harness<'static, ViewerApp> {
    let app = ViewerApp::with_layers(Vec::new());
    let mut h = Harness::builder()
        .with_size([1400.0, 1000.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h
}

/// Opens File > PACS… with the mouse.
fn open_pacs_window(h: &mut Harness<'static, ViewerApp>) {
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("PACS…").click();
    h.run_steps(3);
}

/// Steps the UI until `done` holds (at most `secs`).
fn wait_until(
    h: &mut Harness<'static, ViewerApp>,
    secs: u64,
    what: &str,
    done: impl Fn(&ViewerApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        let (line, err) = h.state().pacs().line();
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: not done in {secs} s (line {line:?}, error {err:?}, status {:?})",
            h.state().status()
        );
        std::thread::sleep(Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(2);
}

#[test]
fn a_bad_node_configuration_is_shown_not_a_panic() {
    let d = tempfile::tempdir().expect("tmp");
    let file = d.path().join("nodes.toml");
    std::fs::write(
        &file,
        "[nodes.pacs]\nae_title = \"A_TITLE_OF_17_CHRS\"\nhost = \"127.0.0.1\"\nport = 104\n",
    )
    .expect("write");
    let mut h = harness();
    h.state_mut().pacs_mut().nodes_path = Some(file.clone());
    open_pacs_window(&mut h);
    let e = h
        .state()
        .pacs()
        .config_error()
        .expect("the error is kept")
        .to_string();
    assert!(
        e.contains("nodes.toml") && e.contains("[nodes.pacs]") && e.contains("longer than 16"),
        "{e}"
    );
    assert!(
        h.query_by_label_contains("longer than 16").is_some(),
        "shown"
    );
    // Searching without a usable configuration says so in the window.
    h.get_by_label("Search").click();
    h.run_steps(3);
    assert!(!h.state().pacs().busy());
    let (_, err) = h.state().pacs().line();
    assert!(err.is_some_and(|e| e.contains("longer than 16")), "{err:?}");

    // A missing file names where it was looked for.
    std::fs::remove_file(&file).expect("rm");
    h.get_by_label("Reload nodes.toml").click();
    h.run_steps(3);
    let e = h.state().pacs().config_error().unwrap_or_default();
    assert!(e.contains("no node configuration here"), "{e}");
    assert!(e.contains(&file.display().to_string()), "{e}");
    // A bad date range is refused before any network.
    std::fs::write(
        &file,
        "[nodes.pacs]\nae_title = \"PACS\"\nhost = \"127.0.0.1\"\nport = 104\n",
    )
    .expect("write");
    h.get_by_label("Reload nodes.toml").click();
    h.run_steps(2);
    assert_eq!(h.state().pacs().node_names(), vec!["pacs".to_string()]);
    h.state_mut().pacs_mut().query.date = "2026-12-01".into();
    h.get_by_label("Search").click();
    h.run_steps(3);
    assert!(!h.state().pacs().busy());
    let (_, err) = h.state().pacs().line();
    assert!(err.is_some_and(|e| e.contains("YYYYMMDD")), "{err:?}");
}

/// The panel's state alone (no window, no network).
#[test]
fn the_form_trims_and_leaves_out_empty_fields() {
    let f = QueryForm {
        patient_id: "  KNEE* ".into(),
        date: "20261201-".into(),
        modality: " ".into(),
        ..Default::default()
    };
    let q = f.to_query();
    assert_eq!(q.patient_id.as_deref(), Some("KNEE*"));
    assert_eq!(q.date.as_deref(), Some("20261201-"));
    assert_eq!(q.modality, None);
    assert_eq!(q.patient_name, None);
}

#[test]
fn without_a_configuration_every_exchange_says_why() {
    let d = tempfile::tempdir().expect("tmp");
    let mut p = PacsPanel::default();
    p.nodes_path = Some(d.path().join("nodes.toml"));
    p.reload();
    let e = p.config_error().expect("no file").to_string();
    assert!(e.contains("no node configuration here"), "{e}");
    assert!(e.contains("nodes.toml"), "{e}");
    p.echo();
    assert!(!p.busy(), "nothing started");
    assert_eq!(p.line().1, Some(e.as_str()));
    p.retrieve();
    assert_eq!(p.line().1, Some("tick the series to retrieve first"));
    p.worklist();
    assert!(p.line().1.is_some_and(|e| e.contains("search first")));
    assert!(
        p.exported(&Ok("written".into())).is_none(),
        "no send pending"
    );
    p.choose_study(3);
    assert!(!p.busy(), "no study 3: nothing asked");
}

/// The Orthanc this test started: stopped (exactly its PID, through the script) on drop.
struct Orthanc {
    dir: tempfile::TempDir,
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir.path().display().to_string()])
            .status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pacs-local.sh")
}

/// Starts an Orthanc in a new folder; None (with a message) when it cannot be installed.
fn start_orthanc() -> Option<Orthanc> {
    let o = Orthanc {
        dir: tempfile::tempdir().expect("tmp"),
    };
    let out = Command::new("bash")
        .arg(script())
        .args(["start", &o.dir.path().display().to_string()])
        .env("SRRD_PACS_DICOM_PORT", DICOM_PORT.to_string())
        .env("SRRD_PACS_HTTP_PORT", HTTP_PORT.to_string())
        .env("SRRD_PACS_SRRD_PORT", SRRD_PORT.to_string())
        .env("SRRD_PACS_SERVE_PORT", "11143")
        .env("SRRD_PACS_TOOLS_PORT", "11149")
        .output()
        .expect("run pacs-local.sh");
    match out.status.code() {
        Some(0) => Some(o),
        Some(3) => {
            eprintln!(
                "SKIPPED: no Orthanc here ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
        _ => panic!(
            "pacs-local.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn tags<'a>(modality: &'a str, series_uid: &'a str, description: &'a str) -> SeriesTags<'a> {
    SeriesTags {
        modality,
        series_uid,
        study_uid: STUDY,
        description,
        kernel: "",
        image_type: "ORIGINAL\\PRIMARY\\AXIAL",
        intercept: -1024.0,
        slope: 1.0,
    }
}

/// The CT written: 72 x 60 x 24 at 0.8 x 0.7 x 1.5 mm, HU = 10 i + 3 j + k.
fn ct_volume() -> Volume {
    let g = Geometry::new([72, 60, 24], [0.8, 0.7, 1.5], [-30.0, -20.0, 10.0]);
    Volume::from_fn(g, |i, j, k| (10 * i + 3 * j + k) as f32)
}

#[test]
fn search_list_retrieve_and_open_from_a_real_orthanc() {
    let Some(orthanc) = start_orthanc() else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let data = work.path().join("data");
    let ct = ct_volume();
    write_volume_series(
        &data.join("ct"),
        &ct,
        &tags("CT", CT_SERIES, "knee CT"),
        |k| format!("ct{k:03}.dcm"),
    );
    let mr = Volume::from_fn(
        Geometry::new([40, 40, 10], [1.0, 1.0, 3.0], [-20.0, -20.0, 0.0]),
        |i, j, _| (i + j) as f32 + 1100.0,
    );
    write_volume_series(
        &data.join("mr"),
        &mr,
        &tags("MR", MR_SERIES, "knee PD"),
        |k| format!("mr{k:03}.dcm"),
    );
    let nodes = work.path().join("nodes.toml");
    std::fs::write(
        &nodes,
        format!(
            "[local]\nae_title = \"SRRD\"\nport = {SRRD_PORT}\ntimeout_s = 20\n\
             [nodes.orthanc]\nae_title = \"ORTHANC\"\nhost = \"127.0.0.1\"\nport = {DICOM_PORT}\n\
             [nodes.nowhere]\nae_title = \"NOWHERE\"\nhost = \"127.0.0.1\"\nport = 11148\n"
        ),
    )
    .expect("nodes.toml");
    // Store both series with the node crate (the CLI's `srrd pacs send`).
    let cfg = srrd_node::NodesFile::read(&nodes).expect("nodes.toml");
    let (items, _) = srrd_node::store::collect(std::slice::from_ref(&data)).expect("collect");
    assert_eq!(items.len(), 34);
    let node = cfg.node("orthanc").expect("node").clone();
    let sent = srrd_node::store::store(
        &cfg.local,
        "orthanc",
        &node,
        &items,
        &srrd::progress::Progress::new(),
    )
    .expect("store into Orthanc");
    assert_eq!((sent.sent, sent.failed.len()), (34, 0));

    let mut h = harness();
    let cache = work.path().join("cache");
    h.state_mut().pacs_mut().nodes_path = Some(nodes.clone());
    h.state_mut().pacs_mut().cache = cache.clone();
    open_pacs_window(&mut h);
    assert_eq!(
        h.state().pacs().node_names(),
        vec!["nowhere".to_string(), "orthanc".to_string()]
    );

    // Echo: Orthanc answers, the node nobody listens on does not, both shown.
    h.get_by_label("Echo nowhere").click();
    h.run_steps(2);
    wait_until(&mut h, 30, "echo nowhere", |a| !a.pacs().busy());
    h.get_by_label("Echo orthanc").click();
    h.run_steps(2);
    wait_until(&mut h, 30, "echo orthanc", |a| !a.pacs().busy());
    // The orthanc row and the window's last line; the refusal stays in its row.
    assert_eq!(h.query_all_by_label_contains("answers (").count(), 2);
    assert_eq!(h.query_all_by_label_contains("no: node nowhere").count(), 1);
    assert_eq!(h.state().pacs().node(), "orthanc");

    // Search by patient ID: one study, two series, 34 images.
    h.state_mut().pacs_mut().query.patient_id = "KNEE-0042".into();
    h.get_by_label("Search").click();
    h.run_steps(2);
    wait_until(&mut h, 30, "search", |a| !a.pacs().busy());
    let studies = h.state().pacs().studies().to_vec();
    assert_eq!(studies.len(), 1, "{studies:?}");
    assert_eq!(studies[0].study_instance_uid, STUDY);
    assert_eq!(studies[0].number_of_series, Some(2));
    assert_eq!(studies[0].number_of_instances, Some(34));
    // Another patient ID finds nothing.
    h.state_mut().pacs_mut().query.patient_id = "NOBODY".into();
    h.get_by_label("Search").click();
    h.run_steps(2);
    wait_until(&mut h, 30, "search nobody", |a| !a.pacs().busy());
    assert!(h.state().pacs().studies().is_empty());
    h.state_mut().pacs_mut().query.patient_id = "KNEE*".into();
    h.get_by_label("Search").click();
    h.run_steps(2);
    wait_until(&mut h, 30, "search KNEE*", |a| !a.pacs().busy());
    assert_eq!(h.state().pacs().studies().len(), 1);

    // The study chosen with a click: its series, with modality, description and count.
    h.get_by_label_contains("2 series, 34 images").click();
    h.run_steps(2);
    wait_until(&mut h, 30, "series", |a| !a.pacs().busy());
    let mut series: Vec<(String, String, Option<u32>)> = h
        .state()
        .pacs()
        .series()
        .iter()
        .map(|s| {
            (
                s.modality.clone(),
                s.series_description.clone(),
                s.number_of_instances,
            )
        })
        .collect();
    series.sort();
    assert_eq!(
        series,
        vec![
            ("CT".into(), "knee CT".into(), Some(24)),
            ("MR".into(), "knee PD".into(), Some(10)),
        ]
    );
    assert!(h.query_by_label_contains("CT 24 images").is_some());
    assert!(h.query_by_label_contains("MR 10 images").is_some());
    assert_eq!(h.state().pacs().chosen().len(), 2, "CT and MR ticked");

    // Retrieve both: they arrive in the cache and open as the CT and MR layers.
    h.get_by_label("Retrieve 2 series").click();
    h.run_steps(2);
    wait_until(&mut h, 60, "retrieve", |a| !a.pacs().busy());
    let (line, err) = h.state().pacs().line();
    assert!(err.is_none(), "{err:?}");
    assert!(line.contains("34 images"), "{line}");
    wait_until(&mut h, 60, "open", |a| {
        !a.is_loading() && a.layers().iter().any(|l| l.name == "CT")
    });
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    let app = h.state();
    let ct_layer = app.layer_volume("CT").expect("CT layer");
    let g = &ct_layer.geometry;
    assert_eq!(g.size, [72, 60, 24]);
    for (a, b) in g.spacing_mm.iter().zip([0.8, 0.7, 1.5]) {
        assert!((a - b).abs() < 1e-6, "{:?}", g.spacing_mm);
    }
    assert!(
        (g.origin_mm.coords - ct.geometry.origin_mm.coords).norm() < 1e-6,
        "{:?}",
        g.origin_mm
    );
    assert_eq!(ct_layer.get(5, 7, 3), Some((50 + 21 + 3) as f32));
    let mr_layer = app.layer_volume("MR").expect("MR layer");
    assert_eq!(mr_layer.geometry.size, [40, 40, 10]);
    let files = walk(&cache);
    assert_eq!(files, 34, "files in the cache");

    // The studies found as the worklist: one case per study, its CT opened from the
    // study folder retrieved for it.
    h.state_mut().pacs_mut().open = true;
    h.run_steps(2);
    h.get_by_label("Worklist of the 1 studies").click();
    h.run_steps(2);
    wait_until(&mut h, 60, "worklist", |a| {
        !a.pacs().busy() && a.worklist().is_some() && !a.is_loading()
    });
    let (line, err) = h.state().pacs().line();
    assert!(err.is_none(), "{err:?}");
    assert!(line.contains("worklist of 1 studies (34 images)"), "{line}");
    let w = h.state().worklist().expect("the worklist");
    let rows = &w.list().rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].patient.as_deref(), Some("KNEE-0042"));
    assert!(rows[0].ct.ends_with(STUDY), "{:?}", rows[0].ct);
    wait_until(&mut h, 60, "case loaded", |a| {
        a.layer_volume("CT")
            .is_some_and(|v| v.geometry.size == [72, 60, 24])
    });
    assert_eq!(
        walk(&work.path().join("cache/worklists")),
        34,
        "the study retrieved again for the worklist"
    );
    // Retrieving from PACS with a worklist open: its work saved, the list closed (the
    // images are not taken for the case's; the status line may already tell of the
    // bones computed by themselves for the 3D view, so it is not asserted).
    h.state_mut().pacs_mut().open = true;
    h.run_steps(2);
    h.get_by_label("Retrieve 2 series").click();
    h.run_steps(2);
    wait_until(&mut h, 60, "retrieve again", |a| {
        !a.pacs().busy() && !a.is_loading() && a.worklist().is_none()
    });
    assert!(h.state().layer_volume("MR").is_some());
    drop(h);
    send_results_to_orthanc(&nodes, work.path());
    drop(orthanc);
}

/// A knee phantom analysed in the workstation, then Send to PACS from the results panel:
/// the SEG, the four parametric maps and the SR arrive in Orthanc as a study of their own
/// (the CT was not DICOM).
fn send_results_to_orthanc(nodes: &Path, work: &Path) {
    use srrd::app::Layer;
    use srrd::phantom::{Config, Grade, Preset, generate_with, scan_specs, truth_sampling};
    let (ct_spec, _) = scan_specs(Preset::Paper);
    let (_, mr_spec) = scan_specs(Preset::Small);
    let p = generate_with(
        Config {
            seed: 12,
            grade: Grade::Advanced,
            preset: Preset::Small,
        },
        ct_spec,
        mr_spec,
        truth_sampling(Preset::Small),
        &srrd::progress::Progress::new(),
    )
    .expect("phantom");
    let app = ViewerApp::with_layers(vec![Layer::new("CT", p.ct.clone())]);
    let mut h = Harness::builder()
        .with_size([1400.0, 1500.0])
        .build_ui_state(|ui, app: &mut ViewerApp| app.show(ui), app);
    h.run_steps(2);
    h.state_mut().pacs_mut().nodes_path = Some(nodes.to_path_buf());
    h.state_mut().pacs_mut().cache = work.join("cache2");
    h.get_by_label("Analyze (SRRD)").click();
    h.run_steps(2);
    wait_until(&mut h, 240, "analysis", |a| {
        a.results().is_some() || a.error().is_some()
    });
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    h.get_by_label("Send to PACS…").click();
    h.run_steps(3);
    assert!(h.state().pacs().open, "the PACS window opened");
    h.state_mut().pacs_mut().set_node("orthanc");
    h.run_steps(1);
    h.get_by_label("Send results to orthanc").click();
    h.run_steps(2);
    wait_until(&mut h, 60, "send", |a| !a.pacs().busy());
    let status = h.state().status().to_string();
    assert!(status.contains("sent to orthanc: 6 files"), "{status}");
    // Orthanc lists the new study with its SEG and SR series.
    let cfg = srrd_node::NodesFile::read(nodes).expect("nodes.toml");
    let node = cfg.node("orthanc").expect("node").clone();
    let all = srrd_node::find::find_studies(&cfg.local, "orthanc", &node, &Default::default())
        .expect("find all");
    assert_eq!(all.len(), 2, "{all:?}");
    let new: Vec<String> = all
        .iter()
        .filter(|s| s.study_instance_uid != STUDY)
        .map(|s| s.study_instance_uid.clone())
        .collect();
    let series = srrd_node::find::find_series(&cfg.local, "orthanc", &node, &new, None)
        .expect("find series");
    let mut modalities: Vec<String> = series.iter().map(|s| s.modality.clone()).collect();
    modalities.sort();
    modalities.dedup();
    assert!(
        modalities.contains(&"SEG".to_string()) && modalities.contains(&"SR".to_string()),
        "{modalities:?}"
    );
    let images: u32 = series.iter().filter_map(|s| s.number_of_instances).sum();
    assert_eq!(images, 6, "{series:?}");
}

fn walk(dir: &Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                n += walk(&p);
            } else if p.extension().is_some_and(|x| x == "dcm") {
                n += 1;
            }
        }
    }
    n
}
