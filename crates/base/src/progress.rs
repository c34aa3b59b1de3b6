//! Progress and cancellation of long work, shared between the worker and whoever watches
//! it (the GUI's frame loop or the CLI's progress bar). Lock-free apart from the stage name.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A progress counter for one stage at a time, with a cancel flag.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancel: AtomicBool,
    stage: Mutex<String>,
    /// Every stage started so far, with when it started.
    history: Mutex<Vec<(String, std::time::Instant)>>,
}

impl Progress {
    /// A fresh progress at 0 of 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a stage of `total` units.
    pub fn start(&self, stage: &str, total: u64) {
        if let Ok(mut s) = self.stage.lock() {
            *s = stage.to_string();
        }
        if let Ok(mut h) = self.history.lock()
            && h.last().is_none_or(|(name, _)| name != stage)
        {
            h.push((stage.to_string(), std::time::Instant::now()));
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Marks `n` more units done.
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Fraction of the current stage done, in [0, 1].
    pub fn fraction(&self) -> f64 {
        let t = self.total.load(Ordering::Relaxed);
        if t == 0 {
            return 0.0;
        }
        (self.done.load(Ordering::Relaxed) as f64 / t as f64).min(1.0)
    }

    /// The current stage's name.
    pub fn stage(&self) -> String {
        self.stage.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The stages started so far, in order, with their start times (a stage restarted
    /// at once under the same name counts once).
    pub fn history(&self) -> Vec<(String, std::time::Instant)> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Asks the work to stop at its next check.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether cancel was asked.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancel was asked: call it between units of work.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_cancels() {
        let p = Progress::new();
        p.start("render", 4);
        p.advance(1);
        assert_eq!(p.fraction(), 0.25);
        assert_eq!(p.stage(), "render");
        assert!(p.check().is_ok());
        p.cancel();
        assert!(matches!(p.check(), Err(Error::Cancelled)));
    }
}
