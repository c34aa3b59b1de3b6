"""The cohort workflow with the local profile, as a user runs it: 4 small phantom knees,
one of them broken (its "CT" is an MR, which srrd analyze refuses).

Checks: three finished reports and one failed report; the cohort table has three rows
and the failures table names the broken knee with its log; a second run does nothing;
after deleting one report, only that knee and the cohort table run again. Then the
`train` target on the same knees with their MRs: one preparation job per knee (the
broken one left out, not failed), one study job, its report and models folder; a second
run does nothing.

    python tests/workflow/check_workflow.py --srrd target/debug/srrd \
        --snakemake .venv-workflow/bin/snakemake [--keep DIR] [--profile slurm]

With --profile slurm (opt-in: a Slurm must be running, e.g. scripts/slurm-local.sh as
root) the same checks run through sbatch, and the knees must have gone as a group job.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return p


PROFILE = "local"


def snakemake(sm, work, srrd, manifest, extra=(), targets=()):
    cores = ["--cores", "2"] if PROFILE == "local" else []
    cmd = [
        sm, *targets, "-s", str(ROOT / "workflow/Snakefile"),
        "--workflow-profile", str(ROOT / "workflow/profiles" / PROFILE),
        *cores, "--directory", str(work),
        "--config", f"manifest={manifest}", "results=results", f"srrd={srrd}",
        *extra,
    ]
    p = run(cmd)
    return p, p.stdout + p.stderr


def jobs_run(log):
    """Rules Snakemake ran, from its 'rule NAME:' / 'localrule NAME:' lines."""
    out = []
    for line in log.splitlines():
        s = line.strip()
        for prefix in ("rule ", "localrule "):
            if s.startswith(prefix) and s.endswith(":"):
                out.append(s[len(prefix):-1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    ap.add_argument("--snakemake", required=True)
    ap.add_argument("--keep")
    ap.add_argument("--profile", default="local", choices=["local", "slurm"])
    a = ap.parse_args()
    global PROFILE
    PROFILE = a.profile
    srrd = str(Path(a.srrd).resolve())
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="srrd-wf-"))
    tmp.mkdir(parents=True, exist_ok=True)
    cohort = tmp / "cohort"
    if not (cohort / "manifest.json").exists():
        p = run([srrd, "cohort", "--out", str(cohort), "--n", "3", "--preset", "small", "--seed", "3"])
        assert p.returncode == 0, p.stderr
    subjects = json.loads((cohort / "manifest.json").read_text())["subjects"]
    manifest = tmp / "study.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subject", "ct", "label"])
        for s in subjects:
            w.writerow([s["id"], f"cohort/{s['dir']}/ct.nii.gz", s["grade"]])
        # Broken: an MR where the CT should be.
        w.writerow(["broken", f"cohort/{subjects[0]['dir']}/mr.nii.gz", "normal"])
    work = tmp / f"run-{a.profile}"
    work.mkdir(exist_ok=True)

    # First run: three knees done, one failure listed, the table has three rows.
    p, log = snakemake(a.snakemake, work, srrd, manifest)
    assert p.returncode == 0, log
    res = work / "results"
    status = {s: json.loads((res / s / "report.json").read_text())["status"]
              for s in [x["id"] for x in subjects] + ["broken"]}
    assert status == {**{x["id"]: "done" for x in subjects}, "broken": "failed"}, status
    with open(res / "cohort/cohort.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["subject"] for r in table] == [x["id"] for x in subjects], table
    for r in table:
        assert 0.0 < float(r["femur_MC_bv_tv_mean"]) < 1.0, r
        assert r["srrd_version"] and r["regression_model"], r
    with open(res / "cohort/failures.csv") as f:
        failures = list(csv.DictReader(f))
    assert [r["subject"] for r in failures] == ["broken"], failures
    assert "Hounsfield" in failures[0]["error"], failures
    assert Path(failures[0]["log"]).exists(), failures
    html = (res / "cohort/cohort.html").read_text()
    assert "broken" in html and "Failures" in html and "<svg" in html
    if PROFILE == "slurm":
        assert "Submitted group job" in log, log
    print(f"first run: 3 done, 1 failed, {len(table)} rows", file=sys.stderr)

    # Second run: nothing to do.
    p, log = snakemake(a.snakemake, work, srrd, manifest)
    assert p.returncode == 0, log
    assert jobs_run(log) == [] and "Nothing to be done" in log, log
    print("second run: nothing to be done", file=sys.stderr)

    # Delete one report: only that knee and the aggregate run again.
    gone = subjects[1]["id"]
    others = {s["id"]: (res / s["id"] / "report.json").stat().st_mtime_ns
              for s in subjects if s["id"] != gone}
    (res / gone / "report.json").unlink()
    p, log = snakemake(a.snakemake, work, srrd, manifest)
    assert p.returncode == 0, log
    assert sorted(jobs_run(log)) == ["all", "analyze", "cohort"], jobs_run(log)
    assert f"subject={gone}" in log, log
    assert (res / gone / "report.json").exists()
    for s, t in others.items():
        assert (res / s / "report.json").stat().st_mtime_ns == t, f"{s} was redone"
    print(f"after deleting {gone}'s report: only it and the cohort table reran", file=sys.stderr)

    # A bad manifest is refused up front with the row.
    bad = tmp / "dup.csv"
    bad.write_text(manifest.read_text() + f"{subjects[0]['id']},x.nii.gz,normal\n")
    p, log = snakemake(a.snakemake, work, srrd, bad)
    assert p.returncode != 0 and "appears twice, in rows 2 and 6" in log, log
    print("duplicated subject refused with its row", file=sys.stderr)

    # The train target: per-knee preparation jobs, then the study (no labels: the
    # regression only, tiny settings).
    study = tmp / "train.csv"
    with open(study, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subject", "ct", "mr"])
        for s in subjects:
            w.writerow([s["id"], f"cohort/{s['dir']}/ct.nii.gz", f"cohort/{s['dir']}/mr.nii.gz"])
        w.writerow(["broken", f"cohort/{subjects[0]['dir']}/mr.nii.gz", f"cohort/{subjects[0]['dir']}/mr.nii.gz"])
    tiny = ["train_folds=2", "train_epochs=1", "train_per_knee=8", "train_extra=--batch 8"]
    p, log = snakemake(a.snakemake, work, srrd, study, tiny, ["train"])
    assert p.returncode == 0, log
    ran = jobs_run(log)
    assert sorted(ran) == sorted(["prepare_knee"] * 4 + ["study", "train"]), ran
    store = res / "study/store"
    entries = {x: json.loads((store / f"{x}.entry.json").read_text())
               for x in [s["id"] for s in subjects] + ["broken"]}
    # A small phantom's refined field may fold: that knee is left out by the registration
    # check, recorded as the broken one is, and the study goes on.
    used = [x for x, e in entries.items() if "entry" in e]
    assert all("entry" in e or "registration" in e["excluded"]
               for x, e in entries.items() if x != "broken"), entries
    assert "excluded" in entries["broken"] and "mr.nii.gz" in entries["broken"]["excluded"], entries
    assert len(used) >= 2, entries
    report = (res / "study/report.md").read_text()
    assert "| broken |" in report and "Tb.Sp" in report, report
    card = json.loads((res / "study/models/regression/model.json").read_text())
    assert card["subjects"] == used and card["study"]["name"] == "train.csv", card["study"]
    p, log = snakemake(a.snakemake, work, srrd, study, tiny, ["train"])
    assert p.returncode == 0 and jobs_run(log) == [], log
    print(f"train target: 4 knee jobs ({4 - len(used)} left out), the study, models; a rerun does nothing",
          file=sys.stderr)
    print("workflow checks passed")


if __name__ == "__main__":
    main()
