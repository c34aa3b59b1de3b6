//! The service's queue on disk, so a kill at any moment loses nothing and does nothing
//! twice:
//!
//! ```text
//! QUEUE/incoming/<study>/<series>/<instance>.dcm   instances as they arrive (each written
//!                                                  through a temp name before C-STORE's OK)
//! QUEUE/jobs/<series>/input/                       a settled series (the folder renamed)
//! QUEUE/jobs/<series>/state                        queued|analyzing|analyzed|sent|skipped|failed
//! QUEUE/jobs/<series>/work-<pid>-<n>/              one analysis attempt (discarded if killed)
//! QUEUE/jobs/<series>/results/                     its DICOM results, renamed in when complete
//! QUEUE/jobs/<series>/late/                        instances that came after the series settled
//! ```
//!
//! Every step is a rename or an atomic write, so a restarted service resumes each job from
//! the last step that completed: results are made once (an interrupted attempt is thrown
//! away) and sent until the destination acknowledged them all.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::cache::{safe_name, write_received};
use crate::scp::Received;

/// A job's state, as its `state` file holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Settled, waiting for analysis.
    Queued,
    /// Being analyzed (or was, when the service was killed).
    Analyzing,
    /// Results made, to be sent.
    Analyzed,
    /// Results sent and acknowledged.
    Sent,
    /// Not analyzed (not a CT, ...).
    Skipped,
    /// Analysis refused the series.
    Failed,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Analyzing => "analyzing",
            State::Analyzed => "analyzed",
            State::Sent => "sent",
            State::Skipped => "skipped",
            State::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<State> {
        Some(match s.trim() {
            "queued" => State::Queued,
            "analyzing" => State::Analyzing,
            "analyzed" => State::Analyzed,
            "sent" => State::Sent,
            "skipped" => State::Skipped,
            "failed" => State::Failed,
            _ => return None,
        })
    }

    /// Whether nothing more happens to a job in this state.
    pub fn is_final(self) -> bool {
        matches!(self, State::Sent | State::Skipped | State::Failed)
    }
}

/// One job (a settled series).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Job {
    /// Its id (the sanitized series UID).
    pub id: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Its state.
    pub state: State,
    /// Instances in its input.
    pub instances: usize,
}

impl Job {
    /// The input folder (the series' instances).
    pub fn input(&self) -> PathBuf {
        self.dir.join("input")
    }
    /// The results folder (complete when present).
    pub fn results(&self) -> PathBuf {
        self.dir.join("results")
    }
}

/// The queue folder and the lock that orders arrivals against settling.
pub struct Queue {
    root: PathBuf,
    lock: Mutex<()>,
}

