//! `srrd pacs echo|find|get|send --node NAME`: the workstation as a DICOM node (C-ECHO,
//! C-FIND at study and series level, C-GET into a local cache, C-STORE of files). Nodes
//! come from `nodes.toml` (`$SRRD_CONFIG_DIR`, default `~/.config/srrd`; `--nodes FILE`
//! names another). Each subcommand prints one JSON object with `--json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use srrd_node::find::{SeriesRecord, StudyQuery, StudyRecord};
use srrd_node::get::GetTarget;
use srrd_node::{NodeConfig, NodesFile};

use super::common::with_progress;

/// Arguments of `srrd pacs`.
#[derive(Debug, clap::Args)]
pub struct PacsArgs {
    /// The node configuration file (default: $SRRD_CONFIG_DIR/nodes.toml, else
    /// ~/.config/srrd/nodes.toml).
    #[arg(long, global = true)]
    nodes: Option<PathBuf>,
    #[command(subcommand)]
    command: PacsCommand,
}

/// The services of `srrd pacs`.
#[derive(Debug, clap::Subcommand)]
enum PacsCommand {
    /// C-ECHO: does the node answer (and how fast).
    Echo(EchoArgs),
    /// C-FIND: the studies matching a query (and with --series, their series).
    Find(FindArgs),
    /// C-GET: retrieve studies or series into a local cache folder.
    Get(GetArgs),
    /// C-STORE: send DICOM files (folders recursively) to the node.
    Send(SendArgs),
}

