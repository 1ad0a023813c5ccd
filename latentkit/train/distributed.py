"""Multi-process data parallelism under `torchrun` (gloo on CPU, nccl on GPU).

Each process trains on its own shard of the data with its own noise, and the gradients of G and D
are averaged across processes after every backward pass, so all processes take identical optimiser
steps (the DistributedDataParallel algorithm). We all-reduce by hand instead of wrapping the networks
in `torch.nn.parallel.DistributedDataParallel` because a GAN step runs D several times per backward
(real, fake, and the gradient penalty's double backward), which the DDP wrapper does not support.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank in [0, world), and the device it trains on."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = CPU

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, samples and checkpoints."""
        return self.rank == 0


def init(device: str = "auto") -> Dist:
    """Join the torchrun job if there is one (WORLD_SIZE > 1), else a single process.

    device: "auto" (cuda when available), "cpu" or "cuda".
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=torch.device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return Dist(rank=rank, world=world, local_rank=local_rank, device=dev)


def average_gradients(module: nn.Module, d: Dist) -> None:
    """Average every parameter's .grad over all processes (in one flat buffer)."""
    if d.world == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= d.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_state(module: nn.Module, d: Dist, buffers_only: bool = False) -> None:
    """Copy rank 0's parameters (and buffers, e.g. BatchNorm statistics) to every process."""
    if d.world == 1:
        return
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    with torch.no_grad():
        for t in tensors:
            dist.broadcast(t.data, src=0)


def all_mean(value: float, d: Dist) -> float:
    """Mean of a float over all processes (for logging)."""
    if d.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.item() / d.world


def replicas_identical(modules: list[nn.Module], d: Dist) -> bool:
    """True when every process holds bit-identical parameters and buffers (compared on all ranks)."""
    tensors = [t for m in modules for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
    flat = torch.cat([t.detach().flatten().double() for t in tensors])
    gathered = [torch.empty_like(flat) for _ in range(d.world)]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def shutdown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
