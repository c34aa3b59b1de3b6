#!/usr/bin/env python3
"""Export sagittal and coronal PNG slices of a phantom's CT and MR for a visual check.

Usage: phantom_slices.py PHANTOM_DIR OUT_DIR  (needs the reference venv: SimpleITK, matplotlib)
Slices pass through the CT's centre in world (LPS) space (and 20 mm to the patient's
left, the medial compartment of the phantom's right knee); each image is resampled onto an
axis-aligned 0.25 mm grid by SimpleITK, so what is shown is independent of our reader.
"""
import sys, os
import numpy as np
import SimpleITK as sitk
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
ct = sitk.ReadImage(os.path.join(src, "ct.nii.gz"))
mr = sitk.ReadImage(os.path.join(src, "mr.nii.gz"))
c = np.array(ct.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in ct.GetSize()]))

def plane(img, axis, half=72.0, step=0.25, default=0.0, shift=0.0):
    """2D slice through c normal to world axis (0 x sagittal, 1 y coronal), rows = S->I."""
    n = int(2 * half / step)
    ref = sitk.Image(n, 1, n, sitk.sitkFloat32)
    ref.SetSpacing((step, step, step))
    if axis == 0:   # sagittal: columns A->P (y), rows S->I
        d = [0, 0, 1, 1, 0, 0, 0, -1, 0]   # i->y? build direction columns: i=+y, j=+x, k=-z
        d = [0, 1, 0, 1, 0, 0, 0, 0, -1]
        origin = (c[0] + shift, c[1] - half, c[2] + half)
    else:           # coronal: columns patient right->left (x increasing), rows S->I
        d = [1, 0, 0, 0, 1, 0, 0, 0, -1]
        origin = (c[0] - half, c[1], c[2] + half)
    ref.SetDirection(d)
    ref.SetOrigin(origin)
    r = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkLinear, default)
    return sitk.GetArrayFromImage(r)[:, 0, :]

for name, img, lo, hi, default in [("ct", ct, -300, 1300, -1000), ("mr", mr, 0, 1100, 0)]:
    for axis, view, shift in [(0, "sagittal", 0.0), (0, "sagittal_medial", 20.0), (1, "coronal", 0.0)]:
        a = plane(img, axis, default=default, shift=shift)
        plt.imsave(os.path.join(out, f"{name}_{view}.png"), np.clip((a - lo) / (hi - lo), 0, 1), cmap="gray", vmin=0, vmax=1)
print("wrote", out)
