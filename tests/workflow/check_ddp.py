"""Opt-in: scripts/gpu/train_regression.py under torchrun with 2 CPU processes (gloo)
follows the loss curve of 1 process with the same global batch, and resumes.

Needs a venv with torch, numpy and safetensors (torch from PyPI is about 3 GB, so this is
not in the default CI):

    python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch numpy safetensors
    /tmp/venv-torch/bin/python tests/workflow/check_ddp.py

A tiny synthetic patch set (4 knees x 16 patches, targets a function of the CT patch) is
written in export_patches.py's format; the small configuration trains 3 epochs of each
network on fold 1 of 2, with a global batch of 8: once as one process, once as two.
The two curves differ only by BatchNorm's statistics (per process, over 4 patches instead
of 8; SyncBatchNorm is GPU-only), so they are compared within a tolerance.
"""
import csv
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts/gpu/train_regression.py"


def tiny_store(path):
    rng = np.random.default_rng(3)
    n_sub, per = 4, 16
    n = n_sub * per
    ct = rng.normal(300, 250, (n, 12, 12, 12)).round().astype(np.int16)
    level = ct.reshape(n, -1).mean(1)
    bv = (level - level.min()) / (np.ptp(level) + 1e-6)
    target = np.stack([0.3 + 0.2 * bv, 0.6 + 0.6 * bv, 1.2 - 0.5 * bv, 0.4 + 0.4 * bv], 1).astype(np.float32)
    arrays = dict(
        ct=ct, ct_mask=np.ones((n, 12, 12, 12), bool),
        mr=rng.integers(0, 255, (n, 16, 48, 48)).astype(np.uint8),
        mr_percentiles=np.tile(np.array([[10.0, 240.0]], np.float32), (n, 1)),
        mr_mask=np.ones((n, 16, 48, 48), bool), target=target,
        subject=np.repeat(np.arange(n_sub), per).astype(np.int16),
        bone=np.tile([1, 2], n // 2).astype(np.uint8),
        centre_mm=rng.normal(0, 20, (n, 3)), mr_step=np.array([1.0], np.float32),
    )
    subjects = [dict(id=f"k{s}", kl_grade=s % 2, grade=None, patches=per) for s in range(n_sub)]
    arrays["subjects"] = np.frombuffer(json.dumps(dict(subjects=subjects, targets=[])).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(lzma.compress(buf.getvalue()))


def curve(out):
    with open(out / "loss.csv") as f:
        return [(r["network"], int(r["epoch"]), float(r["loss"])) for r in csv.DictReader(f)]


def train(cmd_prefix, data, out, epochs=3):
    env = dict(os.environ, SRRD_FORCE_CPU="1", OMP_NUM_THREADS="1")
    cmd = [*cmd_prefix, str(SCRIPT), str(data), str(out), "small", str(epochs), "2", "--fold-list", "1", "--batch", "8"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def main():
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="srrd-ddp-"))
    data = tmp / "tiny.npz.xz"
    tiny_store(data)
    one = tmp / "one"
    train([py], data, one)
    two = tmp / "two"
    torchrun = [py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    log = train(torchrun, data, two)
    assert "x 2" in (two / "log.txt").read_text(), "two processes"
    c1, c2 = curve(one), curve(two)
    assert [x[:2] for x in c1] == [x[:2] for x in c2], (c1, c2)
    worst = max(abs(a[2] - b[2]) / a[2] for a, b in zip(c1, c2))
    print("network epoch  1 process  2 processes")
    for a, b in zip(c1, c2):
        print(f"{a[0]:<8} {a[1]:>5}  {a[2]:.5f}    {b[2]:.5f}")
    print(f"largest relative difference {worst:.3f}")
    assert worst < 0.15, f"the curves part: {worst:.3f}"
    for net in ("teacher", "plain", "student"):
        l = [x[2] for x in c2 if x[0] == net]
        assert l[-1] < l[0], f"{net} does not learn: {l}"
    # Resume: drop the student's last epoch from the checkpoint by training 3 -> 4 epochs
    # in the same folder with metrics cleared; only the 4th epoch of each network runs.
    m = json.loads((two / "metrics.json").read_text())
    m["folds"]["1"].pop("done")
    (two / "metrics.json").write_text(json.dumps(m))
    log = train(torchrun, data, two, epochs=4)
    text = (two / "log.txt").read_text()
    assert text.count("resumed after epoch 3") == 3, text
    assert "teacher epoch 1/4" not in text and "teacher epoch 4/4" in text, text
    print("resumed from the checkpoints: only epoch 4 ran")
    # The synthesis script under torchrun: 2 processes, 120 iterations of the small
    # CycleGAN on random slices, a model folder written by rank 0.
    rng = np.random.default_rng(0)
    slices = {}
    for d in ("ct", "mr"):
        for i in range(2):
            v = np.zeros((6, 72, 72), np.uint8)
            v[:, 8:64, 8:64] = rng.integers(60, 200, (6, 56, 56))
            slices[f"{d}_{i}"] = v
    np.savez(tmp / "slices.npz", **slices)
    env = dict(os.environ, SRRD_FORCE_CPU="1", OMP_NUM_THREADS="1")
    syn = tmp / "syn"
    p = subprocess.run([*torchrun, str(ROOT / "scripts/gpu/train_synthesis.py"), str(tmp / "slices.npz"), "none",
                        str(syn), "cyclegan", "small", "120", "2"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    info = json.loads((syn / "gpu_run.json").read_text())
    assert info["iterations"] == 120 and (syn / "generators.safetensors").exists(), info
    assert not (syn / "ckpt.pt").exists(), "the checkpoint is removed once the run finished"
    rows = (syn / "loss.csv").read_text().splitlines()
    assert rows[-1].startswith("120,"), rows[-1]
    print("synthesis: 2 processes, 120 iterations, model folder written")
    shutil.rmtree(tmp)
    print("ddp checks passed")


if __name__ == "__main__":
    main()
