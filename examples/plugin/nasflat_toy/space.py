"""A 3-edge toy cell space, written against nasflat's SearchSpace contract only (no nasflat file names it).

An architecture is a tuple of 3 op indices for the edges 0->1, 0->2, 1->2; its text form is the op names joined by
``|`` in that order, e.g. ``conv3x3|skip|none``. 3^3 = 27 cells; the distance is the Hamming distance.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from nasflat.flops import count_macs
from nasflat.spaces.base import ArchFormat, ArchFormatError, IntEncoding, SearchSpace, Weights, register_arch_format
from nasflat.spaces.topology import cell_graph, topology
from nasflat_toy.networks import EDGES, NONE, OPS, ToyNetwork, ToySuperNet

ToyArch = tuple[int, ...]
EDGE_NAMES = tuple(f"{s}->{t}" for s, t in EDGES)


def parse_arch(text: str) -> ToyArch:
    """``conv3x3|skip|none`` -> (2, 1, 0); names the bad token and the valid ops."""
    tokens = text.strip().split("|")
    if len(tokens) != len(EDGES):
        raise ArchFormatError(f"a toy arch has {len(EDGES)} ops joined by '|' ({', '.join(EDGE_NAMES)}): {text!r}")
    for token in tokens:
        if token not in OPS:
            raise ArchFormatError(f"unknown toy op {token!r} in {text!r}; valid ops: {', '.join(OPS)}")
    return tuple(OPS.index(t) for t in tokens)


class ToySpace(SearchSpace):
    """Three edges, three ops each (none, skip, conv3x3): every contract method, small enough to read in one go."""

    name = "toy"
    ops = OPS

    def parse(self, text: str) -> ToyArch:
        return parse_arch(text)

    def format(self, arch: Any) -> str:
        return "|".join(OPS[o] for o in self.validate(arch))

    def validate(self, arch: Any) -> ToyArch:
        """An arch string, or a sequence of 3 op indices (evolution hands over lists)."""
        if isinstance(arch, str):
            return parse_arch(arch)
        if isinstance(arch, torch.Tensor | np.ndarray):
            arch = arch.tolist()
        ok = isinstance(arch, tuple | list) and len(arch) == len(EDGES)
        if not ok or not all(isinstance(o, int | np.integer) and 0 <= o < len(OPS) for o in arch):
            raise ArchFormatError(f"cannot read {arch!r} as a toy arch (a string or 3 op indices in 0..{len(OPS) - 1})")
        return tuple(int(o) for o in arch)

    def sample(self, rng: np.random.Generator) -> ToyArch:
        return tuple(int(o) for o in rng.integers(0, len(OPS), size=len(EDGES)))

    def mutate(self, arch: Any, rng: np.random.Generator, scheme: str = "uniform") -> ToyArch:
        """One edge gets another op, uniformly over the 6 neighbours."""
        self.check_mutation(scheme)
        ops = list(self.validate(arch))
        e = int(rng.integers(0, len(EDGES)))
        ops[e] = (ops[e] + 1 + int(rng.integers(0, len(OPS) - 1))) % len(OPS)
        return tuple(ops)

    def neighbors(self, arch: Any, radius: int = 1) -> list[ToyArch]:
        """All archs at Hamming distance ``radius``: edge sets in combination order, new ops ascending."""
        base = self.validate(arch)
        if not 0 <= radius <= len(EDGES):
            raise ValueError(f"radius must be in 0..{len(EDGES)}, got {radius}")
        out = []
        for edges in itertools.combinations(range(len(EDGES)), radius):
            for new in itertools.product(*([o for o in range(len(OPS)) if o != base[e]] for e in edges)):
                ops = list(base)
                for e, o in zip(edges, new):
                    ops[e] = o
                out.append(tuple(ops))
        return out

    def encode(self, arch: Any) -> list[int]:
        return list(self.validate(arch))

    def encoding(self) -> IntEncoding:
        return IntEncoding(len(EDGES), len(OPS), ((0, len(EDGES)),))

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return {"cell": (len(EDGES), len(OPS))}

    def incoming_edges(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        """Node 1: edge 0; node 2: edges 1 and 2."""
        return {"cell": tuple(tuple(e for e, (_, t) in enumerate(EDGES) if t == node) for node in (1, 2))}

    def derive(self, weights: Weights, exclude_none: bool = False) -> ToyArch:
        """Argmax per edge (``none`` included unless ``exclude_none``); ties -> the lower index."""
        w = weights["cell"].detach()
        if exclude_none:
            return tuple((w[:, 1:].argmax(dim=1) + 1).tolist())
        return tuple(w.argmax(dim=1).tolist())

    def one_hot(self, arch: Any, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        return {"cell": nn.functional.one_hot(torch.tensor(self.validate(arch)), len(OPS)).to(dtype)}

    def param_free_ops(self, arch: Any) -> int:
        return sum(OPS[o] != "conv3x3" for o in self.validate(arch))

    def topology(self, arch: Any) -> dict[str, Any]:
        live = [edge for edge, o in zip(EDGES, self.validate(arch)) if o != NONE]
        return topology(cell_graph(3, {0}, 2, live))

    def supernet(
        self,
        num_classes: int,
        C: int = 8,
        N: int = 2,
        affine: bool = False,
        track_running_stats: bool = True,
        aux_skip: bool = False,
        partial_channels: int = 1,
    ) -> ToySuperNet:
        """Explicit keywords, so nasflat's config check catches a misspelt ``search_net`` key."""
        return ToySuperNet(num_classes, C, N, affine, track_running_stats, aux_skip, partial_channels)

    def network(self, arch: Any, num_classes: int, C: int = 8, N: int = 2, keep_none: bool = False) -> ToyNetwork:
        """``keep_none``: run ``none`` edges as zero ops in the graph (evaluator=naswot asks for it)."""
        return ToyNetwork(self.validate(arch), num_classes, C, N, keep_none)

    def cost(self, arch: Any, num_classes: int = 10, input_size: tuple[int, int, int] = (3, 16, 16)) -> dict[str, int]:
        """Parameters and MACs of the default standalone network (built on the meta device: shapes only)."""
        with torch.device("meta"):
            net = self.network(arch, num_classes)
        return {"params": sum(p.numel() for p in net.parameters()), "macs": count_macs(net, input_size)}

    def describe(self, arch: Any) -> dict[str, Any]:
        a = self.validate(arch)
        return {
            "arch": self.format(a),
            "encoding": list(a),
            "edges": {name: OPS[o] for name, o in zip(EDGE_NAMES, a)},
            "param_free_ops": self.param_free_ops(a),
            "topology": self.topology(a),
            "cost": self.cost(a),  # 10 classes, 3x16x16 images (dataset=digits)
        }


register_arch_format(ArchFormat(ToySpace.name, "a toy cell string", lambda t: t.count("|") == 2, "conv3x3|skip|none"))
