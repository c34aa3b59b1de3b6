"""Knees per hour through the cohort workflow (CT only), as a benchmark run by hand:

    python3 benches/workflow_throughput.py --srrd target/debug/srrd \
        --snakemake .venv-workflow/bin/snakemake --cohort COHORT --n 100 \
        [--profile local|slurm] [--threads 2] [--one-process]

COHORT is a folder written by `srrd cohort` (its CTs; a bilateral scan's row names the
subject's side). The manifest has N rows that cycle through the cohort's knees under
distinct ids (the time of a knee depends on its CT, not on its id). Prints the wall time,
knees per hour, the time of a rerun with nothing to do, and with --one-process the same
knees through `srrd analyze --manifest` in one process (models loaded once).
"""
import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def manifest_for(cohort, n, path):
    subjects = json.loads((cohort / "manifest.json").read_text())["subjects"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subject", "ct", "side", "label"])
        for i in range(n):
            s = subjects[i % len(subjects)]
            truth = json.loads((cohort / s["dir"] / "truth.json").read_text())
            bilateral = (truth.get("acquisition") or {}).get("bilateral", False)
            w.writerow([f"k{i:04d}", str(cohort / s["dir"] / "ct.nii.gz"), truth["side"] if bilateral else "",
                        s.get("grade", "")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    ap.add_argument("--snakemake", required=True)
    ap.add_argument("--cohort", required=True, type=Path)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--profile", default="local", choices=["local", "slurm"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--one-process", action="store_true")
    ap.add_argument("--keep", type=Path)
    a = ap.parse_args()
    srrd = str(Path(a.srrd).resolve())
    work = a.keep or Path(tempfile.mkdtemp(prefix="srrd-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "study.csv"
    manifest_for(a.cohort.resolve(), a.n, manifest)
    cores = ["--cores", str(a.cores)] if a.profile == "local" else []
    cmd = [a.snakemake, "-s", str(ROOT / "workflow/Snakefile"), "--workflow-profile",
           str(ROOT / "workflow/profiles" / a.profile), *cores, "--directory", str(work / a.profile),
           "--config", f"manifest={manifest}", "results=results", f"srrd={srrd}", f"threads={a.threads}"]
    if a.profile == "local":
        cmd += ["--set-threads", f"analyze={a.threads}"]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(p.stdout[-3000:] + p.stderr[-3000:])
    res = work / a.profile / "results"
    done = sum(json.loads((res / f"k{i:04d}" / "report.json").read_text())["status"] == "done" for i in range(a.n))
    t0 = time.time()
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    rerun = time.time() - t0
    print(f"{a.profile} profile, {a.n} knees of {a.cohort.name} ({done} done), {a.threads} threads per knee, "
          f"{a.cores} cores: {wall:.0f} s, {a.n / wall * 3600:.0f} knees/hour, {wall / a.n:.2f} s per knee; "
          f"rerun with nothing to do {rerun:.1f} s")
    if a.one_process:
        t0 = time.time()
        subprocess.run([srrd, "analyze", "--manifest", str(manifest), "--out", str(work / "one"),
                        "--threads", str(a.cores)], capture_output=True, text=True, check=True)
        wall1 = time.time() - t0
        print(f"one process (srrd analyze --manifest, models loaded once, {a.cores} threads): {wall1:.0f} s, "
              f"{a.n / wall1 * 3600:.0f} knees/hour, {wall1 / a.n:.2f} s per knee")


if __name__ == "__main__":
    main()
