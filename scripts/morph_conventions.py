"""Tb.Th of analytic plates and rods 2-8 voxels thick, and Tb.Sp of the gaps between the
plates, by srrd, porespy, localthickness and ORMIR_XCT side by side: the table of
docs/morphometry-conventions.md.

Usage: python scripts/morph_conventions.py --srrd target/debug/srrd
Needs numpy, nibabel, porespy, localthickness and (for its column) ormir-xct. Prints a
Markdown table. Every tool sees the same boolean volume; every mean is taken over the
same voxels, the interior periods (the grid's faces are cuts for all four tools).
"""
import argparse
import json
import subprocess
import tempfile
import warnings
from pathlib import Path

import localthickness
import nibabel as nib
import numpy as np
import porespy

warnings.filterwarnings("ignore")

GAP = 12  # voxels between plates
PITCH = 16  # voxels between rod axes


def plates(t):
    """Plates t voxels thick, GAP apart, normal to i; [k][j][i]. Interior: periods 2-3."""
    period = t + GAP
    x = np.arange(5 * period) % period < t
    bone = np.broadcast_to(x[None, None, :], (24, 24, x.size)).copy()
    interior = np.zeros_like(bone)
    interior[:, :, 2 * period:4 * period] = True
    return bone, interior


def rods(d):
    """Rods of diameter d voxels along k on a PITCH square lattice. Interior: the middle
    two by two cells."""
    n = 4 * PITCH
    j, i = np.mgrid[0:n, 0:n]
    # Centred on a voxel centre (odd d) or a voxel corner (even d): d voxels across.
    off = 0.5 if d % 2 == 0 else 0.0
    x = (i % PITCH) + off - PITCH / 2
    y = (j % PITCH) + off - PITCH / 2
    disc = x * x + y * y < (d / 2) ** 2
    bone = np.broadcast_to(disc[None], (16, n, n)).copy()
    interior = np.zeros_like(bone)
    interior[:, PITCH:3 * PITCH, PITCH:3 * PITCH] = True
    return bone, interior


def srrd_maps(srrd, bone, tmp, convention="surface"):
    path = Path(tmp) / "b.nii.gz"
    nib.save(nib.Nifti1Image(bone.transpose(2, 1, 0).astype(np.uint8), np.eye(4)), str(path))
    th, sp = Path(tmp) / "th.nii.gz", Path(tmp) / "sp.nii.gz"
    run = subprocess.run([srrd, "morph", str(path), "--json", "--map", str(th), "--sp-map", str(sp),
                          "--convention", convention],
                         capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(run.stderr)
    json.loads(run.stdout)
    read = lambda p: np.asanyarray(nib.load(str(p)).dataobj).transpose(2, 1, 0)
    return read(th), read(sp)


def ormir_map(structure):
    try:
        from ormir_xct.core.util.hildebrand_thickness import compute_local_thickness_from_mask
    except ImportError:
        return None
    # As ORMIR_XCT's trabecular_microarchitecture calls it.
    return compute_local_thickness_from_mask(structure, 1.0, oversample=False, skeletonize=False)


def row(name, truth, bone, interior, srrd, tmp, separation=False):
    structure = ~bone if separation else bone
    sel = structure & interior
    ours_th, ours_sp = srrd_maps(srrd, bone, tmp)
    ours = (ours_sp if separation else ours_th)[sel].mean()
    centre_th, centre_sp = srrd_maps(srrd, bone, tmp, "centre")
    centre = (centre_sp if separation else centre_th)[sel].mean()
    pore = 2 * porespy.filters.local_thickness(structure)[sel].mean()
    lt = 2 * localthickness.local_thickness(structure)[sel].mean()
    orm = ormir_map(structure)
    orm = "n/a" if orm is None else f"{orm[sel].mean():.2f}"
    return f"| {name} | {truth} | {ours:.2f} | {centre:.2f} | {pore:.2f} | {lt:.2f} | {orm} |"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--srrd", required=True)
    args = parser.parse_args()
    print("| structure | truth (voxels) | srrd | srrd --convention centre | porespy 3.2 | localthickness 0.1 "
          "| ORMIR_XCT 1.1 |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for t in range(2, 9):
            bone, interior = plates(t)
            print(row(f"plates {t} thick, Tb.Th", t, bone, interior, args.srrd, tmp))
        for d in range(2, 9):
            bone, interior = rods(d)
            print(row(f"rods {d} across, Tb.Th", d, bone, interior, args.srrd, tmp))
        for t in (3, 4):
            bone, interior = plates(t)
            print(row(f"gaps {GAP} between plates {t} thick, Tb.Sp", GAP, bone, interior, args.srrd, tmp,
                      separation=True))


if __name__ == "__main__":
    main()
