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
"""

import json
import os
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    cohort, out = Path(sys.argv[1]), Path(sys.argv[2])
    manifest = json.loads((cohort / "manifest.json").read_text())
    rows = ["kl,side,mr,ct,subject"]
    for n, s in enumerate(manifest["subjects"]):
        truth = json.loads((cohort / s["dir"] / "truth.json").read_text())
        acquisition = truth.get("acquisition") or {}
        side = truth.get("side", "right") if acquisition.get("bilateral") else ""
        name = f"CR-{n:03d}"
        (out / name).mkdir(parents=True, exist_ok=True)
        for f in ["ct.nii.gz", "mr.nii.gz"]:
            if not (out / name / f).exists():
                os.link(cohort / s["dir"] / f, out / name / f)
        rows.append(f"{s['kl_grade']},{side},{name}/mr.nii.gz,{name}/ct.nii.gz,{name}")
    (out / "study.csv").write_text("\n".join(rows) + "\n")
    print(f"{len(rows) - 1} knees: {out / 'study.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
