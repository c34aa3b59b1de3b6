"""Reference side of `cargo bench --bench morph_large`: writes trabecular-like binary
volumes with large marrow spaces and a periosteal-like VOI, and times porespy's 3D local
thickness and ORMIR_XCT's Tb.Th / Tb.Sp (Hildebrand's method, as HR-pQCT users run it)
on each. Prints one JSON object.

Usage: python morph_large_reference.py DIR [--cases NAME,...] [--no-ormir NAME,...]
ORMIR_XCT is optional (PyPI `ormir-xct`); without it its columns are null.
"""
import argparse
import json
import os
import time
import warnings

import nibabel as nib
import numpy as np
import porespy
from scipy import ndimage

warnings.filterwarnings("ignore")

# name: (shape [k][j][i], target Tb.Sp in voxels, seed)
CASES = {
    "sp10": ((128, 128, 128), 10, 1),
    "sp30": ((160, 160, 160), 30, 2),
    "sp60": ((200, 200, 200), 60, 3),
    "hrpqct40": ((166, 200, 200), 40, 4),
    # `cargo bench --bench morph`'s volume (smoothed noise, BV/TV 0.3), no VOI.
    "random256": ((256, 256, 256), None, 3),
}


def sheets(shape, sp, seed, t=4.0, holes=0.35):
    """Perforated sheets about `t` voxels thick on the zero set of smoothed noise whose
    correlation length gives marrow spaces about `sp` voxels across: plate-like
    trabeculae with holes (rods where the holes meet)."""
    rng = np.random.default_rng(seed)
    sigma = sp / 3.0
    g = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma, mode="wrap")
    g /= g.std()
    grad = np.sqrt(sum(x ** 2 for x in np.gradient(g)))
    bone = np.abs(g) < 0.5 * t * np.median(grad)
    h = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), max(sigma / 2, 2), mode="wrap")
    return bone & (h < np.quantile(h, 1 - holes))


def voi(shape):
    """An elliptic cylinder along k filling most of each slice, like a periosteal contour."""
    nk, nj, ni = shape
    j, i = np.mgrid[0:nj, 0:ni]
    inside = ((i - (ni - 1) / 2) / (0.45 * ni)) ** 2 + ((j - (nj - 1) / 2) / (0.40 * nj)) ** 2 < 1
    return np.broadcast_to(inside[None], shape).copy()


def save(arr_kji, path):
    nib.save(nib.Nifti1Image(arr_kji.transpose(2, 1, 0).astype(np.uint8), np.eye(4)), path)


def porespy_th_sp(bone, mask):
    """porespy 3.2 (default method): Tb.Th on the image's bone, Tb.Sp on the marrow in
    the VOI (its outside bounds the spheres). Diameters: 2 x porespy's radii."""
    t = time.perf_counter()
    th = porespy.filters.local_thickness(bone)
    marrow = ~bone & mask
    sp = porespy.filters.local_thickness(marrow)
    elapsed = time.perf_counter() - t
    return elapsed, float(2 * th[bone & mask].mean()), float(2 * sp[marrow].mean())


def ormir_th_sp(bone, mask):
    """ORMIR_XCT's trabecular_thickness and trabecular_separation (as its
    trabecular_microarchitecture calls them: no oversampling, no skeleton)."""
    import SimpleITK as sitk
    from ormir_xct.core.microarchitecture.trabecular_microarchitecture import (
        trabecular_separation,
        trabecular_thickness,
    )

    seg = sitk.GetImageFromArray(bone.astype(np.uint8))
    peri = sitk.GetImageFromArray(mask.astype(np.uint8))
    t = time.perf_counter()
    th = trabecular_thickness(seg)
    sp = trabecular_separation(seg, peri)
    elapsed = time.perf_counter() - t
    return elapsed, float(th[0]), float(sp[0])


def have_ormir():
    try:
        import ormir_xct.core.microarchitecture.trabecular_microarchitecture  # noqa: F401
        return True
    except ImportError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-ormir", default="")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    ormir = have_ormir()
    skip_ormir = set(filter(None, args.no_ormir.split(",")))
    # JIT compilation (numba) outside the timings.
    small = sheets((32, 32, 32), 8, 0)
    porespy_th_sp(small, voi(small.shape))
    if ormir:
        ormir_th_sp(small, voi(small.shape))
    out = {"porespy": porespy.__version__, "ormir_xct": None, "cases": []}
    if ormir:
        from importlib.metadata import version

        out["ormir_xct"] = version("ormir-xct")
    for name in filter(None, args.cases.split(",")):
        shape, sp, seed = CASES[name]
        if sp is None:
            rng = np.random.default_rng(seed)
            field = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), 2.5)
            bone = field > np.quantile(field, 0.7)
            mask = np.ones(shape, dtype=bool)
        else:
            bone = sheets(shape, sp, seed)
            mask = voi(shape)
        bone_path = os.path.join(args.dir, f"{name}_bone.nii.gz")
        mask_path = os.path.join(args.dir, f"{name}_voi.nii.gz")
        save(bone, bone_path)
        save(mask, mask_path)
        case = {
            "name": name,
            "shape_ijk": list(shape[::-1]),
            "bone": bone_path,
            "voi": mask_path,
            "bv_tv": float(bone[mask].mean()),
        }
        case["porespy_s"], case["porespy_tb_th"], case["porespy_tb_sp"] = porespy_th_sp(bone, mask)
        if ormir and name not in skip_ormir:
            case["ormir_s"], case["ormir_tb_th"], case["ormir_tb_sp"] = ormir_th_sp(bone, mask)
        out["cases"].append(case)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