#[derive(Debug, clap::Args)]
struct EchoArgs {
    /// The node's name in nodes.toml.
    #[arg(long)]
    node: String,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct FindArgs {
    /// The node's name in nodes.toml.
    #[arg(long)]
    node: String,
    /// Patient ID (wildcards * and ? allowed).
    #[arg(long)]
    patient_id: Option<String>,
    /// Patient's name, DICOM style (`Knee^Export`, `Knee*`).
    #[arg(long)]
    name: Option<String>,
    /// Study date or range: YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD.
    #[arg(long)]
    date: Option<String>,
    /// A modality in the study (CT, MR); with --series, only series of this modality.
    #[arg(long)]
    modality: Option<String>,
    /// Accession number.
    #[arg(long)]
    accession: Option<String>,
    /// One study by its Study Instance UID.
    #[arg(long)]
    study: Option<String>,
    /// Also list the series of every study found.
    #[arg(long)]
    series: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct GetArgs {
    /// The node's name in nodes.toml.
    #[arg(long)]
    node: String,
    /// Study Instance UID to retrieve (repeat for several studies).
    #[arg(long)]
    study: Vec<String>,
    /// Only these series of the (single) --study (repeat for several).
    #[arg(long)]
    series: Vec<String>,
    /// Instead of UIDs: the studies of this patient ID (C-FIND first).
    #[arg(long, conflicts_with_all = ["study", "series"])]
    patient_id: Option<String>,
    /// Instead of UIDs: the study of this accession number.
    #[arg(long, conflicts_with_all = ["study", "series"])]
    accession: Option<String>,
    /// With --patient-id or --accession: only studies of this date or range.
    #[arg(long, conflicts_with_all = ["study", "series"])]
    date: Option<String>,
    /// With --patient-id or --accession: only the series of this modality (CT, MR).
    #[arg(long, conflicts_with_all = ["study", "series"])]
    modality: Option<String>,
    /// Cache folder (default: ~/.cache/srrd/pacs); files go to OUT/<study>/<series>/.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct SendArgs {
    /// The node's name in nodes.toml.
    #[arg(long)]
    node: String,
    /// DICOM files or folders (searched recursively; non-DICOM files are skipped).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn node<'a>(nodes: &'a NodesFile, name: &str) -> anyhow::Result<&'a NodeConfig> {
    Ok(nodes.node(name)?)
}

/// The default retrieval cache: `$XDG_CACHE_HOME/srrd/pacs` or `~/.cache/srrd/pacs`.
fn default_cache() -> PathBuf {
    srrd_node::cache::default_cache_dir()
}

impl PacsArgs {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        let nodes = NodesFile::read_or_default(self.nodes.as_deref())?;
        match self.command {
            PacsCommand::Echo(a) => echo(&nodes, a),
            PacsCommand::Find(a) => find(&nodes, a),
            PacsCommand::Get(a) => get(&nodes, a),
            PacsCommand::Send(a) => send(&nodes, a),
        }
    }
}

fn echo(nodes: &NodesFile, a: EchoArgs) -> anyhow::Result<()> {
    let n = node(nodes, &a.node)?;
    let t = srrd_node::echo::echo(&nodes.local, &a.node, n)?;
    let ms = t.as_secs_f64() * 1000.0;
    if a.json {
        let v = serde_json::json!({
            "node": a.node, "ae_title": n.ae_title, "host": n.host, "port": n.port,
            "calling_ae_title": nodes.local.ae_title, "ok": true, "milliseconds": ms,
        });
        println!("{v}");
    } else {
        println!(
            "{}: {} at {}:{} answers C-ECHO ({ms:.1} ms)",
            a.node, n.ae_title, n.host, n.port
        );
    }
    Ok(())
}

fn find(nodes: &NodesFile, a: FindArgs) -> anyhow::Result<()> {
    let n = node(nodes, &a.node)?;
    let q = StudyQuery {
        patient_id: a.patient_id,
        patient_name: a.name,
        date: a.date,
        modality: a.modality.clone(),
        accession: a.accession,
        study_uid: a.study,
    };
    let studies = srrd_node::find::find_studies(&nodes.local, &a.node, n, &q)?;
    let series = if a.series {
        let uids: Vec<String> = studies
            .iter()
            .map(|s| s.study_instance_uid.clone())
            .collect();
        srrd_node::find::find_series(&nodes.local, &a.node, n, &uids, a.modality.as_deref())?
    } else {
        Vec::new()
    };
    if a.json {
        let mut v = serde_json::json!({ "node": a.node, "studies": studies });
        if a.series {
            v["series"] = serde_json::to_value(&series)?;
        }
        println!("{v}");
        return Ok(());
    }
    print_find(&a.node, &studies, &series, a.series);
    Ok(())
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

fn print_find(node: &str, studies: &[StudyRecord], series: &[SeriesRecord], with_series: bool) {
    println!("{node}: {} studies", studies.len());
    for s in studies {
        println!(
            "{}  {}  {}  {}  acc {}  {}  series {}  images {}",
            s.study_date,
            s.patient_id,
            s.patient_name,
            s.modalities_in_study.join("/"),
            if s.accession_number.is_empty() {
                "-"
            } else {
                &s.accession_number
            },
            s.study_instance_uid,
            opt(&s.number_of_series),
            opt(&s.number_of_instances),
        );
        if with_series {
            for r in series
                .iter()
                .filter(|r| r.study_instance_uid == s.study_instance_uid)
            {
                println!(
                    "    #{:<4} {:<3} {:>5} images  {}  {}",
                    opt(&r.series_number),
                    r.modality,
                    opt(&r.number_of_instances),
                    r.series_instance_uid,
                    r.series_description
                );
            }
        }
    }
}

/// The studies (or, with --modality, the series) a query names.
fn targets_from_query(
    nodes: &NodesFile,
    n: &NodeConfig,
    a: &GetArgs,
) -> anyhow::Result<Vec<GetTarget>> {
    let q = StudyQuery {
        patient_id: a.patient_id.clone(),
        accession: a.accession.clone(),
        date: a.date.clone(),
        modality: a.modality.clone(),
        ..Default::default()
    };
    let studies = srrd_node::find::find_studies(&nodes.local, &a.node, n, &q)?;
    let uids: Vec<String> = studies
        .iter()
        .map(|s| s.study_instance_uid.clone())
        .collect();
    let targets: Vec<GetTarget> = match &a.modality {
        None => uids
            .iter()
            .map(|u| GetTarget {
                study_uid: u.clone(),
                series_uid: None,
            })
            .collect(),
        Some(m) => srrd_node::find::find_series(&nodes.local, &a.node, n, &uids, Some(m))?
            .into_iter()
            .filter(|s| s.modality.eq_ignore_ascii_case(m))
            .map(|s| GetTarget {
                study_uid: s.study_instance_uid,
                series_uid: Some(s.series_instance_uid),
            })
            .collect(),
    };
    if targets.is_empty() {
        anyhow::bail!(
            "node {}: no {} matches the query",
            a.node,
            if a.modality.is_some() {
                "series"
            } else {
                "study"
            }
        );
    }
    Ok(targets)
}

fn get(nodes: &NodesFile, a: GetArgs) -> anyhow::Result<()> {
    let n = node(nodes, &a.node)?;
    if !a.series.is_empty() && a.study.len() != 1 {
        anyhow::bail!("--series needs exactly one --study (the series' study)");
    }
    let by_query = a.patient_id.is_some() || a.accession.is_some();
    if a.study.is_empty() && !by_query {
        anyhow::bail!("say what to retrieve: --study UID, or a query (--patient-id, --accession)");
    }
    if (a.date.is_some() || a.modality.is_some()) && !by_query {
        anyhow::bail!("--date and --modality narrow a query: give --patient-id or --accession too");
    }
    let targets: Vec<GetTarget> = if by_query {
        targets_from_query(nodes, n, &a)?
    } else if a.series.is_empty() {
        a.study
            .iter()
            .map(|s| GetTarget {
                study_uid: s.clone(),
                series_uid: None,
            })
            .collect()
    } else {
        a.series
            .iter()
            .map(|se| GetTarget {
                study_uid: a.study[0].clone(),
                series_uid: Some(se.clone()),
            })
            .collect()
    };
    let out = a.out.unwrap_or_else(default_cache);
    let local = &nodes.local;
    let name = a.node.as_str();
    let summary = with_progress(|p| Ok(srrd_node::get::get(local, name, n, &targets, &out, p)))?
        .with_context(|| format!("retrieving into {}", out.display()))?;
    if summary.instances == 0 {
        anyhow::bail!(
            "node {}: nothing retrieved ({} failed sub-operations{})",
            a.node,
            summary.failed,
            if summary.refused.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", summary.refused.join("; "))
            }
        );
    }
    let folders = series_folders(&summary.files);
    let mb = summary.bytes as f64 / 1e6;
    let secs = summary.seconds.max(1e-9);
    if a.json {
        let v = serde_json::json!({
            "node": a.node, "out": out, "instances": summary.instances, "bytes": summary.bytes,
            "seconds": summary.seconds, "mb_per_s": mb / secs,
            "images_per_s": summary.instances as f64 / secs, "failed": summary.failed,
            "warnings": summary.warnings, "refused": summary.refused,
            "series_folders": folders.iter().map(|(f, c)| serde_json::json!({"folder": f, "files": c})).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        println!(
            "{}: {} images, {:.1} MB in {:.2} s ({:.1} MB/s, {:.0} images/s) into {}",
            a.node,
            summary.instances,
            mb,
            summary.seconds,
            mb / secs,
            summary.instances as f64 / secs,
            out.display()
        );
        for (f, c) in &folders {
            println!("  {} ({c} files)", f.display());
        }
        if summary.failed > 0 || !summary.refused.is_empty() {
            eprintln!(
                "warning: {} sub-operations failed at the node; refused here: {}",
                summary.failed,
                summary.refused.len()
            );
        }
    }
    Ok(())
}

/// The folders files went to, with their file counts.
fn series_folders(files: &[PathBuf]) -> Vec<(PathBuf, usize)> {
    let mut m: BTreeMap<&Path, usize> = BTreeMap::new();
    for f in files {
        if let Some(d) = f.parent() {
            *m.entry(d).or_default() += 1;
        }
    }
    m.into_iter().map(|(d, c)| (d.to_path_buf(), c)).collect()
}

fn send(nodes: &NodesFile, a: SendArgs) -> anyhow::Result<()> {
    let n = node(nodes, &a.node)?;
    let (items, skipped) = srrd_node::store::collect(&a.paths)?;
    if items.is_empty() {
        anyhow::bail!(
            "no DICOM files in {} path(s) ({} other files)",
            a.paths.len(),
            skipped.len()
        );
    }
    let local = &nodes.local;
    let name = a.node.as_str();
    let mut summary = with_progress(|p| Ok(srrd_node::store::store(local, name, n, &items, p)))??;
    summary.skipped = skipped;
    let mb = summary.bytes as f64 / 1e6;
    if a.json {
        let v = serde_json::json!({
            "node": a.node, "sent": summary.sent, "bytes": summary.bytes,
            "seconds": summary.seconds,
            "failed": summary.failed.iter().map(|(p, e)| serde_json::json!({"file": p, "error": e})).collect::<Vec<_>>(),
            "skipped": summary.skipped,
        });
        println!("{v}");
    } else {
        println!(
            "{}: stored {} of {} files ({:.1} MB in {:.2} s)",
            a.node,
            summary.sent,
            items.len(),
            mb,
            summary.seconds
        );
        for (p, e) in &summary.failed {
            eprintln!("  not stored: {}: {e}", p.display());
        }
        if !summary.skipped.is_empty() {
            eprintln!(
                "  skipped {} files that are not DICOM",
                summary.skipped.len()
            );
        }
    }
    if !summary.failed.is_empty() {
        anyhow::bail!(
            "node {}: {} of {} files not stored (first: {}: {})",
            a.node,
            summary.failed.len(),
            items.len(),
            summary.failed[0].0.display(),
            summary.failed[0].1
        );
    }
    Ok(())
}
