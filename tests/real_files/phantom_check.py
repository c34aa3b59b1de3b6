"""Independent check of `srrd phantom` with SimpleITK and nibabel: the written geometry is
what truth.json says, SimpleITK's reading of the true transforms maps the CT landmarks onto
the MR landmarks, the landmarks sit on the bone they name in both label maps, and the
Slicer markup files agree with our landmark JSON.

Usage: python phantom_check.py --srrd PATH
Ends with `phantom: N passed, M failed`.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

BONES = {"femur": 1, "tibia": 2, "patella": 3, "fibula": 4}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    args = ap.parse_args()
    passed, failed = 0, 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        print(("ok    " if ok else "FAIL  ") + name + (f"  ({detail})" if detail else ""))
        if ok:
            passed += 1
        else:
            failed += 1

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "knee"
        subprocess.run([args.srrd, "phantom", "--out", str(out), "--preset", "small", "--seed", "5",
                        "--grade", "mild"], check=True, stdout=subprocess.DEVNULL)
        truth = json.loads((out / "truth.json").read_text())
        for scan in ["ct", "mr"]:
            img = sitk.ReadImage(str(out / f"{scan}.nii.gz"))
            g = truth["scanners"][scan]["geometry"]
            size_ok = list(img.GetSize()) == g["size"]
            sp_ok = np.allclose(img.GetSpacing(), g["spacing_mm"], atol=1e-5)
            org_ok = np.allclose(img.GetOrigin(), g["origin_mm"], atol=1e-3)
            # nalgebra serializes matrices column-major
            d = np.array(g["direction"]).reshape(3, 3).T
            dir_ok = np.allclose(np.array(img.GetDirection()).reshape(3, 3), d, atol=1e-6)
            check(f"{scan}: SimpleITK geometry = truth.json", size_ok and sp_ok and org_ok and dir_ok,
                  f"size {img.GetSize()} spacing {img.GetSpacing()} origin {img.GetOrigin()}")
            aff = nib.load(str(out / f"{scan}.nii.gz")).affine
            lps = np.diag([-1, -1, 1]) @ aff[:3, :3]
            m = np.array(img.GetDirection()).reshape(3, 3) @ np.diag(img.GetSpacing())
            check(f"{scan}: nibabel affine = SimpleITK geometry (RAS vs LPS)",
                  np.allclose(lps, m, atol=1e-4) and np.allclose(np.diag([-1, -1, 1]) @ aff[:3, 3], img.GetOrigin(), atol=1e-3))
            arr = sitk.GetArrayFromImage(img)
            check(f"{scan}: voxel type int16", arr.dtype == np.int16, str(arr.dtype))

        lm = {s: json.loads((out / f"landmarks_{s}.json").read_text())["landmarks"] for s in ["ct", "mr"]}
        tf = {k: sitk.ReadTransform(str(out / f"ct_to_mr_{k}.tfm")) for k in ["global", "femur"]}
        worst = 0.0
        for c, m in zip(lm["ct"], lm["mr"]):
            femoral = c["label"].startswith(("femur", "patella"))
            p = tf["femur" if femoral else "global"].TransformPoint(c["position_mm"])
            worst = max(worst, float(np.linalg.norm(np.array(p) - m["position_mm"])))
        check("SimpleITK maps CT landmarks onto MR landmarks with the true transforms", worst < 1e-4, f"worst {worst:.2e} mm")

        for s in ["ct", "mr"]:
            labels = sitk.ReadImage(str(out / f"{s}_labels.nii.gz"))
            arr = sitk.GetArrayFromImage(labels)
            bad = []
            for l in lm[s]:
                idx = labels.TransformPhysicalPointToIndex(l["position_mm"])
                v = int(arr[idx[2], idx[1], idx[0]])
                if v != BONES[l["label"].split("_")[0]]:
                    bad.append(f"{l['label']}={v}")
            check(f"{s}: every landmark on its bone (SimpleITK index, {len(lm[s])} landmarks)", not bad, ", ".join(bad))
            slicer = json.loads((out / f"landmarks_{s}.mrk.json").read_text())["markups"][0]
            pts = slicer["controlPoints"]
            same = slicer["coordinateSystem"] == "LPS" and all(
                p["label"] == l["label"] and np.allclose(p["position"], l["position_mm"]) for p, l in zip(pts, lm[s]))
            check(f"{s}: Slicer markups agree with the landmark JSON", same and len(pts) == len(lm[s]))

    print(f"phantom: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
