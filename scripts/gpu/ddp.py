"""Distributed training helpers shared by train_regression.py and train_synthesis.py.

Under `torchrun --nproc_per_node N script.py ...` every process gets RANK, LOCAL_RANK and
WORLD_SIZE: `setup()` joins the process group (NCCL on GPUs, gloo on CPUs) and picks the
device. Run as a plain `python script.py ...` it is a single process (rank 0 of 1) and
nothing is distributed, so the scripts keep working as before.
"""
import os

import torch
import torch.distributed as dist


class Dist:
    """Where this process stands: rank, world size, device."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.distributed = self.world > 1
        cuda = torch.cuda.is_available() and os.environ.get("SRRD_FORCE_CPU") != "1"
        if cuda:
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
        else:
            self.device = torch.device("cpu")
        if self.distributed:
            dist.init_process_group("nccl" if cuda else "gloo")

    @property
    def main(self):
        """Rank 0: the one that logs and writes checkpoints."""
        return self.rank == 0

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def wrap(self, net):
        """The network as DistributedDataParallel (itself in a single process)."""
        if not self.distributed:
            return net
        ids = [self.local_rank] if self.device.type == "cuda" else None
        # Some outputs (the projection, the features) are unused by some losses.
        return torch.nn.parallel.DistributedDataParallel(net, device_ids=ids, find_unused_parameters=True)

    def sum(self, values):
        """Element-wise sum over ranks of a list of floats (the values in one process)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def average_gradients(self, params):
        """Gradients averaged over ranks (what DDP's reducer does), for training loops that
        call a network several times per step, as the GAN's does."""
        if not self.distributed:
            return
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world

    def close(self):
        if self.distributed:
            dist.destroy_process_group()


def unwrap(net):
    """The module inside a DDP wrapper."""
    return net.module if hasattr(net, "module") else net


def save_atomic(obj, path):
    """torch.save to a temporary name, then rename (a killed run never leaves half a file)."""
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)
