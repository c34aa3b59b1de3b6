//! Helpers shared by several commands: the progress bar, subject lists, number lists,
//! output names, and the word sets more than one command takes.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::progress::Progress;

/// Runs `work` on a worker thread while this thread draws a progress bar (on a terminal).
pub fn with_progress<T: Send>(
    work: impl FnOnce(&Progress) -> crate::Result<T> + Send,
) -> crate::Result<T> {
    let progress = Progress::new();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(1000);
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg:36} [{bar:30}] {percent:>3}%  {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    std::thread::scope(|s| {
        let handle = s.spawn(|| work(&progress));
        while !handle.is_finished() {
            if let Some(b) = &bar {
                b.set_message(progress.stage());
                b.set_position((progress.fraction() * 1000.0) as u64);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        handle
            .join()
            .unwrap_or_else(|_| Err(crate::Error::invalid("the worker thread panicked")))
    })
}

/// Subject indices from "A..B" (B excluded), "A,B,C" or "all" for a store of `n`.
pub fn parse_subjects(text: &str, n: usize) -> anyhow::Result<Vec<usize>> {
    let list: Vec<usize> = if text == "all" {
        (0..n).collect()
    } else if let Some((a, b)) = text.split_once("..") {
        let a: usize = if a.is_empty() {
            0
        } else {
            a.parse().context("--subjects start")?
        };
        let b: usize = if b.is_empty() {
            n
        } else {
            b.parse().context("--subjects end")?
        };
        (a..b.min(n)).collect()
    } else {
        text.split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .with_context(|| format!("--subjects '{s}'"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if list.is_empty() || list.iter().any(|i| *i >= n) {
        anyhow::bail!("--subjects {text}: the store has subjects 0..{n}");
    }
    Ok(list)
}

/// Parses "a,b,c" into three positive integers.
pub fn parse_triple(s: &str) -> Result<[usize; 3], String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{t}' is not a whole number"))
        })
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [a, b, c] if *a > 0 && *b > 0 && *c > 0 => Ok([*a, *b, *c]),
        _ => Err(format!("'{s}': give three positive numbers, e.g. 48,48,16")),
    }
}

/// A spacing given as three positive numbers of mm.
pub fn spacing_arg(flag: &str, v: Option<&[f64]>) -> anyhow::Result<Option<[f64; 3]>> {
    match v {
        None => Ok(None),
        Some(&[a, b, c]) if [a, b, c].iter().all(|x| x.is_finite() && *x > 0.0) => {
            Ok(Some([a, b, c]))
        }
        Some(other) => anyhow::bail!(
            "{flag} {other:?}: expected three positive spacings in mm, as 0.977,0.977,1.0"
        ),
    }
}

/// Refuses an output name that is not .nii or .nii.gz.
pub fn check_nifti_name(output: &Path) -> anyhow::Result<()> {
    let name = output.to_string_lossy();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        anyhow::bail!("{}: output must end in .nii or .nii.gz", output.display());
    }
    Ok(())
}

/// The morphometry method (`srrd morph --method`, `srrd patches --method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    // (No variant docs: clap would list them in --help.)
    Bonej,
    Paper,
}

impl MethodArg {
    /// The method's name as the command line and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            MethodArg::Bonej => "bonej",
            MethodArg::Paper => "paper",
        }
    }

    /// The morphometry method.
    pub fn method(self) -> crate::morphometry::Method {
        match self {
            MethodArg::Bonej => crate::morphometry::Method::BoneJ,
            MethodArg::Paper => crate::morphometry::Method::Paper,
        }
    }
}

/// The phantom image sizes (`srrd phantom --preset`, `srrd cohort --preset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetArg {
    Paper,
    Small,
}

impl PresetArg {
    /// The phantom preset.
    pub fn preset(self) -> crate::phantom::Preset {
        match self {
            PresetArg::Paper => crate::phantom::Preset::Paper,
            PresetArg::Small => crate::phantom::Preset::Small,
        }
    }
}

/// The synthesis networks' size (`srrd train-edges --config`, `srrd train-synthesis
/// --config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthConfigArg {
    Small,
    Paper,
}

impl SynthConfigArg {
    /// The network configuration.
    pub fn config(self) -> crate::synthesis::nets::SynthConfig {
        match self {
            SynthConfigArg::Small => crate::synthesis::nets::SynthConfig::small(),
            SynthConfigArg::Paper => crate::synthesis::nets::SynthConfig::paper(),
        }
    }
}

/// The regression networks' size (`srrd train-regression --config`, `srrd
/// eval-regression --config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NetConfigArg {
    Small,
    SmallHr,
    Paper,
}

impl NetConfigArg {
    /// The network configuration.
    pub fn config(self) -> crate::regression::nets::NetConfig {
        match self {
            NetConfigArg::Small => crate::regression::nets::NetConfig::small(),
            NetConfigArg::SmallHr => crate::regression::nets::NetConfig::small_hr(),
            NetConfigArg::Paper => crate::regression::nets::NetConfig::paper(),
        }
    }
}

/// Refuses a study list where a measure (`what`) needs a phantom's truth: only a cohort
/// folder written by `srrd cohort` has it.
pub(super) fn require_phantom_truth(path: &std::path::Path, what: &str) -> anyhow::Result<()> {
    if path.is_dir() && path.join("manifest.json").exists() {
        return Ok(());
    }
    anyhow::bail!(
        "{}: {what} needs a phantom cohort (srrd cohort), whose truth gives it; a study list \
         has none (annotators' landmarks are not read by this command yet)",
        path.display()
    )
}
