//! The cohort table: one row per knee of a study from its `report.json` (as `srrd
//! analyze --manifest` or the workflow writes it): the 12 subregions' means and SDs of the
//! four parameters, P(KOA), the quality checks, timing, version and model ids; failures
//! and knees with no report are rows too, with their error and log. Written as CSV.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::study_list::{Label, StudyRow};
use srrd_diagnosis::subregions::NAMES;
use srrd_regression::dataset::TARGETS;

/// One knee's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct KneeRow {
    pub subject: String,
    pub label: Option<Label>,
    /// done, failed or missing (no report yet).
    pub status: String,
    pub error: Option<String>,
    pub log: Option<String>,
    pub side: Option<String>,
    pub p_koa: Option<f64>,
    pub koa_class: Option<String>,
    pub koa_withheld: Option<String>,
    /// (check name, pass/warn/fail) in report order.
    pub checks: Vec<(String, String)>,
    /// `means[subregion][parameter]` (NaN where the subregion had no patch).
    pub means: Vec<[f64; 4]>,
    pub sds: Vec<[f64; 4]>,
    pub total_s: Option<f64>,
    pub srrd_version: Option<String>,
    pub regression_id: Option<String>,
    pub classifier_id: Option<String>,
}

impl KneeRow {
    /// The worst quality-check status (fail > warn > pass), None without checks.
    pub fn worst_check(&self) -> Option<&str> {
        ["fail", "warn", "pass"]
            .into_iter()
            .find(|w| self.checks.iter().any(|(_, s)| s == w))
    }

    /// The knee-level value of parameter `a`: the mean of its subregion means.
    pub fn knee_mean(&self, a: usize) -> Option<f64> {
        let v: Vec<f64> = self
            .means
            .iter()
            .map(|m| m[a])
            .filter(|v| v.is_finite())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }
}

fn missing_row(row: &StudyRow, status: &str, error: String, log: Option<String>) -> KneeRow {
    KneeRow {
        subject: row.subject.clone(),
        label: row.label,
        status: status.into(),
        error: Some(error),
        log,
        side: None,
        p_koa: None,
        koa_class: None,
        koa_withheld: None,
        checks: Vec::new(),
        means: vec![[f64::NAN; 4]; 12],
        sds: vec![[f64::NAN; 4]; 12],
        total_s: None,
        srrd_version: None,
        regression_id: None,
        classifier_id: None,
    }
}

/// The rows of a study whose knees' folders are `results/<subject>`.
pub fn read_rows(study: &[StudyRow], results: &Path) -> Vec<KneeRow> {
    study
        .iter()
        .map(|row| {
            let dir = results.join(&row.subject);
            let path = dir.join("report.json");
            let log = dir.join("analyze.log");
            let log = log.exists().then(|| log.display().to_string());
            let report: Value = match std::fs::read(&path) {
                Err(_) => return missing_row(row, "missing", "no report.json".into(), log),
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(e) => {
                        return missing_row(
                            row,
                            "failed",
                            format!("{}: not JSON ({e})", path.display()),
                            log,
                        );
                    }
                },
            };
            from_report(row, &report, log)
        })
        .collect()
}

