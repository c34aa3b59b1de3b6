//! `srrd serve`'s engine: the storage SCP feeding the on-disk queue, series settling
//! after a quiet time, a configurable number of workers analyzing settled series through
//! a hook (the caller's analysis), and the results C-STORE'd to the destination, resent
//! until acknowledged. One log line per event. Its configuration is `serve.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use srrd_base::progress::Progress;

use crate::config::{LocalConfig, NodeConfig, check_ae_title};
use crate::queue::{Job, Queue, State, begin_attempt, finish_attempt, recover_state, write_state};
use crate::scp::{Logger, ScpOptions};

/// The service's configuration file.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Our AE title.
    pub ae_title: String,
    /// Listening address.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Listening port.
    pub port: u16,
    /// Calling AE titles allowed to store to us.
    pub allowed_callers: Vec<String>,
    /// The queue folder (relative paths are from the config file's folder).
    pub queue: PathBuf,
    /// A series is complete when no instance arrived for this many seconds.
    #[serde(default = "default_settle")]
    pub settle_s: f64,
    /// Every network wait, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// Series analyzed at a time.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Largest instance accepted, MB.
    #[serde(default = "default_instance_mb")]
    pub max_instance_mb: f64,
    /// Most data one association may store, MB.
    #[serde(default = "default_association_mb")]
    pub max_association_mb: f64,
    /// Seconds between tries to send results the destination did not take.
    #[serde(default = "default_retry")]
    pub retry_s: f64,
    /// Threads of each analysis (default: all cores / workers).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Where results go (the CT's study lives there).
    pub destination: NodeConfig,
}

fn default_bind() -> String {
    "0.0.0.0".into()
}
fn default_settle() -> f64 {
    10.0
}
fn default_timeout() -> f64 {
    30.0
}
fn default_workers() -> usize {
    1
}
fn default_instance_mb() -> f64 {
    512.0
}
fn default_association_mb() -> f64 {
    16384.0
}
fn default_retry() -> f64 {
    30.0
}

impl ServeConfig {
    /// Reads and checks a serve.toml; the queue path is made absolute.
    pub fn read(path: &Path) -> Result<ServeConfig, String> {
        let e = |p: String| format!("{}: {p}", path.display());
        let text = std::fs::read_to_string(path).map_err(|x| e(x.to_string()))?;
        let mut c: ServeConfig =
            toml::from_str(&text).map_err(|x| e(x.to_string().trim().replace('\n', " ")))?;
        check_ae_title(&c.ae_title).map_err(e)?;
        check_ae_title(&c.destination.ae_title).map_err(|p| e(format!("[destination]: {p}")))?;
        for a in &c.allowed_callers {
            check_ae_title(a).map_err(|p| e(format!("allowed_callers: {p}")))?;
        }
        if c.allowed_callers.is_empty() {
            return Err(e(
                "allowed_callers is empty: nobody could store to the service".into(),
            ));
        }
        for (name, v) in [
            ("settle_s", c.settle_s),
            ("timeout_s", c.timeout_s),
            ("max_instance_mb", c.max_instance_mb),
            ("max_association_mb", c.max_association_mb),
            ("retry_s", c.retry_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(e(format!("{name} must be a positive number, not {v}")));
            }
        }
        if c.workers == 0 {
            return Err(e("workers must be at least 1".into()));
        }
        if c.queue.is_relative() {
            let base = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            c.queue = std::path::absolute(base.join(&c.queue)).map_err(|x| e(x.to_string()))?;
        }
        Ok(c)
    }

    /// Our side of the associations we start (sending results).
    pub fn local(&self) -> LocalConfig {
        LocalConfig {
            ae_title: self.ae_title.clone(),
            port: self.port,
            timeout_s: self.timeout_s,
        }
    }
}

/// Whether a series (its input folder) is to be analyzed; Err: why not.
pub type Classify = dyn Fn(&Path) -> Result<(), String> + Send + Sync;
/// Analyzes the series of an input folder inside a work folder; returns the folder
/// (inside work) holding the DICOM results to send.
pub type Analyze = dyn Fn(&Path, &Path) -> Result<PathBuf, String> + Send + Sync;

