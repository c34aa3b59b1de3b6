"""Independent check of `srrd morph` against porespy and localthickness (3D local
thickness) and scikit-image + scipy (the authors' 2D skeleton method), on random
trabecular-like structures and on plates.

Usage: python morph_check.py --srrd PATH [--size N]
Ends with `morph: N passed, M failed`.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import localthickness
import nibabel as nib
import numpy as np
import porespy
from scipy import ndimage
from skimage.morphology import skeletonize


def random_structure(n, seed, fraction=0.3):
    """Smoothed noise thresholded to a bone fraction: a connected, trabecular-like mess."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(n, n, n)), 2.5)
    return field > np.quantile(field, 1 - fraction)


def plates(t, g, n=48):
    x = np.arange(4 * (t + g)) % (t + g) < t
    return np.broadcast_to(x[None, None, :], (n, n, x.size)).copy()  # [k][j][i], plates normal to i


def save(arr_kji, path, spacing=(1.0, 1.0, 1.0)):
    nib.save(nib.Nifti1Image(arr_kji.transpose(2, 1, 0).astype(np.uint8), np.diag([*spacing, 1.0])), str(path))


def srrd_morph(srrd, path, method, extra=()):
    run = subprocess.run([srrd, "morph", str(path), "--method", method, "--json", *extra],
                         capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(run.stderr.strip())
    return json.loads(run.stdout)


def reference_th_sp(bone):
    """Mean local thickness (diameter) of bone and marrow by porespy and localthickness."""
    pore_th = 2 * porespy.filters.local_thickness(bone)[bone].mean()
    pore_sp = 2 * porespy.filters.local_thickness(~bone)[~bone].mean()
    lt_th = 2 * localthickness.local_thickness(bone)[bone].mean()
    lt_sp = 2 * localthickness.local_thickness(~bone)[~bone].mean()
    return (pore_th, pore_sp), (lt_th, lt_sp)


def paper_reference(bone):
    """The authors' method with scikit-image and scipy: per slice, EDT on the skeleton."""
    def mean_on_skeleton(struct):
        total, count = 0.0, 0
        for sl in struct:
            sk = skeletonize(sl)
            d = ndimage.distance_transform_edt(sl)
            total += d[sk].sum()
            count += int(sk.sum())
        return total / count
    th, sp = mean_on_skeleton(bone), mean_on_skeleton(~bone)
    return th, sp


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--srrd", required=True)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    passed = failed = 0

    def check(name, ok, detail):
        nonlocal passed, failed
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        passed += ok
        failed += not ok

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Plates: compare thickness maps over the middle two periods (the outer plates touch
        # the faces, which all tools treat as cuts). srrd is exact on odd and even t; the
        # references read odd t as t + 1 (voxel-centre convention).
        for t, g in ((5, 11), (8, 8), (7, 6)):
            bone = plates(t, g)
            save(bone, tmp / "p.nii.gz")
            srrd_morph(args.srrd, tmp / "p.nii.gz", "bonej", ["--map", str(tmp / "map.nii.gz")])
            ours_map = np.asanyarray(nib.load(str(tmp / "map.nii.gz")).dataobj).transpose(2, 1, 0)
            interior = np.zeros_like(bone)
            interior[:, :, t + g:3 * (t + g)] = True
            sel = bone & interior
            ours = float(ours_map[sel].mean())
            pth = float(2 * porespy.filters.local_thickness(bone)[sel].mean())
            lth = float(2 * localthickness.local_thickness(bone)[sel].mean())
            ok = abs(ours - t) < 1e-4 and abs(ours - t) <= abs(pth - t) and abs(ours - t) <= abs(lth - t)
            check(f"plates t{t} g{g}", ok, f"Tb.Th srrd {ours:.3f} porespy {pth:.3f} localthickness {lth:.3f} (truth {t})")
        # Random structures: agreement with the references, relative difference stated.
        for seed in (1, 2):
            bone = random_structure(args.size, seed)
            save(bone, tmp / "r.nii.gz")
            ours = srrd_morph(args.srrd, tmp / "r.nii.gz", "bonej")
            (pth, psp), (lth, lsp) = reference_th_sp(bone)
            d_th = (ours["tb_th_mm"] - pth) / pth
            d_sp = (ours["tb_sp_mm"] - psp) / psp
            bvtv = float(bone.mean())
            # porespy rounds radii down to integers (reads low), localthickness reads odd
            # widths +1 voxel (high): srrd must lie between them.
            ok = (0.97 * pth < ours["tb_th_mm"] < lth and 0.97 * psp < ours["tb_sp_mm"] < lsp
                  and abs(ours["bv_tv"] - bvtv) < 1e-9)
            check(f"random seed {seed} bonej", ok,
                  f"BV/TV {ours['bv_tv']:.4f} (numpy {bvtv:.4f}); Tb.Th srrd {ours['tb_th_mm']:.3f} "
                  f"porespy {pth:.3f} localthickness {lth:.3f} ({100 * d_th:+.1f}% vs porespy); "
                  f"Tb.Sp srrd {ours['tb_sp_mm']:.3f} porespy {psp:.3f} localthickness {lsp:.3f} "
                  f"({100 * d_sp:+.1f}%)")
            paper = srrd_morph(args.srrd, tmp / "r.nii.gz", "paper")
            rth, rsp = paper_reference(bone)
            e_th = (paper["tb_th_mm"] - rth) / rth
            e_sp = (paper["tb_sp_mm"] - rsp) / rsp
            ok = abs(e_th) < 0.08 and abs(e_sp) < 0.08  # thinning variants differ slightly
            check(f"random seed {seed} paper", ok,
                  f"Tb.Th srrd {paper['tb_th_mm']:.3f} skimage {rth:.3f} ({100 * e_th:+.1f}%); "
                  f"Tb.Sp srrd {paper['tb_sp_mm']:.3f} skimage {rsp:.3f} ({100 * e_sp:+.1f}%)")
    print(f"morph: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