fn from_report(row: &StudyRow, r: &Value, log: Option<String>) -> KneeRow {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let status = text(&r["status"]).unwrap_or_else(|| "done".into());
    if status != "done" {
        return missing_row(
            row,
            &status,
            text(&r["error"]).unwrap_or_else(|| "failed".into()),
            text(&r["log"]).or(log),
        );
    }
    let mut means = vec![[f64::NAN; 4]; 12];
    let mut sds = vec![[f64::NAN; 4]; 12];
    for s in r["subregions_ct"].as_array().into_iter().flatten() {
        let Some(l) = s["label"].as_u64().filter(|l| (1..=12).contains(l)) else {
            continue;
        };
        for (a, (name, _)) in TARGETS.iter().enumerate() {
            let p = &s["parameters"][name];
            let patches = s["patches"].as_u64().unwrap_or(0);
            if patches > 0 {
                means[l as usize - 1][a] = p["mean"].as_f64().unwrap_or(f64::NAN);
                sds[l as usize - 1][a] = p["sd"].as_f64().unwrap_or(f64::NAN);
            }
        }
    }
    KneeRow {
        subject: row.subject.clone(),
        label: row.label,
        status,
        error: None,
        log,
        side: text(&r["knee"]["side"]),
        p_koa: r["koa"]["probability"].as_f64(),
        koa_class: text(&r["koa"]["class"]),
        koa_withheld: text(&r["koa_withheld"]),
        checks: r["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| Some((text(&c["name"])?, text(&c["status"])?)))
            .collect(),
        means,
        sds,
        total_s: r["total_s"].as_f64(),
        srrd_version: text(&r["srrd_version"]),
        regression_id: text(&r["model_ids"]["regression"]),
        classifier_id: text(&r["model_ids"]["classifier"]),
    }
}

/// A CSV field, quoted when it needs it.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map(|v| format!("{v:.6}"))
        .unwrap_or_default()
}

/// The check names over all rows, in first-seen order.
pub fn check_names<'a>(rows: impl IntoIterator<Item = &'a KneeRow>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (n, _) in rows.into_iter().flat_map(|r| &r.checks) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// The failures (knees refused, or with no report) as CSV: subject, label, status, error,
/// log.
pub fn failures_csv(rows: &[KneeRow]) -> String {
    let mut out = String::from("subject,label,status,error,log\n");
    for r in rows.iter().filter(|r| r.status != "done") {
        out += &format!(
            "{},{},{},{},{}\n",
            field(&r.subject),
            field(&r.label.map(|l| l.to_string()).unwrap_or_default()),
            r.status,
            field(r.error.as_deref().unwrap_or("")),
            field(r.log.as_deref().unwrap_or(""))
        );
    }
    out
}

