//! How the CT-only analysis holds up across acquisitions: each held-out phantom knee is
//! scanned again as clinics scan (other pixel sizes and slices, a left knee, both knees in
//! one field of view, a turned leg, feet first, a short scan) and analysed; its 48
//! subregion means and P(KOA) are compared with the same knee's reference acquisition
//! (the preset's). A refusal, with its reason, is a result too.

use std::time::Instant;

use serde::Serialize;

use crate::analyze::{Analysis, KneeChoice, Models, analyze_knee, prepare};
use srrd_base::error::Result;
use srrd_base::progress::Progress;
use srrd_phantom::acquisition::generate_acquired_with;
use srrd_phantom::{Acquisition, CohortCt, Config};
use srrd_segmentation::knees::Side;
use srrd_stats::{icc_a1, pearson};

/// The acquisitions of the robustness table: CT pixels 0.3 / 0.5 / 0.7 / 1.0 mm x slices
/// 0.5 / 1 / 2 / 3 mm, then a left knee, a bilateral CT, the leg turned 15 degrees, feet
/// first, a 70 mm short scan and 4 mm slices (beyond the range: to be refused). `quick`:
/// the corners of the grid and the others.
pub fn matrix(quick: bool) -> Vec<Acquisition> {
    let mut out = Vec::new();
    let (pixels, slices): (&[f64], &[f64]) = if quick {
        (&[0.5, 1.0], &[0.5, 3.0])
    } else {
        (&[0.3, 0.5, 0.7, 1.0], &[0.5, 1.0, 2.0, 3.0])
    };
    for &p in pixels {
        for &s in slices {
            out.push(Acquisition {
                ct_pixel_mm: Some(p),
                ct_slice_mm: Some(s),
                ..Default::default()
            });
        }
    }
    out.push(Acquisition {
        left: true,
        ..Default::default()
    });
    out.push(Acquisition {
        bilateral: true,
        ..Default::default()
    });
    out.push(Acquisition {
        leg_rotation_deg: 15.0,
        ..Default::default()
    });
    out.push(Acquisition {
        feet_first: true,
        ..Default::default()
    });
    out.push(Acquisition {
        ct_fov_z_mm: Some(70.0),
        ..Default::default()
    });
    out.push(Acquisition {
        ct_slice_mm: Some(4.0),
        ..Default::default()
    });
    out
}

/// One knee under one acquisition against its reference.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub subject: String,
    pub acquisition: String,
    /// "right" or "left" (for bilateral CTs, each knee is a row).
    pub knee: String,
    /// Analysed and scored, analysed with the score withheld, or refused.
    pub outcome: String,
    /// The refusal's or the withholding's reason.
    pub reason: Option<String>,
    /// Over the 48 subregion means: Pearson r of the raw values, and r and ICC(A,1) of
    /// the values standardized per parameter by the reference's mean and SD over the 12
    /// subregions (so the parameters' different scales do not make r look good).
    pub r_raw: Option<f64>,
    pub r_z: Option<f64>,
    pub icc_z: Option<f64>,
    /// Mean over the 48 of |value - reference| / reference.
    pub mean_rel_diff: Option<f64>,
    pub p_koa: Option<f64>,
    pub p_koa_reference: Option<f64>,
    pub seconds: f64,
}

/// The 48 subregion means (12 subregions x 4 parameters, parameter-major).
fn means(a: &Analysis) -> Vec<f64> {
    (0..4)
        .flat_map(|p| a.stats.iter().map(move |s| s.mean[p]))
        .collect()
}

/// Compares `test` with `reference` (both 48 means).
fn agreement(test: &[f64], reference: &[f64]) -> (Option<f64>, Option<f64>, Option<f64>, f64) {
    let r_raw = pearson(test, reference);
    let mut zt = Vec::new();
    let mut zr = Vec::new();
    for p in 0..4 {
        let r = &reference[p * 12..p * 12 + 12];
        let m = r.iter().sum::<f64>() / 12.0;
        let sd = (r.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 11.0)
            .sqrt()
            .max(1e-9);
        zr.extend(r.iter().map(|v| (v - m) / sd));
        zt.extend(test[p * 12..p * 12 + 12].iter().map(|v| (v - m) / sd));
    }
    let rel = test
        .iter()
        .zip(reference)
        .map(|(t, r)| ((t - r) / r).abs())
        .sum::<f64>()
        / test.len() as f64;
    (
        r_raw,
        pearson(&zt, &zr),
        icc_a1(&zt, &zr).map(|i| i.value),
        rel,
    )
}

/// The reference result of one knee (and of the other knee of its bilateral draw).
struct Reference {
    means: Vec<f64>,
    p_koa: Option<f64>,
}

fn reference_of(a: &Analysis) -> Reference {
    Reference {
        means: means(a),
        p_koa: a.koa.as_ref().map(|k| k.probability),
    }
}

fn case(
    subject: &str,
    acquisition: &str,
    knee: &str,
    result: Result<Analysis>,
    reference: &Reference,
    seconds: f64,
) -> CaseResult {
    let mut c = CaseResult {
        subject: subject.into(),
        acquisition: acquisition.into(),
        knee: knee.into(),
        outcome: "refused".into(),
        reason: None,
        r_raw: None,
        r_z: None,
        icc_z: None,
        mean_rel_diff: None,
        p_koa: None,
        p_koa_reference: reference.p_koa,
        seconds,
    };
    match result {
        Err(e) => c.reason = Some(e.to_string()),
        Ok(a) => {
            let (r_raw, r_z, icc_z, rel) = agreement(&means(&a), &reference.means);
            c.r_raw = r_raw;
            c.r_z = r_z;
            c.icc_z = icc_z;
            c.mean_rel_diff = Some(rel);
            c.p_koa = a.koa.as_ref().map(|k| k.probability);
            c.outcome = if a.koa_withheld.is_some() {
                "score withheld".into()
            } else {
                "analysed".into()
            };
            c.reason = a.koa_withheld.clone();
        }
    }
    c
}

