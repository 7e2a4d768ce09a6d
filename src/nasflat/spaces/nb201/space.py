"""The NAS-Bench-201 search space contract: sampling, neighbours, derivation and the networks it builds."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import nn

from nasflat.spaces.base import ArchFormat, IntEncoding, SearchSpace, Weights, register_arch_format
from nasflat.spaces.nb201.codec import (
    DATASET_CLASSES,
    DATASET_INPUT,
    EDGE_KEYS,
    EDGES,
    NONE,
    NUM_NODES,
    OPS,
    PARAM_FREE,
    SPACE_NAME,
    NB201Arch,
    conv_depth,
    looks_like_arch_str,
    unique_str,
    validate_arch,
)
from nasflat.spaces.nb201.network import NB201Network, cost, param_count
from nasflat.spaces.nb201.supernet import Kernel, NB201SuperNet
from nasflat.spaces.topology import nb201_graph, topology


# ---- the search space -------------------------------------------------------------------------------------------
class NB201Space(SearchSpace):
    """NAS-Bench-201: 6 edges x 5 ops = 15,625 cells; distance = Hamming distance of the op vectors."""

    name = SPACE_NAME
    ops = OPS
    mutation_schemes = ("uniform", "by_node")
    reference_mutation = "by_node"  # AutoDL's R-EA operator

    def __init__(self, op_set: str = "nb201") -> None:
        if op_set != "nb201":
            raise ValueError(
                f"op_set={op_set!r}: NAS-Bench-201 has one op set, the benchmark's five ops (op_set=nb201); "
                "RobustDARTS's S1-S4 and A²M's darts7 are DARTS-cell op sets: use space=darts space.op_set=" + op_set
            )
        self.op_set = op_set

    def parse(self, text: str) -> NB201Arch:
        return NB201Arch.from_str(text)

    def format(self, arch: Any) -> str:
        return self.validate(arch).to_str()

    validate = staticmethod(validate_arch)

    def all_archs(self) -> list[NB201Arch]:
        """All 5^6 architectures in lexicographic op-index order."""
        return [NB201Arch(a) for a in itertools.product(range(len(OPS)), repeat=len(EDGES))]

    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return NB201Arch(rng.integers(0, len(OPS), size=len(EDGES)))

    def mutate(self, arch: Any, rng: np.random.Generator, scheme: str = "uniform") -> NB201Arch:
        """One edge gets a different op, uniformly over the 24 neighbors.

        ``scheme="by_node"`` reproduces AutoDL's R-EA exactly: a random node first, then one of its input edges,
        so node 1's single edge is picked with probability 1/3 (the 24 neighbors are then not equally likely).
        """
        ops = list(self.validate(arch))
        if self.check_mutation(scheme) == "by_node":
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

    def encoding(self) -> IntEncoding:
        """The 6 edge ops; every code is a valid cell, so no repair."""
        return IntEncoding(len(EDGES), len(OPS), ((0, len(EDGES)),))

    def incoming_edges(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        """Nodes 1, 2, 3: ((0,), (1, 2), (3, 4, 5))."""
        nodes = tuple(tuple(e for e, (t, _) in enumerate(EDGES) if t == i) for i in range(1, NUM_NODES))
        return {"cell": nodes}

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
        partial_channels: int = 1,
        kernel: Kernel = "grouped",
    ) -> NB201SuperNet:
        """``partial_channels=K``: PC-DARTS's ops on 1/K of the channels (mixtures only); ``aux_skip``: DARTS-;
        ``kernel``: how mixtures run, ``grouped`` (fast) or ``per_op`` (the reference; same maths)."""
        return NB201SuperNet(num_classes, C, N, affine, track_running_stats, aux_skip, partial_channels, kernel)

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
            "cost": {d: self.cost(a, d) for d in DATASET_CLASSES},  # params and MACs of the benchmark's networks
        }


register_arch_format(
    ArchFormat(
        NB201Space.name,
        "a NAS-Bench-201 arch string",
        looks_like_arch_str,
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    )
)
