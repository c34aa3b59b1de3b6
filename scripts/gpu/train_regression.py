"""Cross-validated teacher / plain CNN / distilled student on an NVIDIA GPU: a PyTorch
transcription of src/regression/{nets,train,evaluate}.rs (same layers, parameter names,
input scaling, losses, schedule, flips and folds), for the paper's configuration (ResNet-50
on 64^3), which the project's CPU-only tch build cannot train in reasonable time.

Usage: train_regression.py DATA.npz.xz OUT CONFIG EPOCHS FOLDS [options]
  DATA     from scripts/gpu/export_patches.py
  CONFIG   paper | small
  FOLDS    the number of folds, e.g. 5 (subject-wise, as `srrd eval-regression`)
  --fold-list 1,2    only these folds (default: all), so a run fits a time limit (--run is
                     the old name; under torchrun only --fold-list works)
  --teacher-epochs N --batch N --w-projection W --w-features 2:0.01,3:0.01 --w-output W
  --bf16             bfloat16 autocast for the forward passes (faster on a GPU)
  --check            also write OUT/check.safetensors and the weights after the first fold,
                     so `cargo test --test regression -- --ignored` can confirm that tch
                     computes the same function (see tests/regression.rs)

Writes, as each network finishes (a run stopped at its time limit keeps what it did):
  OUT/oof.csv       out-of-fold predictions in `srrd eval-regression`'s format (no
                    radiomics rows: merge them from a CPU run with the same folds)
  OUT/metrics.json  ICC(A,1) and Pearson r per fold, network and parameter; throughput
  OUT/loss.csv      per epoch: fold, network, loss, mse (over all ranks)
  OUT/log.txt       progress
  OUT/ckpt/         a checkpoint per network after every epoch: a stopped run started
                    again with the same command resumes (finished folds are skipped)
Needs torch, numpy, safetensors.

On several GPUs (or CPU processes): `torchrun --nproc_per_node N train_regression.py ...`
runs DistributedDataParallel: each epoch a DistributedSampler (set_epoch) deals every
global batch of --batch patches to the N processes (--batch / N each), gradients are
averaged, and rank 0 alone logs, evaluates and writes. With the same --batch, N processes
follow the loss curve of one (tests/workflow/check_ddp.py checks it with gloo on CPU).
"""
import argparse
import io
import json
import lzma
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data.distributed import DistributedSampler

from ddp import Dist, save_atomic

CONFIGS = {
    "paper": dict(cube=64, pre=16, widths=(64, 128, 256, 512), blocks=(3, 4, 6, 3), bottleneck=True, learned_resize=False),
    "small": dict(cube=16, pre=8, widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), bottleneck=False, learned_resize=True),
}
PROJECTION = 61
METHODS = ["plain CNN", "SRRD-CT (distilled)", "MR teacher"]


def conv(c_in, c_out, k, stride=1):
    return nn.Conv3d(c_in, c_out, k, stride, k // 2, bias=False)


class Basic(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1, self.bn1 = conv(c_in, c_out, 3, stride), nn.BatchNorm3d(c_out)
        self.conv2, self.bn2 = conv(c_out, c_out, 3), nn.BatchNorm3d(c_out)
        self.has_down = stride != 1 or c_in != c_out
        if self.has_down:
            self.down, self.down_bn = conv(c_in, c_out, 1, stride), nn.BatchNorm3d(c_out)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.down_bn(self.down(x)) if self.has_down else x))


class Bottleneck(nn.Module):
    def __init__(self, c_in, width, stride):
        super().__init__()
        c_out = 4 * width
        self.conv1, self.bn1 = conv(c_in, width, 1), nn.BatchNorm3d(width)
        self.conv2, self.bn2 = conv(width, width, 3, stride), nn.BatchNorm3d(width)
        self.conv3, self.bn3 = conv(width, c_out, 1), nn.BatchNorm3d(c_out)
        self.has_down = stride != 1 or c_in != c_out
        if self.has_down:
            self.down, self.down_bn = conv(c_in, c_out, 1, stride), nn.BatchNorm3d(c_out)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(y)))))
        return F.relu(y + (self.down_bn(self.down(x)) if self.has_down else x))


