//! Agreement with the MR ground truth per acquisition group: the out-of-fold patch
//! predictions of `srrd eval-regression` grouped by how each knee's CT was acquired
//! (slice spacing, pixel size, side, bilateral, position, MR protocol, as `truth.json`
//! records it), ICC(A,1) per parameter and network in each group.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::experiments::diagnosis_eval::read_oof;
use crate::experiments::study_knees::study_knees;
use srrd_base::error::Result;
use srrd_phantom::acquisition::{Acquisition, MrProtocol};
use srrd_regression::dataset::{Manifest, TARGETS};
use srrd_stats::icc_a1;

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
    ("MR other than the preset (2D, coronal, axial)", |a| {
        a.mr != MrProtocol::Preset
    }),
];

/// ICC per acquisition group of the out-of-fold predictions in `oof_csv` for the store
/// described by `manifest` (its cohort's `truth.json` give the acquisitions). Knees with
/// no recorded acquisition count as the preset's scan. Empty groups are left out.
pub fn icc_by_acquisition(manifest: &Manifest, oof_csv: &Path) -> Result<Vec<GroupRow>> {
    let oof = read_oof(oof_csv)?;
    let cohort = study_knees(Path::new(&manifest.source))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use srrd_regression::dataset::{FORMAT, PatchSettings, SubjectEntry};

    /// A two-knee cohort (one thin-slice right knee, one thick-slice left knee) and an
    /// oof.csv where the student is exact on the first and constant on the second.
    #[test]
    fn groups_take_their_own_knees_patches() {
        let dir = tempfile::tempdir().expect("tmp");
        let cohort = dir.path().join("cohort");
        let thick = Acquisition {
            ct_slice_mm: Some(3.0),
            left: true,
            ..Default::default()
        };
        let thin = Acquisition {
            ct_slice_mm: Some(0.5),
            ..Default::default()
        };
        for (id, a) in [("k1", &thin), ("k2", &thick)] {
            std::fs::create_dir_all(cohort.join(id)).expect("dir");
            let truth =
                serde_json::json!({"side": if a.left {"left"} else {"right"}, "acquisition": a});
            std::fs::write(cohort.join(id).join("truth.json"), truth.to_string()).expect("truth");
        }
        let subjects =
            serde_json::json!({"subjects": [{"id": "k1", "dir": "k1"}, {"id": "k2", "dir": "k2"}]});
        std::fs::write(cohort.join("manifest.json"), subjects.to_string()).expect("manifest");
        let mut oof = String::from("subject,bone,x,y,z,method,a,b,c,d\n");
        for (id, exact) in [("k1", true), ("k2", false)] {
            for n in 0..20 {
                let t = [0.2 + 0.01 * n as f64, 0.8, 1.0 + 0.02 * n as f64, 0.5];
                let p = if exact { t } else { [0.3, 0.8, 1.2, 0.5] };
                for (method, v) in [
                    ("MR ground truth", t),
                    ("SRRD-CT (distilled)", p),
                    ("plain CNN", p),
                    ("MR teacher", t),
                ] {
                    oof += &format!(
                        "{id},1,{n},0,0,{method},{},{},{},{}\n",
                        v[0], v[1], v[2], v[3]
                    );
                }
            }
        }
        std::fs::write(dir.path().join("oof.csv"), oof).expect("oof");
        let manifest = Manifest {
            format: FORMAT.into(),
            settings: PatchSettings::default(),
            targets: Vec::new(),
            target_min: [0.0; 4],
            target_max: [1.0; 4],
            subjects: ["k1", "k2"]
                .map(|id| SubjectEntry {
                    id: id.into(),
                    file: String::new(),
                    patches: 20,
                    grade: None,
                    kl_grade: Some(0),
                    ct_acquired_mm: None,
                    content_id: None,
                    patient: None,
                })
                .to_vec(),
            source: cohort.display().to_string(),
            ct_spacing_mm: None,
            excluded: Vec::new(),
        };
        let rows = icc_by_acquisition(&manifest, &dir.path().join("oof.csv")).expect("table");
        let get = |g: &str| rows.iter().find(|r| r.group == g).expect(g);
        let thin_row = get("slices 0.5-0.625 mm");
        assert_eq!((thin_row.knees, thin_row.patches), (1, 20));
        assert!(
            (thin_row.icc[0][0] - 1.0).abs() < 1e-9,
            "exact: {:?}",
            thin_row.icc[0]
        );
        assert!(get("slices 2-3 mm").icc[0][0] < 0.1, "constant predictions");
        assert_eq!(get("left knees").knees, 1);
        assert_eq!(get("all knees").patches, 40);
        assert!(
            rows.iter().all(|r| r.group != "bilateral scans"),
            "empty groups left out"
        );
        assert!(markdown(&rows).contains("| left knees | 1 | 20 |"));
    }
}
