"""Packs a synthesis store's training volumes for scripts/gpu/train_synthesis.py.

Usage: export_slices.py STORE SUBJECTS OUT.npz   (SUBJECTS as "0..24")

Each subject's CT (table removed) and crMR are normalized exactly as src/synthesis/data.rs
does (CT: HU [-1000, 2000] -> [-1, 1]; MR: divided by the 99.5th percentile of its
positive voxels, [0, 1] -> [-1, 1]), cut to the slices with signal over a fifth of their
area (and one neighbour each side), and quantized to uint8 (x = q / 127.5 - 1).
"""
import json
import sys

import numpy as np
import SimpleITK as sitk


def usable(v):
    frac = (v > -0.95).mean(axis=(1, 2))
    keep = np.nonzero(frac > 0.2)[0]
    if len(keep) == 0:
        return None
    lo, hi = max(keep[0] - 1, 0), min(keep[-1] + 2, v.shape[0])
    return v[lo:hi]


def main():
    store, subjects, out = sys.argv[1], sys.argv[2], sys.argv[3]
    manifest = json.load(open(f"{store}/manifest.json"))
    a, b = subjects.split("..")
    ids = [s["dir"] for s in manifest["subjects"][int(a):int(b)]]
    arrays = {}
    for n, sid in enumerate(ids):
        ct = sitk.GetArrayFromImage(sitk.ReadImage(f"{store}/{sid}/ct.nii.gz")).astype(np.float32)
        mr = sitk.GetArrayFromImage(sitk.ReadImage(f"{store}/{sid}/crmr.nii.gz")).astype(np.float32)
        ct = (np.clip(ct, -1000, 2000) + 1000) / 1500 - 1
        pos = mr[mr > 0]
        scale = np.sort(pos)[int(round((len(pos) - 1) * 0.995))] if len(pos) else 1.0
        mr = np.clip(mr / max(scale, 1e-6), 0, 1) * 2 - 1
        for name, v in (("ct", ct), ("mr", mr)):
            v = usable(v)
            if v is not None:
                arrays[f"{name}_{n:03d}"] = np.round((v + 1) * 127.5).astype(np.uint8)
    np.savez_compressed(out, **arrays)
    print(f"{len(arrays)} volumes from {len(ids)} subjects -> {out}")


main()
