#!/usr/bin/env python3
"""Check srrd against SimpleITK on real image files written by other software.

The inputs are the DICOM and NIfTI test files shipped inside the installed pydicom
and nibabel packages (only what is on disk: nothing is downloaded). For each input:

  1. the reference is read with SimpleITK (geometry in LPS + voxels as float64);
     for NIfTI files SimpleITK cannot read (NIfTI-2), nibabel stands in;
  2. `srrd info PATH --json` must agree with the reference's geometry and value range;
  3. `srrd convert PATH OUT.nii.gz` must write the same voxels, and the affine that
     nibabel reads back must match what `srrd info` reported.

Run it with the interpreter of the reference venv (scripts/setup-refvenv.sh):

    .venv-ref/bin/python tests/real_files/compare.py --srrd target/release/srrd

The last line is `real-files: N passed, M failed`; the exit code is 1 when M > 0.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import nibabel as nib
import numpy as np
import pydicom
import SimpleITK as sitk

# Tolerances (relative, with a floor of 1 on the scale: |a - b| <= tol * max(1, |b|)).
GEOMETRY_TOL = 1e-4
RANGE_TOL = 1e-3
VALUE_TOL = 1e-3
SRRD_TIMEOUT_S = 60

# Outcomes.
PASS = "PASS"  # srrd agrees with the reference
FAIL = "FAIL"  # disagrees, panics, crashes or misbehaves
REFUSED_OK = "REFUSED-OK"  # neither SimpleITK nor srrd takes it (srrd refuses cleanly)
REFUSED = "REFUSED"  # SimpleITK reads it, srrd refuses cleanly: a known gap
ACCEPTED_EXTRA = "ACCEPTED-EXTRA"  # SimpleITK cannot read it, srrd does
OUTCOMES = (PASS, FAIL, REFUSED_OK, REFUSED, ACCEPTED_EXTRA)

# LPS <-> RAS: flip the first two world axes.
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage


# --------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------


@dataclass
class Input:
    """One thing to hand to srrd: a file, or a folder holding one DICOM series."""

    path: Path
    label: str  # path relative to the package's parent, e.g. pydicom/data/test_files/x.dcm
    kind: str  # dicom-file | dicom-folder | nifti1 | nifti2 | nifti-hdr


@dataclass
class Geometry:
    """Image geometry in LPS, truncated to the dimensions the reference defines (2 or 3)."""

    size: np.ndarray  # (n,) ints
    spacing: np.ndarray  # (n,)
    origin: np.ndarray  # (n,)
    direction: np.ndarray  # (n, n), columns are the axis directions
    name: str = ""  # which header field it came from, when there are alternatives

    @property
    def ndim(self) -> int:
        return len(self.size)


@dataclass
class Reference:
    """What srrd's answer is compared with."""

    status: str  # "ok" | "unsupported" (readable, but not a 3D scalar image) | "unreadable"
    source: str = "SimpleITK"  # or "nibabel"
    note: str = ""  # e.g. "4d-first-volume", "2d", "vector (3 components)", the error
    geometries: list[Geometry] = field(default_factory=list)  # any one may match
    array: Optional[np.ndarray] = None  # float64, [k][j][i] (3D even for 2D inputs)
    series_uid: Optional[str] = None
    series_files: Optional[int] = None
    part_files: Optional[list[str]] = None  # a folder's part: its files, relative
    native_messages: str = ""  # what GDCM/ITK printed on stderr while reading


@dataclass
class SrrdRun:
    """One srrd invocation."""

    returncode: Optional[int]  # None when it timed out
    stdout: str
    stderr: str


@dataclass
class Row:
    """One line of the result table."""

    label: str
    kind: str
    outcome: str
    reason: str
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Enumerating inputs
# --------------------------------------------------------------------------------------


def package_root(module) -> Path:
    """The folder of an installed package (pydicom, nibabel)."""
    return Path(module.__file__).resolve().parent


def make_input(path: Path, kind: str) -> Input:
    """An Input labelled by its path relative to site-packages."""
    site_packages = package_root(pydicom).parent
    label = str(path.relative_to(site_packages)) + ("/" if path.is_dir() else "")
    return Input(path=path, label=label, kind=kind)


def find_dicom_files() -> list[Input]:
    """Single DICOM files: pydicom's data folders (outside dicomdirtests) and nibabel's."""
    pydicom_data = package_root(pydicom) / "data"
    paths = sorted(
        p
        for p in pydicom_data.rglob("*.dcm")
        if "dicomdirtests" not in p.relative_to(pydicom_data).parts
    )
    paths += sorted(package_root(nib).glob("**/tests/data/*.dcm"))
    return [make_input(p, "dicom-file") for p in paths]


