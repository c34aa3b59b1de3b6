#!/usr/bin/env python3
"""Check `srrd analyze --dicom-out` with software that is not ours.

1. The demo knee's CT is written as a DICOM series by pydicom (CT Image Storage, one file
   per slice, a patient module and a frame of reference), the way a scanner export looks.
2. `srrd analyze --ct THAT_FOLDER --dicom-out OUT/dicom` runs on it.
3. The objects are read back:
   - highdicom parses the Segmentation, the Parametric Maps and the Measurement Report;
   - the Segmentation's frames sit on the CT's slices (orientation, spacing, positions),
     refer to the CT instances they derive from, and unpacked (numpy, LSB first) equal the
     bone and subregion label maps srrd wrote as NIfTI, voxel for voxel;
   - each Parametric Map's float frames equal the NIfTI map of the same parameter, and its
     unit is the UCUM unit of that parameter;
   - the report's 12 subregion groups hold the means and SDs of report.json, P(KOA) and
     the research-use caveat; its groups refer to the Segmentation's segments;
   - patient, study and frame of reference are the CT's;
   - dciodvfy (dicom3tools), when installed, finds no errors in any object.
4. The same analysis of the NIfTI CT makes a new study (and says so), also error-free.
5. A non-empty output folder is refused without --force.

Run with the reference venv: .venv-ref/bin/python tests/real_files/dicom_out_check.py --srrd target/debug/srrd
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
UNITS = {"bv_tv": "1", "tb_th_mm": "mm", "tb_sp_mm": "mm", "tb_n_per_mm": "/mm"}
CODES = {"bv_tv": "BVTV", "tb_th_mm": "TBTH", "tb_sp_mm": "TBSP", "tb_n_per_mm": "TBN"}
BONES = {"femur": 1, "tibia": 2, "patella": 3, "fibula": 4}

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def lps_geometry(img: nib.Nifti1Image):
    """(origin, direction columns, spacing) in LPS from a NIfTI image's affine."""
    a = np.diag([-1.0, -1.0, 1.0]) @ img.affine[:3, :4]
    spacing = np.linalg.norm(a[:, :3], axis=0)
    return a[:, 3], a[:, :3] / spacing, spacing


