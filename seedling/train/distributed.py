"""DistributedDataParallel plumbing: who am I, talk to the other ranks, check we agree.

Under `torchrun --nproc_per_node=N`, each process reads RANK, LOCAL_RANK and WORLD_SIZE from its
environment, joins a process group (NCCL on GPUs, gloo on CPU), trains on its own share of the
data, and rank 0 alone writes checkpoints and logs. Without those variables everything here is a
no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "all_gather_objects", "all_mean", "any_true", "barrier", "fingerprint", "init", "shutdown"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def shutdown(info: DistInfo, clean: bool = True) -> None:
    """Leave the process group. After a normal end the ranks leave together: one that tears gloo
    down while another is still busy (rank 0 writing the final checkpoint) can abort the other
    process. After an error there is no barrier, since the other ranks may never reach it."""
    if info.enabled and dist.is_initialized():
        try:
            if clean:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (the tensor itself when single-process)."""
    if not info.enabled:
        return value
    v = value.detach().clone()
    dist.all_reduce(v, op=dist.ReduceOp.SUM)
    return v / info.world_size


def any_true(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """True on every rank if it is true on any (e.g. one rank got Ctrl-C)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...]; [obj] when single-process."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def fingerprint(model: nn.Module) -> list[float]:
    """[sum, sum of squares] of all parameters in float64: equal across ranks iff they agree."""
    with torch.no_grad():
        s = sum(p.detach().double().sum() for p in model.parameters())
        q = sum(p.detach().double().pow(2).sum() for p in model.parameters())
    return [float(s), float(q)]
