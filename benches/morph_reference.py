"""Reference side of `cargo bench --bench morph`: writes a 256^3 trabecular-like binary
volume (BV/TV 0.3) and times porespy's and localthickness's 3D local thickness on it.
Prints one JSON object. Usage: python morph_reference.py DIR"""
import json
import os
import sys
import time

import edt
import localthickness
import nibabel as nib
import numpy as np
import porespy
from scipy import ndimage


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "random_256.nii.gz")
    rng = np.random.default_rng(3)
    field = ndimage.gaussian_filter(rng.normal(size=(256, 256, 256)).astype(np.float32), 2.5)
    bone = field > np.quantile(field, 0.7)
    if not os.path.exists(path):
        nib.save(nib.Nifti1Image(bone.transpose(2, 1, 0).astype(np.uint8), np.eye(4)), path)
    porespy.filters.local_thickness(bone[:32, :32, :32])  # numba compilation, not timed
    t = time.perf_counter()
    pore = porespy.filters.local_thickness(bone)
    t_pore = time.perf_counter() - t
    # porespy's default finds the largest radius itself. Handing it every whole radius
    # 1..r_max needs r_max first: a distance transform, timed here with porespy's own
    # (the `edt` package, 2 threads); the time without it is reported too.
    t = time.perf_counter()
    r_max = int(np.ceil(edt.edt(bone, parallel=2).max()))
    t_rmax = time.perf_counter() - t
    t = time.perf_counter()
    pore_all = porespy.filters.local_thickness(bone, sizes=np.arange(r_max, 0, -1))
    t_pore_all = time.perf_counter() - t + t_rmax
    t = time.perf_counter()
    lt = localthickness.local_thickness(bone)
    t_lt = time.perf_counter() - t
    print(json.dumps({
        "path": path,
        "bv_tv": float(bone.mean()),
        "porespy_s": t_pore,
        "porespy_all_sizes_s": t_pore_all,
        "porespy_all_sizes_rmax_s": t_rmax,
        "porespy_all_sizes_tb_th": float(2 * pore_all[bone].mean()),
        "porespy_sizes": r_max,
        "localthickness_s": t_lt,
        "porespy_tb_th": float(2 * pore[bone].mean()),
        "localthickness_tb_th": float(2 * lt[bone].mean()),
    }))


if __name__ == "__main__":
    main()
