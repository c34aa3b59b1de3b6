"""Packs a patch store (`srrd patches`) for scripts/gpu/train_regression.py, small enough to
travel to a GPU machine (about 40 MB for 32 knees of 160 patches; the device carries 64 MiB with the repo).

Usage: export_patches.py STORE OUT.npz.xz

Per patch: the CT in HU (int16) and its mask; the MR quantized to uint8 (`mr_step` per
step), its mask, and the 1st and 99th percentiles inside the mask taken on the unquantized
values, with which the script scales it as the teacher sees it (`MrScaling::Percentile` in
src/regression/train.rs); the four ground-truth
parameters; the subject, bone and centre. The subjects' ids and KL grades go in `subjects`
(JSON), so the script can make the same folds as `srrd eval-regression`. An uncompressed
.npz inside xz (lzma compresses the MR texture a third better than the npz's deflate).
"""
import io
import json
import lzma
import sys

import numpy as np
from safetensors.numpy import load_file


def percentiles(mr, mask):
    """The 1st and 99th percentiles inside each patch's mask, as src/regression/train.rs
    mr_percentile takes them (the whole patch when the mask is empty)."""
    out = np.empty((mr.shape[0], 2), np.float32)
    for p in range(mr.shape[0]):
        v, m = mr[p].ravel(), mask[p].ravel() > 0.5
        sel = np.sort(v[m] if m.any() else v)
        at = lambda f: sel[int(round((len(sel) - 1) * f))]
        out[p] = at(0.01), at(0.99)
    return out


def main():
    store, out = sys.argv[1], sys.argv[2]
    manifest = json.load(open(f"{store}/manifest.json"))
    parts = {k: [] for k in ("ct", "ct_mask", "mr", "mr_percentiles", "mr_mask", "target", "subject", "bone", "centre_mm")}
    subjects = []
    for n, s in enumerate(manifest["subjects"]):
        d = load_file(f"{store}/{s['file']}")
        k = d["target"].shape[0]
        subjects.append(dict(id=s["id"], kl_grade=s.get("kl_grade"), grade=s.get("grade"), patches=k))
        if k == 0:
            continue
        assert np.all(d["ct"] == np.round(d["ct"])), "CT patches are whole HU"
        parts["ct"].append(d["ct"][:, 0].astype(np.int16))
        parts["ct_mask"].append(d["ct_mask"][:, 0] > 0.5)
        parts["mr"].append(d["mr"][:, 0])
        parts["mr_percentiles"].append(percentiles(d["mr"][:, 0], d["mr_mask"][:, 0]))
        parts["mr_mask"].append(d["mr_mask"][:, 0] > 0.5)
        parts["target"].append(d["target"].astype(np.float32))
        parts["subject"].append(np.full(k, n, np.int16))
        parts["bone"].append(d["bone"].astype(np.uint8))
        parts["centre_mm"].append(d["centre_mm"].astype(np.float64))
        print(f"  {s['id']}: {k} patches", flush=True)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    # MR in steps of 1/255 of its largest value: the low bits are Rician noise, and lzma
    # packs 8 bits of it a third smaller than the percentile-stretched values.
    step = float(arrays["mr"].max()) / 255
    arrays["mr"] = np.clip(np.round(arrays["mr"] / step), 0, 255).astype(np.uint8)
    arrays["mr_step"] = np.array([step], np.float32)
    arrays["subjects"] = np.frombuffer(json.dumps(dict(subjects=subjects, targets=manifest["targets"])).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with open(out, "wb") as f:
        f.write(lzma.compress(buf.getvalue(), preset=6))
    print(f"{arrays['target'].shape[0]} patches of {len(subjects)} subjects -> {out}")


main()
