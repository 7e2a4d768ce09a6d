"""NAS-Bench-201 cell space: the arch value, the search space, the standalone network and the supernet.

A cell is a 4-node DAG; node i = sum_{j<i} op_{i<-j}(node_j), node 3 is the output. An architecture is the six
op indices in the benchmark's edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) into ``OPS``; its text form is the
benchmark key ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The networks follow NB201's TinyNetwork exactly (their
parameter counts equal the benchmark's for every architecture); the supernet uses non-affine BN in its cells as
NB201's search code does, and takes either per-edge weights (mixture) or an architecture (single path).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nasflat.flops import count_macs
from nasflat.spaces.base import (
    ArchFormat,
    ArchFormatError,
    SearchSpace,
    Weights,
    other_space_hint,
    register_arch_format,
)
from nasflat.spaces.ops import Identity, ReLUConvBN, Zero, avg_pool, bn
from nasflat.spaces.topology import nb201_graph, topology

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (target, source)
EDGE_KEYS: tuple[str, ...] = tuple(f"{i}<-{j}" for i, j in EDGES)
NUM_NODES = 4
NONE, SKIP, CONV1, CONV3, POOL = range(len(OPS))
PARAM_FREE: frozenset[int] = frozenset({NONE, SKIP, POOL})
DATASET_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet16_120": 120}
DATASET_INPUT: dict[str, tuple[int, int, int]] = {
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
    "imagenet16_120": (3, 16, 16),
}
_OP_INDEX = {name: k for k, name in enumerate(OPS)}


# ---- the architecture value -------------------------------------------------------------------------------------
class NB201Arch(tuple):
    """Six op indices in edge order; immutable and hashable, ``str()`` is the benchmark's arch string.

    Being a tuple, it equals (and hashes like) the plain 6-tuple of its indices, so either works as a dict key.
    Checkpoints store ``str(arch)`` (plain strings load under ``weights_only=True``).
    """

    __slots__ = ()

    def __new__(cls, ops: Sequence[int]) -> NB201Arch:
        try:
            values = tuple(operator.index(o) for o in ops)  # ints only: 3.7 is an error, not op 3
        except (TypeError, ValueError) as e:
            raise ArchFormatError(f"an NB201 arch is 6 op indices in 0..{len(OPS) - 1}, got {ops!r}") from e
        if len(values) != len(EDGES) or any(not 0 <= o < len(OPS) for o in values):
            raise ArchFormatError(
                f"an NB201 arch is {len(EDGES)} op indices in 0..{len(OPS) - 1} (edges {', '.join(EDGE_KEYS)}; "
                f"ops {', '.join(OPS)}), got {ops!r}"
            )
        return super().__new__(cls, values)

    @property
    def op_names(self) -> tuple[str, ...]:
        return tuple(OPS[o] for o in self)

    def to_str(self) -> str:
        return _format(self)

    def __str__(self) -> str:
        return _format(self)

    def __repr__(self) -> str:
        return f"NB201Arch({_format(self)!r})"

    def __getnewargs__(self) -> tuple[tuple[int, ...]]:
        return (tuple(self),)

    @classmethod
    def from_str(cls, text: str) -> NB201Arch:
        """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; errors name the bad token and the valid ops."""
        return _parse(text)


@functools.cache
def _format(ops: tuple[int, ...]) -> str:
    groups, e = [], 0
    for i in range(1, NUM_NODES):
        groups.append("|" + "|".join(f"{OPS[ops[e + j]]}~{j}" for j in range(i)) + "|")
        e += i
    return "+".join(groups)


def looks_like_arch_str(text: str) -> bool:
    """Whether ``text`` is shaped like an NB201 arch string (``|op~0|+...``), valid or not."""
    s = text.strip()
    return len(s) > 1 and s.startswith("|") and s.endswith("|") and "~" in s


def _parse(text: str) -> NB201Arch:
    try:
        return _parse_text(text)
    except ArchFormatError as e:
        if hint := other_space_hint(text, NB201Space.name):
            raise ArchFormatError(f"{hint} (as an NB201 arch string: {e})") from e
        raise


def _parse_text(text: str) -> NB201Arch:
    if not isinstance(text, str):
        raise ArchFormatError(f"an NB201 arch string must be a str, got {type(text).__name__}")
    valid = f"valid ops: {', '.join(OPS)}"
    form = "expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
    s = text.strip()
    groups = s.split("+")
    if len(groups) != NUM_NODES - 1:
        raise ArchFormatError(f"{text!r}: {form} ({NUM_NODES - 1} node groups joined by '+'), got {len(groups)}")
    ops: list[int] = []
    for i, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise ArchFormatError(f"{text!r}: node {i} group {group!r} must be enclosed in '|' ({form})")
        tokens = group[1:-1].split("|")
        if len(tokens) != i:
            raise ArchFormatError(f"{text!r}: node {i} needs {i} inputs (~0..~{i - 1}), got {len(tokens)}: {group!r}")
        for j, token in enumerate(tokens):
            name, sep, src = token.partition("~")
            if not sep or "~" in src:
                raise ArchFormatError(f"{text!r}: token {token!r} (node {i}, input {j}) must read op~source; {valid}")
            if name not in _OP_INDEX:
                raise ArchFormatError(f"{text!r}: unknown op {name!r} in token {token!r} (node {i}); {valid}")
            if src != str(j):
                raise ArchFormatError(
                    f"{text!r}: token {token!r} (node {i}, input {j}) must read from node {j} ('~{j}'), got '~{src}'"
                )
            ops.append(_OP_INDEX[name])
    return NB201Arch(ops)


def unique_str(arch: Sequence[int]) -> str:
    """The benchmark's isomorphism key (its ``unique_str`` column).

    Rule (NB201's ``to_unique_str(consider_zero=True)``): a skip forwards its source's expression, ``none`` or a
    source whose expression is exactly ``#`` gives ``#``, any other op wraps ``(src)@op``; a node joins its sorted
    input expressions with ``+``. Sums of zeros such as ``#+#`` are kept as written, as the benchmark does.
    """
    nodes, e = ["0"], 0
    for i in range(1, NUM_NODES):
        terms = []
        for j in range(i):
            op, src = arch[e], nodes[j]
            e += 1
            if op == NONE or src == "#":
                terms.append("#")
            elif op == SKIP:
                terms.append(src)
            else:
                terms.append(f"({src})@{OPS[op]}")
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]


def conv_depth(arch: Sequence[int]) -> int | None:
    """Most parametric ops on any input->output path through non-``none`` edges (None if the output is cut off)."""
    depth: list[int | None] = [0]
    for i in range(1, NUM_NODES):
        best = None
        for e, (t, j) in enumerate(EDGES):
            if t != i or arch[e] == NONE or depth[j] is None:
                continue
            d = depth[j] + (arch[e] not in PARAM_FREE)
            best = d if best is None else max(best, d)
        depth.append(best)
    return depth[-1]


# ---- modules ----------------------------------------------------------------------------------------------------
def _conv(kernel: int) -> Callable[[int, bool, bool], nn.Module]:
    # NB201's ReLUConvBN has a conv bias exactly when its BN is not affine.
    return lambda c, affine, track: ReLUConvBN(
        c, c, kernel, 1, kernel // 2, affine=affine, track=track, conv_bias=not affine
    )


OP_FACTORIES: dict[str, Callable[[int, bool, bool], nn.Module]] = {
    "none": lambda c, affine, track: Zero(1),
    "skip_connect": lambda c, affine, track: Identity(),
    "nor_conv_1x1": _conv(1),
    "nor_conv_3x3": _conv(3),
    "avg_pool_3x3": lambda c, affine, track: avg_pool(1),
}


class ResidualBlock(nn.Module):
    """NB201's reduction block: ReLUConvBN 3x3/2 -> ReLUConvBN 3x3, plus AvgPool2d(2) -> Conv1x1 shortcut (no BN)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Cell(nn.Module):
    """A fixed NB201 cell; ``none`` edges hold a Zero module (for the layout) but are skipped.

    ``keep_none=True`` runs them as ``x * 0`` instead, as AutoDL's InferCell does: the values are the same, but the
    zero terms keep every op in the autograd graph, which is what NASWOT's jacobian pass sees (a node consumed only
    through ``none`` still reaches the logits, and a cut-off cell still depends on the input).
    """

    def __init__(
        self, arch: NB201Arch, c: int, affine: bool = True, track: bool = True, keep_none: bool = False
    ) -> None:
        super().__init__()
        self.arch = tuple(arch)
        self.keep_none = keep_none
        self.edges = nn.ModuleList(OP_FACTORIES[OPS[o]](c, affine, track) for o in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i in range(1, NUM_NODES):
            terms = [
                self.edges[e](nodes[j])
                for e, (t, j) in enumerate(EDGES)
                if t == i and (self.keep_none or self.arch[e] != NONE)
            ]
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[-1]


class SearchCell(nn.Module):
    """All five ops on every edge; ``edges[e][k]`` is op k of edge e (``none`` is never computed: it adds 0)."""

    def __init__(self, c: int, affine: bool = False, track: bool = True) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(OP_FACTORIES[name](c, affine, track) for name in OPS) for _ in EDGES)

    def mix(self, x: torch.Tensor, w: Sequence[Sequence[torch.Tensor]], aux_skip: float = 0.0) -> torch.Tensor:
        """Mixture; ``w[e][k]`` are 0-dim weights (w rows unbound once per forward, not per cell).

        ``aux_skip`` > 0 adds DARTS-'s auxiliary skip ``aux_skip * x`` to every edge; as in A²M's NB201 code the
        skip carries the *cell input*, not the edge's source node.
        """
        nodes = [x]
        for i in range(1, NUM_NODES):
            out = None
            for e, (t, j) in enumerate(EDGES):
                if t != i:
                    continue
                ops = self.edges[e]
                for k in range(1, len(OPS)):  # k=0 is `none`: w * 0 contributes nothing, also to d/dw
                    y = w[e][k] * ops[k](nodes[j])
                    out = y if out is None else out + y
                if aux_skip:
                    out = out + aux_skip * x
            nodes.append(out)
        return nodes[-1]

    def path(self, x: torch.Tensor, arch: Sequence[int]) -> torch.Tensor:
        """Single path: only the chosen op of each edge runs."""
        nodes = [x]
        for i in range(1, NUM_NODES):
            terms = [self.edges[e][arch[e]](nodes[j]) for e, (t, j) in enumerate(EDGES) if t == i and arch[e] != NONE]
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[-1]


class _Skeleton(nn.Module):
    """Stem, [C]*N cells, residual block, [2C]*N cells, residual block, [4C]*N cells, BN+ReLU, pool, linear."""

    def __init__(self, num_classes: int, c: int, n: int, make_cell: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), bn(c))
        layers: list[nn.Module] = []
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage:
                layers.append(ResidualBlock(width // 2, width))
            layers.extend(make_cell(width) for _ in range(n))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(bn(4 * c), nn.ReLU())
        self.classifier = nn.Linear(4 * c, num_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(x).mean((2, 3)))  # (B, 4C, H, W) -> (B, 4C) -> (B, classes)


class NB201Network(_Skeleton):
    """NB201's TinyNetwork for one architecture: ``forward(x) -> logits`` (``keep_none``: see :class:`Cell`)."""

    def __init__(self, arch: NB201Arch, num_classes: int, C: int = 16, N: int = 5, keep_none: bool = False) -> None:
        arch = NB201Arch(arch)
        super().__init__(num_classes, C, N, lambda c: Cell(arch, c, keep_none=keep_none))
        self.arch = arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, C, H, W)
        for cell in self.cells:
            x = cell(x)
        return self.head(x)


class NB201SuperNet(_Skeleton):
    """One weight-sharing network; ``forward(x, choice)`` with choice = ``{"cell": (6, 5) weights}`` or an arch.

    With weights every cell computes the same exact mixture sum_k w[e, k] op_k(x) (weights shared by all 15
    cells, parameters not); with an arch only the chosen op per edge runs. No mode state lives on the module.
    """

    def __init__(
        self,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        affine: bool = False,
        track_running_stats: bool = True,
        aux_skip: bool = False,
    ) -> None:
        super().__init__(num_classes, C, N, lambda c: SearchCell(c, affine, track_running_stats))
        self.aux_skip = aux_skip  # DARTS-: the skip is an identity here, so it adds no modules

    def forward(
        self, x: torch.Tensor, choice: Weights | NB201Arch | Sequence[int], aux_skip: float = 0.0
    ) -> torch.Tensor:
        """``aux_skip``: weight of DARTS-'s auxiliary skip (mixture only; needs ``aux_skip=True`` at build)."""
        if aux_skip and not self.aux_skip:
            raise ValueError("forward(..., aux_skip>0) needs a supernet built with aux_skip=True (DARTS-)")
        rows, arch = None, None
        if isinstance(choice, Mapping):
            w = choice["cell"]
            if tuple(w.shape) != (len(EDGES), len(OPS)):
                shape = f"{{'cell': ({len(EDGES)}, {len(OPS)})}}"
                raise ValueError(f"NB201 supernet weights must be {shape}, got {tuple(w.shape)}")
            rows = [row.unbind(0) for row in w.unbind(0)]  # 30 0-dim views, made once for all 15 cells
        else:
            if aux_skip:
                raise ValueError("DARTS-'s auxiliary skip applies to the mixture only, not to a single path")
            arch = NB201Space.validate(choice)
        x = self.stem(x)  # (B, C, H, W)
        for cell in self.cells:
            if not isinstance(cell, SearchCell):
                x = cell(x)  # residual reduction block
            elif rows is not None:
                x = cell.mix(x, rows, aux_skip)
            else:
                x = cell.path(x, arch)
        return self.head(x)

    def subnet_state_dict(self, arch: NB201Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        """The supernet's weights for ``arch`` under ``NB201Network``'s parameter names (to inherit weights)."""
        arch = NB201Space.validate(arch)
        out = {}
        for name, value in self.state_dict().items():
            parts = name.split(".")
            if len(parts) > 4 and parts[0] == "cells" and parts[2] == "edges":  # cells.<c>.edges.<e>.<k>.<rest>
                if int(parts[4]) != arch[int(parts[3])]:
                    continue
                name = ".".join(parts[:4] + parts[5:])
            out[name] = value
        return out


# ---- cost -------------------------------------------------------------------------------------------------------
@functools.cache
def _param_parts(num_classes: int, C: int, N: int) -> tuple[int, dict[tuple[int, int], int]]:
    """Measured on built (meta-device) modules: the arch-independent part and each (op, width)'s parameters."""
    with torch.device("meta"):
        fixed = sum(p.numel() for p in NB201Network((NONE,) * len(EDGES), num_classes, C, N).parameters())
        per_op = {
            (k, width): sum(p.numel() for p in OP_FACTORIES[name](width, True, True).parameters())
            for k, name in enumerate(OPS)
            for width in (C, 2 * C, 4 * C)
        }
    return fixed, per_op


def param_count(arch: Sequence[int], num_classes: int, C: int = 16, N: int = 5) -> int:
    """Parameters of ``NB201Network(arch, num_classes, C, N)`` without building it (cheap for all 15,625 archs)."""
    fixed, per_op = _param_parts(num_classes, C, N)
    return fixed + N * sum(per_op[(o, w)] for o in arch for w in (C, 2 * C, 4 * C))


def cost(
    arch: NB201Arch | Sequence[int], num_classes: int, input_size: tuple[int, int, int] = (3, 32, 32)
) -> dict[str, int]:
    """Parameters and MACs (conv + linear, batch 1) of the standalone network; 3x16x16 for ImageNet16-120."""
    with torch.device("meta"):  # shapes are all count_macs needs
        net = NB201Network(NB201Space.validate(arch), num_classes)
    return {"params": sum(p.numel() for p in net.parameters()), "macs": count_macs(net, input_size)}


# ---- the search space -------------------------------------------------------------------------------------------
class NB201Space(SearchSpace):
    """NAS-Bench-201: 6 edges x 5 ops = 15,625 cells; distance = Hamming distance of the op vectors."""

    name = "nb201"
    ops = OPS

    def parse(self, text: str) -> NB201Arch:
        return NB201Arch.from_str(text)

    def format(self, arch: Any) -> str:
        return self.validate(arch).to_str()

    @staticmethod
    def validate(arch: Any) -> NB201Arch:
        """Accept an NB201Arch, an arch string, or a sequence of 6 op indices."""
        if isinstance(arch, NB201Arch):
            return arch
        if isinstance(arch, str):
            return NB201Arch.from_str(arch)
        if isinstance(arch, torch.Tensor | np.ndarray):
            arch = arch.tolist()
        if isinstance(arch, Sequence) and all(isinstance(o, int | np.integer) for o in arch):
            return NB201Arch(arch)
        raise ArchFormatError(f"cannot read {arch!r} as an NB201 arch (an arch string or 6 op indices in 0..4)")

    def all_archs(self) -> list[NB201Arch]:
        """All 5^6 architectures in lexicographic op-index order."""
        return [NB201Arch(a) for a in itertools.product(range(len(OPS)), repeat=len(EDGES))]

    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return NB201Arch(rng.integers(0, len(OPS), size=len(EDGES)))

    def mutate(self, arch: Any, rng: np.random.Generator, by_node: bool = False) -> NB201Arch:
        """One edge gets a different op, uniformly over the 24 neighbors.

        ``by_node=True`` reproduces AutoDL's R-EA exactly: a random node first, then one of its input edges, so
        node 1's single edge is picked with probability 1/3 (the 24 neighbors are then not equally likely).
        """
        ops = list(self.validate(arch))
        if by_node:
            node = int(rng.integers(1, NUM_NODES))
            e = [k for k, (t, _) in enumerate(EDGES) if t == node][int(rng.integers(0, node))]
        else:
            e = int(rng.integers(0, len(EDGES)))
        ops[e] = (ops[e] + 1 + int(rng.integers(0, len(OPS) - 1))) % len(OPS)  # any op but the current one
        return NB201Arch(ops)

    def neighbors(self, arch: Any, radius: int = 1) -> list[NB201Arch]:
        """All C(6, r) * 4^r archs at Hamming distance exactly ``radius``: edge sets in combination order,
        then new ops in ascending index order (isomorphic duplicates are kept, as A²M and R-EA do)."""
        base = self.validate(arch)
        if not 0 <= radius <= len(EDGES):
            raise ValueError(f"radius must be in 0..{len(EDGES)}, got {radius}")
        out = []
        for edges in itertools.combinations(range(len(EDGES)), radius):
            choices = [[o for o in range(len(OPS)) if o != base[e]] for e in edges]
            for new in itertools.product(*choices):
                ops = list(base)
                for e, o in zip(edges, new):
                    ops[e] = o
                out.append(NB201Arch(ops))
        return out

    def distance(self, a: Any, b: Any) -> int:
        return sum(x != y for x, y in zip(self.validate(a), self.validate(b)))

    def canonical(self, arch: Any) -> str:
        """The benchmark's ``unique_str``: equal for cells NB201 treats as isomorphic (6,466 classes)."""
        return unique_str(self.validate(arch))

    def encode(self, arch: Any) -> list[int]:
        return list(self.validate(arch))

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return {"cell": (len(EDGES), len(OPS))}

    def derive(self, weights: Weights, exclude_none: bool = False) -> NB201Arch:
        """Argmax per edge (as AutoDL's genotype(), ``none`` included unless ``exclude_none``); ties -> lower index."""
        w = weights["cell"].detach()  # (6, 5)
        if exclude_none:
            return NB201Arch((w[:, 1:].argmax(dim=1) + 1).tolist())
        return NB201Arch(w.argmax(dim=1).tolist())

    def one_hot(self, arch: Any, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        idx = torch.tensor(self.validate(arch))
        return {"cell": nn.functional.one_hot(idx, len(OPS)).to(dtype)}  # (6, 5)

    def param_free_ops(self, arch: Any) -> int:
        return sum(o in PARAM_FREE for o in self.validate(arch))

    def topology(self, arch: Any) -> dict[str, float | int]:
        """Shu et al.'s cell width (units of C) and depth; ``none`` edges are absent, node 3 is the output.
        docs/analysis.md#cell-topology-width-and-depth"""
        return topology(nb201_graph(self.validate(arch), EDGES, NONE))

    def supernet(
        self,
        num_classes: int,
        C: int = 16,
        N: int = 5,
        affine: bool = False,
        track_running_stats: bool = True,
        aux_skip: bool = False,
    ) -> NB201SuperNet:
        return NB201SuperNet(num_classes, C, N, affine, track_running_stats, aux_skip)

    def network(self, arch: Any, num_classes: int, C: int = 16, N: int = 5, keep_none: bool = False) -> NB201Network:
        """The benchmark's TinyNetwork; ``keep_none=True`` runs ``none`` edges as zero ops in the graph (NASWOT)."""
        return NB201Network(self.validate(arch), num_classes, C, N, keep_none)

    def cost(self, arch: Any, dataset: str) -> dict[str, int]:
        """Params and MACs of the standalone network on a benchmark dataset (cifar10, cifar100, imagenet16_120)."""
        if dataset not in DATASET_CLASSES:
            raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASET_CLASSES)}")
        return cost(arch, DATASET_CLASSES[dataset], DATASET_INPUT[dataset])

    def describe(self, arch: Any) -> dict[str, Any]:
        a = self.validate(arch)
        return {
            "space": self.name,
            "arch": a.to_str(),
            "encoding": list(a),
            "edges": {key: OPS[o] for key, o in zip(EDGE_KEYS, a)},
            "op_counts": {name: a.count(k) for k, name in enumerate(OPS)},
            "unique_str": unique_str(a),
            "parametric_ops": len(a) - self.param_free_ops(a),
            "param_free_ops": self.param_free_ops(a),
            "conv_depth": conv_depth(a),  # None: the output node is cut off from the input
            "topology": self.topology(a),
            "params": {d: param_count(a, n) for d, n in DATASET_CLASSES.items()},
        }


register_arch_format(
    ArchFormat(
        NB201Space.name,
        "a NAS-Bench-201 arch string",
        looks_like_arch_str,
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    )
)
