//! A study's accepted cases analysed as a reader asks (egui_kittest and the CLI): a
//! rejected registration is analysed CT-only with the reason in its report unless
//! `--use-rejected`; the worklist runs the batch in the background with progress over
//! the study and cancel, and its rows show each case's result.

use std::path::Path;

use egui_kittest::kittest::Queryable;
use srrd::pipeline::worklist::Decision;

#[path = "common/study.rs"]
mod study;
use study::{gpu_harness, harness, save_look, study, wait};

/// Writes a reader's verdicts on cases of `list` into `reader` (as the review panel does).
fn review_cases(list: &Path, reader: &Path, verdicts: &[(usize, Decision)]) {
    use srrd::pipeline::worklist::{CaseWork, Worklist, new_review};
    let mut wl = Worklist::open(list, reader).expect("worklist");
    for &(i, d) in verdicts {
        let mut r = new_review(&wl.rows[i]);
        r.decision = Some(d);
        let work = CaseWork {
            status: d.status(),
            review: Some(r),
            ..Default::default()
        };
        wl.save_case(i, &work).expect("save");
    }
}

fn analyze_study(list: &Path, args: &[&str], out: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(["analyze", "--manifest"])
        .arg(list)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

fn report_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("report")).expect("json")
}

#[test]
fn a_rejected_registration_is_analysed_ct_only_unless_asked() {
    let s = study();
    let reader = s.dir.join("reads/radiologist");
    review_cases(
        &s.list,
        &reader,
        &[(0, Decision::Accept), (2, Decision::Reject)],
    );
    let out = s.dir.join("results");
    let reviews = reader.to_str().expect("utf-8");
    let err = analyze_study(
        &s.list,
        &["--subjects", "knee1,knee3", "--reviews", reviews],
        &out,
    );
    assert!(err.contains("knee3: CT-only: the reader rejected"), "{err}");
    // The rejected knee: no MR in the report, no MR-measured rows, no registration, and
    // the reason in the report, its text and its page.
    let rejected = report_json(&out.join("knee3/report.json"));
    assert_eq!(rejected["status"], "done");
    assert!(rejected["mr"].is_null(), "{}", rejected["mr"]);
    assert!(rejected["subregions_mr"].is_null());
    assert!(rejected["registration"].is_null());
    let why = rejected["mr_not_used"].as_str().expect("the reason");
    assert!(
        why.contains("rejected") && why.contains("knee3/review.json"),
        "{why}"
    );
    let log = std::fs::read_to_string(out.join("knee3/analyze.log")).expect("log");
    assert!(log.contains("CT-only: the reader rejected"), "{log}");
    let page = std::fs::read_to_string(out.join("knee3/report.html")).expect("html");
    assert!(page.contains("CT-only"));
    assert!(!out.join("knee3/rrMR.nii.gz").exists());
    // The accepted knee used its MR: 12 MR-measured subregion rows and the registration.
    let accepted = report_json(&out.join("knee1/report.json"));
    assert!(accepted["mr"].as_str().expect("mr").ends_with("mr.nii.gz"));
    assert!(accepted.get("mr_not_used").is_none());
    assert_eq!(accepted["subregions_mr"].as_array().map(Vec::len), Some(12));
    assert!(out.join("knee1/rrMR.nii.gz").exists());

    // Asked to: the rejected knee's MR is used again (the CT-only report is not taken for
    // a finished one), the accepted knee is already done.
    let err = analyze_study(
        &s.list,
        &[
            "--subjects",
            "knee1,knee3",
            "--reviews",
            reviews,
            "--use-rejected",
        ],
        &out,
    );
    assert!(err.contains("knee1: already done"), "{err}");
    let used = report_json(&out.join("knee3/report.json"));
    assert!(
        used["mr"]
            .as_str()
            .expect("mr")
            .ends_with("mr_turned.nii.gz")
    );
    assert!(used.get("mr_not_used").is_none());
    assert_eq!(used["subregions_mr"].as_array().map(Vec::len), Some(12));
}