/// The table of finished knees as CSV: identity, P(KOA), checks, then
/// `<subregion>_<param>_mean` and `_sd` for the 12 subregions and 4 parameters, timing,
/// version and model ids. Failures are not rows here (see [`failures_csv`]).
pub fn to_csv(rows: &[KneeRow]) -> String {
    let rows: Vec<&KneeRow> = rows.iter().filter(|r| r.status == "done").collect();
    let checks = check_names(rows.iter().copied());
    let mut head: Vec<String> = [
        "subject",
        "label",
        "side",
        "p_koa",
        "koa_class",
        "koa_withheld",
        "worst_check",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    head.extend(
        checks
            .iter()
            .map(|c| format!("check_{}", c.replace(' ', "_"))),
    );
    for name in NAMES {
        for (p, _) in TARGETS {
            let name = name.replace(' ', "_");
            head.push(format!("{name}_{p}_mean"));
            head.push(format!("{name}_{p}_sd"));
        }
    }
    head.extend(
        [
            "total_s",
            "srrd_version",
            "regression_model",
            "classifier_model",
        ]
        .map(String::from),
    );
    let mut out = head.join(",") + "\n";
    for r in rows {
        let mut f: Vec<String> = vec![
            field(&r.subject),
            field(&r.label.map(|l| l.to_string()).unwrap_or_default()),
            r.side.clone().unwrap_or_default(),
            num(r.p_koa),
            r.koa_class.clone().unwrap_or_default(),
            field(r.koa_withheld.as_deref().unwrap_or("")),
            r.worst_check().unwrap_or("").to_string(),
        ];
        for c in &checks {
            f.push(
                r.checks
                    .iter()
                    .find(|(n, _)| n == c)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default(),
            );
        }
        for s in 0..12 {
            for a in 0..4 {
                f.push(num(Some(r.means[s][a])));
                f.push(num(Some(r.sds[s][a])));
            }
        }
        f.push(num(r.total_s));
        f.push(r.srrd_version.clone().unwrap_or_default());
        f.push(r.regression_id.clone().unwrap_or_default());
        f.push(r.classifier_id.clone().unwrap_or_default());
        out += &(f.join(",") + "\n");
    }
    out
}

/// P(KOA) and KOA truth (KL >= 2) of the knees that have both (for the ROC).
pub fn roc_inputs(rows: &[KneeRow]) -> (Vec<f64>, Vec<bool>) {
    rows.iter()
        .filter_map(|r| Some((r.p_koa?, r.label?.is_koa())))
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn row(subject: &str, label: &str) -> StudyRow {
        StudyRow {
            subject: subject.into(),
            ct: PathBuf::from("ct.nii.gz"),
            mr: None,
            ct_series: None,
            mr_series: None,
            side: None,
            label: Some(Label::parse(label).expect("label")),
            ct_landmarks: None,
            mr_landmarks: None,
            patient: None,
            row: 2,
        }
    }

    #[test]
    fn reports_become_rows_failures_stay_out_of_the_table() {
        let dir = tempfile::tempdir().expect("tmp");
        let done = serde_json::json!({
            "status": "done",
            "knee": {"side": "left"},
            "koa": {"probability": 0.8, "class": "KOA"},
            "checks": [{"name": "bones", "status": "pass"}, {"name": "joint space", "status": "warn"}],
            "subregions_ct": [{"label": 2, "patches": 5, "parameters": {
                "bv_tv": {"mean": 0.4, "sd": 0.05}, "tb_th_mm": {"mean": 0.9, "sd": 0.1},
                "tb_sp_mm": {"mean": 1.1, "sd": 0.2}, "tb_n_per_mm": {"mean": 0.6, "sd": 0.07}}}],
            "total_s": 3.5,
            "srrd_version": "0.1.0",
            "model_ids": {"regression": "abc", "classifier": "def"}
        });
        let failed = serde_json::json!({"status": "failed", "error": "no knee, a \"wrist\"", "log": "x.log"});
        for (s, r) in [("a", &done), ("b", &failed)] {
            std::fs::create_dir_all(dir.path().join(s)).expect("dir");
            std::fs::write(dir.path().join(s).join("report.json"), r.to_string()).expect("write");
        }
        let study = [row("a", "KL 3"), row("b", "normal"), row("c", "1")];
        let rows = read_rows(&study, dir.path());
        let status: Vec<&str> = rows.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(status, ["done", "failed", "missing"]);
        assert_eq!(rows[0].worst_check(), Some("warn"));
        assert_eq!(rows[0].means[1][2], 1.1, "femur MC is label 2");
        assert!(rows[0].means[0][0].is_nan(), "a subregion without patches");
        assert_eq!(rows[0].knee_mean(0), Some(0.4));
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "header and the one finished knee: {csv}");
        let head: Vec<&str> = lines[0].split(',').collect();
        let cells: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(head.len(), cells.len());
        let at = |name: &str| cells[head.iter().position(|h| *h == name).expect(name)];
        assert_eq!(at("subject"), "a");
        assert_eq!(at("p_koa"), "0.800000");
        assert_eq!(at("check_joint_space"), "warn");
        assert_eq!(at("femur_MC_tb_sp_mm_mean"), "1.100000");
        assert_eq!(at("femur_MA_bv_tv_mean"), "");
        assert_eq!(at("regression_model"), "abc");
        let failures = failures_csv(&rows);
        assert!(
            failures.contains("b,normal,failed,\"no knee, a \"\"wrist\"\"\",x.log"),
            "{failures}"
        );
        assert!(
            failures.contains("c,KL 1,missing,no report.json,"),
            "{failures}"
        );
        assert_eq!(roc_inputs(&rows), (vec![0.8], vec![true]));
        assert_eq!(at("label"), "KL 3");
    }
}
