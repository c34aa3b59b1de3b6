"""The resampling step of `srrd analyze` done with SimpleITK, for a ratio against
`cargo bench --profile dev --bench analyze_clinical` ("to the models' grid alone"):
a 512 x 512 x 300 float32 CT at 0.4 x 0.4 x 0.6 mm smoothed by the same per-axis Gaussian
(the box-variance difference, (t^2 - s^2) / 12) and resampled linearly to 0.977 x 0.977 x
1.0 mm over the same field of view. Run with the reference venv:
    .venv-ref/bin/python benches/regrid_reference.py
"""
import time

import numpy as np
import SimpleITK as sitk

src = (0.4, 0.4, 0.6)
dst = (0.977, 0.977, 1.0)
rng = np.random.default_rng(1)
arr = (rng.standard_normal((300, 512, 512)) * 20.0).astype(np.float32)
img = sitk.GetImageFromArray(arr)
img.SetSpacing(src)
sigma = [((t * t - s * s) / 12.0) ** 0.5 for s, t in zip(src, dst)]
size = [int(round((n - 1) * s / t)) + 1 for n, s, t in zip(img.GetSize(), src, dst)]
times = []
for _ in range(3):
    t0 = time.perf_counter()
    smooth = sitk.DiscreteGaussian(img, [v * v for v in sigma], 32, 0.01, True)
    out = sitk.Resample(smooth, size, sitk.Transform(), sitk.sitkLinear, img.GetOrigin(), dst,
                        img.GetDirection(), -1000.0, sitk.sitkFloat32)
    times.append(time.perf_counter() - t0)
print(f"SimpleITK {sitk.Version_VersionString()} DiscreteGaussian + Resample, "
      f"{sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()} threads: "
      f"median {sorted(times)[1]:.2f} s (of {[round(t, 2) for t in times]}), out {out.GetSize()}")