class Backbone(nn.Module):
    def __init__(self, c_in, cfg):
        super().__init__()
        w = cfg["widths"]
        self.stem, self.stem_bn = conv(c_in, w[0], 3, 2), nn.BatchNorm3d(w[0])
        self.pool = cfg["cube"] >= 64
        c = w[0]
        for s in range(4):
            blocks = []
            for b in range(cfg["blocks"][s]):
                stride = 2 if s > 0 and b == 0 else 1
                if cfg["bottleneck"]:
                    blocks.append(Bottleneck(c, w[s], stride))
                    c = 4 * w[s]
                else:
                    blocks.append(Basic(c, w[s], stride))
                    c = w[s]
            setattr(self, f"layer{s + 1}", nn.ModuleList(blocks))
        self.projection = nn.Linear(c, PROJECTION)
        self.out = nn.Linear(PROJECTION, 4)

    def forward(self, x):
        y = F.relu(self.stem_bn(self.stem(x)))
        if self.pool:
            y = F.max_pool3d(y, 3, 2, 1)
        features = []
        for s in range(4):
            for block in getattr(self, f"layer{s + 1}"):
                y = block(y)
            features.append(y)
        projection = F.relu(self.projection(y.mean((2, 3, 4))))
        return torch.sigmoid(self.out(projection)), projection, features


