"""NAS-Bench-201 architecture values: the six op indices, the benchmark's arch string and ``unique_str``.

A cell is a 4-node DAG; node i = sum_{j<i} op_{i<-j}(node_j), node 3 is the output. An architecture is the six
op indices in the benchmark's edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) into ``OPS``; its text form is the
benchmark key ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from nasflat.spaces.base import ArchFormatError, other_space_hint

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (target, source)
EDGE_KEYS: tuple[str, ...] = tuple(f"{i}<-{j}" for i, j in EDGES)
NUM_NODES = 4
NONE, SKIP, CONV1, CONV3, POOL = range(len(OPS))
PARAM_FREE: frozenset[int] = frozenset({NONE, SKIP, POOL})
# The benchmark's datasets (the one home of their names) and their class counts.
DATASET_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet16_120": 120}
DATASETS: tuple[str, ...] = tuple(DATASET_CLASSES)
DATASET_LABELS: dict[str, str] = {"cifar10": "C10", "cifar100": "C100", "imagenet16_120": "IN16"}  # table headers
Dataset = Literal[DATASETS]  # for typed parameters: the config validator reads the Literal's options
DATASET_INPUT: dict[str, tuple[int, int, int]] = {
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
    "imagenet16_120": (3, 16, 16),
}
SPACE_NAME = "nb201"
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
        if hint := other_space_hint(text, SPACE_NAME):
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


def validate_arch(arch: Any) -> NB201Arch:
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
