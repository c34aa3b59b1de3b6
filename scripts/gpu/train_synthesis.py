"""SPSNet / CycleGAN training on an NVIDIA GPU: a PyTorch transcription of
src/synthesis/{nets,mi,train}.rs (same layers, parameter names, losses, sampling and
schedule), for a machine where the project's tch build has no CUDA. The weights it writes
load in `srrd` (tch) unchanged; `check.safetensors` holds one input and this script's
output for it, so the Rust side can confirm it computes the same function.

Usage: train_synthesis.py DATA.npz HED.safetensors OUT_DIR METHOD CONFIG ITERATIONS [BATCH [SECONDS]]
  METHOD spsnet|cyclegan, CONFIG small|paper. With SECONDS, ITERATIONS is lowered after
  100 iterations so the run fits that time (the decay schedule follows the new total).
  The edge network's widths are read from HED.safetensors (a small HED can serve the paper
  generator). Needs torch, numpy, safetensors.

Environment (optional):
  SRRD_MATCH_WRITE=FILE  after the budget sets the iteration count, write it to FILE
  SRRD_MATCH_READ=FILE   at iteration 100, wait for FILE (up to 180 s) and run no more
                         iterations than it says: two runs started together (SPSNet, the
                         slower, writing; CycleGAN reading) then get the same count
  SRRD_INFER_ONLY=1      save only the MR -> CT generator, in float16 (inference needs
                         nothing else; keeps the paper configuration's file small); the
                         check output is computed with those rounded weights

Several GPUs: `torchrun --nproc_per_node N train_synthesis.py ...` splits each batch of
BATCH crops of each domain over the N processes (BATCH / N each, crops drawn by each rank's
own seeded generator), averages the gradients over the ranks before every step (what DDP's
reducer does; the GAN calls each network several times per step, which a DDP wrapper does
not allow without a static graph), and rank 0 alone logs and writes. OUT_DIR/ckpt.pt holds
the networks, optimizers and generators' states every 100 iterations: the same command
started again resumes there. A single `python` process runs as before.
"""
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ddp import Dist, save_atomic

CONFIGS = {
    "small": dict(slices=3, ngf=16, blocks=4, ndf=16, d_layers=3, crop=64),
    "paper": dict(slices=3, ngf=64, blocks=9, ndf=64, d_layers=3, crop=128),
}


def inorm(x):
    return F.instance_norm(x, eps=1e-5)


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3)
        self.conv2 = nn.Conv2d(c, c, 3)

    def forward(self, x):
        y = F.relu(inorm(self.conv1(F.pad(x, (1, 1, 1, 1), mode="reflect"))))
        return x + inorm(self.conv2(F.pad(y, (1, 1, 1, 1), mode="reflect")))


