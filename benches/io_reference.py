"""Reference side of `cargo bench --bench io`: writes the benchmark inputs with nibabel and
pydicom, then times nibabel, pydicom+numpy and SimpleITK on them. Prints one JSON object.

Usage: python io_reference.py DIR REPEATS
"""
import json
import os
import statistics
import sys
import time

import nibabel as nib
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def knee_like(shape, rng):
    """A smooth int16 volume with noise (compresses like a real scan, not like zeros)."""
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")
    base = 800 * np.exp(-(x**2 + y**2) * 4) + 300 * np.sin(6 * z)
    return (base + rng.normal(0, 30, shape)).astype(np.int16)


def write_nifti(path, rng):
    """640x640x120 int16 at 0.234x0.234x1.5 mm (the paper's MR grid)."""
    if os.path.exists(path):
        return
    data = knee_like((120, 640, 640), rng).transpose(2, 1, 0)  # nibabel wants [i][j][k]
    affine = np.diag([0.234, 0.234, 1.5, 1.0])
    nib.save(nib.Nifti1Image(data, affine), path)


def write_dicom_series(folder, rng):
    """120 uncompressed 512x512 int16 CT slices, 1 mm apart, rescale intercept -1024."""
    if os.path.exists(os.path.join(folder, "done")):
        return
    os.makedirs(folder, exist_ok=True)
    series = generate_uid()
    vol = knee_like((120, 512, 512), rng)
    for k in range(120):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_STORAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CT_STORAGE
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-120.0, -120.0, float(k)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.47, 0.47]
        ds.SliceThickness = 1.0
        ds.Rows, ds.Columns = 512, 512
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (vol[k] + 1024).astype(np.int16).tobytes()
        ds.save_as(os.path.join(folder, f"slice{k:03d}.dcm"), enforce_file_format=True)
    open(os.path.join(folder, "done"), "w").close()


def median_time(fn, repeats):
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def read_pydicom_series(folder):
    files = sorted(f for f in os.listdir(folder) if f.endswith(".dcm"))
    slices = [pydicom.dcmread(os.path.join(folder, f)) for f in files]
    slices.sort(key=lambda s: float(s.ImagePositionPatient[2]))
    return np.stack([s.pixel_array * float(s.RescaleSlope) + float(s.RescaleIntercept) for s in slices])


def main():
    out, repeats = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    nii = os.path.join(out, "mr_640x640x120_int16.nii.gz")
    series = os.path.join(out, "ct_series_120")
    write_nifti(nii, rng)
    write_dicom_series(series, rng)

    mr = sitk.ReadImage(nii, sitk.sitkFloat32)
    ct_grid = sitk.Image(150, 150, 90, sitk.sitkFloat32)
    ct_grid.SetSpacing((0.977, 0.977, 1.0))
    ct_grid.SetOrigin((10.0, 10.0, 20.0))
    ct = sitk.Resample(mr, ct_grid, sitk.Transform(), sitk.sitkLinear, 0.0)

    result = {
        "nifti": nii,
        "dicom": series,
        "threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
        "nibabel_get_fdata_s": median_time(lambda: nib.load(nii).get_fdata(), repeats),
        "pydicom_stack_s": median_time(lambda: read_pydicom_series(series), repeats),
        "sitk_read_nifti_s": median_time(lambda: sitk.ReadImage(nii), repeats),
        "sitk_resample_mr_to_ct_s": median_time(
            lambda: sitk.Resample(mr, ct_grid, sitk.Transform(), sitk.sitkLinear, 0.0), repeats
        ),
        "sitk_resample_ct_to_mr_s": median_time(
            lambda: sitk.Resample(ct, mr, sitk.Transform(), sitk.sitkLinear, 0.0), repeats
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
