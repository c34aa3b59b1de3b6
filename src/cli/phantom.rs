//! `srrd phantom` and `srrd cohort`: synthetic knees with known truth.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::phantom::{self, Acquisition, Acquisitions, Config, Grade, MrProtocol, Preset};
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

/// How the knee is scanned (`srrd phantom` and `srrd cohort`); every option defaults to
/// the preset's acquisition.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AcquisitionArgs {
    /// CT in-plane pixel size, mm (clinical 0.3-1.0).
    #[arg(long)]
    pub ct_pixel_mm: Option<f64>,
    /// CT slice spacing, mm (clinical 0.5-3).
    #[arg(long)]
    pub ct_slice_mm: Option<f64>,
    /// CT slice thickness, mm (default: the spacing).
    #[arg(long)]
    pub ct_thickness_mm: Option<f64>,
    /// CT coverage along the leg, mm, centred on the joint (a short scan: 60-80).
    #[arg(long)]
    pub ct_fov_z_mm: Option<f64>,
    /// Patient fed into the CT feet first (the image axes turned).
    #[arg(long)]
    pub feet_first: bool,
    /// The leg turned about its long axis in the CT scanner, degrees.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub leg_rotation_deg: f64,
    /// A left knee (the subject mirrored, truth included).
    #[arg(long)]
    pub left: bool,
    /// Both knees in the CT's field of view (the other one its own subject, in
    /// other_knee/).
    #[arg(long)]
    pub bilateral: bool,
    /// MR protocol: sagittal (the preset's 3D), thick2d (3 mm sagittal slices), coronal
    /// or axial (default: the preset's). With `srrd cohort --acquisitions clinical` it
    /// fixes every knee's MR while the CTs are drawn.
    #[arg(long)]
    pub mr_protocol: Option<String>,
}

impl AcquisitionArgs {
    /// The acquisition asked for (`psf_mm`: the CT's PSF option, shared with the cohort's).
    pub fn acquisition(&self, psf_mm: Option<f64>) -> anyhow::Result<Acquisition> {
        let a = Acquisition {
            ct_pixel_mm: self.ct_pixel_mm,
            ct_slice_mm: self.ct_slice_mm,
            ct_thickness_mm: self.ct_thickness_mm,
            ct_psf_mm: psf_mm,
            ct_fov_z_mm: self.ct_fov_z_mm,
            feet_first: self.feet_first,
            leg_rotation_deg: self.leg_rotation_deg,
            left: self.left,
            bilateral: self.bilateral,
            mr: match &self.mr_protocol {
                Some(p) => MrProtocol::parse(p)?,
                None => MrProtocol::Preset,
            },
        };
        a.validate()?;
        Ok(a)
    }
}

/// `srrd phantom`.
pub fn phantom(
    out: &Path,
    seed: u64,
    grade: &str,
    preset: &str,
    acquisition: &Acquisition,
    json: bool,
) -> anyhow::Result<()> {
    let config = Config {
        seed,
        grade: Grade::parse(grade)?,
        preset: Preset::parse(preset)?,
    };
    // Fail before the work if the folder cannot be made.
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let p = with_progress(|progress| {
        let p = if acquisition.is_default() {
            phantom::generate(config, progress)?
        } else {
            phantom::acquisition::generate_acquired(
                config,
                phantom::CohortCt::default(),
                acquisition,
                progress,
            )?
        };
        p.write(out, progress)?;
        Ok(p)
    })
    .with_context(|| format!("writing the phantom to {}", out.display()))?;
    let timings: Vec<String> = p
        .timings_s
        .iter()
        .map(|(n, t)| format!("{n} {t:.2} s"))
        .collect();
    eprintln!(
        "phantom seed {} ({}, KL {}, preset {}) written to {} [{}]",
        seed,
        config.grade.name(),
        p.truth.kl_grade,
        config.preset.name(),
        out.display(),
        timings.join(", ")
    );
    if json {
        println!(
            "{}",
            serde_json::json!({
                "out": out,
                "seed": seed,
                "grade": config.grade.name(),
                "kl_grade": p.truth.kl_grade,
                "preset": config.preset.name(),
                "ct": out.join("ct.nii.gz"),
                "mr": out.join("mr.nii.gz"),
                "truth": out.join("truth.json"),
                "flexion_deg": p.truth.flexion_deg,
                "trabecular": p.truth.trabecular.subregions,
            })
        );
    } else {
        println!("subregion                   BV/TV   Tb.Th mm  Tb.Sp mm  Tb.N /mm");
        for s in &p.truth.trabecular.subregions {
            println!(
                "{:<27} {:.3}   {:.3}     {:.3}     {:.3}",
                format!("{} {}", s.bone, s.subregion),
                s.bv_tv,
                s.tb_th_mm,
                s.tb_sp_mm,
                s.tb_n_per_mm
            );
        }
    }
    Ok(())
}

/// `srrd cohort`.
pub fn cohort(
    out: &Path,
    n: usize,
    seed: u64,
    preset: &str,
    ct: phantom::CohortCt,
    acquisitions: &Acquisitions,
    json: bool,
) -> anyhow::Result<()> {
    if n == 0 {
        anyhow::bail!("--n must be at least 1");
    }
    if let Some(sd) = ct.psf_sd_mm
        && !(0.0..=5.0).contains(&sd)
    {
        anyhow::bail!("--ct-psf-mm {sd}: expected a standard deviation from 0 to 5 mm");
    }
    for (flag, sd) in [
        ("--ct-marrow-hu-sd", ct.marrow_hu_sd),
        ("--ct-bone-hu-sd", ct.bone_hu_sd),
    ] {
        if !(0.0..=500.0).contains(&sd) {
            anyhow::bail!("{flag} {sd}: expected a standard deviation from 0 to 500 HU");
        }
    }
    let preset = Preset::parse(preset)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let entries = with_progress(|progress| {
        phantom::write_cohort(
            out,
            n,
            seed,
            preset,
            ct,
            acquisitions,
            progress,
            |e, reused| {
                eprintln!(
                    "  {}: {} (KL {}){}",
                    e.id,
                    e.grade,
                    e.kl_grade,
                    if reused { ", already written" } else { "" }
                );
            },
        )
    })
    .with_context(|| format!("writing the cohort to {}", out.display()))?;
    eprintln!(
        "{} subjects and manifest.json written to {}",
        entries.len(),
        out.display()
    );
    if json {
        println!(
            "{}",
            serde_json::json!({ "out": out, "manifest": out.join("manifest.json"), "count": entries.len() })
        );
    }
    Ok(())
}
