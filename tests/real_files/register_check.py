"""Independent check of `srrd register` with SimpleITK: the written transforms (.tfm) and
displacement field (vector NIfTI), read by SimpleITK, map the phantom's CT landmarks where
`srrd tre` says they go; SimpleITK's resampling of the MR through coarse.tfm matches our
crMR.nii.gz; and the registration lowers TRE at each stage.

Usage: python register_check.py --srrd PATH
Ends with `register: N passed, M failed`.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    a = ap.parse_args()
    passed, failed = 0, 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        print(("ok    " if ok else "FAIL  ") + name + (f"  ({detail})" if detail else ""))
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        knee, reg = tmp / "knee", tmp / "reg"
        subprocess.run([a.srrd, "phantom", "--out", str(knee), "--preset", "small", "--seed", "6"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([a.srrd, "register", "--fixed", str(knee / "ct.nii.gz"), "--moving", str(knee / "mr.nii.gz"),
                        "--out", str(reg), "--stage", "all", "--json"], check=True, stdout=subprocess.DEVNULL)
        lc = json.loads((knee / "landmarks_ct.json").read_text())["landmarks"]
        lm = json.loads((knee / "landmarks_mr.json").read_text())["landmarks"]
        field = sitk.ReadImage(str(reg / "refined_field.nii.gz"), sitk.sitkVectorFloat64)
        transforms = {
            "coarse.tfm": sitk.ReadTransform(str(reg / "coarse.tfm")),
            "femur.tfm": sitk.ReadTransform(str(reg / "femur.tfm")),
            "refined_field.nii.gz": sitk.DisplacementFieldTransform(field),
        }
        means = {}
        for name, tf in transforms.items():
            out = subprocess.run([a.srrd, "tre", "--fixed", str(knee / "landmarks_ct.json"), "--moving",
                                  str(knee / "landmarks_mr.json"), "--transform", str(reg / name), "--json"],
                                 check=True, capture_output=True, text=True)
            ours = {p["label"]: p["tre_mm"] for p in json.loads(out.stdout)["pairs"]}
            worst = 0.0
            for c, m in zip(lc, lm):
                e = np.linalg.norm(np.array(tf.TransformPoint(c["position_mm"])) - m["position_mm"])
                worst = max(worst, abs(e - ours[c["label"]]))
            means[name] = np.mean(list(ours.values()))
            check(f"SimpleITK reads {name} and maps landmarks as srrd does", worst < 1e-3, f"worst difference {worst:.2e} mm")
        before = np.mean([np.linalg.norm(np.array(c["position_mm"]) - m["position_mm"]) for c, m in zip(lc, lm)])
        check("TRE falls at each stage", before > means["coarse.tfm"] > means["refined_field.nii.gz"],
              f"{before:.2f} -> {means['coarse.tfm']:.2f} -> {means['refined_field.nii.gz']:.2f} mm")
        ct = sitk.ReadImage(str(knee / "ct.nii.gz"), sitk.sitkFloat32)
        mr = sitk.ReadImage(str(knee / "mr.nii.gz"), sitk.sitkFloat32)
        ref = sitk.GetArrayFromImage(sitk.Resample(mr, ct, transforms["coarse.tfm"], sitk.sitkLinear, 0.0))
        ours = sitk.GetArrayFromImage(sitk.ReadImage(str(reg / "crMR.nii.gz")))
        diff = np.abs(ref - ours)
        check("crMR matches SimpleITK's resampling through coarse.tfm", np.percentile(diff, 99.9) < 1e-2 * mr_range(mr),
              f"99.9th percentile difference {np.percentile(diff, 99.9):.3g}")
    print(f"register: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def mr_range(img):
    a = sitk.GetArrayFromImage(img)
    return float(a.max() - a.min())


if __name__ == "__main__":
    main()
