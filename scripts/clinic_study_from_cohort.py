#!/usr/bin/env python3
"""Writes a phantom cohort (`srrd cohort`) as a clinic brings its knees: one folder per knee
holding only its CT and MR (hard links, no copies), named as a clinic names them
(CR-000...), and a study list with each knee's KL grade and, for a bilateral scan, the
side (`kl,side,mr,ct,subject`: columns in another order than ours). No truth.json, no
manifest.json, no phantom landmarks: `srrd study --manifest OUT/study.csv` sees what a
clinic's study gives it. This is how the demo weights were retrained through the study
path (docs/results.md, "The demo weights retrained from a clinic-style study"):

    srrd cohort --out cohortCR --n 32 --seed 5 --preset paper --acquisitions clinical --mr-protocol sagittal
    python3 scripts/clinic_study_from_cohort.py cohortCR clinicCR
    srrd study --manifest clinicCR/study.csv --out studyCR --folds 5 --epochs 12 --teacher-epochs 12 --batch 32 \\
        --provenance "trained on synthetic knee phantoms only; for research use, not clinically validated"

With `--twin COHORT2` (the same knees scanned again: `srrd cohort` with the same --n,
--seed and --preset and another acquisition), each knee gets a second row, `CR-000-2`,
with COHORT2's CT and the same patient (`patient` column), so cross-validation keeps both
scans of a knee in one fold:

    srrd cohort --out cohortCP --n 32 --seed 5 --preset paper --mr-protocol sagittal
    python3 scripts/clinic_study_from_cohort.py cohortCR clinicCR2 --twin cohortCP
"""

import json
import os
import sys
from pathlib import Path


def knee_row(cohort: Path, s: dict, out: Path, name: str, patient: str) -> str:
    """Links one knee's CT and MR into `out/name` and returns its study row."""
    truth = json.loads((cohort / s["dir"] / "truth.json").read_text())
    acquisition = truth.get("acquisition") or {}
    side = truth.get("side", "right") if acquisition.get("bilateral") else ""
    (out / name).mkdir(parents=True, exist_ok=True)
    for f in ["ct.nii.gz", "mr.nii.gz"]:
        if not (out / name / f).exists():
            os.link(cohort / s["dir"] / f, out / name / f)
    return f"{s['kl_grade']},{side},{name}/mr.nii.gz,{name}/ct.nii.gz,{name},{patient}"


def main() -> int:
    args = sys.argv[1:]
    twin = None
    if len(args) == 4 and args[2] == "--twin":
        twin = Path(args[3])
        args = args[:2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cohort, out = Path(args[0]), Path(args[1])
    manifest = json.loads((cohort / "manifest.json").read_text())
    subjects = manifest["subjects"]
    twins = None
    if twin is not None:
        twins = json.loads((twin / "manifest.json").read_text())["subjects"]
        mine = [(s["seed"], s["kl_grade"]) for s in subjects]
        theirs = [(s["seed"], s["kl_grade"]) for s in twins]
        if mine != theirs:
            print(f"{twin}: not the same knees as {cohort} (seeds or grades differ)", file=sys.stderr)
            return 1
    rows = ["kl,side,mr,ct,subject,patient"]
    for n, s in enumerate(subjects):
        name = f"CR-{n:03d}"
        rows.append(knee_row(cohort, s, out, name, name))
        if twins is not None:
            rows.append(knee_row(twin, twins[n], out, f"{name}-2", name))
    (out / "study.csv").write_text("\n".join(rows) + "\n")
    print(f"{len(rows) - 1} knees: {out / 'study.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
