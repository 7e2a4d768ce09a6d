"""The contract every search space implements; algorithms and evaluators use nothing else.

An architecture is an immutable, hashable value in the format researchers already paste (an NB201 arch string,
a DARTS ``Genotype(...)``). A space builds one supernet whose ``forward(x, choice)`` takes either per-edge op
weights (a dict of ``E x K`` tensors or a ``Mixture`` -> differentiable mixture) or an architecture value (only that
path runs). Algorithms, evaluators and the pipeline reach space-specific knowledge only through this contract (and
the supernet's ``path_parameters``, the benchmark table's ``entry``), never by testing a space's name.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nasflat.spaces.ops import Identity

Arch = Hashable
Weights = Mapping[str, torch.Tensor]


class ArchFormatError(ValueError):
    """A malformed architecture string or value; the message names the bad token and the valid choices."""


# ---- whose format is this text? ---------------------------------------------------------------------------------
# Each space's value module registers how to recognise its text form, so that a parse error can say "this is the
# other space's format" without any space knowing the others. The error must know every space even when a run
# imported only one, hence the module list.
ARCH_FORMAT_MODULES: tuple[str, ...] = ("nasflat.spaces.nb201", "nasflat.spaces.darts.codec")


@dataclass(frozen=True)
class ArchFormat:
    """How one space writes an architecture: a description, a sniffer (valid or not, is it shaped like ours?)
    and an example for usage messages."""

    space: str
    description: str
    looks_like: Callable[[str], bool]
    example: str


_ARCH_FORMATS: dict[str, ArchFormat] = {}


def register_arch_format(fmt: ArchFormat) -> None:
    """Declare the text form of ``fmt.space``'s architectures (called by each space's value module on import)."""
    _ARCH_FORMATS[fmt.space] = fmt


def arch_formats() -> dict[str, ArchFormat]:
    """Every known space -> the text form of its architectures."""
    for module in ARCH_FORMAT_MODULES:
        importlib.import_module(module)
    return dict(_ARCH_FORMATS)


def other_space_hint(text: Any, space: str) -> str | None:
    """'this looks like <format>; use space=<name>' when ``text`` (which ``space`` failed to parse) is in another
    known space's format, else None."""
    if not isinstance(text, str):
        return None
    for fmt in arch_formats().values():
        if fmt.space != space and fmt.looks_like(text):
            return f"this looks like {fmt.description}; use space={fmt.space}"
    return None


def arch_usage() -> str:
    """One line per space: what ``arch=`` looks like there, quoted for a POSIX shell."""
    lines = []
    for fmt in arch_formats().values():
        quote = '"' if "'" in fmt.example else "'"
        lines.append(f"  space={fmt.space} ({fmt.description}): arch={quote}{fmt.example}{quote}")
    return "\n".join(lines)


# ---- the integer code evolution works on ------------------------------------------------------------------------
Repair = Callable[[list[int], np.random.Generator, int], list[int]]


@dataclass(frozen=True)
class IntEncoding:
    """A space's flat integer code (``SearchSpace.encode``) as a genetic algorithm sees it.

    ``length`` positions, each an op index in ``0..num_ops-1``; ``cells`` are the ``(start, stop)`` slices of the
    cell types (the first is the one GeNAS mutates by default); ``repair(cell_code, rng, num_ops)``, when set, makes
    a cell's slice valid again after mutation or crossover (DARTS: SPOS's two-inputs-per-node rule). Every code
    the GA produces must be accepted by ``space.validate``.
    """

    length: int
    num_ops: int
    cells: tuple[tuple[int, int], ...]
    repair: Repair | None = None


