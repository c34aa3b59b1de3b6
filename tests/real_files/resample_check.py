"""Independent check of `srrd resample` (trilinear and nearest) against SimpleITK's
Resample with an identity transform, on oblique grids with different spacings.

Usage: python resample_check.py --srrd PATH
Prints one line per case and ends with `resample: N passed, M failed`.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def rotation(ax, ay, az):
    """A proper rotation matrix (row-major 9 numbers) from three angles in radians."""
    t = sitk.Euler3DTransform()
    t.SetRotation(ax, ay, az)
    return t.GetMatrix()


def make_moving(path):
    """A smooth-plus-texture float volume on an oblique, anisotropic grid."""
    rng = np.random.default_rng(1)
    arr = rng.normal(0, 20, (24, 40, 36)).astype(np.float32)
    k, j, i = np.meshgrid(*[np.arange(n) for n in arr.shape], indexing="ij")
    arr += (100 * np.sin(i / 5.0) + 50 * np.cos(j / 7.0) + 10 * k).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.6, 1.5))
    img.SetOrigin((-10.0, 4.0, -15.0))
    img.SetDirection(rotation(0.2, -0.1, 0.35))
    sitk.WriteImage(img, str(path))
    return sitk.ReadImage(str(path))


def make_reference(path, spacing, rot, origin, size):
    img = sitk.Image(size, sitk.sitkFloat32)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(rot)
    sitk.WriteImage(img, str(path))
    return sitk.ReadImage(str(path))


def transforms():
    """Transforms written by SimpleITK, as (name, transform): ITK direction, fixed -> moving."""
    euler = sitk.Euler3DTransform()
    euler.SetCenter((2.0, -3.0, 4.0))
    euler.SetRotation(0.12, -0.08, 0.2)
    euler.SetTranslation((1.5, -2.0, 0.7))
    versor = sitk.VersorRigid3DTransform()
    versor.SetCenter((-1.0, 0.5, 2.0))
    versor.SetRotation((0.3, 0.2, 0.9), 0.15)
    versor.SetTranslation((0.5, 1.0, -1.5))
    affine = sitk.AffineTransform(3)
    affine.SetMatrix((1.05, 0.04, 0.0, -0.03, 0.95, 0.06, 0.02, 0.0, 1.1))
    affine.SetCenter((0.0, 1.0, -2.0))
    affine.SetTranslation((-0.8, 0.3, 1.2))
    composite = sitk.CompositeTransform([euler, affine])
    return [("euler3d", euler), ("versor", versor), ("affine", affine), ("composite", composite)]


def check_through(srrd, tmp, ref_path, moving, reference, transform_file, transform, name):
    """srrd resample through `transform_file` against SimpleITK through `transform`."""
    out = tmp / "out_t.nii.gz"
    run = subprocess.run(
        [srrd, "resample", str(tmp / "moving.nii.gz"), "--like", str(ref_path), str(out),
         "--transform", str(transform_file), "--fill", "-7"],
        capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        print(f"FAIL {name}: srrd exit {run.returncode}: {run.stderr.strip()}")
        return False
    expect = sitk.GetArrayFromImage(sitk.Resample(moving, reference, transform, sitk.sitkLinear, -7.0))
    got = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    inside = (expect != -7.0) & (got != -7.0)
    disagree = int(((expect == -7.0) != (got == -7.0)).sum())
    worst = float(np.abs(expect[inside] - got[inside]).max()) if inside.any() else 0.0
    ok = worst < 1e-2 and disagree <= 0.002 * expect.size and inside.sum() > 100
    print(f"{'PASS' if ok else 'FAIL'} {name}: max|diff| {worst:.3g} over "
          f"{int(inside.sum())} voxels, {disagree} inside/outside disagreements")
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--srrd", required=True)
    args = parser.parse_args()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        moving = make_moving(tmp / "moving.nii.gz")
        cases = [
            ("finer, other rotation", (0.45, 0.5, 0.8), rotation(-0.15, 0.05, 0.1), (-8.0, 2.0, -12.0), (50, 60, 40)),
            ("coarser, axis-aligned", (1.3, 1.1, 2.0), rotation(0, 0, 0), (-20.0, -5.0, -20.0), (30, 30, 20)),
        ]
        for name, spacing, rot, origin, size in cases:
            ref_path = tmp / "ref.nii.gz"
            reference = make_reference(ref_path, spacing, rot, origin, size)
            for interp, sitk_interp in (("linear", sitk.sitkLinear), ("nearest", sitk.sitkNearestNeighbor)):
                out = tmp / "out.nii.gz"
                run = subprocess.run(
                    [args.srrd, "resample", str(tmp / "moving.nii.gz"), "--like", str(ref_path), str(out),
                     "--interpolation", interp, "--fill", "-7"],
                    capture_output=True, text=True, timeout=120)
                if run.returncode != 0:
                    print(f"FAIL {name} {interp}: srrd exit {run.returncode}: {run.stderr.strip()}")
                    failed += 1
                    continue
                expect = sitk.GetArrayFromImage(
                    sitk.Resample(moving, reference, sitk.Transform(), sitk_interp, -7.0))
                got = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
                inside = (expect != -7.0) & (got != -7.0)
                disagree_inside = int(((expect == -7.0) != (got == -7.0)).sum())
                worst = float(np.abs(expect[inside] - got[inside]).max()) if inside.any() else 0.0
                # Border voxels may fall either side of the half-voxel edge by rounding.
                ok = worst < 1e-2 and disagree_inside <= 0.002 * expect.size and inside.sum() > 100
                if interp == "nearest":
                    # Nearest may pick the other neighbour when a point is exactly halfway.
                    ok = disagree_inside <= 0.002 * expect.size and \
                        float((np.abs(expect[inside] - got[inside]) > 1e-3).mean()) < 0.002
                print(f"{'PASS' if ok else 'FAIL'} {name} {interp}: max|diff| {worst:.3g} over "
                      f"{int(inside.sum())} voxels, {disagree_inside} inside/outside disagreements")
                passed += ok
                failed += not ok
        # Transform files: SimpleITK writes them, srrd reads them and resamples through them.
        ref_path = tmp / "ref.nii.gz"
        reference = make_reference(ref_path, (0.8, 0.8, 1.2), rotation(0.05, 0.0, -0.1), (-12.0, 0.0, -14.0),
                                   (36, 40, 26))
        for name, transform in transforms():
            tfm = tmp / f"{name}.tfm"
            sitk.WriteTransform(transform, str(tfm))
            ok = check_through(args.srrd, tmp, ref_path, moving, reference, tfm, transform, f"transform {name}")
            passed += ok
            failed += not ok
        # A displacement field written by SimpleITK (vector NIfTI, LPS mm vectors).
        field_grid = make_reference(tmp / "fg.nii.gz", (1.5, 1.5, 2.0), rotation(0.1, 0.0, 0.05),
                                    (-20.0, -10.0, -25.0), (30, 36, 26))
        k, j, i = np.meshgrid(*[np.arange(n) for n in (26, 36, 30)], indexing="ij")
        vec = np.stack([1.5 * np.sin(j / 6.0), -1.0 * np.cos(k / 5.0), 0.8 * np.sin(i / 7.0)], axis=-1)
        field = sitk.GetImageFromArray(vec.astype(np.float64), isVector=True)
        field.CopyInformation(field_grid)
        sitk.WriteImage(field, str(tmp / "field.nii.gz"))
        field_read = sitk.ReadImage(str(tmp / "field.nii.gz"), sitk.sitkVectorFloat64)
        transform = sitk.DisplacementFieldTransform(sitk.Image(field_read))
        ok = check_through(args.srrd, tmp, ref_path, moving, reference, tmp / "field.nii.gz", transform,
                           "displacement field")
        passed += ok
        failed += not ok
    print(f"resample: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
