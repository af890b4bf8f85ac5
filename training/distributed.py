"""Data-parallel training under torchrun: one process per GPU (NCCL) or per group of CPU cores
(gloo), each on its own shard of the training frames, gradients averaged by torch DDP.

    torchrun --nproc_per_node 4 -m training.train --data sheets.h5 --out runs/ddp --device cuda

Without torchrun (WORLD_SIZE unset) everything here is a no-op: one process, the whole data.
Every rank computes the same validation (the models are identical); rank 0 alone writes files.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def setup(device: str) -> tuple[int, int, str]:
    """(rank, world size, this rank's device), joining the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return 0, 1, device
    if torch.device(device).type == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank(), world, device


def shard(index: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's frames: every world-th, all shards the same length (so that every rank runs
    the same number of steps; up to world − 1 frames are left out)."""
    n = len(index) // world
    return np.asarray(index)[rank::world][:n]


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """`model` behind DDP when there are several ranks (gradients averaged in backward)."""
    return DistributedDataParallel(model) if dist.is_initialized() else model


def from_rank0(value: bool | int) -> bool | int:
    """Rank 0's `value` on every rank (e.g. a stop decision or an epoch count taken from the
    clock, which each rank reads differently)."""
    if not dist.is_initialized():
        return value
    tensor = torch.tensor([int(value)])
    dist.broadcast(tensor, 0)
    return type(value)(tensor.item())


def finish(model: torch.nn.Module) -> None:
    """Check that every rank ends with the same weights, then leave the process group."""
    if not dist.is_initialized():
        return
    total = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().cpu()
    low, high = total.clone(), total.clone()
    dist.all_reduce(low, dist.ReduceOp.MIN)
    dist.all_reduce(high, dist.ReduceOp.MAX)
    dist.barrier()  # no rank closes its connections while another is still in a collective
    dist.destroy_process_group()
    if low != high:
        raise RuntimeError(f"the ranks' weights diverged ({float(low)} vs {float(high)}); "
                           "report this with the torch version and the command")