fn io(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

impl Queue {
    /// Opens (creating) a queue folder.
    pub fn open(root: &Path) -> Result<Queue, String> {
        for d in ["incoming", "jobs"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| io(&root.join(d), e))?;
        }
        Ok(Queue {
            root: root.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    /// The queue's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one received instance into `incoming` (before its C-STORE is answered).
    pub fn receive(&self, r: &Received) -> Result<PathBuf, String> {
        let _g = self.guard();
        write_received(
            &self.root.join("incoming"),
            r.sop_class,
            r.sop_instance,
            r.transfer_syntax,
            r.data,
        )
        .map(|(p, _)| p)
    }

    /// Moves every series with no new instance for `settle` into a job; returns the
    /// messages to log (one per series settled or late instances put aside).
    pub fn settle(&self, settle: Duration) -> Vec<String> {
        let _g = self.guard();
        let mut log = Vec::new();
        let incoming = self.root.join("incoming");
        let Ok(studies) = std::fs::read_dir(&incoming) else {
            return log;
        };
        let now = SystemTime::now();
        for study in studies.filter_map(|e| e.ok()).map(|e| e.path()) {
            let Ok(series_dirs) = std::fs::read_dir(&study) else {
                continue;
            };
            for series in series_dirs.filter_map(|e| e.ok()).map(|e| e.path()) {
                let newest = std::fs::read_dir(&series)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.metadata().ok()?.modified().ok())
                    .max();
                let Some(newest) = newest else { continue };
                if now.duration_since(newest).unwrap_or_default() < settle {
                    continue;
                }
                let id = safe_name(&series.file_name().unwrap_or_default().to_string_lossy());
                let job = self.root.join("jobs").join(&id);
                let n = count_files(&series);
                let r = if job.join("input").exists() {
                    let late = job.join("late");
                    std::fs::create_dir_all(&late)
                        .map_err(|e| io(&late, e))
                        .and_then(|_| move_files(&series, &late))
                        .map(|_| {
                            format!("series {id}: {n} late instances put aside (already queued)")
                        })
                } else {
                    std::fs::create_dir_all(&job)
                        .map_err(|e| io(&job, e))
                        .and_then(|_| {
                            std::fs::rename(&series, job.join("input")).map_err(|e| io(&series, e))
                        })
                        .and_then(|_| write_state(&job, State::Queued))
                        .map(|_| format!("series {id} complete: {n} instances queued"))
                };
                log.push(r.unwrap_or_else(|e| format!("series {id}: could not queue: {e}")));
                let _ = std::fs::remove_dir(&series);
            }
            let _ = std::fs::remove_dir(&study);
        }
        log
    }

    /// Every job, in id order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.root.join("jobs")) else {
            return out;
        };
        for dir in rd.filter_map(|e| e.ok()).map(|e| e.path()) {
            if !dir.join("input").is_dir() {
                continue;
            }
            let state = std::fs::read_to_string(dir.join("state"))
                .ok()
                .and_then(|s| State::parse(&s))
                .unwrap_or(State::Queued);
            let id = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let instances = count_files(&dir.join("input"));
            out.push(Job {
                id,
                dir,
                state,
                instances,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Instances received and not yet settled into a job.
    pub fn incoming_instances(&self) -> usize {
        let mut n = 0;
        for study in std::fs::read_dir(self.root.join("incoming"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for series in std::fs::read_dir(study.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                n += count_files(&series.path());
            }
        }
        n
    }
}

fn move_files(from: &Path, to: &Path) -> Result<(), String> {
    for e in std::fs::read_dir(from).map_err(|e| io(from, e))?.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            let _ = std::fs::remove_file(e.path());
            continue;
        }
        std::fs::rename(e.path(), to.join(&name)).map_err(|er| io(&e.path(), er))?;
    }
    Ok(())
}

/// Writes a job's state (atomically).
pub fn write_state(job_dir: &Path, state: State) -> Result<(), String> {
    let path = job_dir.join("state");
    srrd_base::io::atomic_write(&path, |w| w.write_all(state.word().as_bytes()))
        .map_err(|e| e.to_string())
}

/// The file where an attempt records the PID of the process analyzing in it.
pub const ATTEMPT_PID_FILE: &str = "analyze.pid";

/// Stops the analysis process of a killed service's attempt: exactly the PID recorded in
/// the work folder, and only if that process still names this work folder.
fn stop_orphan(work: &Path) {
    let Ok(pid) = std::fs::read_to_string(work.join(ATTEMPT_PID_FILE)) else {
        return;
    };
    let pid = pid.trim();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = work.to_string_lossy();
    if String::from_utf8_lossy(&cmdline).contains(needle.as_ref()) {
        let _ = std::process::Command::new("kill")
            .args(["-9", pid])
            .status();
    }
}

/// Starts an analysis attempt: removes the work folders of killed attempts (stopping
/// their analysis process), marks the job analyzing, and returns a fresh work folder.
pub fn begin_attempt(job: &Job, attempt: u64) -> Result<PathBuf, String> {
    for e in std::fs::read_dir(&job.dir)
        .map_err(|e| io(&job.dir, e))?
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("work-") {
            stop_orphan(&e.path());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    write_state(&job.dir, State::Analyzing)?;
    let work = job
        .dir
        .join(format!("work-{}-{attempt}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| io(&work, e))?;
    Ok(work)
}

/// Ends an attempt that made `results_in_work`: renames it to `results`, then marks
/// the job analyzed.
pub fn finish_attempt(job: &Job, results_in_work: &Path) -> Result<(), String> {
    let results = job.results();
    if results.exists() {
        std::fs::remove_dir_all(&results).map_err(|e| io(&results, e))?;
    }
    std::fs::rename(results_in_work, &results).map_err(|e| io(results_in_work, e))?;
    write_state(&job.dir, State::Analyzed)?;
    for e in std::fs::read_dir(&job.dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("work-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    Ok(())
}

/// When a job was killed after its results were renamed in but before its state said
/// so, the results are complete: the job is analyzed.
pub fn recover_state(job: &mut Job) {
    if job.state == State::Analyzing
        && job.results().is_dir()
        && write_state(&job.dir, State::Analyzed).is_ok()
    {
        job.state = State::Analyzed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_recovery_uses_results() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::open(d.path()).unwrap();
        let job_dir = d.path().join("jobs").join("1.2.3");
        std::fs::create_dir_all(job_dir.join("input")).unwrap();
        std::fs::write(job_dir.join("input").join("a.dcm"), b"x").unwrap();
        write_state(&job_dir, State::Queued).unwrap();
        let jobs = q.jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].state, jobs[0].instances), (State::Queued, 1));
        let work = begin_attempt(&jobs[0], 1).unwrap();
        // killed here: a second attempt throws the first away
        std::fs::write(work.join("partial"), b"half").unwrap();
        let work2 = begin_attempt(&jobs[0], 2).unwrap();
        assert!(!work.exists() && work2.exists());
        std::fs::create_dir_all(work2.join("dicom")).unwrap();
        std::fs::rename(work2.join("dicom"), job_dir.join("results")).unwrap();
        // killed after the rename, before the state: recovery says analyzed
        let mut job = q.jobs().remove(0);
        assert_eq!(job.state, State::Analyzing);
        recover_state(&mut job);
        assert_eq!(job.state, State::Analyzed);
        assert_eq!(q.jobs()[0].state, State::Analyzed);
    }

    #[test]
    fn settle_moves_quiet_series_and_puts_late_ones_aside() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::open(d.path()).unwrap();
        let s = d.path().join("incoming").join("1.2").join("1.2.3");
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(s.join("a.dcm"), b"x").unwrap();
        assert!(
            q.settle(Duration::from_secs(3600)).is_empty(),
            "not quiet yet"
        );
        assert_eq!(q.incoming_instances(), 1);
        let log = q.settle(Duration::ZERO);
        assert_eq!(
            log,
            vec!["series 1.2.3 complete: 1 instances queued".to_string()]
        );
        assert_eq!(q.jobs()[0].instances, 1);
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(s.join("b.dcm"), b"y").unwrap();
        let log = q.settle(Duration::ZERO);
        assert!(log[0].contains("1 late instances put aside"), "{log:?}");
        assert_eq!(q.jobs()[0].instances, 1);
        assert!(d.path().join("jobs/1.2.3/late/b.dcm").is_file());
    }
}