/// Runs `acquisitions` on each `(id, config)` knee and compares with its reference.
pub fn evaluate(
    subjects: &[(String, Config)],
    acquisitions: &[Acquisition],
    models: &Models,
    progress: &Progress,
    mut log: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>> {
    let mut out = Vec::new();
    let ct = CohortCt::default();
    for (id, config) in subjects {
        let t0 = Instant::now();
        let reference = {
            let p = generate_acquired_with(*config, ct, &Acquisition::default(), false, progress)?;
            reference_of(&crate::analyze::analyze(&p.ct, None, models, progress)?)
        };
        let ref_seconds = t0.elapsed().as_secs_f64();
        let ref_case = CaseResult {
            subject: id.clone(),
            acquisition: "reference".into(),
            knee: "right".into(),
            outcome: "analysed".into(),
            reason: None,
            r_raw: Some(1.0),
            r_z: Some(1.0),
            icc_z: Some(1.0),
            mean_rel_diff: Some(0.0),
            p_koa: reference.p_koa,
            p_koa_reference: reference.p_koa,
            seconds: ref_seconds,
        };
        log(&ref_case);
        out.push(ref_case);
        for acq in acquisitions {
            progress.check()?;
            let name = acq.name();
            let p = match generate_acquired_with(*config, ct, acq, false, progress) {
                Ok(p) => p,
                Err(e) => {
                    let c = case(id, &name, "right", Err(e), &reference, 0.0);
                    log(&c);
                    out.push(c);
                    continue;
                }
            };
            let main_side = if acq.left { Side::Left } else { Side::Right };
            let t = Instant::now();
            let prepared = prepare(&p.ct, models, progress);
            match prepared {
                Err(e) => {
                    let c = case(
                        id,
                        &name,
                        main_side.name(),
                        Err(e),
                        &reference,
                        t.elapsed().as_secs_f64(),
                    );
                    log(&c);
                    out.push(c);
                }
                Ok(prepared) if prepared.layout.is_bilateral() => {
                    // Each knee against itself alone: the main knee's reference is the
                    // one above; the other knee is analysed alone from its own CT.
                    let other_alone = match &p.other_knee {
                        Some(o) => {
                            reference_of(&crate::analyze::analyze(&o.ct, None, models, progress)?)
                        }
                        None => continue,
                    };
                    for (side, reference) in
                        [(main_side, &reference), (main_side.other(), &other_alone)]
                    {
                        let t = Instant::now();
                        let a = analyze_knee(
                            &p.ct,
                            &prepared,
                            KneeChoice::Side(side),
                            None,
                            models,
                            progress,
                        );
                        let c = case(
                            id,
                            &name,
                            side.name(),
                            a,
                            reference,
                            t.elapsed().as_secs_f64(),
                        );
                        log(&c);
                        out.push(c);
                    }
                }
                Ok(prepared) => {
                    let a =
                        analyze_knee(&p.ct, &prepared, KneeChoice::Only, None, models, progress);
                    let c = case(
                        id,
                        &name,
                        main_side.name(),
                        a,
                        &reference,
                        t.elapsed().as_secs_f64(),
                    );
                    log(&c);
                    out.push(c);
                }
            }
        }
    }
    Ok(out)
}

/// The table as Markdown, one row per knee and acquisition.
pub fn markdown(cases: &[CaseResult]) -> String {
    let f = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |x| format!("{x:.d$}"));
    let mut s = String::from(
        "| knee | acquisition | side | outcome | r (48 raw) | r (48 z) | ICC(A,1) (z) | mean rel. diff | P(KOA) (ref) | time (s) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in cases {
        // The reason's check and what it found (up to its second colon).
        let outcome = match &c.reason {
            Some(r) => {
                let short: String = r.splitn(3, ':').take(2).collect::<Vec<_>>().join(":");
                format!("{} ({})", c.outcome, short.replace('|', "/"))
            }
            None => c.outcome.clone(),
        };
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {:.1} |\n",
            c.subject,
            c.acquisition,
            c.knee,
            outcome,
            f(c.r_raw, 3),
            f(c.r_z, 3),
            f(c.icc_z, 3),
            f(c.mean_rel_diff.map(|v| v * 100.0), 1) + "%",
            f(c.p_koa, 3),
            f(c.p_koa_reference, 3),
            c.seconds
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_perfect_on_equal_values_and_drops_with_a_shuffle() {
        let reference: Vec<f64> = (0..48)
            .map(|n| 0.3 + (n % 12) as f64 * 0.01 + (n / 12) as f64)
            .collect();
        let (r, rz, icc, rel) = agreement(&reference, &reference);
        assert!((r.unwrap_or(0.0) - 1.0).abs() < 1e-12);
        assert!((rz.unwrap_or(0.0) - 1.0).abs() < 1e-12);
        assert!((icc.unwrap_or(0.0) - 1.0).abs() < 1e-9);
        assert_eq!(rel, 0.0);
        // Reversing each parameter's subregions keeps the raw r high (the parameters'
        // scales dominate) but not the standardized one.
        let mut shuffled = reference.clone();
        for p in 0..4 {
            shuffled[p * 12..p * 12 + 12].reverse();
        }
        let (r, rz, _, _) = agreement(&shuffled, &reference);
        assert!(r.unwrap_or(0.0) > 0.99, "{r:?}");
        assert!(rz.unwrap_or(1.0) < 0.0, "{rz:?}");
    }
}
