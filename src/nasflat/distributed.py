"""torch.distributed helpers: process-group set-up from torchrun/SLURM, rank-0 checks, gradient averaging.

Every helper is a no-op in a single process, so algorithms call them unconditionally. Gradients obtained with
``torch.autograd.grad`` (second-order DARTS, A2M) bypass DDP's hooks and must be averaged with
:func:`all_reduce_mean` explicitly, or ranks silently diverge.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group torchrun (or SLURM via submitit) describes; NCCL on CUDA, gloo on CPU.

    Returns False (and does nothing) when the environment describes a single process.
    """
    if is_initialized():
        return True
    if "RANK" not in os.environ and "SLURM_PROCID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        os.environ.setdefault("RANK", os.environ["SLURM_PROCID"])
        os.environ.setdefault("WORLD_SIZE", os.environ["SLURM_NTASKS"])
        os.environ.setdefault("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def all_reduce_mean(tensors: Sequence[torch.Tensor]) -> None:
    """Average tensors in place across ranks (one flattened collective)."""
    if not is_initialized() or world_size() == 1 or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t))
        offset += n


def all_reduce_grads(params: Sequence[torch.Tensor]) -> None:
    """Average ``.grad`` of ``params`` across ranks (for gradients written by hand, not by DDP)."""
    all_reduce_mean([p.grad for p in params if p.grad is not None])


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s object on every rank (e.g. a sampled architecture)."""
    if not is_initialized() or world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's object, in rank order."""
    if not is_initialized() or world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def shard(items: Sequence[Any]) -> list[Any]:
    """This rank's strided share of ``items`` (candidate scoring is embarrassingly parallel)."""
    return list(items[rank() :: world_size()])
