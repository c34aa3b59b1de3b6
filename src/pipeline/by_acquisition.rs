//! Agreement with the MR ground truth per acquisition group: the out-of-fold patch
//! predictions of `srrd eval-regression` grouped by how each knee's CT was acquired
//! (slice spacing, pixel size, side, bilateral, position, MR protocol, as `truth.json`
//! records it), ICC(A,1) per parameter and network in each group.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::diagnosis::evaluate::read_oof;
use crate::error::Result;
use crate::phantom::acquisition::{Acquisition, MrProtocol};
use crate::pipeline::patches::cohort_subjects;
use crate::regression::dataset::{Manifest, TARGETS};
use crate::stats::icc_a1;

/// The networks reported, as `oof.csv` names them.
pub const NETWORKS: [&str; 3] = ["SRRD-CT (distilled)", "plain CNN", "MR teacher"];

/// One acquisition group's agreement.
#[derive(Clone, Debug, Serialize)]
pub struct GroupRow {
    pub group: String,
    pub knees: usize,
    pub patches: usize,
    /// `icc[network][parameter]`, networks in [`NETWORKS`] order (NaN: too few patches).
    pub icc: Vec<[f64; 4]>,
}

/// The groups: a name and who belongs.
type Group = (&'static str, fn(&Acquisition) -> bool);

fn slice(a: &Acquisition) -> f64 {
    a.ct_slice_mm.unwrap_or(1.0)
}

fn pixel(a: &Acquisition) -> f64 {
    a.ct_pixel_mm.unwrap_or(0.977)
}

const GROUPS: [Group; 14] = [
    ("all knees", |_| true),
    ("slices 0.5-0.625 mm", |a| slice(a) <= 0.7),
    ("slices 1-1.25 mm", |a| (0.7..1.5).contains(&slice(a))),
    ("slices 2-3 mm", |a| slice(a) >= 1.5),
    ("pixels 0.3-0.5 mm", |a| pixel(a) < 0.5),
    ("pixels 0.5-0.75 mm", |a| (0.5..0.75).contains(&pixel(a))),
    ("pixels 0.75-1 mm", |a| pixel(a) >= 0.75),
    ("left knees", |a| a.left),
    ("right knees", |a| !a.left),
    ("bilateral scans", |a| a.bilateral),
    ("feet first", |a| a.feet_first),
    ("short scan (60-80 mm)", |a| a.ct_fov_z_mm.is_some()),
    ("MR 3D sagittal (preset)", |a| a.mr == MrProtocol::Preset),
    ("MR 2D (thick slices, any plane)", |a| {
        a.mr != MrProtocol::Preset
    }),
];

/// ICC per acquisition group of the out-of-fold predictions in `oof_csv` for the store
/// described by `manifest` (its cohort's `truth.json` give the acquisitions). Knees with
/// no recorded acquisition count as the preset's scan. Empty groups are left out.
pub fn icc_by_acquisition(manifest: &Manifest, oof_csv: &Path) -> Result<Vec<GroupRow>> {
    let oof = read_oof(oof_csv)?;
    let cohort = cohort_subjects(Path::new(&manifest.source))?;
    let acquisition: HashMap<&str, Acquisition> = cohort
        .iter()
        .map(|c| (c.id.as_str(), c.acquisition.clone().unwrap_or_default()))
        .collect();
    let mut rows = Vec::new();
    for (name, member) in GROUPS {
        let ids: Vec<&str> = manifest
            .subjects
            .iter()
            .map(|s| s.id.as_str())
            .filter(|id| acquisition.get(id).is_some_and(member))
            .filter(|id| oof.contains_key(&(id.to_string(), "MR ground truth".to_string())))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let truth: Vec<[f64; 4]> = ids
            .iter()
            .flat_map(|id| &oof[&(id.to_string(), "MR ground truth".to_string())])
            .map(|(_, p)| *p)
            .collect();
        let icc = NETWORKS
            .iter()
            .map(|net| {
                let pred: Vec<[f64; 4]> = ids
                    .iter()
                    .flat_map(|id| {
                        oof.get(&(id.to_string(), net.to_string()))
                            .map(Vec::as_slice)
                            .unwrap_or(&[])
                    })
                    .map(|(_, p)| *p)
                    .collect();
                std::array::from_fn(|a| {
                    let x: Vec<f64> = pred.iter().map(|r| r[a]).collect();
                    let y: Vec<f64> = truth.iter().map(|r| r[a]).collect();
                    icc_a1(&x, &y).map_or(f64::NAN, |i| i.value)
                })
            })
            .collect();
        rows.push(GroupRow {
            group: name.to_string(),
            knees: ids.len(),
            patches: truth.len(),
            icc,
        });
    }
    Ok(rows)
}

/// The table as Markdown: the student's ICC per parameter, then the plain CNN's and the
/// teacher's mean over the four.
pub fn markdown(rows: &[GroupRow]) -> String {
    let mut s = String::from(
        "ICC(A,1) against the MR ground truth per CT acquisition group (out-of-fold patches)\n\n\
         | acquisition | knees | patches |",
    );
    for (name, _) in TARGETS {
        s += &format!(" student {name} |");
    }
    s += " plain CNN (mean) | MR teacher (mean) |\n|---|---|---|---|---|---|---|---|---|\n";
    let mean = |v: &[f64; 4]| v.iter().sum::<f64>() / 4.0;
    for r in rows {
        s += &format!("| {} | {} | {} |", r.group, r.knees, r.patches);
        for v in r.icc[0] {
            s += &format!(" {v:.3} |");
        }
        s += &format!(" {:.3} | {:.3} |\n", mean(&r.icc[1]), mean(&r.icc[2]));
    }
    s
}