def is_dicom_image_file(path: Path) -> bool:
    """True for a DICOM file that is not a DICOMDIR (pixel data or not: srrd must cope)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:
        return False
    sop_class = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
    return str(sop_class) != DICOMDIR_SOP_CLASS


def find_dicom_series_folders() -> list[Input]:
    """Every folder under pydicom's dicomdirtests/ that directly holds DICOM image files."""
    top = package_root(pydicom) / "data" / "test_files" / "dicomdirtests"
    folders = []
    for folder in sorted(p for p in [top, *top.rglob("*")] if p.is_dir()):
        if any(f.is_file() and is_dicom_image_file(f) for f in folder.iterdir()):
            folders.append(make_input(folder, "dicom-folder"))
    return folders


def nifti_header_kind(path: Path) -> str:
    """nifti1 / nifti2 from the header size field (either byte order); nifti-hdr for .hdr."""
    if path.suffix == ".hdr":
        return "nifti-hdr"
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        head = f.read(4)
    size = int.from_bytes(head, "little")
    if size not in (348, 540):
        size = int.from_bytes(head, "big")
    return "nifti2" if size == 540 else "nifti1"


def find_nifti_files() -> list[Input]:
    """nibabel's NIfTI test files (.nii, .nii.gz) plus its header-only .hdr files."""
    data = package_root(nib) / "tests" / "data"
    paths = sorted({*data.glob("*.nii"), *data.glob("*.nii.gz"), *data.glob("*.hdr")})
    return [make_input(p, nifti_header_kind(p)) for p in paths]


def find_inputs() -> list[Input]:
    """All inputs, in a stable order."""
    return find_dicom_files() + find_dicom_series_folders() + find_nifti_files()


# --------------------------------------------------------------------------------------
# Reference side: SimpleITK (and nibabel for NIfTI files SimpleITK cannot read)
# --------------------------------------------------------------------------------------


class CapturedText:
    """Holder for text captured by captured_native_stderr()."""

    text = ""


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[CapturedText]:
    """Redirect file descriptor 2 (where GDCM and ITK print from C++) into a buffer."""
    captured = CapturedText()
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace").strip()


def without_site_packages(text: str) -> str:
    """Text with the site-packages prefix of paths removed, to keep lines short."""
    return text.replace(str(package_root(pydicom).parent) + "/", "")


def short_error(exc: Exception) -> str:
    """The informative last line of a SimpleITK exception, without ITK's decorations."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    if "Unable to determine ImageIO reader" in text:
        return "no ImageIO can read it"
    text = re.sub(r"^(sitk::ERROR|ITK ERROR): ", "", text)
    text = re.sub(r"\(0x[0-9a-f]+\)", "", text)
    return without_site_packages(text)[:160]


def geometry_from_sitk(image: sitk.Image, ndim: int) -> Geometry:
    """The first `ndim` dimensions of a SimpleITK image's geometry."""
    full = image.GetDimension()
    direction = np.array(image.GetDirection(), dtype=float).reshape(full, full)
    return Geometry(
        size=np.array(image.GetSize()[:ndim]),
        spacing=np.array(image.GetSpacing()[:ndim], dtype=float),
        origin=np.array(image.GetOrigin()[:ndim], dtype=float),
        direction=direction[:ndim, :ndim],
    )


def reference_from_sitk_image(image: sitk.Image) -> Reference:
    """Turn a SimpleITK image into a Reference (3D scalar; 2D and 4D adapted, see notes)."""
    dim = image.GetDimension()
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1:
        # srrd handles scalar images only; the geometry is still comparable.
        return Reference(
            status="unsupported",
            note=f"{image.GetPixelIDTypeAsString()} ({components} components)",
            geometries=[geometry_from_sitk(image, min(dim, 3))],
        )
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    if dim == 2:
        # srrd gives a 3D image with one slice: compare the in-plane geometry only.
        return Reference(
            status="ok", note="2d", geometries=[geometry_from_sitk(image, 2)],
            array=array[np.newaxis],
        )
    if dim == 3:
        return Reference(status="ok", geometries=[geometry_from_sitk(image, 3)], array=array)
    if dim == 4:
        # srrd reads the first volume of a 4D image.
        return Reference(
            status="ok", note="4d-first-volume", geometries=[geometry_from_sitk(image, 3)],
            array=array[0],
        )
    return Reference(status="unsupported", note=f"{dim}D image")