class Generator(nn.Module):
    def __init__(self, c_in, cfg):
        super().__init__()
        g = cfg["ngf"]
        self.stem = nn.Conv2d(c_in, g, 7)
        self.down1 = nn.Conv2d(g, 2 * g, 3, 2, 1)
        self.down2 = nn.Conv2d(2 * g, 4 * g, 3, 2, 1)
        for b in range(cfg["blocks"]):
            setattr(self, f"block{b}", ResBlock(4 * g))
        self.n_blocks = cfg["blocks"]
        self.up1 = nn.ConvTranspose2d(4 * g, 2 * g, 3, 2, 1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(2 * g, g, 3, 2, 1, output_padding=1)
        self.out = nn.Conv2d(g, cfg["slices"], 7)

    def forward(self, x):
        y = F.relu(inorm(self.stem(F.pad(x, (3, 3, 3, 3), mode="reflect"))))
        y = F.relu(inorm(self.down1(y)))
        y = F.relu(inorm(self.down2(y)))
        for b in range(self.n_blocks):
            y = getattr(self, f"block{b}")(y)
        y = F.relu(inorm(self.up1(y)))
        y = F.relu(inorm(self.up2(y)))
        return torch.tanh(self.out(F.pad(y, (3, 3, 3, 3), mode="reflect")))


class Discriminator(nn.Module):
    def __init__(self, c_in, cfg):
        super().__init__()
        self.conv0 = nn.Conv2d(c_in, cfg["ndf"], 4, 2, 1)
        c = cfg["ndf"]
        self.n = cfg["d_layers"]
        for n in range(1, self.n + 1):
            stride = 1 if n == self.n else 2
            c_next = cfg["ndf"] * (1 << min(n, 3))
            setattr(self, f"conv{n}", nn.Conv2d(c, c_next, 4, stride, 1))
            c = c_next
        self.out = nn.Conv2d(c, 1, 4, 1, 1)

    def forward(self, x):
        y = F.leaky_relu(self.conv0(x), 0.2)
        for n in range(1, self.n + 1):
            y = F.leaky_relu(inorm(getattr(self, f"conv{n}")(y)), 0.2)
        return self.out(y)


class EdgeNet(nn.Module):
    def __init__(self, widths):
        super().__init__()
        c = 1
        for s, w in enumerate(widths):
            setattr(self, f"stage{s + 1}", nn.ModuleDict({"conv1": nn.Conv2d(c, w, 3, 1, 1), "conv2": nn.Conv2d(w, w, 3, 1, 1)}))
            setattr(self, f"side{s + 1}", nn.Conv2d(w, 1, 1))
            c = w
        self.fuse = nn.Conv2d(len(widths), 1, 1)
        self.n = len(widths)

    def edges(self, x):
        h, w = x.shape[2:]
        y, sides = x, []
        for s in range(self.n):
            if s > 0:
                y = F.max_pool2d(y, 2, 2, ceil_mode=True)
            st = getattr(self, f"stage{s + 1}")
            y = F.relu(st["conv2"](F.relu(st["conv1"](y))))
            o = getattr(self, f"side{s + 1}")(y)
            sides.append(o if s == 0 else F.interpolate(o, size=(h, w), mode="bilinear", align_corners=False))
        return torch.sigmoid(self.fuse(torch.cat(sides, 1)))


def soft_mi(a, b, bins=16, sigma_bins=0.5):
    n = a.shape[0]
    centres = torch.linspace(-1, 1, bins, device=a.device)
    sigma = sigma_bins * 2.0 / (bins - 1)

    def weights(x):
        w = torch.exp(-0.5 * ((x.reshape(n, -1, 1) - centres.view(1, 1, bins)) / sigma) ** 2)
        return w / (w.sum(-1, keepdim=True) + 1e-10)

    wa, wb = weights(a), weights(b)
    joint = wa.transpose(1, 2) @ wb / wa.shape[1]
    pa, pb = joint.sum(2, keepdim=True), joint.sum(1, keepdim=True)
    eps = 1e-10
    return (joint * (torch.log(joint + eps) - torch.log(pa + eps) - torch.log(pb + eps))).sum((1, 2))


class Domain:
    def __init__(self, volumes, device):
        self.vols = [torch.from_numpy(v).to(device).float() / 127.5 - 1 for v in volumes]
        self.slices = []
        for i, v in enumerate(self.vols):
            frac = (v > -0.95).float().mean((1, 2))
            self.slices += [(i, int(k)) for k in torch.nonzero(frac > 0.2).flatten().tolist()]

    def sample(self, rng, n, slices, crop):
        out = []
        for _ in range(n):
            i, k = self.slices[rng.integers(len(self.slices))]
            v = self.vols[i]
            idx = [min(max(s, 0), v.shape[0] - 1) for s in range(k - slices // 2, k + slices // 2 + 1)]
            s = v[idx]
            h, w = s.shape[1:]
            side = max(8, min(int(round(crop * rng.uniform(0.9, 1.1))), h, w))
            y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
            c = s[:, y:y + side, x:x + side].unsqueeze(0)
            if side != crop:
                c = F.interpolate(c, size=(crop, crop), mode="bilinear", align_corners=False)
            if rng.uniform() < 0.5:
                c = c.flip(3)
            out.append(c)
        return torch.cat(out)


def main():
    data, hed_path, out, method, config, iterations = sys.argv[1:7]
    batch = int(sys.argv[7]) if len(sys.argv) > 7 else 4
    budget_s = float(sys.argv[8]) if len(sys.argv) > 8 else None
    iterations = int(iterations)
    cfg = CONFIGS[config]
    use_edges, w_mi = (True, 1.0) if method == "spsnet" else (False, 0.0)
    w_cycle, w_id, lr0 = 10.0, 5.0, 2e-4
    os.makedirs(out, exist_ok=True)
    dist = Dist()
    dev = dist.device
    if batch % dist.world:
        raise SystemExit(f"BATCH {batch} is not divisible by the {dist.world} processes")
    per_rank = batch // dist.world
    torch.backends.cudnn.benchmark = True  # fixed crop and batch sizes
    match_write, match_read = os.environ.get("SRRD_MATCH_WRITE"), os.environ.get("SRRD_MATCH_READ")
    infer_only = os.environ.get("SRRD_INFER_ONLY") == "1"
    torch.manual_seed(1)  # the same initial weights on every rank
    rng = np.random.default_rng(1 + dist.rank)
    npz = np.load(data)
    ct = Domain([npz[k] for k in npz.files if k.startswith("ct_")], dev)
    mr = Domain([npz[k] for k in npz.files if k.startswith("mr_")], dev)
    e = int(use_edges)
    g_mc, g_cm = Generator(cfg["slices"] + e, cfg).to(dev), Generator(cfg["slices"] + e, cfg).to(dev)
    d_ct, d_mr = Discriminator(1 + e, cfg).to(dev), Discriminator(1 + e, cfg).to(dev)
    hed, hed_widths = None, [8, 16, 32]
    if use_edges:
        sd = {k[len("hed."):]: v for k, v in load_file(hed_path).items()}
        hed_widths = [sd[f"stage{i + 1}.conv1.weight"].shape[0] for i in range(3)]
        hed = EdgeNet(hed_widths).to(dev)
        hed.load_state_dict(sd)
        for p in hed.parameters():
            p.requires_grad_(False)
    edges = (lambda x: hed.edges(x)) if hed else (lambda x: torch.zeros_like(x))
    opt_g = torch.optim.Adam(list(g_mc.parameters()) + list(g_cm.parameters()), lr0, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(d_ct.parameters()) + list(d_mr.parameters()), lr0, betas=(0.5, 0.999))
    s = cfg["slices"]
    centre = lambda x: x[:, s // 2:s // 2 + 1]
    gin = lambda x, ed: torch.cat([x, ed], 1) if use_edges else x
    din = lambda c, ed: torch.cat([c, ed], 1) if use_edges else c
    log, sums, count = [], np.zeros(6), 0
    t0 = time.time()
    every = max(1, min(100, iterations // 20))
    it = 0
    nets = dict(g_mc=g_mc, g_cm=g_cm, d_ct=d_ct, d_mr=d_mr)
    ckpt = f"{out}/ckpt.pt"
    if os.path.exists(ckpt):
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        for k, net in nets.items():
            net.load_state_dict(state[k])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        rng.bit_generator.state = state["rng"][dist.rank]
        it, iterations, log = state["it"], state["iterations"], state["log"]
        t0 -= state["seconds"]
        every = max(1, min(100, iterations // 20))
        if dist.main:
            print(f"{method}/{config}: resumed at iteration {it} from {ckpt}", flush=True)
    while it < iterations:
        if budget_s and it == 100:
            per_it = (time.time() - t0) / 100
            iterations = max(200, min(iterations, int(budget_s / per_it)))
            if match_write:
                with open(match_write + ".tmp", "w") as f:
                    f.write(str(iterations))
                os.replace(match_write + ".tmp", match_write)
            if match_read:
                waited = time.time()
                while not os.path.exists(match_read) and time.time() - waited < 180:
                    time.sleep(0.5)
                if os.path.exists(match_read):
                    iterations = min(iterations, int(open(match_read).read()))
                print(f"{method}/{config}: {iterations} iterations (matched after {time.time() - waited:.0f} s)", flush=True)
            every = max(1, min(100, iterations // 20))
        half = iterations // 2
        lr = lr0 if it < half else lr0 * (iterations - it) / (iterations - half)
        for o in (opt_g, opt_d):
            for gr in o.param_groups:
                gr["lr"] = lr
        real_mr = mr.sample(rng, per_rank, s, cfg["crop"])
        real_ct = ct.sample(rng, per_rank, s, cfg["crop"])
        e_mr, e_ct = edges(centre(real_mr)).detach(), edges(centre(real_ct)).detach()
        fake_ct, fake_mr = g_mc(gin(real_mr, e_mr)), g_cm(gin(real_ct, e_ct))
        e_fct, e_fmr = edges(centre(fake_ct)), edges(centre(fake_mr))
        gan = ((d_ct(din(centre(fake_ct), e_fct)) - 1) ** 2).mean() + ((d_mr(din(centre(fake_mr), e_fmr)) - 1) ** 2).mean()
        cycle = (g_cm(gin(fake_ct, e_fct)) - real_mr).abs().mean() + (g_mc(gin(fake_mr, e_fmr)) - real_ct).abs().mean()
        ident = (g_mc(gin(real_ct, e_ct)) - real_ct).abs().mean() + (g_cm(gin(real_mr, e_mr)) - real_mr).abs().mean()
        mi = soft_mi(centre(fake_ct), centre(real_mr)).mean() + soft_mi(centre(fake_mr), centre(real_ct)).mean()
        loss_g = gan + w_cycle * cycle + w_id * ident - w_mi * mi
        opt_g.zero_grad()
        loss_g.backward()
        dist.average_gradients(list(g_mc.parameters()) + list(g_cm.parameters()))
        opt_g.step()
        dl = lambda d, c, ed, t: ((d(din(c, ed)) - t) ** 2).mean()
        loss_d = 0.5 * (dl(d_ct, centre(real_ct), e_ct, 1) + dl(d_ct, centre(fake_ct).detach(), e_fct.detach(), 0)
                        + dl(d_mr, centre(real_mr), e_mr, 1) + dl(d_mr, centre(fake_mr).detach(), e_fmr.detach(), 0))
        opt_d.zero_grad()
        loss_d.backward()
        dist.average_gradients(list(d_ct.parameters()) + list(d_mr.parameters()))
        opt_d.step()
        step_sums = [loss_g.item(), loss_d.item(), gan.item(), cycle.item(), ident.item(), mi.item() / 2]
        sums += np.array(dist.sum(step_sums)) / dist.world
        count += 1
        it += 1
        if it % 100 == 0 and it < iterations:
            states = [None] * dist.world
            if dist.distributed:
                torch.distributed.all_gather_object(states, rng.bit_generator.state)
            else:
                states = [rng.bit_generator.state]
            if dist.main:
                save_atomic(dict(**{k: n.state_dict() for k, n in nets.items()}, opt_g=opt_g.state_dict(),
                                 opt_d=opt_d.state_dict(), rng=states, it=it, iterations=iterations, log=log,
                                 seconds=time.time() - t0), ckpt)
            dist.barrier()
        if it % every == 0 or it == iterations:
            row = dict(zip(["iteration", "loss_g", "loss_d", "gan", "cycle", "identity", "mi"], [it, *(sums / count)]))
            row["seconds"] = time.time() - t0
            log.append(row)
            sums, count = np.zeros(6), 0
    seconds = time.time() - t0
    if not dist.main:
        dist.close()
        return
    # Weights under the tch VarStore names.
    to_cpu = lambda prefix, m: {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in m.state_dict().items()}
    if infer_only:
        with torch.no_grad():
            for v in g_mc.state_dict().values():
                v.copy_(v.half().float())
        save_file({k: v.half() for k, v in to_cpu("g_mr_to_ct", g_mc).items()}, f"{out}/generators.safetensors")
    else:
        save_file({**to_cpu("g_mr_to_ct", g_mc), **to_cpu("g_ct_to_mr", g_cm)}, f"{out}/generators.safetensors")
        save_file({**to_cpu("d_ct", d_ct), **to_cpu("d_mr", d_mr)}, f"{out}/discriminators.safetensors")
    # One input and its output, for the Rust side to reproduce (full fp32, no TF32).
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        x = mr.sample(np.random.default_rng(7), 2, s, cfg["crop"])
        y = g_mc(gin(x, edges(centre(x))))
    save_file({"input": x.cpu().contiguous(), "output": y.cpu().contiguous()}, f"{out}/check.safetensors")
    with open(f"{out}/loss.csv", "w") as f:
        f.write("iteration,loss_g,loss_d,gan,cycle,identity,mi,seconds\n")
        for r in log:
            f.write(f"{r['iteration']},{r['loss_g']:.5f},{r['loss_d']:.5f},{r['gan']:.5f},{r['cycle']:.5f},{r['identity']:.5f},{r['mi']:.5f},{r['seconds']:.1f}\n")
    info = dict(method=method, config=config, iterations=iterations, batch=batch, seconds=seconds,
                crops_per_s=iterations * batch * 2 / seconds, device=torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                torch=torch.__version__, crmr_slices=len(mr.slices), ct_slices=len(ct.slices))
    json.dump(info, open(f"{out}/gpu_run.json", "w"), indent=1)
    # The model card `srrd` reads (src/synthesis/model.rs), so OUT_DIR is a model folder.
    card = dict(
        format="srrd-synthesis-model/1", method=method,
        config=dict(name=config, slices=cfg["slices"], ngf=cfg["ngf"], blocks=cfg["blocks"], ndf=cfg["ndf"],
                    d_layers=cfg["d_layers"], hed_widths=hed_widths, crop=cfg["crop"]),
        settings=dict(iterations=iterations, batch=batch, lr=lr0, w_cycle=w_cycle, w_identity=w_id, w_mi=w_mi,
                      use_edges=use_edges, log_every=every, seed=1),
        edges="hed" if use_edges else "none",
        trained_on=os.environ.get("SRRD_TRAINED_ON", f"{data}: {len(mr.slices)} crMR and {len(ct.slices)} CT slices, unpaired"),
        command=f"python3 {' '.join(sys.argv)} (on {info['device']}, torch {torch.__version__})",
        seconds=seconds, metrics=None,
        provenance=f"Synthetic CT from a {config} {'SPSNet' if use_edges else 'CycleGAN'} trained on synthetic phantom "
                   "knees only (srrd's phantom generator): a registration aid for research, not a diagnostic image.")
    json.dump(card, open(f"{out}/model.json", "w"), indent=2)
    if use_edges:
        shutil.copyfile(hed_path, f"{out}/hed.safetensors")
    if os.path.exists(ckpt):
        os.remove(ckpt)
    print(json.dumps(info))
    dist.close()


main()