def write_ct_series(nifti: Path, folder: Path) -> dict:
    """The CT as a pydicom-written series; returns the identifiers used."""
    img = nib.load(str(nifti))
    data = np.asarray(img.dataobj, dtype=np.float64)
    origin, direction, spacing = lps_geometry(img)
    ids = {
        "study": generate_uid(), "series": generate_uid(), "for": generate_uid(),
        "patient_id": "KNEE-0042", "patient_name": "Phantom^Knee", "instances": [],
    }
    folder.mkdir(parents=True)
    for k in range(data.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"ct{k:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CT_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ids["instances"].append(ds.SOPInstanceUID)
        ds.PatientName, ds.PatientID = ids["patient_name"], ids["patient_id"]
        ds.PatientBirthDate, ds.PatientSex = "19600101", "F"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = ids["study"], ids["series"]
        ds.FrameOfReferenceUID = ids["for"]
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20261201", "101500", "7", "A1"
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 3, k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [float(v) for v in np.concatenate([direction[:, 0], direction[:, 1]])]
        ds.ImagePositionPatient = [float(v) for v in origin + direction[:, 2] * spacing[2] * k]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        ds.Rows, ds.Columns = data.shape[1], data.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = np.round(data[:, :, k].T).astype("<i2").tobytes()
        ds.save_as(str(folder / f"ct{k:04d}.dcm"), enforce_file_format=True)
    return ids


def run(srrd: str, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([srrd, *args], capture_output=True, text=True, timeout=900)


def frame_slices(frames_ipp: np.ndarray, origin, direction, spacing) -> np.ndarray:
    """The CT slice index of each frame position; NaN-free only if it sits on a slice."""
    depth = (frames_ipp - origin) @ direction[:, 2] / spacing[2]
    return depth


def check_geometry(ds, origin, direction, spacing, what: str) -> np.ndarray:
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    check(np.allclose(iop, np.concatenate([direction[:, 0], direction[:, 1]]), atol=1e-6),
          f"{what}: orientation is the CT's")
    ps = np.array(shared.PixelMeasuresSequence[0].PixelSpacing, dtype=float)
    check(np.allclose(ps, [spacing[1], spacing[0]], atol=1e-6), f"{what}: pixel spacing is the CT's")
    ipp = np.array([f.PlanePositionSequence[0].ImagePositionPatient
                    for f in ds.PerFrameFunctionalGroupsSequence], dtype=float)
    depth = frame_slices(ipp, origin, direction, spacing)
    k = np.round(depth).astype(int)
    in_plane = (ipp - origin) - np.outer(depth * spacing[2], direction[:, 2])
    check(bool(np.all(np.abs(depth - k) < 1e-3)) and bool(np.all(np.abs(in_plane) < 1e-3)),
          f"{what}: every frame lies on a CT slice ({len(k)} frames)")
    return k


def check_seg(path: Path, out: Path, ct_ids: dict | None, geometry) -> None:
    seg = hd.seg.segread(str(path))
    labels = [seg.get_segment_description(n).segment_label for n in seg.segment_numbers]
    check(len(labels) >= 14, f"SEG: highdicom reads {len(labels)} segments: {labels[:3]}...")
    femur = seg.get_segment_description(seg.segment_numbers[labels.index("femur")])
    code = femur.segmented_property_type
    check(code.value == "71341001" and code.scheme_designator == "SCT", "SEG: femur coded SCT 71341001")
    ds = pydicom.dcmread(str(path))
    k = check_geometry(ds, *geometry, "SEG")
    if ct_ids:
        check(ds.StudyInstanceUID == ct_ids["study"] and ds.PatientID == ct_ids["patient_id"]
              and ds.FrameOfReferenceUID == ct_ids["for"], "SEG: patient, study and frame of reference are the CT's")
        refs = [f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
                for f in ds.PerFrameFunctionalGroupsSequence]
        check(all(r == ct_ids["instances"][kk] for r, kk in zip(refs, k)),
              "SEG: each frame derives from the CT instance at its position")
        check(ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct_ids["series"], "SEG: refers to the CT series")
    # The voxels: unpack and compare with the NIfTI label maps.
    rows, cols, n = int(ds.Rows), int(ds.Columns), int(ds.NumberOfFrames)
    bits = np.unpackbits(np.frombuffer(ds.PixelData, dtype=np.uint8), bitorder="little")[: n * rows * cols]
    frames = bits.reshape(n, rows, cols).astype(bool)
    numbers = [int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in ds.PerFrameFunctionalGroupsSequence]
    bones = np.asarray(nib.load(str(out / "bones.nii.gz")).dataobj).transpose(2, 1, 0)
    subregions = np.asarray(nib.load(str(out / "subregions.nii.gz")).dataobj).transpose(2, 1, 0)
    mismatched = []
    for number, label in zip(seg.segment_numbers, labels):
        truth = (bones == BONES[label]) if label in BONES else (
            subregions == 1 + ["femur MA", "femur MC", "femur MP", "femur LA", "femur LC", "femur LP",
                               "tibia MA", "tibia MC", "tibia MP", "tibia LA", "tibia LC",
                               "tibia LP"].index(label.replace(" subchondral trabecular bone", "")))
        mine = np.zeros_like(truth)
        for f, (num, kk) in enumerate(zip(numbers, k)):
            if num == number:
                mine[kk] = frames[f]
        if not np.array_equal(mine, truth):
            mismatched.append(label)
    check(not mismatched, f"SEG: every segment equals the NIfTI label map voxel for voxel {mismatched or ''}")


def check_pmap(path: Path, stem: str, out: Path, geometry) -> None:
    ds = pydicom.dcmread(str(path))
    check(ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30", f"{path.name}: Parametric Map Storage")
    pm = hd.pm.ParametricMap.from_dataset(ds)
    check(pm.NumberOfFrames == ds.NumberOfFrames, f"{path.name}: highdicom reads it ({pm.NumberOfFrames} frames)")
    mapping = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    unit = mapping.MeasurementUnitsCodeSequence[0]
    check(unit.CodeValue == UNITS[stem] and unit.CodingSchemeDesignator == "UCUM", f"{path.name}: unit {unit.CodeValue}")
    quantity = mapping.QuantityDefinitionSequence[0].ConceptCodeSequence[0].CodeValue
    check(quantity == CODES[stem], f"{path.name}: quantity {quantity}")
    k = check_geometry(ds, *geometry, path.name)
    rows, cols = int(ds.Rows), int(ds.Columns)
    values = np.frombuffer(ds.FloatPixelData, dtype="<f4").reshape(-1, rows, cols)
    truth = np.asarray(nib.load(str(out / f"{stem}.nii.gz")).dataobj, dtype=np.float32).transpose(2, 1, 0)
    check(np.array_equal(values, truth[k]), f"{path.name}: float frames equal the NIfTI map")
    outside = np.delete(truth, k, axis=0)
    check(not np.any(outside), f"{path.name}: the slices left out hold no values")


def check_sr(path: Path, report: dict, seg_path: Path, ct_ids: dict | None) -> None:
    sr = hd.sr.srread(str(path))
    content = sr.content
    if ct_ids:
        groups = content.get_volumetric_roi_measurement_groups()
        seg_uid = pydicom.dcmread(str(seg_path), stop_before_pixels=True).SOPInstanceUID
        refs = [g.referenced_segment for g in groups]
        check(all(r is not None and r.referenced_sop_instance_uid == seg_uid for r in refs),
              f"SR: {len(groups)} volumetric groups (TID 1411) refer to the Segmentation's segments")
    else:
        groups = [g for g in content.get_image_measurement_groups() if "subchondral" in g.tracking_identifier]
    check(len(groups) == len(report["subregions_ct"]), f"SR: {len(groups)} subregion groups, as report.json")
    worst = 0.0
    for row in report["subregions_ct"]:
        g = next(g for g in groups if g.tracking_identifier.startswith(row["subregion"] + " "))
        for m in g.get_measurements():
            stem = {v: k for k, v in CODES.items()}[m.name.value]
            which = "mean" if m.derivation.value == "373098007" else "sd"
            worst = max(worst, abs(float(m.value) - row["parameters"][stem][which]))
            if m.unit.value != UNITS[stem]:
                worst = float("inf")
    check(worst < 1e-9, f"SR: means and SDs equal report.json (largest difference {worst:.2g})")
    texts: list[str] = []
    pydicom.dcmread(str(path)).walk(
        lambda ds, elem: texts.append(str(elem.value)) if elem.keyword == "TextValue" else None)
    text = " | ".join(texts)
    check("Research use only" in text, "SR: holds the research-use caveat")
    koa = report.get("koa")
    if koa:
        knee = [g for g in content.get_image_measurement_groups() if "KOA" in g.tracking_identifier]
        value = float(knee[0].get_measurements()[0].value) if knee else float("nan")
        check(abs(value - koa["probability"]) < 1e-9, f"SR: P(KOA) {value:.4f} equals report.json")
    else:
        check("not computed" in text or "withheld" in text, "SR: says why there is no P(KOA)")


def dciodvfy(path: Path) -> None:
    tool = shutil.which("dciodvfy")
    if tool is None:
        print(f"skip  dciodvfy not installed ({path.name})")
        return
    run_ = subprocess.run([tool, str(path)], capture_output=True, text=True)
    errors = [line for line in (run_.stdout + run_.stderr).splitlines() if line.startswith("Error")]
    check(not errors, f"dciodvfy {path.name}: no errors {errors[:2] if errors else ''}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # The demo knee, analysed from its NIfTI CT: a new study, said so.
        nifti_out = tmp / "nifti"
        r = run(args.srrd, ["analyze", "--out", str(nifti_out), "--dicom-out", str(nifti_out / "dicom")])
        check(r.returncode == 0, f"analyze the demo knee with --dicom-out (exit {r.returncode}) {r.stderr[-300:] if r.returncode else ''}")
        if r.returncode:
            return 1
        check("new study" in r.stderr, "NIfTI input: the warning says the objects make a new study")
        report = json.loads((nifti_out / "report.json").read_text())
        ct_nifti = Path(report["ct"])
        geometry = lps_geometry(nib.load(str(ct_nifti)))
        for f in sorted((nifti_out / "dicom").glob("*.dcm")):
            dciodvfy(f)
        check_sr(nifti_out / "dicom" / "sr.dcm", report, nifti_out / "dicom" / "seg.dcm", None)

        # The same CT as a DICOM series written by pydicom.
        ct_dir = tmp / "ct-dicom"
        ids = write_ct_series(ct_nifti, ct_dir)
        out = tmp / "dicom-in"
        r = run(args.srrd, ["analyze", "--ct", str(ct_dir), "--out", str(out), "--dicom-out", str(out / "dicom"), "--json"])
        check(r.returncode == 0, f"analyze the pydicom CT series with --dicom-out (exit {r.returncode}) {r.stderr[-300:] if r.returncode else ''}")
        if r.returncode:
            return 1
        report = json.loads((out / "report.json").read_text())
        check(len(report["dicom"]["files"]) == 6, f"report.json lists the {len(report['dicom']['files'])} DICOM files")
        dicom = out / "dicom"
        check_seg(dicom / "seg.dcm", out, ids, geometry)
        for stem in UNITS:
            check_pmap(dicom / f"pmap_{stem}.dcm", stem, out, geometry)
        check_sr(dicom / "sr.dcm", report, dicom / "seg.dcm", ids)
        for f in sorted(dicom.glob("*.dcm")):
            dciodvfy(f)
        sr = pydicom.dcmread(str(dicom / "sr.dcm"))
        check(sr.StudyInstanceUID == ids["study"] and sr.PatientName == ids["patient_name"],
              "SR: in the CT's study, for the CT's patient")

        # A non-empty folder is refused, before any work, without --force.
        r = run(args.srrd, ["analyze", "--ct", str(ct_dir), "--out", str(tmp / "again"), "--dicom-out", str(dicom)])
        check(r.returncode == 1 and "not empty" in r.stderr and "--force" in r.stderr,
              f"an existing DICOM folder is refused: {r.stderr.strip()[-160:]}")
    print(f"dicom-out: {'FAILED ' + str(len(failures)) if failures else 'all checks passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
