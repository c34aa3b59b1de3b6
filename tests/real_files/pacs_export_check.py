#!/usr/bin/env python3
"""Check `srrd` on a knee study as PACS exports it, written by pydicom (not by us).

1. A small phantom knee (`srrd phantom --preset small`) is written by pydicom into ONE
   folder, the way an export looks: the MR (MR Image Storage, sagittal, 48 files), the CT
   in a bone kernel and in a soft-tissue kernel (CT Image Storage, stored unsigned with
   RescaleIntercept -1024, 45 files each; the soft one blurred), and a one-image coronal
   scout (ImageType LOCALIZER); generated UIDs, files named IM-SSSS-NNNN.dcm.
2. `srrd series --json` numbers them and reports modality, kernel and image type.
3. `srrd convert --series N` of the bone CT equals the phantom's CT voxel for voxel.
4. `srrd analyze --ct FOLDER` reads the bone-kernel CT, not the larger MR, and says why in
   one warning line; `--series` with the soft kernel's number reads that one (different
   parameters, no warning).
5. A study list naming the folder once (`study`, KL grades in a `kl` column, columns in
   another order) runs through `srrd analyze --manifest`: the knee is registered to the
   folder's MR and its report carries the label `KL 3`.

Run with the reference venv:
    $HOME/.cache/srrd/venv-ref/bin/python tests/real_files/pacs_export_check.py --srrd target/debug/srrd
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def lps(img: nib.Nifti1Image):
    a = np.diag([-1.0, -1.0, 1.0]) @ img.affine[:3, :4]
    spacing = np.linalg.norm(a[:, :3], axis=0)
    return a[:, 3], a[:, :3] / spacing, spacing


def write_series(folder: Path, number: int, data: np.ndarray, geometry, study: dict, tags: dict) -> str:
    """One series, one file per slice k; returns its SeriesInstanceUID."""
    origin, direction, spacing = geometry
    series = generate_uid()
    ct = tags["Modality"] == "CT"
    for k in range(data.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_STORAGE if ct else MR_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"IM-{number:04d}-{k + 1:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID = "Knee^Export", "KNEE-0077"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study["uid"], series
        ds.FrameOfReferenceUID = study["for"]
        ds.StudyDate, ds.StudyTime = "20261201", "101500"
        ds.SeriesNumber, ds.InstanceNumber = number, k + 1
        for key, value in tags.items():
            setattr(ds, key, value)
        ds.ImageOrientationPatient = [float(v) for v in np.concatenate([direction[:, 0], direction[:, 1]])]
        ds.ImagePositionPatient = [float(v) for v in origin + direction[:, 2] * spacing[2] * k]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        ds.Rows, ds.Columns = data.shape[1], data.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12 if ct else 16, 11 if ct else 15
        ds.PixelRepresentation = 0
        if ct:
            ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
            stored = np.clip(np.round(data[:, :, k] + 1024), 0, 4095)
        else:
            stored = np.clip(np.round(data[:, :, k]), 0, 65535)
        ds.PixelData = stored.T.astype("<u2").tobytes()
        ds.save_as(str(path), enforce_file_format=True)
    return series


def run(srrd: str, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([srrd, *args], capture_output=True, text=True, timeout=900)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    ap.add_argument("--keep")
    a = ap.parse_args()
    srrd = str(Path(a.srrd).resolve())
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="srrd-pacs-"))
    tmp.mkdir(parents=True, exist_ok=True)
    knee = tmp / "phantom"
    p = run(srrd, ["phantom", "--out", str(knee), "--preset", "small", "--seed", "4", "--grade", "advanced"])
    assert p.returncode == 0, p.stderr
    ct_img, mr_img = nib.load(str(knee / "ct.nii.gz")), nib.load(str(knee / "mr.nii.gz"))
    ct = np.asarray(ct_img.dataobj, dtype=np.float64)
    mr = np.asarray(mr_img.dataobj, dtype=np.float64)
    soft = ct.copy()
    soft[1:-1, 1:-1, :] = sum(ct[1 + di:ct.shape[0] - 1 + di, 1 + dj:ct.shape[1] - 1 + dj, :]
                              for di in (-1, 0, 1) for dj in (-1, 0, 1)) / 9.0
    export = tmp / "export"
    export.mkdir(exist_ok=True)
    study = {"uid": generate_uid(), "for": generate_uid()}
    axial = {"ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"]}
    mr_uid = write_series(export, 2, mr, lps(mr_img), study,
                          {"Modality": "MR", "SeriesDescription": "PD SPACE SAG", "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"]})
    bone_uid = write_series(export, 3, ct, lps(ct_img), study,
                            {"Modality": "CT", "SeriesDescription": "KNEE 2.0 BONE", "ConvolutionKernel": "BONE", **axial})
    soft_uid = write_series(export, 4, soft, lps(ct_img), study,
                            {"Modality": "CT", "SeriesDescription": "KNEE 2.0 STND", "ConvolutionKernel": "STANDARD", **axial})
    coronal = (np.array([-80.0, 0.0, 40.0]), np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]).T, np.array([1.5, 1.5, 1.0]))
    scout = np.zeros((96, 64, 1)) - 500.0
    write_series(export, 1, scout, coronal, study,
                 {"Modality": "CT", "SeriesDescription": "SCOUT", "ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})

    # 2. The list, numbered.
    p = run(srrd, ["series", str(export), "--json"])
    listed = json.loads(p.stdout)
    by_uid = {s["uid"]: s for s in listed}
    check([s["index"] for s in listed] == [1, 2, 3, 4], "srrd series numbers the 4 series 1-4")
    check(listed[0]["uid"] == mr_uid and listed[0]["modality"] == "MR", "the MR (48 files) is the largest, [1]")
    check(by_uid[bone_uid]["kernel"] == "BONE" and by_uid[soft_uid]["kernel"] == "STANDARD",
          "kernels reported: BONE, STANDARD")
    bone_n, soft_n = by_uid[bone_uid]["index"], by_uid[soft_uid]["index"]

    # 3. The bone CT converted back equals the phantom's CT.
    out = tmp / "bone.nii.gz"
    p = run(srrd, ["convert", str(export), str(out), "--series", str(bone_n)])
    back = np.asarray(nib.load(str(out)).dataobj, dtype=np.float64)
    check(p.returncode == 0 and back.shape == ct.shape and np.array_equal(back, np.clip(np.round(ct), -1024, 3071)),
          f"convert --series {bone_n} gives the phantom CT voxel for voxel")

    # 4. analyze --ct on the folder.
    p = run(srrd, ["analyze", "--ct", str(export), "--out", str(tmp / "a"), "--json"])
    check(p.returncode == 0, f"analyze --ct FOLDER succeeds ({p.stderr.strip()[-300:]})")
    lines = [l for l in p.stderr.splitlines() if "as the CT" in l]
    print("      " + (lines[0] if lines else "(no warning)"))
    check(len(lines) == 1 and f"reading [{bone_n}] {bone_uid}" in lines[0]
          and "as the CT: Modality CT, bone kernel BONE" in lines[0]
          and f"[{soft_n}] CT, soft-tissue kernel STANDARD" in lines[0] and "CT, localizer, 1 image" in lines[0],
          "one warning names the bone CT, why, and the others")
    p2 = run(srrd, ["analyze", "--ct", str(export), "--series", str(soft_n), "--out", str(tmp / "b"), "--json"])
    check(p2.returncode == 0 and "as the CT" not in p2.stderr, f"--series {soft_n} reads the soft kernel, no warning")
    if p.returncode == 0 and p2.returncode == 0:
        ra, rb = json.loads(p.stdout), json.loads(p2.stdout)
        ta = [s["parameters"]["tb_sp_mm"]["mean"] for s in ra["subregions_ct"]]
        tb = [s["parameters"]["tb_sp_mm"]["mean"] for s in rb["subregions_ct"]]
        check(ta != tb, "the soft kernel gives other parameters (another series was read)")

    # 5. A study list naming the folder once, KL grades, columns in another order.
    (tmp / "study.csv").write_text("kl,study,subject\n3,export,knee-77\n")
    p = run(srrd, ["analyze", "--manifest", str(tmp / "study.csv"), "--out", str(tmp / "results")])
    check(p.returncode == 0, f"analyze --manifest with a study column succeeds ({p.stderr.strip()[-300:]})")
    report = json.loads((tmp / "results/knee-77/report.json").read_text())
    check(report["status"] == "done" and report["label"] == "KL 3", f"report: done, label {report.get('label')}")
    check(report["mr"] == str(export) and report.get("registration") is not None,
          "the knee was registered to the folder's MR")
    check("as the MR: the only MR series" in p.stderr, "the MR choice is said")

    print(f"{len(failures)} failures" if failures else "all checks passed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
