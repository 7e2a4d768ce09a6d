"""Device and numerics settings shared by every phase (from the ``hardware`` config group)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn


@dataclass(frozen=True)
class Hardware:
    """Where and how tensors are computed; ``bf16`` autocasts forward passes, parameters stay float32.

    ``dtype=float64`` puts parameters, α and inputs in double precision: slow, meant for numerical checks where
    float32 round-off would be amplified (A²M's and 2nd-order DARTS's finite differences step across ReLU kinks).
    """

    device: str = "cpu"
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False
    threads: int = 0  # CPU intra-op threads; 0 keeps torch's default
    distributed: bool = False  # one process per device under torchrun / SLURM (NCCL on CUDA, gloo on CPU)
    dtype: Literal["float32", "float64"] = "float32"  # float32 | float64 (parameters, α and inputs)

    DTYPES: ClassVar[dict[str, torch.dtype]] = {"float32": torch.float32, "float64": torch.float64}

    def __post_init__(self) -> None:
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"hardware.device={self.device!r} but CUDA is not available on this machine; "
                "use hardware=cpu (or check the CUDA driver / torch build)"
            )
        if self.device not in ("cpu", "mps") and not self.device.startswith("cuda"):
            raise ValueError(f"hardware.device={self.device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        if self.dtype not in self.DTYPES:
            raise ValueError(f"hardware.dtype={self.dtype!r}: expected one of {', '.join(self.DTYPES)}")
        if self.dtype != "float32" and self.bf16:
            raise ValueError(
                f"hardware.dtype={self.dtype} and hardware.bf16=true are incompatible (bf16 autocast would drop the "
                "extra precision); set hardware.bf16=false"
            )

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        return self.DTYPES[self.dtype]

    def setup(self) -> None:
        """Process-wide switches; call once at start-up."""
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.torch_device.type, dtype=torch.bfloat16)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move to the device (and memory format); compile is applied by callers that own a fixed graph."""
        model = model.to(self.torch_device, self.torch_dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def maybe_compile(self, model: nn.Module) -> nn.Module:
        return torch.compile(model) if self.compile else model  # type: ignore[return-value]


@contextlib.contextmanager
def rng_fork(seed: int) -> Iterator[None]:
    """Seed torch's global RNGs for a block (module init, drop-path) and restore the outer states afterwards.

    ``seed`` comes from :func:`nasflat.rng.stream_seed`; the CPU generator and the current CUDA device's (once CUDA
    is initialised) are forked, so a block's draws neither depend on nor disturb what ran before it.
    """
    devices = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