#[test]
fn the_worklist_analyses_the_accepted_cases_in_the_background() {
    let s = study();
    let reader = s.dir.join("reads/radiologist");
    review_cases(
        &s.list,
        &reader,
        &[
            (0, Decision::Accept),
            (1, Decision::Accept),
            (2, Decision::Reject),
            (3, Decision::NeedsFix),
        ],
    );
    let mut h = harness(&s.list, &reader);
    assert!(
        h.state()
            .worklist()
            .expect("worklist")
            .results()
            .iter()
            .all(Option::is_none)
    );
    h.get_by_label("Analyze accepted cases").click();
    h.run_steps(2);
    assert!(h.state().is_busy(), "the batch runs in the background");
    assert!(
        h.query_all_by_label_contains(" of 3").next().is_some(),
        "progress over the study"
    );
    wait(&mut h);
    let w = h.state().worklist().expect("worklist");
    let results = w.results().to_vec();
    let line = w.batch_line().unwrap_or_default().to_string();
    assert!(line.starts_with("3 cases analysed, 0 failed"), "{line}");
    // Each analysed row shows its score (or that it was withheld) and its worst check, as
    // its report says; the rejected case is CT-only; the others have none.
    let out = reader.join("results");
    for (i, subject) in ["knee1", "knee2", "knee3"].iter().enumerate() {
        let report = srrd::pipeline::report::Report::read(&out.join(subject).join("report.json"))
            .expect("report where analyze --manifest puts it");
        let shown = results[i].clone().expect("a result in the row");
        assert_eq!(shown, srrd::pipeline::study_run::result_status(&report));
        assert!(
            shown.starts_with("P(KOA) ") || shown.starts_with("withheld"),
            "{shown}"
        );
        let rows_with_it = results
            .iter()
            .filter(|r| r.as_ref() == Some(&shown))
            .count();
        assert_eq!(
            h.query_all_by_label(&shown).count(),
            rows_with_it,
            "rows show {shown}"
        );
        let ct_only = report.mr_not_used.is_some();
        assert_eq!(ct_only, *subject == "knee3", "{subject}");
        assert_eq!(shown.ends_with("; CT-only"), ct_only, "{shown}");
        assert_eq!(report.mr.is_some(), !ct_only);
    }
    assert!(results[3].is_none() && results[4].is_none(), "{results:?}");
    assert!(!out.join("knee4").exists());
    drop(h);
    // The cohort report reads them where `analyze --manifest` would have put them.
    let cohort = std::process::Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(["cohort-report", "--json", "--manifest"])
        .arg(&s.list)
        .arg("--results")
        .arg(&out)
        .arg("--out")
        .arg(s.dir.join("cohort"))
        .output()
        .expect("run");
    assert!(
        cohort.status.success(),
        "{}",
        String::from_utf8_lossy(&cohort.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&cohort.stdout).expect("json");
    let statuses: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["done", "done", "done", "missing", "missing"]);

    // Reopened, the rows read their results back; "all cases" can be cancelled, and what
    // was not reached has no result.
    let mut h = gpu_harness(&s.list, &reader);
    save_look(&mut h, "worklist_results");
    assert_eq!(
        h.state().worklist().expect("worklist").results(),
        results.as_slice()
    );
    h.get_by_label("Analyze all cases").click();
    for _ in 0..10 {
        h.run_steps(1);
        if h.query_by_label("Cancel").is_some() {
            break;
        }
    }
    assert!(
        h.state().is_busy(),
        "{:?}",
        h.state().worklist().and_then(|w| w.batch_line())
    );
    h.get_by_label("Cancel").click();
    wait(&mut h);
    let w = h.state().worklist().expect("worklist");
    let line = w.batch_line().unwrap_or_default();
    assert!(line.starts_with("cancelled after"), "{line}");
    assert!(w.results()[4].is_none());
    assert!(!out.join("knee5/report.json").exists());
}