def sitk_reference(read: Callable[[], sitk.Image]) -> Reference:
    """Reference from a SimpleITK read; "unreadable" (with ITK's reason) when it raises."""
    with captured_native_stderr() as messages:
        try:
            ref = reference_from_sitk_image(read())
        except RuntimeError as exc:  # SimpleITK raises RuntimeError for every read failure
            ref = Reference("unreadable", note=short_error(exc))
    ref.native_messages = messages.text
    return ref


def sitk_file_reference(path: Path) -> Reference:
    """Reference for a single file, read with sitk.ReadImage."""
    return sitk_reference(lambda: sitk.ReadImage(str(path)))


def sitk_series_files(folder: Path) -> dict[str, list[str]]:
    """The DICOM series GDCM finds in a folder: series UID -> its files, in slice order."""
    uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    return {uid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid) for uid in uids}


def sitk_series_reference(uid: str, files: list[str]) -> Reference:
    """Reference for one DICOM series, read with sitk.ImageSeriesReader."""

    def read() -> sitk.Image:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        return reader.Execute()

    ref = sitk_reference(read)
    ref.series_uid, ref.series_files = uid, len(files)
    return ref


def dicom_parts(folder: Path) -> list[list[tuple[float, str]]]:
    """The folder's volumes as Slicer and dcm2niix split them, found here with pydicom
    (independently of srrd): by SeriesInstanceUID, then image size and orientation; each
    part's files as (position along the normal, path), sorted. Largest first."""
    groups: dict[tuple, list[tuple[float, str]]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM
            continue
        if "Rows" not in ds or int(ds.get("NumberOfFrames", 1) or 1) > 1:
            continue
        iop = [float(v) for v in ds.get("ImageOrientationPatient", [])] or [1, 0, 0, 0, 1, 0]
        ipp = [float(v) for v in ds.get("ImagePositionPatient", [])] or [0, 0, 0]
        normal = np.cross(iop[:3], iop[3:])
        key = (str(ds.get("SeriesInstanceUID", "")), int(ds.Rows), int(ds.Columns),
               tuple(round(v, 4) for v in iop))
        groups.setdefault(key, []).append((float(np.dot(normal, ipp)), str(path)))
    parts = [sorted(files) for files in groups.values()]
    return sorted(parts, key=lambda files: -len(files))


def evenly_spaced_block(files: list[tuple[float, str]]) -> list[str]:
    """The largest run of slices whose steps equal the median step (within 1 %)."""
    if len(files) < 3:
        return [f for _, f in files]
    steps = np.diff([d for d, _ in files])
    typical = float(np.sort(steps)[len(steps) // 2])
    regular = np.abs(steps - typical) <= 0.01 * typical + 1e-3
    best, start = (0, 0), 0
    for i in range(1, len(files)):
        if not regular[i - 1]:
            start = i
        if i - start > best[1] - best[0]:
            best = (start, i)
    return [f for _, f in files[best[0]:best[1] + 1]]


def sitk_files_reference(files: list[str]) -> Reference:
    """SimpleITK on an explicit list of files (one file: sitk.ReadImage)."""
    if len(files) == 1:
        return sitk_file_reference(Path(files[0]))
    return sitk_series_reference(str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID), files)


def sitk_folder_references(folder: Path) -> list[Reference]:
    """References for the largest volume in a folder (several when tied): SimpleITK on the
    files of the largest part, and on its largest evenly spaced block when slices are missing."""
    with captured_native_stderr() as messages:
        parts = dicom_parts(folder)
    if not parts:
        ref = Reference("unreadable", note="GDCM finds no DICOM series")
        ref.native_messages = messages.text
        return [ref]
    most = len(parts[0])
    refs = []
    for files in (p for p in parts if len(p) == most):
        block = evenly_spaced_block(files)
        ref = sitk_files_reference(block)
        ref.series_files = len(files)
        ref.series_uid = str(pydicom.dcmread(block[0], stop_before_pixels=True).SeriesInstanceUID)
        ref.part_files = sorted(str(Path(f).relative_to(folder)) for _, f in files)
        if len(block) < len(files):
            ref.note = f"largest evenly spaced block, {len(block)} of {len(files)} slices"
        refs.append(ref)
    return refs


def geometry_from_affine(affine_ras: np.ndarray, name: str, size) -> Geometry:
    """Spacing, direction and origin in LPS from a 4x4 RAS voxel-to-world affine."""
    lps = LPS_FROM_RAS @ np.asarray(affine_ras, dtype=float)[:3, :]
    matrix, origin = lps[:, :3], lps[:, 3]
    spacing = np.linalg.norm(matrix, axis=0)
    return Geometry(
        size=np.array(size[:3]), spacing=spacing, origin=origin,
        direction=matrix / spacing, name=name,
    )


def nibabel_reference(path: Path) -> Reference:
    """Reference from nibabel, for NIfTI files SimpleITK cannot read (e.g. NIfTI-2).

    A NIfTI header may hold two transforms (sform, qform); readers differ in which one
    they prefer, so each one that is set is an acceptable geometry.
    """
    image_class = nib.Nifti2Image if nifti_header_kind(path) == "nifti2" else nib.Nifti1Image
    try:
        image = image_class.from_filename(str(path))  # not nib.load: no CIFTI wrapping
        header = image.header
        shape = tuple(int(n) for n in image.shape)
        while len(shape) > 3 and shape[-1] == 1:
            shape = shape[:-1]
        candidates = []
        if int(header["sform_code"]) > 0:
            candidates.append(geometry_from_affine(image.get_sform(), "sform", shape))
        if int(header["qform_code"]) > 0:
            candidates.append(geometry_from_affine(image.get_qform(), "qform", shape))
        if not candidates:
            candidates.append(geometry_from_affine(header.get_base_affine(), "base", shape))
        if len(shape) > 4 or len(shape) < 3:
            return Reference("unsupported", "nibabel", f"{len(shape)}D image", candidates)
        data = np.asanyarray(image.dataobj).reshape(shape)
    except Exception as exc:
        return Reference("unreadable", "nibabel", note=f"nibabel: {exc}"[:160])
    note = "4d-first-volume" if len(shape) == 4 else ""
    volume = data[..., 0] if len(shape) == 4 else data
    array = np.asarray(volume, dtype=np.float64).transpose(2, 1, 0)
    return Reference("ok", "nibabel", note, candidates, array)


def references_for(item: Input) -> list[Reference]:
    """The acceptable references for an input (usually exactly one)."""
    if item.kind == "dicom-folder":
        return sitk_folder_references(item.path)
    ref = sitk_file_reference(item.path)
    if ref.status == "unreadable" and item.kind in ("nifti1", "nifti2"):
        fallback = nibabel_reference(item.path)
        fallback.note = "; ".join(filter(None, [fallback.note, f"SimpleITK: {ref.note}"]))
        return [fallback]
    return [ref]


# --------------------------------------------------------------------------------------
# srrd side
# --------------------------------------------------------------------------------------


def run_srrd(srrd: str, args: list[str]) -> SrrdRun:
    """Run srrd with a timeout, capturing its output."""
    try:
        done = subprocess.run(
            [srrd, *args], capture_output=True, text=True, errors="replace",
            timeout=SRRD_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return SrrdRun(None, out, err)
    return SrrdRun(done.returncode, done.stdout, done.stderr)


def misbehaviour(run: SrrdRun) -> Optional[str]:
    """Why a run breaks srrd's contract (0 + JSON, or 1 + one stderr line), or None."""
    if run.returncode is None:
        return f"timed out after {SRRD_TIMEOUT_S} s"
    if "panicked at" in run.stderr:
        return "panic: " + first_line(run.stderr[run.stderr.index("panicked at"):])
    if run.returncode not in (0, 1):
        return f"exit code {run.returncode}: {first_line(run.stderr)}"
    if run.returncode == 1 and len(run.stderr.strip().splitlines()) != 1:
        lines = len(run.stderr.strip().splitlines())
        return f"refusal with {lines} stderr lines, expected 1: {first_line(run.stderr)}"
    return None


def first_line(text: str) -> str:
    """First non-empty line of some text, shortened for the table."""
    for line in text.strip().splitlines():
        if line.strip():
            return without_site_packages(line.strip())[:160]
    return "(empty)"


INFO_NUMBER_LISTS = {"size": 3, "spacing": 3, "origin": 3, "direction": 9}


def parse_info(stdout: str) -> tuple[Optional[dict], str]:
    """Parse and shape-check `srrd info --json` output: (info, "") or (None, problem)."""
    try:
        info = json.loads(stdout)
    except json.JSONDecodeError as exc:
        return None, f"stdout is not one JSON object ({exc.msg})"
    if not isinstance(info, dict):
        return None, "stdout JSON is not an object"
    for key, length in INFO_NUMBER_LISTS.items():
        value = info.get(key)
        if not (isinstance(value, list) and len(value) == length
                and all(isinstance(v, (int, float)) for v in value)):
            return None, f"'{key}' is not a list of {length} numbers"
    for key in ("min", "max"):
        if not isinstance(info.get(key), (int, float)):
            return None, f"'{key}' is not a number"
    if info.get("format") not in ("nifti1", "nifti2", "dicom"):
        return None, f"unexpected format {info.get('format')!r}"
    if not (info.get("series") is None or isinstance(info.get("series"), dict)):
        return None, "'series' is neither an object nor null"
    if not isinstance(info.get("warnings", []), list):
        return None, "'warnings' is not a list"
    return info, ""


def info_geometry(info: dict) -> Geometry:
    """srrd's reported geometry as a 3D Geometry."""
    return Geometry(
        size=np.array(info["size"]), spacing=np.array(info["spacing"], dtype=float),
        origin=np.array(info["origin"], dtype=float),
        direction=np.array(info["direction"], dtype=float).reshape(3, 3),
    )


# --------------------------------------------------------------------------------------
# Comparisons: each returns a list of problems (empty when they agree)
# --------------------------------------------------------------------------------------


def close(a: float, b: float, tol: float) -> bool:
    """|a - b| <= tol * max(1, |b|), b being the reference."""
    return abs(a - b) <= tol * max(1.0, abs(b))


def compare_geometry(got: Geometry, ref: Geometry) -> list[str]:
    """Geometry problems, over the reference's dimensions (a single slice's z spacing
    included: SimpleITK reports SpacingBetweenSlices there, else 1)."""
    n = ref.ndim
    problems = []
    if list(got.size[:n]) != list(ref.size) or (n == 2 and got.size[2] != 1):
        problems.append(f"size {got.size.tolist()} != ref {ref.size.tolist()}")
    for name in ("spacing", "origin"):
        mine, theirs = getattr(got, name)[:n], getattr(ref, name)
        for axis in range(n):
            if not close(mine[axis], theirs[axis], GEOMETRY_TOL):
                problems.append(f"{name}[{axis}] {mine[axis]:.6g} != ref {theirs[axis]:.6g}")
    mine_dir = got.direction[:n, :n]
    if not all(close(a, b, GEOMETRY_TOL) for a, b in zip(mine_dir.ravel(), ref.direction.ravel())):
        problems.append(
            f"direction {np.round(mine_dir, 4).tolist()} != ref {np.round(ref.direction, 4).tolist()}"
        )
    return problems


def compare_geometry_any(got: Geometry, candidates: list[Geometry]) -> tuple[list[str], str]:
    """Problems against the best-matching acceptable geometry, and its name."""
    best: Optional[list[str]] = None
    best_name = ""
    for candidate in candidates:
        problems = compare_geometry(got, candidate)
        if best is None or len(problems) < len(best):
            best, best_name = problems, candidate.name
    return best or [], best_name


def compare_range(info: dict, array: np.ndarray) -> list[str]:
    """srrd's min/max against the reference array's (NaNs ignored)."""
    problems = []
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return problems
    for key, value in (("min", float(finite.min())), ("max", float(finite.max()))):
        if not close(float(info[key]), value, RANGE_TOL):
            problems.append(f"{key} {info[key]:.6g} != ref {value:.6g}")
    return problems


def compare_series(info: dict, ref: Reference) -> list[str]:
    """For a folder: srrd's chosen series (or part of one) against the reference's."""
    series = info.get("series")
    if ref.series_uid is None or series is None:
        return []
    problems = []
    if series.get("uid") != ref.series_uid:
        problems.append(f"series {series.get('uid')} != ref {ref.series_uid}")
    if series.get("files") != ref.series_files:
        problems.append(f"series files {series.get('files')} != ref {ref.series_files}")
    if ref.part_files is not None and sorted(series.get("file_names", [])) != ref.part_files:
        problems.append(f"part files {sorted(series.get('file_names', []))} != ref {ref.part_files}")
    return problems


def expected_format(item: Input) -> Optional[str]:
    """The `format` srrd should report for an input (None: no expectation)."""
    return {"dicom-file": "dicom", "dicom-folder": "dicom",
            "nifti1": "nifti1", "nifti2": "nifti2"}.get(item.kind)


def compare_format(info: dict, item: Input) -> list[str]:
    """srrd's reported format against the input's kind."""
    want = expected_format(item)
    if want and info["format"] != want:
        return [f"format {info['format']} != {want}"]
    return []


def compare_values(converted: np.ndarray, ref_array: np.ndarray) -> list[str]:
    """Voxel values of srrd's converted output against the reference ([k][j][i] both)."""
    if converted.shape != ref_array.shape:
        return [f"converted shape {converted.shape} != ref {ref_array.shape}"]
    nan_ref, nan_got = np.isnan(ref_array), np.isnan(converted)
    if not np.array_equal(nan_ref, nan_got):
        return [f"NaN voxels differ ({int(nan_got.sum())} vs ref {int(nan_ref.sum())})"]
    ok = ~nan_ref
    if not ok.any():
        return []
    diff = np.abs(converted[ok] - ref_array[ok])
    scale = max(1.0, float(np.abs(ref_array[ok]).max()))
    worst = float(diff.max())
    if worst > VALUE_TOL * scale:
        where = np.unravel_index(int(np.argmax(np.where(ok, np.abs(converted - ref_array), -1))),
                                 ref_array.shape)
        return [f"voxels differ: max |diff| {worst:.6g} (scale {scale:.6g}) "
                f"at [k,j,i]={list(map(int, where))}, {int((diff > VALUE_TOL * scale).sum())} voxels"]
    return []


def converted_problems(info: dict, out_path: Path) -> tuple[list[str], Optional[np.ndarray]]:
    """Read srrd's converted NIfTI: check it against srrd info; return its [k][j][i] array."""
    try:
        image = nib.load(str(out_path))
        data = np.asanyarray(image.dataobj)
    except Exception as exc:
        return [f"nibabel cannot read the converted file: {exc}"[:160]], None
    size = tuple(info["size"])
    if data.shape[:3] != size[: data.ndim] or any(n != 1 for n in data.shape[3:]):
        return [f"converted shape {data.shape} != info size {list(size)}"], None
    array = np.asarray(data, dtype=np.float64).reshape(size).transpose(2, 1, 0)
    written = geometry_from_affine(image.affine, "converted affine", size)
    problems = [f"converted file vs info: {p}" for p in compare_geometry(written, info_geometry(info))]
    if data.dtype != np.float32:
        problems.append(f"converted dtype {data.dtype}, expected float32")
    return problems, array


# --------------------------------------------------------------------------------------
# Evaluating one input
# --------------------------------------------------------------------------------------


def pick_reference(refs: list[Reference], info: Optional[dict]) -> Reference:
    """Among tied references, the one for the series srrd chose (else the first)."""
    if info and info.get("series"):
        for ref in refs:
            if ref.series_uid is not None and ref.series_uid == info["series"].get("uid") and (
                    ref.part_files is None
                    or ref.part_files == sorted(info["series"].get("file_names", []))):
                return ref
    return refs[0]


def srrd_convert(srrd: str, item: Input, info: dict, workdir: Path) -> tuple[list[str], Optional[np.ndarray]]:
    """Run `srrd convert` and check its output; return problems and the voxel array."""
    out_path = workdir / "out.nii.gz"
    if out_path.exists():
        out_path.unlink()
    run = run_srrd(srrd, ["convert", str(item.path), str(out_path)])
    bad = misbehaviour(run)
    if bad:
        return [f"convert: {bad}"], None
    if run.returncode != 0:
        return [f"info accepts it but convert refuses: {first_line(run.stderr)}"], None
    if not out_path.exists():
        return ["convert exited 0 without writing the output file"], None
    return converted_problems(info, out_path)


def pydicom_array(path: Path) -> Optional[np.ndarray]:
    """pydicom's rescaled voxels of one DICOM file as float64 [frame][row][col]."""
    try:
        ds = pydicom.dcmread(str(path))
        arr = ds.pixel_array.astype(np.float64)
        arr = arr * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    except Exception:  # noqa: BLE001 - any failure just means no second opinion
        return None
    return arr if arr.ndim == 3 else arr[None, ...]


def nibabel_array(path: Path) -> Optional[np.ndarray]:
    """nibabel's scaled voxels of a NIfTI file as float64 [k][j][i] (first volume if 4D)."""
    try:
        data = np.asanyarray(nib.load(str(path)).dataobj).astype(np.float64)
    except Exception:  # noqa: BLE001 - any failure just means no second opinion
        return None
    if data.ndim == 4:
        data = data[..., 0]
    return data.transpose(2, 1, 0) if data.ndim == 3 else None


def check_accepted(srrd: str, item: Input, info: dict, ref: Reference, workdir: Path) -> list[str]:
    """All checks for an input srrd accepted, as far as the reference allows."""
    problems = compare_format(info, item) + compare_series(info, ref)
    got = info_geometry(info)
    if ref.geometries:
        geometry_problems, _ = compare_geometry_any(got, ref.geometries)
        problems += geometry_problems
    convert_problems, converted = srrd_convert(srrd, item, info, workdir)
    problems += convert_problems
    ref_array = ref.array
    if ref_array is not None and converted is not None and ref_array.shape == converted.shape:
        # ITK's NIfTI reader turns NaN voxels into 0; srrd keeps them (and warns). Where
        # nibabel also reads NaN, srrd is right: leave those voxels out of the comparison.
        if item.kind.startswith("nifti"):
            nib_array = nibabel_array(item.path)
            if nib_array is not None and nib_array.shape == converted.shape:
                kept_nan = np.isnan(converted) & np.isnan(nib_array) & (ref_array == 0)
                if kept_nan.any():
                    ref_array = np.where(kept_nan, np.nan, ref_array)
                    if not any("NaN" in w for w in info.get("warnings", [])):
                        problems.append("NaN voxels kept without a warning")
    # Second opinion for single DICOM files: where SimpleITK's voxels differ from srrd's but
    # pydicom's equal srrd's (GDCM misreads big-endian 32-bit pixels), pydicom decides.
    if (item.kind == "dicom-file" and ref_array is not None and converted is not None
            and ref_array.shape == converted.shape and compare_values(converted, ref_array)):
        second = pydicom_array(item.path)
        if second is not None and second.shape == converted.shape and not compare_values(converted, second):
            ref_array = second
    if ref_array is not None:
        problems += compare_range(info, ref_array)
    if converted is not None:
        if ref_array is not None and ref_array.shape == converted.shape:
            problems += compare_values(converted, ref_array)
        elif ref.array is not None:
            problems.append(f"converted shape {converted.shape} != ref {ref.array.shape}")
        else:
            # No reference voxels: at least srrd's own min/max must describe its output.
            problems += [f"info vs converted: {p}" for p in compare_range(info, converted)]
    return problems


def check_parts(srrd: str, folder: Path) -> list[str]:
    """A folder's listing: `srrd series` must list the parts found here with pydicom, and
    each part, read by `srrd info --series ID`, must agree with SimpleITK on its files."""
    run = run_srrd(srrd, ["series", str(folder), "--json"])
    if run.returncode != 0:
        return [f"series: {first_line(run.stderr)}"]
    listed = json.loads(run.stdout)
    mine = sorted(sorted(p["file_names"]) for p in listed)
    theirs = sorted(sorted(str(Path(f).relative_to(folder)) for _, f in part)
                    for part in dicom_parts(folder))
    if mine != theirs:
        return [f"series lists parts {mine} != ref {theirs}"]
    depth = {f: d for part in dicom_parts(folder) for d, f in part}
    problems = []
    for part in listed[:8]:
        run = run_srrd(srrd, ["info", str(folder), "--series", part["id"], "--json"])
        info, problem = parse_info(run.stdout) if run.returncode == 0 else (None, first_line(run.stderr))
        if info is None:
            problems.append(f"part {part['id']}: {problem}")
            continue
        block = evenly_spaced_block(sorted((depth[str(folder / f)], str(folder / f))
                                           for f in part["file_names"]))
        ref = sitk_files_reference(block)
        if ref.geometries:
            geometry_problems, _ = compare_geometry_any(info_geometry(info), ref.geometries)
            problems += [f"part {part['id'][-6:]}: {p}" for p in geometry_problems]
    return problems


def evaluate(srrd: str, item: Input, workdir: Path, strict: bool) -> Row:
    """Run srrd on one input and decide its outcome."""
    refs = references_for(item)
    run = run_srrd(srrd, ["info", str(item.path), "--json"])
    details = {"srrd_info_exit": run.returncode, "srrd_stderr": run.stderr.strip()[:2000]}

    def row(outcome: str, reason: str, ref: Reference) -> Row:
        details.update(reference_summary(ref))
        return Row(item.label, item.kind, outcome, reason, details)

    bad = misbehaviour(run)
    if bad:
        return row(FAIL, f"info: {bad}", refs[0])

    if run.returncode == 1:
        ref = refs[0]
        refusal = first_line(run.stderr)
        if ref.status == "ok":
            note = f" [{ref.note}]" if ref.note else ""
            return row(FAIL if strict else REFUSED, f"{ref.source} reads it{note}; srrd: {refusal}", ref)
        return row(REFUSED_OK, f"{ref.source} {ref.status}: {ref.note} | srrd: {refusal}", ref)

    info, problem = parse_info(run.stdout)
    if info is None:
        return row(FAIL, f"info: {problem}", refs[0])
    details["srrd_info"] = info
    ref = pick_reference(refs, info)
    problems = check_accepted(srrd, item, info, ref, workdir)
    if item.kind == "dicom-folder":
        problems += check_parts(srrd, item.path)
    if problems:
        return row(FAIL, "; ".join(problems), ref)
    if ref.status == "ok" and ref.source == "SimpleITK":
        return row(PASS, ref.note, ref)
    if ref.status == "ok":
        return row(ACCEPTED_EXTRA, f"agrees with {ref.source} [{ref.note}]", ref)
    what = "geometry checked" if ref.geometries else "nothing to compare"
    return row(ACCEPTED_EXTRA, f"{ref.source} {ref.status}: {ref.note} ({what})", ref)


def reference_summary(ref: Reference) -> dict:
    """A JSON-friendly summary of a reference, for the report."""
    summary: dict = {"reference": ref.status, "reference_source": ref.source,
                     "reference_note": ref.note}
    if ref.geometries:
        g = ref.geometries[0]
        summary["reference_geometry"] = {
            "size": g.size.tolist(), "spacing": g.spacing.tolist(), "origin": g.origin.tolist(),
            "direction": g.direction.ravel().tolist(),
        }
    if ref.array is not None and np.isfinite(ref.array).any():
        summary["reference_range"] = [float(np.nanmin(ref.array)), float(np.nanmax(ref.array))]
    if ref.series_uid:
        summary["reference_series"] = {"uid": ref.series_uid, "files": ref.series_files}
    if ref.native_messages:
        summary["reference_messages"] = ref.native_messages[:2000]
    return summary


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def print_row(row: Row, verbose: bool) -> None:
    """One table line (and, when verbose, the details behind it)."""
    reason = row.reason if verbose or len(row.reason) <= 110 else row.reason[:107] + "..."
    print(f"{row.outcome:<14} {row.label:<66} {reason}", flush=True)
    if verbose:
        for key, value in row.details.items():
            if value not in (None, "", [], {}):
                text = json.dumps(value) if not isinstance(value, str) else value
                print(f"{'':<15}{key}: {text.replace(chr(10), chr(10) + ' ' * 17)}")


def print_summary(rows: list[Row]) -> tuple[int, int]:
    """Counts per kind and outcome, then the closing line; returns (passed, failed)."""
    print()
    kinds = sorted({row.kind for row in rows})
    for kind in kinds:
        counts = {o: sum(r.kind == kind and r.outcome == o for r in rows) for o in OUTCOMES}
        shown = ", ".join(f"{o} {n}" for o, n in counts.items() if n)
        print(f"  {kind:<13} {sum(counts.values()):>3} inputs: {shown}")
    failed = sum(row.outcome == FAIL for row in rows)
    passed = len(rows) - failed
    print(f"real-files: {passed} passed, {failed} failed")
    return passed, failed


def write_report(path: Path, rows: list[Row], passed: int, failed: int) -> None:
    """The JSON summary for --report."""
    report = {
        "passed": passed, "failed": failed,
        "counts": {o: sum(r.outcome == o for r in rows) for o in OUTCOMES},
        "inputs": [
            {"input": r.label, "kind": r.kind, "outcome": r.outcome, "reason": r.reason, **r.details}
            for r in rows
        ],
    }
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--srrd", required=True, help="path to the srrd binary")
    parser.add_argument("--verbose", action="store_true", help="print details for every input")
    parser.add_argument("--strict", action="store_true",
                        help="count REFUSED (SimpleITK reads it, srrd refuses) as a failure")
    parser.add_argument("--report", type=Path, help="write a JSON summary to this file")
    parser.add_argument("--only", metavar="TEXT", help="only inputs whose label contains TEXT")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    srrd = str(Path(args.srrd).resolve())
    if not os.access(srrd, os.X_OK):
        print(f"compare.py: {args.srrd} is not an executable file", file=sys.stderr)
        return 2
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    inputs = [i for i in find_inputs() if not args.only or args.only in i.label]
    print(f"{'OUTCOME':<14} {'INPUT':<66} REASON")
    rows = []
    with tempfile.TemporaryDirectory(prefix="srrd-real-files-") as workdir:
        for item in inputs:
            row = evaluate(srrd, item, Path(workdir), args.strict)
            print_row(row, args.verbose)
            rows.append(row)
    passed, failed = print_summary(rows)
    if args.report:
        write_report(args.report, rows, passed, failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
