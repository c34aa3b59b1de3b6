#!/usr/bin/env python3
"""A research group's own study through `srrd study --manifest`, made here as a clinic would
bring it (issue #34): not by `srrd cohort`'s folder layout, and without any phantom truth.

1. Nine small-preset phantom knees (`srrd cohort --preset small`) are written by pydicom as
   each knee's PACS export: ONE folder per knee holding its CT (CT Image Storage, stored
   unsigned with RescaleIntercept -1024) and its MR (MR Image Storage), generated UIDs,
   files named IM-SSSS-NNNN.dcm. No truth.json, no manifest.json, no landmarks beside them.
2. A study list with KL grades (`kl,study,subject`: columns in another order, the folder
   named once in `study`).
3. Two readers' landmarks saved as the reading room saves them (reads/<reader>/<case>/
   landmarks_{ct,mr}.json): the phantom's true points with 1 mm RMS of noise each, every
   reader and every image drawn independently.
4. `srrd study --manifest study.csv --landmarks r1 --landmarks r2` runs end to end: its TRE
   table against the same knees' table from the phantom truth (`eval-registration
   --cohort`): each stage's RMS TRE equals the truth's with the readers' noise added in
   quadrature (independent errors add in variance), within 0.5 mm; the inter-reader
   distance is the noise's; Table 3 has every parameter; `models/` has the networks, the
   classifier and the synthesis model, their cards naming the study (its list's FNV-1a
   hash, the knees, the label counts) and the cross-validated metrics.
5. `srrd analyze --models DIR/models` on one knee's export: the report names the models
   folder and the study.
6. Run again, `srrd study` resumes: nothing is measured or cut twice, and the tables are
   the same.

Run with the reference venv:
    $HOME/.cache/srrd/venv-ref/bin/python tests/real_files/own_study_check.py --srrd target/debug/srrd
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pacs_export_check import lps, write_series  # noqa: E402

failures: list[str] = []
NOISE_MM = 1.0  # RMS length of each reader's error per point


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def run(srrd: str, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([srrd, *args], capture_output=True, text=True, timeout=1800)


def fnv1a(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def last_json(text: str) -> dict:
    return json.loads([l for l in text.splitlines() if l.startswith("{")][-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    ap.add_argument("--keep")
    a = ap.parse_args()
    srrd = str(Path(a.srrd).resolve())
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="srrd-study-"))
    tmp.mkdir(parents=True, exist_ok=True)

    # 1. The knees, and each one's export folder written by pydicom.
    cohort = tmp / "phantoms"
    if not (cohort / "manifest.json").exists():
        p = run(srrd, ["cohort", "--out", str(cohort), "--n", "9", "--seed", "22", "--preset", "small"])
        assert p.returncode == 0, p.stderr
    knees = json.loads((cohort / "manifest.json").read_text())["subjects"]
    clinic = tmp / "clinic"
    # The first two KOA knees belong to one patient (the `patient` column): every fold keeps
    # them together.
    rows = ["kl,study,subject,patient"]
    twin_names = []
    kl_of = {"normal": [0, 1], "mild": [2], "advanced": [3, 4]}
    for n, k in enumerate(knees):
        sid, grade = k["id"], k["grade"]
        name = f"PAT{n + 101:04d}"
        folder = clinic / "export" / name
        if not folder.exists():
            folder.mkdir(parents=True)
            ct_img = nib.load(str(cohort / sid / "ct.nii.gz"))
            mr_img = nib.load(str(cohort / sid / "mr.nii.gz"))
            ct = np.asarray(ct_img.dataobj, dtype=np.float64)
            mr = np.asarray(mr_img.dataobj, dtype=np.float64)
            study = {"uid": generate_uid(), "for": generate_uid()}
            who = {"PatientID": name, "PatientName": f"Knee^{name}"}
            write_series(folder, 3, ct, lps(ct_img), study,
                         {"Modality": "CT", "SeriesDescription": "KNEE BONE", "ConvolutionKernel": "BONE",
                          "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"], **who})
            write_series(folder, 5, mr, lps(mr_img), study,
                         {"Modality": "MR", "SeriesDescription": "PD SPACE SAG",
                          "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"], **who})
        grades = kl_of[grade]
        kl = grades[n % len(grades)]
        twin = kl >= 2 and len(twin_names) < 2
        if twin:
            twin_names.append(name)
        rows.append(f"{kl},export/{name},{name},{'TWIN' if twin else ''}")
        # 3. The readers' landmarks, from the phantom's truth with noise.
        for r, reader in enumerate(["r1", "r2"]):
            case = clinic / "reads" / reader / name
            case.mkdir(parents=True, exist_ok=True)
            for m, image in enumerate(["ct", "mr"]):
                marks = json.loads((cohort / sid / f"landmarks_{image}.json").read_text())
                rng = np.random.default_rng(1000 * n + 10 * r + m)
                for lm in marks["landmarks"]:
                    lm["position_mm"] = [float(v) for v in
                                         np.asarray(lm["position_mm"]) + rng.normal(0, NOISE_MM / math.sqrt(3), 3)]
                (case / f"landmarks_{image}.json").write_text(json.dumps(marks, indent=1))
    study_csv = clinic / "study.csv"
    study_csv.write_text("\n".join(rows) + "\n")
    check(not list(clinic.rglob("truth.json")) and not list(clinic.rglob("manifest.json")),
          "the clinic's folder holds no phantom truth")

    # Too few knees of a class for the folds: refused up front, with the counts.
    t0 = time.time()
    p = run(srrd, ["study", "--manifest", str(study_csv), "--out", str(tmp / "refused"), "--folds", "5"])
    first_of = {}
    for row in rows[1:]:
        kl, _, name, patient = row.split(",")
        first_of.setdefault(patient or name, int(kl) >= 2)
    koa = sum(first_of.values())
    counts = f"{koa} KOA and {len(first_of) - koa} normal patients"
    check(p.returncode != 0 and counts in p.stderr and "use --folds 3" in p.stderr
          and not (tmp / "refused/store").exists() and time.time() - t0 < 30,
          f"5 folds refused up front: {p.stderr.strip()[-200:]}")

    # 4. The whole study.
    out = tmp / "study"
    args = ["study", "--manifest", str(study_csv), "--landmarks", str(clinic / "reads/r1"),
            "--landmarks", str(clinic / "reads/r2"), "--out", str(out), "--folds", "3",
            "--epochs", "1", "--batch", "32", "--per-knee", "24"]
    t0 = time.time()
    p = run(srrd, args)
    first_s = time.time() - t0
    check(p.returncode == 0, f"srrd study --manifest runs end to end in {first_s:.0f} s ({p.stderr.strip()[-600:]})")
    if p.returncode != 0:
        return 1
    report = (out / "report.md").read_text()

    # The readers' TRE table against the phantom truth's, stage by stage.
    # (The report's table has the rigid + sCT stage too; these two leave it out for time.)
    check("sCT" in report.split("## Synthesis")[0], "the report's TRE table has the sCT stage")
    p = run(srrd, ["eval-registration", "--manifest", str(study_csv), "--landmarks", str(clinic / "reads/r1"),
                   "--landmarks", str(clinic / "reads/r2"), "--synthesis", "none", "--json"])
    readers = last_json(p.stdout)
    p = run(srrd, ["eval-registration", "--cohort", str(cohort), "--synthesis", "none", "--json"])
    truth = last_json(p.stdout)
    measured = [(r, t) for r, t in zip(readers["rows"], truth["rows"]) if t["pairs"] and r["pairs"]]
    check(len(measured) >= 3, f"{len(measured)} stages measured each")
    noise_var = 2 * NOISE_MM ** 2  # a CT point's and an MR point's error, independent

    def rms(row: dict) -> float:
        n = row["pairs"]
        return math.sqrt(row["mean_mm"] ** 2 + row["sd_mm"] ** 2 * (n - 1) / n)

    for rr, tr in measured:
        expect = math.sqrt(rms(tr) ** 2 + noise_var)
        check(abs(rms(rr) - expect) < 0.5,
              f"{tr['method']}: readers' RMS TRE {rms(rr):.2f} mm, truth {rms(tr):.2f} mm, with the noise {expect:.2f} mm")
    # Two readers' points differ by two independent errors: per axis SD sqrt(2/3) mm, their
    # distance Maxwell-distributed with mean 2 SD sqrt(2/pi).
    sd = NOISE_MM * math.sqrt(2 / 3)
    maxwell = 2 * sd * math.sqrt(2 / math.pi)
    between = readers["inter_reader"]["mean_mm"]
    check(abs(between - maxwell) < 0.2, f"inter-reader distance {between:.2f} mm, the noise's {maxwell:.2f} mm")
    check("inter-reader" in report.lower() or "between readers" in report.lower(),
          "report.md has the inter-reader distance")
    table3 = report.split("## Regression (Table 3)")[1].split("## Diagnosis")[0]
    for name in ["BV/TV", "Tb.Th", "Tb.Sp", "Tb.N"]:
        check(re.search(r"\| distilled[^\n]*", table3) is not None and name in table3, f"Table 3 has {name}")
    table4 = report.split("## Diagnosis (Table 4)")[1].split("## Knees left out")[0]
    check("SRRD-CT" in table4 and "Not evaluated" not in table4, "Table 4 is evaluated")

    # The models folder and its cards.
    card = json.loads((out / "models/regression/model.json").read_text())
    st = card.get("study") or {}
    check(st.get("name") == "study.csv" and st.get("list_hash") == fnv1a(study_csv.read_bytes()),
          f"the card names the study and its list's hash ({st.get('list_hash')})")
    left_out = [e[0] for e in st.get("excluded", [])]
    used = [f"PAT{n + 101:04d}" for n in range(len(knees)) if f"PAT{n + 101:04d}" not in left_out]
    for name in left_out:
        check(f"| {name} |" in report.split("## Knees left out")[1], f"{name} is left out, in the report's table")
    kl_used: dict[str, int] = {}
    for row in rows[1:]:
        kl, _, name, _ = row.split(",")
        if name in used:
            kl_used[f"KL {kl}"] = kl_used.get(f"KL {kl}", 0) + 1
    check(st.get("knees_listed") == len(knees) and st.get("knees_used") == len(used) and st.get("label_counts") == kl_used,
          f"{len(used)} of {len(knees)} knees used, label counts {st.get('label_counts')}")
    check(len(card["subject_content_ids"]) == len(used) and card["subjects"] == used,
          "the training knees by id and content")
    # One patient's two knees: recorded in the store, and in or out of each fold together.
    store = json.loads((out / "store/manifest.json").read_text())
    twins = [e["id"] for e in store["subjects"] if e.get("patient") == "TWIN"]
    check(twins == [n for n in twin_names if n in used],
          f"the store records the patient of {twins}")
    if len(twins) == 2:
        for fold_card in sorted((out / "regression").glob("fold-*/model.json")):
            trained = json.loads(fold_card.read_text())["subjects"]
            check((twins[0] in trained) == (twins[1] in trained),
                  f"{fold_card.parent.name}: the patient's two knees train together ({twins[0] in trained})")
    rows_cv = (card.get("evaluation") or {}).get("rows", [])
    check(len(rows_cv) == 16 and all(math.isfinite(r["icc_pooled"]) for r in rows_cv),
          "the card has the cross-validated ICC of 4 methods x 4 parameters")
    check("not clinically validated" in card["provenance"] and "study.csv" in card["provenance"],
          f"provenance: {card['provenance']}")
    clf = json.loads((out / "models/diagnosis/koa_classifier.json").read_text())
    auc = clf["evaluation"]["scores"]["auc"]
    check(0.0 <= auc <= 1.0 and "study study.csv" in clf["trained_on"], f"classifier: CV AUC {auc:.3f}; {clf['trained_on'][:80]}")
    check((out / "models/synthesis/model.json").exists(), "the synthesis model is in the folder")
    md = (out / "models/MODEL_CARD.md").read_text()
    check(st.get("list_hash", "?") in md and "KL " in md and "AUC" in md, "MODEL_CARD.md: hash, labels, AUC")

    # 5. analyze --models with that folder.
    ex = clinic / "export" / used[0]
    p = run(srrd, ["analyze", "--ct", str(ex), "--models", str(out / "models"), "--out", str(tmp / "a"), "--json"])
    check(p.returncode == 0, f"analyze --models succeeds ({p.stderr.strip()[-300:]})")
    if p.returncode == 0:
        r = json.loads(p.stdout)
        lines = " ".join(r.get("regression_model", []))
        check(r.get("models") == str(out / "models") and "study study.csv" in lines,
              f"the report names the folder and the study: {lines[:120]}")
        check("study.csv" in r.get("provenance", ""), f"provenance beside the score: {r.get('provenance')}")

    # 6. Again: it resumes.
    t0 = time.time()
    p = run(srrd, args)
    again_s = time.time() - t0
    check(p.returncode == 0 and "registration:" in p.stderr and "is there" in p.stderr,
          f"a second run resumes ({again_s:.0f} s against {first_s:.0f} s)")
    again = (out / "report.md").read_text()
    strip = lambda t: re.sub(r"\d+(\.\d+)? s\b", "", t)  # noqa: E731
    check(strip(again) == strip(report), "the same report")

    print(f"{len(failures)} failures" if failures else "all checks passed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
