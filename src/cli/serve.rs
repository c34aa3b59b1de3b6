//! `srrd serve --config FILE`: the analysis service, a storage SCP that queues each
//! series on disk when it is complete, analyzes CT series CT-only (`srrd analyze` in a
//! child process, so a refused series never stops the service) and sends the SEG,
//! parametric maps and SR back to the configured destination. `srrd serve status
//! --config FILE` reports the queue. The engine is `srrd_node::service`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use srrd_node::queue::{ATTEMPT_PID_FILE, Queue, State};
use srrd_node::service::{Hooks, ServeConfig, pid_file};

/// Arguments of `srrd serve`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = false)]
pub struct ServeArgs {
    /// The service's configuration (serve.toml: ae_title, port, allowed_callers, queue,
    /// settle_s, workers, [destination]; see the README's PACS section).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<ServeCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum ServeCommand {
    /// The queue: jobs by state, unsettled instances, whether the service runs.
    Status {
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// A UTC timestamp, `YYYY-MM-DDTHH:MM:SSZ`.
fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Whether the series in `input` is a CT (read from its first file's header).
fn classify(input: &Path) -> Result<(), String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .map_err(|e| format!("{}: {e}", input.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let first = files.first().ok_or("no instances")?;
    let obj = dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(first)
        .map_err(|e| format!("{}: {e}", first.display()))?;
    let modality = obj
        .element_opt(dicom_dictionary_std::tags::MODALITY)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if modality != "CT" {
        return Err(format!(
            "Modality {modality:?}; the service analyzes CT series only"
        ));
    }
    Ok(())
}

/// Runs `srrd analyze --ct INPUT --dicom-out WORK/dicom` in a child process whose PID is
/// recorded in the work folder; returns WORK/dicom.
fn analyze(input: &Path, work: &Path, threads: Option<usize>) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find srrd itself: {e}"))?;
    let dicom = work.join("dicom");
    let log_path = work.join("analyze.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("analyze")
        .arg("--ct")
        .arg(input)
        .arg("--out")
        .arg(work.join("report"))
        .arg("--dicom-out")
        .arg(&dicom)
        .stdout(std::process::Stdio::null())
        .stderr(log);
    if let Some(t) = threads {
        cmd.arg("--threads").arg(t.to_string());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting the analysis: {e}"))?;
    let _ = std::fs::write(work.join(ATTEMPT_PID_FILE), child.id().to_string());
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the analysis: {e}"))?;
    if status.success() {
        return Ok(dicom);
    }
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .or_else(|| text.lines().last())
        .unwrap_or("no message");
    Err(format!("{} ({status})", last.trim()))
}

impl ServeArgs {
    /// Runs the service, or reports its queue.
    pub fn run(self) -> anyhow::Result<()> {
        let path = self
            .config
            .context("srrd serve needs --config FILE (serve.toml)")?;
        let cfg = ServeConfig::read(&path).map_err(anyhow::Error::msg)?;
        match self.command {
            Some(ServeCommand::Status { json }) => status(&cfg, json),
            None => serve(cfg),
        }
    }
}

fn serve(cfg: ServeConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.queue)
        .with_context(|| format!("creating the queue {}", cfg.queue.display()))?;
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.queue.join("serve.log"))
        .with_context(|| format!("opening {}", cfg.queue.join("serve.log").display()))?;
    let log_file = Mutex::new(log_file);
    let log = Arc::new(move |line: &str| {
        let l = format!("{} {line}", now_utc());
        eprintln!("{l}");
        if let Ok(mut f) = log_file.lock() {
            let _ = writeln!(f, "{l}");
        }
    });
    let threads = cfg.threads;
    let hooks = Hooks {
        classify: Box::new(classify),
        analyze: Box::new(move |input, work| analyze(input, work, threads)),
    };
    srrd_node::service::run(&cfg, hooks, log, Arc::new(AtomicBool::new(false)))
        .map_err(anyhow::Error::msg)
}

fn status(cfg: &ServeConfig, json: bool) -> anyhow::Result<()> {
    let queue = Queue::open(&cfg.queue).map_err(anyhow::Error::msg)?;
    let pid = std::fs::read_to_string(pid_file(&cfg.queue))
        .ok()
        .map(|s| s.trim().to_string());
    let running = pid.as_deref().is_some_and(|p| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("serve"))
            .unwrap_or(false)
    });
    let jobs = queue.jobs();
    let count = |s: State| jobs.iter().filter(|j| j.state == s).count();
    let incoming = queue.incoming_instances();
    if json {
        let v = serde_json::json!({
            "queue": cfg.queue, "running": running, "pid": pid, "incoming_instances": incoming,
            "queued": count(State::Queued), "analyzing": count(State::Analyzing),
            "analyzed": count(State::Analyzed), "sent": count(State::Sent),
            "skipped": count(State::Skipped), "failed": count(State::Failed), "jobs": jobs,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "srrd serve {} ({}): queue {}",
        if running { "running" } else { "not running" },
        pid.as_deref()
            .map(|p| format!("PID {p}"))
            .unwrap_or_else(|| "no PID file".into()),
        cfg.queue.display()
    );
    println!(
        "  {incoming} unsettled instances; jobs: {} queued, {} analyzing, {} analyzed (to send), {} sent, {} skipped, {} failed",
        count(State::Queued),
        count(State::Analyzing),
        count(State::Analyzed),
        count(State::Sent),
        count(State::Skipped),
        count(State::Failed)
    );
    for j in &jobs {
        println!(
            "  {:<10} {:>5} instances  {}",
            format!("{:?}", j.state).to_lowercase(),
            j.instances,
            j.id
        );
    }
    Ok(())
}