class SearchSpace(ABC):
    """Sample / mutate / neighbors / encode / build: the seam between algorithms and a cell space."""

    name: str
    ops: tuple[str, ...]
    # The 1-hop mutation operators ``mutate(..., scheme=)`` offers; ``reference_mutation`` is the one the space's
    # reference evolution uses (what R-EA's ``mutation=auto`` picks).
    mutation_schemes: tuple[str, ...] = ("uniform",)
    reference_mutation: str = "uniform"

    # ---- architecture values -------------------------------------------------------------------------------
    @abstractmethod
    def parse(self, text: str) -> Arch:
        """Parse the space's canonical text form (raises ArchFormatError naming the bad token)."""

    @abstractmethod
    def format(self, arch: Arch) -> str:
        """The text form researchers paste; ``parse(format(a)) == a``."""

    @abstractmethod
    def validate(self, arch: Any) -> Arch:
        """Return ``arch`` as this space's architecture value or raise ArchFormatError."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random architecture (the space's sampling rule, e.g. SPOS repair for DARTS)."""

    @abstractmethod
    def mutate(self, arch: Arch, rng: np.random.Generator, scheme: str = "uniform") -> Arch:
        """A random 1-hop neighbor; ``uniform``: uniformly over them (other schemes: ``mutation_schemes``)."""

    def check_mutation(self, scheme: str) -> str:
        """``scheme`` if this space offers it, else ValueError naming the ones it does."""
        if scheme not in self.mutation_schemes:
            raise ValueError(
                f"mutation scheme {scheme!r} is not offered by space {self.name!r}; choose one of "
                f"{', '.join(self.mutation_schemes)}"
            )
        return scheme

    @abstractmethod
    def neighbors(self, arch: Arch, radius: int = 1) -> list[Arch]:
        """All architectures at exactly ``radius`` hops, in a deterministic order."""

    def neighborhood(self, arch: Arch, radius: int = 1) -> list[Arch]:
        """All architectures within ``radius`` hops (excluding ``arch``), nearest first."""
        seen: dict[Arch, None] = {}
        for r in range(1, radius + 1):
            for a in self.neighbors(arch, r):
                seen.setdefault(a, None)
        return list(seen)

    def canonical(self, arch: Arch) -> Hashable:
        """A key shared by functionally identical architectures (default: the architecture itself)."""
        return arch

    def encode(self, arch: Arch) -> list[int]:
        """A flat integer encoding (op indices) used by evolution and for logging."""
        raise ArchFormatError(f"space {self.name!r} has no integer encoding")

    def encoding(self) -> IntEncoding:
        """The layout of ``encode``'s code for genetic operators (GeNAS evolution); ``validate`` decodes it."""
        raise ValueError(f"space {self.name!r} has no integer encoding for evolution; use algo=rea or algo=rs")

    # ---- continuous relaxation ---------------------------------------------------------------------------------
    @abstractmethod
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """Shapes of the per-edge op weights the supernet accepts, e.g. ``{"cell": (6, 5)}``."""

    @abstractmethod
    def incoming_edges(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        """Per cell type, per intermediate node, the indices of the edges entering it (PC-DARTS's edge
        normalization is a softmax over each such group; DARTS-PT's topology step chooses among them)."""

    @abstractmethod
    def derive(self, weights: Weights, **options: Any) -> Arch:
        """Discretize per-edge weights (softmax(alpha)) into an architecture by the space's rule."""

    def one_hot(self, arch: Arch) -> dict[str, torch.Tensor]:
        """Per-edge weights that select exactly ``arch`` (used to check supernet equivalence)."""
        raise ArchFormatError(f"space {self.name!r} cannot express an architecture as one-hot weights")

    def param_free_ops(self, arch: Arch) -> int:
        """How many chosen ops carry no parameters (the DARTS-collapse symptom)."""
        return 0

    def topology(self, arch: Arch) -> dict[str, Any]:
        """Cell width and depth (Shu et al. 2020; docs/analysis.md#cell-topology-width-and-depth), per cell type.
        A space whose cells are not small DAGs may leave this empty; results.json then records no topology."""
        return {}

    # ---- networks -----------------------------------------------------------------------------------------
    @abstractmethod
    def supernet(self, num_classes: int, **options: Any) -> nn.Module:
        """One weight-sharing network: ``forward(x, mixture_or_arch) -> logits`` (options include
        ``partial_channels`` and ``aux_skip``), with ``path_parameters(arch) -> list[Tensor]``: the detached pieces
        of ABS's weight vector of ``arch``'s path (docs/methods.md#angle)."""

    @abstractmethod
    def network(self, arch: Arch, num_classes: int, **options: Any) -> nn.Module:
        """The standalone network trained from scratch (``forward(x) -> logits`` or ``(logits, aux_logits)``)."""

    @abstractmethod
    def describe(self, arch: Arch) -> dict[str, Any]:
        """A JSON-ready cell summary for ``nasflat info``."""


# ---- ABS's path vector pieces (supernet.path_parameters) --------------------------------------------------------
_POOLS = (nn.AvgPool2d, nn.MaxPool2d)


def flat_parameters(module: nn.Module) -> list[torch.Tensor]:
    """The module's parameters, detached and flattened, in registration order."""
    return [p.detach().reshape(-1) for p in module.parameters()]


def abs_op_vector(op: nn.Module, channels: int, like: torch.Tensor) -> torch.Tensor:
    """An op's parameters, with ABS's constants for the parameter-free parts (pool: a (C, 3, 3) kernel of 1/9 in
    front; identity: eye(C) appended); docs/methods.md#angle."""
    parts = flat_parameters(op)
    first = op[0] if isinstance(op, nn.Sequential) and len(op) else op
    if isinstance(first, _POOLS):
        parts.insert(0, torch.full((channels * 9,), 1.0 / 9.0, dtype=like.dtype, device=like.device))
    elif isinstance(op, Identity):
        parts.append(torch.eye(channels, dtype=like.dtype, device=like.device).reshape(-1))
    return torch.cat(parts) if parts else like.new_zeros(0)


def unique(archs: Iterable[Arch], key: Any = None) -> list[Arch]:
    """Order-preserving de-duplication (by ``key(arch)`` when given)."""
    seen: dict[Hashable, Arch] = {}
    for a in archs:
        seen.setdefault(key(a) if key else a, a)
    return list(seen.values())
