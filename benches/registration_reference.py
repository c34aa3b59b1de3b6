"""Coarse rigid MR -> CT registration side by side: srrd, ANTsPy (Rigid, DenseRigid) and
itk-elastix (rigid, Mattes MI), on the same phantom pairs, TRE on the phantom's paired
landmarks and wall time per pair (reading excluded where the tool allows).

Usage: python registration_reference.py --srrd PATH --cohort DIR [--limit N]
Needs a throwaway venv with antspyx, itk-elastix, SimpleITK (see README: registration).
Every transform is read back as an ITK transform (fixed CT points -> moving MR points)
and applied to the CT landmarks; TRE is against the MR landmarks.
"""
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def tre(transform_point, lc, lm):
    e = [np.linalg.norm(np.array(transform_point(c["position_mm"])) - m["position_mm"]) for c, m in zip(lc, lm)]
    return e


def body_clean(ct_path, out):
    """The same preprocessing for every tool: air outside the body (table and clothing gone)."""
    img = sitk.ReadImage(str(ct_path), sitk.sitkFloat32)
    body = sitk.BinaryThreshold(img, -200.0, 1e9, 1, 0)
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(body), sortByObjectSize=True) == 1
    cc = sitk.BinaryFillhole(cc)
    clean = sitk.Mask(img, cc, outsideValue=-1000.0)
    sitk.WriteImage(clean, str(out))
    return out


def run_ants(ct, mr, kind, tmp):
    import ants
    f = ants.image_read(str(ct))
    m = ants.image_read(str(mr))
    t = time.perf_counter()
    r = ants.registration(fixed=f, moving=m, type_of_transform=kind, outprefix=str(tmp / f"ants_{kind}_"))
    dt = time.perf_counter() - t
    tf = sitk.ReadTransform(r["fwdtransforms"][0])
    return tf.TransformPoint, dt


def run_elastix(ct, mr):
    import itk
    f = itk.imread(str(ct), itk.F)
    m = itk.imread(str(mr), itk.F)
    params = itk.ParameterObject.New()
    p = params.GetDefaultParameterMap("rigid")
    p["AutomaticTransformInitialization"] = ["true"]
    p["AutomaticTransformInitializationMethod"] = ["GeometricalCenter"]
    params.AddParameterMap(p)
    t = time.perf_counter()
    _, result = itk.elastix_registration_method(f, m, parameter_object=params, log_to_console=False)
    dt = time.perf_counter() - t
    tp = [float(v) for v in result.GetParameter(0, "TransformParameters")]
    c = [float(v) for v in result.GetParameter(0, "CenterOfRotationPoint")]
    e = sitk.Euler3DTransform()
    e.SetCenter(c)
    e.SetRotation(tp[0], tp[1], tp[2])
    e.SetTranslation(tp[3:6])
    return e.TransformPoint, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    ap.add_argument("--cohort", required=True)
    ap.add_argument("--limit", type=int, default=3)
    a = ap.parse_args()
    cohort = Path(a.cohort)
    subjects = json.loads((cohort / "manifest.json").read_text())["subjects"][: a.limit]
    results = {}
    for s in subjects:
        d = cohort / s["dir"]
        lc = json.loads((d / "landmarks_ct.json").read_text())["landmarks"]
        lm = json.loads((d / "landmarks_mr.json").read_text())["landmarks"]
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            out = subprocess.run([a.srrd, "register", "--fixed", str(d / "ct.nii.gz"), "--moving", str(d / "mr.nii.gz"),
                                  "--out", str(tmp / "srrd"), "--stage", "coarse", "--json"],
                                 check=True, capture_output=True, text=True)
            rep = json.loads(out.stdout)
            tf = sitk.ReadTransform(str(tmp / "srrd" / "coarse.tfm"))
            runs = {"srrd rigid (MI)": (tf.TransformPoint, rep["seconds"])}
            ct_clean = body_clean(d / "ct.nii.gz", tmp / "ct_clean.nii.gz")
            for kind in ["Rigid", "DenseRigid"]:
                runs[f"ANTsPy {kind}"] = run_ants(ct_clean, d / "mr.nii.gz", kind, tmp)
            runs["itk-elastix rigid"] = run_elastix(ct_clean, d / "mr.nii.gz")
            for name, (fn, dt) in runs.items():
                e = tre(fn, lc, lm)
                # Tibia and fibula: the part a single rigid transform can fit exactly.
                et = [x for x, c in zip(e, lc) if c["label"].startswith(("tibia", "fibula"))]
                results.setdefault(name, []).append((np.mean(e), np.mean(et), dt))
                print(f"{s['dir']}  {name:<20} TRE all {np.mean(e):6.2f} mm  tibia {np.mean(et):5.2f} mm  {dt:6.2f} s", flush=True)
    print("\n| method | pairs | TRE all landmarks, mean +- SD of per-knee means (mm) | TRE tibia+fibula (mm) | time per pair (s) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        r = np.array(r)
        print(f"| {name} | {len(r)} | {r[:, 0].mean():.2f} +- {r[:, 0].std():.2f} | {r[:, 1].mean():.2f} (max {r[:, 1].max():.2f}) | {r[:, 2].mean():.2f} |")


if __name__ == "__main__":
    main()
