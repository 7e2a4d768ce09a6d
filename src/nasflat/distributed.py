"""torch.distributed helpers: process-group set-up from torchrun/SLURM, rank-0 checks, gradient averaging.

Every helper is a no-op in a single process, so algorithms call them unconditionally. Gradients obtained with
``torch.autograd.grad`` (second-order DARTS, A2M) bypass DDP's hooks and must be averaged with
:func:`all_reduce_mean` explicitly, or ranks silently diverge.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

_rank_local = False


@contextlib.contextmanager
def rank_local() -> Iterator[None]:
    """Within this block each rank computes on its own (e.g. sharded candidate scoring): BN stays per-rank."""
    global _rank_local
    previous, _rank_local = _rank_local, True
    try:
        yield
    finally:
        _rank_local = previous


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in one process), e.g. until rank 0 has claimed the run directory."""
    if is_initialized():
        dist.barrier()


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group that torchrun or a multi-task submitit job (SLURM or local) describes.

    NCCL on CUDA, gloo on CPU. Under submitit, its ``TorchDistributedEnvironment`` exports the env:// variables
    (master address/port, ranks) from the job environment. Returns False, doing nothing, for a single process.
    """
    if is_initialized():
        return True
    if "RANK" not in os.environ and os.environ.get("SUBMITIT_EXECUTOR"):
        import submitit  # importable whenever submitit started this process

        if submitit.JobEnvironment().num_tasks > 1:
            # keep every GPU visible: the device is chosen from LOCAL_RANK, as under torchrun
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def all_reduce_mean(tensors: Sequence[torch.Tensor]) -> None:
    """Average tensors in place across ranks (one flattened collective); a no-op inside :func:`rank_local`."""
    if not is_initialized() or world_size() == 1 or not tensors or _rank_local:
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
    """Rank ``src``'s object on every rank (e.g. a sampled architecture); a no-op inside :func:`rank_local`."""
    if not is_initialized() or world_size() == 1 or _rank_local:
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


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose training-mode statistics span the global batch of all ranks (SyncBatchNorm for gloo/CPU).

    The per-channel sums go through the differentiable ``torch.distributed.nn.all_reduce``, so autograd yields the
    gradient of the global-batch loss; with per-rank BN a DDP run would not equal the single-process run at the
    same global batch. CUDA runs use ``nn.SyncBatchNorm`` instead (see :func:`sync_batchnorm`).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not self.training and self.track_running_stats) or world_size() == 1 or _rank_local:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = (0, 2, 3)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c : 2 * c] / n - mean * mean
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(model: nn.Module, device: str) -> nn.Module:
    """Make every BatchNorm2d compute global-batch statistics across ranks (no-op in one process)."""
    if world_size() == 1:
        return model
    if device.startswith("cuda"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            g = GlobalBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            g.load_state_dict(child.state_dict())
            setattr(model, name, g.to(next(iter(child.buffers()), torch.empty(0)).device))
        else:
            sync_batchnorm(child, device)
    return model