/// What the service asks of its caller.
pub struct Hooks {
    /// Whether a series is to be analyzed (Err: why not, e.g. "Modality MR").
    pub classify: Box<Classify>,
    /// The analysis.
    pub analyze: Box<Analyze>,
}

/// The service's PID file in the queue.
pub fn pid_file(queue: &Path) -> PathBuf {
    queue.join("serve.pid")
}

/// Runs the service until `stop` is set.
pub fn run(
    cfg: &ServeConfig,
    hooks: Hooks,
    log: Arc<Logger>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let queue = Arc::new(Queue::open(&cfg.queue)?);
    srrd_base::io::atomic_write(&pid_file(&cfg.queue), |w| {
        w.write_all(std::process::id().to_string().as_bytes())
    })
    .map_err(|e| e.to_string())?;
    let addr = format!("{}:{}", cfg.bind, cfg.port);
    let listener = TcpListener::bind(&addr).map_err(|e| format!("listening on {addr}: {e}"))?;
    let opts = ScpOptions {
        ae_title: cfg.ae_title.clone(),
        allowed_callers: cfg.allowed_callers.clone(),
        timeout: Duration::from_secs_f64(cfg.timeout_s),
        max_instance_bytes: (cfg.max_instance_mb * 1e6) as usize,
        max_association_bytes: (cfg.max_association_mb * 1e6) as u64,
    };
    let jobs = queue.jobs();
    log(&format!(
        "serving as {} on {addr} (callers {}), queue {} ({} jobs, {} unsettled instances), results to {} at {}:{}",
        cfg.ae_title,
        cfg.allowed_callers.join(","),
        cfg.queue.display(),
        jobs.len(),
        queue.incoming_instances(),
        cfg.destination.ae_title,
        cfg.destination.host,
        cfg.destination.port
    ));
    {
        let q = queue.clone();
        let handler = Arc::new(move |r: &crate::scp::Received| q.receive(r).map(|_| ()));
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            if let Err(e) = crate::scp::serve(listener, opts, handler, log.clone(), stop) {
                log(&format!("listener failed: {e}"));
            }
        });
    }
    let hooks = Arc::new(hooks);
    let busy: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut retry_at: BTreeMap<String, Instant> = BTreeMap::new();
    let failed_sends: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let settle = Duration::from_secs_f64(cfg.settle_s);
    let mut attempt = 0u64;
    while !stop.load(Ordering::SeqCst) {
        for line in queue.settle(settle) {
            log(&line);
        }
        for id in std::mem::take(&mut *failed_sends.lock().unwrap_or_else(|p| p.into_inner())) {
            retry_at.insert(id, Instant::now() + Duration::from_secs_f64(cfg.retry_s));
        }
        for job in queue.jobs() {
            if job.state.is_final() {
                continue;
            }
            if retry_at.get(&job.id).is_some_and(|t| Instant::now() < *t) {
                continue;
            }
            {
                let mut b = busy.lock().unwrap_or_else(|p| p.into_inner());
                if b.contains(&job.id) || b.len() >= cfg.workers {
                    continue;
                }
                b.insert(job.id.clone());
            }
            retry_at.remove(&job.id);
            attempt += 1;
            let (hooks, log, busy, failed_sends, cfg) = (
                hooks.clone(),
                log.clone(),
                busy.clone(),
                failed_sends.clone(),
                cfg.clone(),
            );
            std::thread::spawn(move || {
                let id = job.id.clone();
                if !process(job, attempt, &cfg, &hooks, &*log) {
                    failed_sends
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.clone());
                }
                busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

/// The newest modification time of the files in a folder.
fn newest(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
}

/// Takes a job as far as it goes; false when sending failed (to retry later).
fn process(mut job: Job, attempt: u64, cfg: &ServeConfig, hooks: &Hooks, log: &Logger) -> bool {
    recover_state(&mut job);
    let id = job.id.clone();
    if matches!(job.state, State::Queued | State::Analyzing) {
        if let Err(why) = (hooks.classify)(&job.input()) {
            log(&format!("series {id} not analyzed: {why}"));
            if let Err(e) = write_state(&job.dir, State::Skipped) {
                log(&format!("series {id}: {e}"));
            }
            return true;
        }
        if job.state == State::Analyzing {
            log(&format!(
                "series {id}: analysis was interrupted; analyzing again"
            ));
        }
        log(&format!(
            "series {id} analyzing ({} instances)",
            job.instances
        ));
        let t = Instant::now();
        let work = match begin_attempt(&job, attempt) {
            Ok(w) => w,
            Err(e) => {
                log(&format!("series {id}: {e}"));
                return true;
            }
        };
        match (hooks.analyze)(&job.input(), &work) {
            Ok(results) => {
                if let Err(e) = finish_attempt(&job, &results) {
                    log(&format!("series {id}: {e}"));
                    return true;
                }
                log(&format!(
                    "series {id} analyzed in {:.1} s",
                    t.elapsed().as_secs_f64()
                ));
                job.state = State::Analyzed;
            }
            Err(why) => {
                log(&format!("series {id} refused by the analysis: {why}"));
                if let Err(e) = write_state(&job.dir, State::Failed) {
                    log(&format!("series {id}: {e}"));
                }
                return true;
            }
        }
    }
    if job.state == State::Analyzed {
        let (items, _) = match crate::store::collect(&[job.results()]) {
            Ok(x) => x,
            Err(e) => {
                log(&format!("series {id}: results unreadable: {e}"));
                return false;
            }
        };
        let t = Instant::now();
        match crate::store::store(
            &cfg.local(),
            "destination",
            &cfg.destination,
            &items,
            &Progress::new(),
        ) {
            Ok(s) if s.failed.is_empty() => {
                if let Err(e) = write_state(&job.dir, State::Sent) {
                    log(&format!("series {id}: {e}"));
                }
                let since = newest(&job.input())
                    .and_then(|n| SystemTime::now().duration_since(n).ok())
                    .map(|d| format!(", {:.1} s after its last instance", d.as_secs_f64()))
                    .unwrap_or_default();
                log(&format!(
                    "series {id}: {} results sent to {} in {:.1} s{since}",
                    s.sent,
                    cfg.destination.ae_title,
                    t.elapsed().as_secs_f64()
                ));
            }
            Ok(s) => {
                log(&format!(
                    "series {id}: {} of {} results not taken by {} (first: {}); retrying in {} s",
                    s.failed.len(),
                    items.len(),
                    cfg.destination.ae_title,
                    s.failed[0].1,
                    cfg.retry_s
                ));
                return false;
            }
            Err(e) => {
                log(&format!(
                    "series {id}: sending failed: {e}; retrying in {} s",
                    cfg.retry_s
                ));
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "ae_title = \"SRRDSERVE\"\nport = 11113\nallowed_callers = [\"ORTHANC\"]\n\
                        queue = \"q\"\n[destination]\nae_title = \"ORTHANC\"\nhost = \"h\"\nport = 4242\n";

    #[test]
    fn reads_a_serve_toml_and_places_the_queue_beside_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("serve.toml");
        std::fs::write(&p, GOOD).unwrap();
        let c = ServeConfig::read(&p).unwrap();
        assert_eq!(c.queue, d.path().join("q"));
        assert_eq!(
            (c.settle_s, c.workers, c.bind.as_str()),
            (10.0, 1, "0.0.0.0")
        );
        assert_eq!(c.local().ae_title, "SRRDSERVE");
    }

    #[test]
    fn bad_serve_tomls_name_the_file_and_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("serve.toml");
        for (text, needle) in [
            (
                GOOD.replace("[\"ORTHANC\"]", "[]"),
                "allowed_callers is empty",
            ),
            (
                GOOD.replace("port = 11113\n", "port = 11113\nsettle_s = 0\n"),
                "settle_s must be",
            ),
            (
                GOOD.replace("port = 11113\n", "port = 11113\nworkers = 0\n"),
                "workers must be",
            ),
            (
                GOOD.replace("\"SRRDSERVE\"", "\"A\\\\B\""),
                "without backslash",
            ),
            (GOOD.replace("host = \"h\"\n", ""), "host"),
        ] {
            std::fs::write(&p, &text).unwrap();
            let e = ServeConfig::read(&p).unwrap_err();
            assert!(
                e.contains("serve.toml") && e.contains(needle),
                "{needle}: {e}"
            );
        }
    }
}