class Teacher(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["pre"]
        self.cube, self.learned = cfg["cube"], cfg["learned_resize"]
        if self.learned:
            self.pre_conv = nn.Conv3d(2, c, (1, 3, 3), (1, 3, 3), 0, bias=False)
        else:
            self.pre_conv = nn.Conv3d(2, c, 3, 1, 1, bias=False)
        self.pre_bn = nn.BatchNorm3d(c)
        self.pre_res1, self.pre_res2 = Basic(c, c, 1), Basic(c, c, 1)
        self.backbone = Backbone(c, cfg)

    def forward(self, x):
        if not self.learned:
            x = F.interpolate(x, size=(self.cube,) * 3, mode="trilinear", align_corners=False)
        y = F.relu(self.pre_bn(self.pre_conv(x)))
        return self.backbone(self.pre_res2(self.pre_res1(y)))


class Student(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, size, c_in, n = cfg["pre"], 16, 2, 0
        while size < cfg["cube"]:
            setattr(self, f"up{n}", nn.ConvTranspose3d(c_in, c, 4, 2, 1, bias=False))
            setattr(self, f"up{n}_bn", nn.BatchNorm3d(c))
            size, c_in, n = size * 2, c, n + 1
        self.n_up = n
        self.backbone = Backbone(c_in, cfg)

    def forward(self, x):
        y = F.interpolate(x, size=(16, 16, 16), mode="trilinear", align_corners=False)
        for n in range(self.n_up):
            y = F.relu(getattr(self, f"up{n}_bn")(getattr(self, f"up{n}")(y)))
        return self.backbone(y)


def tch_state(model):
    """The weights under tch's VarStore names (no num_batches_tracked)."""
    return {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def load(path):
    d = np.load(io.BytesIO(lzma.decompress(open(path, "rb").read())))
    return {k: d[k] for k in d.files}


def subject_folds(subjects, folds):
    """src/regression/evaluate.rs subject_folds: by (KL grade, index), dealt round-robin."""
    order = sorted(range(len(subjects)), key=lambda s: (subjects[s]["kl_grade"] or 0, s))
    out = [[] for _ in range(folds)]
    for n, s in enumerate(order):
        out[n % folds].append(s)
    return out


def icc_a1(x, y):
    """ICC(A,1), two-way, absolute agreement, single measurement (McGraw & Wong)."""
    m = np.stack([x, y], 1).astype(np.float64)
    n, k = m.shape
    grand = m.mean()
    ss_r = k * ((m.mean(1) - grand) ** 2).sum()
    ss_c = n * ((m.mean(0) - grand) ** 2).sum()
    ss_e = ((m - grand) ** 2).sum() - ss_r - ss_c
    msr, msc, mse = ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)


def finite(v):
    v = float(v)
    return v if math.isfinite(v) else None


def train(name, net, data, idx, y_norm, args, epochs, dev, log, guide=None, seed=1, dist=None, ckpt=None,
          curve=None):
    """run_stage: Adam (wd), lr x0.1 from epoch ceil(2E/3) when E >= 3, shuffled batches,
    the same random flips on MR and CT, MSE on normalized targets (+ distillation).
    Distributed: the sampler deals each global batch across the ranks; resumes from `ckpt`."""
    dist = dist or Dist()
    model = dist.wrap(net)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=1e-5)
    g = torch.Generator().manual_seed(seed)
    sampler = DistributedSampler(range(len(idx)), num_replicas=dist.world, rank=dist.rank, shuffle=True,
                                 seed=seed, drop_last=False)
    per_rank = max(1, args.batch // dist.world)
    start_epoch = 0
    if ckpt and os.path.exists(ckpt):
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        g.set_state(state["flip_rng"])
        start_epoch = state["epoch"]
        log(f"{name}: resumed after epoch {start_epoch} from {ckpt}")
    t_all = time.time()
    for epoch in range(start_epoch, epochs):
        lr = args.lr * 0.1 if epochs >= 3 and epoch >= math.ceil(2 * epochs / 3) else args.lr
        for group in opt.param_groups:
            group["lr"] = lr
        net.train()
        sampler.set_epoch(epoch)
        order = idx[np.asarray(list(sampler), dtype=np.int64)]
        t0, sums = time.time(), np.zeros(3)
        for start in range(0, len(order), per_rank):
            b = order[start:start + per_rank]
            mr, ct = data["mr"][b], data["ct"][b]
            # The same flips on every rank: one draw per global batch.
            dims = [d for d in (2, 3, 4) if torch.rand(1, generator=g).item() < 0.5]
            if dims:
                mr, ct = mr.flip(dims), ct.flip(dims)
            y = y_norm[b]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16):
                loss, mse = step(name, model, mr, ct, y, args, guide)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums += [loss.item() * len(b), mse.item() * len(b), len(b)]
        loss_sum, mse_sum, count = dist.sum(sums)
        log(f"{name} epoch {epoch + 1}/{epochs}: loss {loss_sum / count:.5f} mse {mse_sum / count:.5f} "
            f"({count / (time.time() - t0):.0f} patches/s)")
        if dist.main:
            if curve:
                curve(name, epoch + 1, loss_sum / count, mse_sum / count)
            if ckpt:
                save_atomic(dict(net=net.state_dict(), opt=opt.state_dict(), epoch=epoch + 1,
                                 flip_rng=g.get_state()), ckpt)
        dist.barrier()
    return len(idx) * max(0, epochs - start_epoch) / max(time.time() - t_all, 1e-9)


def step(name, net, mr, ct, y, args, guide):
    """One batch's loss and MSE: the teacher on MR, a student on CT (+ distillation_loss
    of src/regression/train.rs when it has a guide). Losses in fp32 under autocast."""
    if name == "teacher":
        mse = F.mse_loss(net(mr)[0].float(), y)
        return mse, mse
    params, proj, feats = net(ct)
    mse = F.mse_loss(params.float(), y)
    loss = mse
    if guide is not None:
        with torch.no_grad():
            t_params, t_proj, t_feats = guide(mr)
        loss = loss + args.w_projection * ((proj.float() - t_proj.float()) ** 2).sum(1).mean()
        for block, w in args.w_features:
            loss = loss + w * F.l1_loss(feats[block].float(), t_feats[block].float())
        if args.w_output > 0:
            loss = loss + args.w_output * F.mse_loss(params.float(), t_params.float())
    return loss, mse


def predict(net, x, batch):
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            out.append(net(x[start:start + batch])[0])
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data"), ap.add_argument("out"), ap.add_argument("config", choices=CONFIGS)
    ap.add_argument("epochs", type=int), ap.add_argument("folds", type=int)
    # --run is kept for older commands; under torchrun it collides with torchrun's own
    # --run-path (argparse abbreviations), so use --fold-list there.
    ap.add_argument("--fold-list", "--run", dest="run", default=None)
    ap.add_argument("--teacher-epochs", type=int, default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--w-projection", type=float, default=0.001)
    ap.add_argument("--w-features", default="2:0.01,3:0.01")
    ap.add_argument("--w-output", type=float, default=0.0)
    ap.add_argument("--limit", type=int, default=None, help="patches per fold side (smoke tests)")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the forward passes (GPU)")
    args = ap.parse_args()
    args.w_features = [(int(b), float(w)) for b, w in (p.split(":") for p in args.w_features.split(",") if p)]
    cfg = CONFIGS[args.config]
    os.makedirs(args.out, exist_ok=True)
    dist = Dist()
    dev = dist.device
    torch.backends.cudnn.benchmark = True
    if args.batch % dist.world:
        raise SystemExit(f"--batch {args.batch} is not divisible by the {dist.world} processes")
    logf = open(f"{args.out}/log.txt", "a") if dist.main else None
    os.makedirs(f"{args.out}/ckpt", exist_ok=True)

    def log(line):
        if dist.main:
            print(line, flush=True)
            logf.write(line + "\n")
            logf.flush()

    def curve_for(fold):
        path = f"{args.out}/loss.csv"
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("fold,network,epoch,loss,mse\n")

        def write(name, epoch, loss, mse):
            with open(path, "a") as f:
                f.write(f"{fold},{name},{epoch},{loss:.6f},{mse:.6f}\n")
        return write

    raw = load(args.data)
    meta = json.loads(bytes(raw["subjects"]).decode())
    subjects = meta["subjects"]
    ct = torch.from_numpy(raw["ct"]).float().unsqueeze(1)
    # mr_input (percentile): the exported percentiles to 0 and 1, clamped.
    mr = torch.from_numpy(raw["mr"]).float().unsqueeze(1) * float(raw["mr_step"][0])
    pct = torch.from_numpy(raw["mr_percentiles"]).view(-1, 2, 1, 1, 1)
    mr = ((mr - pct[:, :1]) / (pct[:, 1:] - pct[:, :1]).clamp_min(1e-3)).clamp(0, 1)
    data = {
        # ct_input: (HU - 400) / 600 and the mask.
        "ct": torch.cat([(ct - 400) / 600, torch.from_numpy(raw["ct_mask"]).float().unsqueeze(1)], 1).to(dev),
        "mr": torch.cat([mr, torch.from_numpy(raw["mr_mask"]).float().unsqueeze(1)], 1).to(dev),
    }
    del mr
    target = torch.from_numpy(raw["target"]).to(dev)
    subject = raw["subject"].astype(int)
    split = subject_folds(subjects, args.folds)
    run = [int(f) for f in args.run.split(",")] if args.run else list(range(1, args.folds + 1))
    log(f"{len(subject)} patches of {len(subjects)} subjects; {args.config} configuration on "
        f"{torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu'} x {dist.world}, torch {torch.__version__}; "
        f"folds {run}")
    metrics_path = f"{args.out}/metrics.json"
    metrics = json.load(open(metrics_path)) if os.path.exists(metrics_path) else {"folds": {}}
    metrics.update(config=args.config, epochs=args.epochs, teacher_epochs=args.teacher_epochs, batch=args.batch,
                   w_projection=args.w_projection, w_features=args.w_features, w_output=args.w_output,
                   device=torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", torch=torch.__version__)
    oof_path = f"{args.out}/oof.csv"
    if dist.main and not os.path.exists(oof_path):
        with open(oof_path, "w") as f:
            f.write("subject,bone,x_mm,y_mm,z_mm,method,bv_tv,tb_th_mm,tb_sp_mm,tb_n_per_mm\n")
    for fold in run:
        if metrics["folds"].get(str(fold), {}).get("done"):
            log(f"fold {fold}: done in an earlier run (metrics.json), skipped")
            continue
        test_subjects = set(split[fold - 1])
        test = np.nonzero(np.isin(subject, list(test_subjects)))[0]
        train_idx = np.nonzero(~np.isin(subject, list(test_subjects)))[0]
        if args.limit:
            train_idx, test = train_idx[:: max(1, len(train_idx) // args.limit)][: args.limit], test[: args.limit]
        lo, hi = target[train_idx].amin(0), target[train_idx].amax(0)
        span = (hi - lo).clamp_min(1e-6)
        y_norm = ((target - lo) / span).clamp(0, 1)
        log(f"fold {fold}/{args.folds}: {len(train_idx)} training and {len(test)} test patches")
        fm = metrics["folds"].setdefault(str(fold), {})
        torch.manual_seed(fold)
        teacher = Teacher(cfg).to(dev)
        ck = lambda n: f"{args.out}/ckpt/fold{fold}-{n}.pt"
        fm["teacher_patches_per_s"] = train("teacher", teacher, data, train_idx, y_norm, args,
                                            args.teacher_epochs or args.epochs, dev, log, seed=fold, dist=dist,
                                            ckpt=ck("teacher"), curve=curve_for(fold))
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        nets = {"MR teacher": teacher}
        for method, guide in (("plain CNN", None), ("SRRD-CT (distilled)", teacher)):
            torch.manual_seed(100 + fold)
            net = Student(cfg).to(dev)
            role = "student" if guide else "plain"
            fm[f"{method} patches_per_s"] = train(role, net, data, train_idx, y_norm, args, args.epochs, dev, log,
                                                  guide=guide, seed=fold, dist=dist, ckpt=ck(role),
                                                  curve=curve_for(fold))
            nets[method] = net
        if not dist.main:
            dist.barrier()
            continue
        truth = target[test].cpu().numpy()
        rows = [("MR ground truth", truth)]
        for method in METHODS:
            x = data["mr"][test] if method == "MR teacher" else data["ct"][test]
            pred = (predict(nets[method], x, 256) * span + lo).cpu().numpy()
            rows.append((method, pred))
            with np.errstate(all="ignore"):  # constant predictions: no r (null in the JSON)
                fm[method] = dict(icc=[finite(icc_a1(pred[:, a], truth[:, a])) for a in range(4)],
                                  r=[finite(np.corrcoef(pred[:, a], truth[:, a])[0, 1]) for a in range(4)])
            log(f"fold {fold} {method}: ICC " + " ".join(f"{v:.3f}" if v is not None else "-" for v in fm[method]["icc"]))
        with open(oof_path, "a") as f:
            for method, values in rows:
                for n, i in enumerate(test):
                    c = raw["centre_mm"][i]
                    f.write(f"{subjects[subject[i]]['id']},{raw['bone'][i]},{c[0]:.3f},{c[1]:.3f},{c[2]:.3f},{method},"
                            + ",".join(f"{v:.6f}" for v in values[n]) + "\n")
        fm["done"] = True
        json.dump(metrics, open(metrics_path + ".tmp", "w"), indent=1)
        os.replace(metrics_path + ".tmp", metrics_path)
        if args.check:
            from safetensors.torch import save_file
            save_file(tch_state(teacher), f"{args.out}/teacher.safetensors")
            save_file(tch_state(nets["SRRD-CT (distilled)"]), f"{args.out}/student.safetensors")
            xs, xm = data["ct"][test[:4]], data["mr"][test[:4]]
            torch.backends.cudnn.allow_tf32 = False
            check = {"ct": xs, "mr": xm}
            with torch.no_grad():
                # Outputs, projections and last-stage features: the outputs of a briefly
                # trained network can be constant, the features are not.
                for role, net, x in (("student", nets["SRRD-CT (distilled)"], xs), ("teacher", teacher, xm)):
                    params, proj, feats = net(x)
                    check.update({role: params, f"{role}.projection": proj, f"{role}.features3": feats[3]})
            save_file({k: v.cpu().contiguous() for k, v in check.items()}, f"{args.out}/check.safetensors")
            torch.backends.cudnn.allow_tf32 = True
            args.check = False
        dist.barrier()
    log("done")
    dist.close()


main()
