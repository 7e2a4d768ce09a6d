"""Which ops each DARTS edge offers: the 8- and 7-op sets, and RobustDARTS's spaces S1–S4.

An :class:`OpSet` lists, per cell type and per edge (the 14 edges in ``codec``'s order), the candidate ops; op index
``k`` on edge ``e`` means ``ops_of(cell, e)[k]``, in the supernet's modules, the (14, K) weights, derivation and
one-hot alike. Every edge offers the same number of ops K, so the weights stay (14, K) tensors.

- ``darts8`` / ``darts7``: the DARTS ops on every edge (with / without ``none``).
- ``s1``: RobustDARTS's per-edge two-op lists, shipped as ``robustdarts_s1.json`` (its ``source`` field names the
  repository, file and commit they were taken from); ``op_set_file`` loads a user's file of the same format.
- ``s2``: {skip_connect, sep_conv_3x3}; ``s3``: {none, skip_connect, sep_conv_3x3}; ``s4``: {noise, sep_conv_3x3}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nasflat.spaces.base import ArchFormatError
from nasflat.spaces.darts.codec import (
    CELLS,
    DARTS7_OPS,
    DARTS8_OPS,
    GENOTYPE_OPS,
    NODE_OFFSETS,
    NUM_EDGES,
    Genotype,
    edge_index,
)

if TYPE_CHECKING:
    from importlib.abc import Traversable

OpSetName = Literal["darts8", "darts7", "s1", "s2", "s3", "s4"]
OP_SET_NAMES: tuple[str, ...] = ("darts8", "darts7", "s1", "s2", "s3", "s4")
# the op sets whose every edge offers the same list (S1 is per edge, read from its file)
OP_SETS: dict[str, tuple[str, ...]] = {
    "darts8": DARTS8_OPS,
    "darts7": DARTS7_OPS,
    "s2": ("skip_connect", "sep_conv_3x3"),
    "s3": ("none", "skip_connect", "sep_conv_3x3"),
    "s4": ("noise", "sep_conv_3x3"),
}
KNOWN_OPS: tuple[str, ...] = ("none", *GENOTYPE_OPS)  # what an op-set file may name
S1_FILE = "robustdarts_s1.json"
FILE_FORMAT = (
    'a JSON object {"normal": [14 op lists], "reduce": [14 op lists], "source": ...}, edges node by node, '
    "every edge with the same number of distinct ops"
)
EdgeLists = tuple[tuple[str, ...], ...]


def edge_name(cell: str, e: int) -> str:
    """``"normal cell, edge 5 (input 0 -> node 4)"``: how messages name an edge."""
    node = max(k for k, off in enumerate(NODE_OFFSETS) if off <= e) + 2
    return f"{cell} cell, edge {e} (input {e - NODE_OFFSETS[node - 2]} -> node {node})"


@dataclass(frozen=True)
class OpSet:
    """Per cell type, the op list of each of the 14 edges (``source``: where the lists came from)."""

    name: str
    normal: EdgeLists
    reduce: EdgeLists
    source: str = "built in"

    @classmethod
    def uniform(cls, name: str, ops: Sequence[str]) -> OpSet:
        return cls(name, (tuple(ops),) * NUM_EDGES, (tuple(ops),) * NUM_EDGES)

    def edges(self, cell: str) -> EdgeLists:
        return getattr(self, cell)

    def ops_of(self, cell: str, e: int) -> tuple[str, ...]:
        return self.edges(cell)[e]

    @property
    def num_ops(self) -> int:
        """K: every edge offers this many ops."""
        return len(self.normal[0])

    @cached_property
    def shared(self) -> tuple[str, ...] | None:
        """The one op list every edge of both cell types offers, or None for a per-edge set (S1)."""
        first = self.normal[0]
        return first if all(ops == first for cell in CELLS for ops in self.edges(cell)) else None

    def choices(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Per cell type and edge, the ops a genotype may choose there (all but ``none``)."""
        return {c: tuple(tuple(op for op in ops if op != "none") for ops in self.edges(c)) for c in CELLS}

    def index(self, cell: str, e: int, op: str) -> int:
        """Position of ``op`` on edge ``e``; refuses an op the edge does not offer."""
        ops = self.ops_of(cell, e)
        if op not in ops:
            hosts = [name for name, shared in OP_SETS.items() if op in shared]
            hint = f"; space.op_set={'|'.join(hosts)} offers it on every edge" if hosts else ""
            raise ArchFormatError(
                f"{edge_name(cell, e)}: op {op!r} is not in op set {self.name!r} there "
                f"(that edge offers {', '.join(ops)}){hint}"
            )
        return ops.index(op)

    def check(self, genotype: Genotype) -> Genotype:
        """``genotype`` itself when every chosen op is offered by its edge, else ArchFormatError."""
        for cell in CELLS:
            for slot, (op, j) in enumerate(genotype.cell(cell)):
                e = edge_index(2 + slot // 2, j)
                if op not in self.ops_of(cell, e):
                    self.index(cell, e, op)  # raises with the message
        return genotype


def get_op_set(name: str, file: str | Path | None = None) -> OpSet:
    """The op set ``name``; ``file`` replaces the shipped S1 lists (``op_set=s1`` only)."""
    if name not in OP_SET_NAMES:
        raise ValueError(f"space.op_set={name!r}: unknown op set; choose one of {', '.join(OP_SET_NAMES)}")
    if file is not None and name != "s1":
        raise ValueError(
            f"space.op_set_file={file}: a per-edge op file applies to op_set=s1 only (got op_set={name}); "
            "set space.op_set=s1 or drop the file"
        )
    if name in OP_SETS:
        return OpSet.uniform(name, OP_SETS[name])
    return load_op_set_file(resources.files(__package__).joinpath(S1_FILE) if file is None else Path(file), name)


def load_op_set_file(path: Path | Traversable, name: str = "s1") -> OpSet:
    """Read and validate a per-edge op file; every problem is reported with the file's path."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"op set file {path} does not exist; expected {FILE_FORMAT}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"op set file {path} cannot be read: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"op set file {path} is not valid JSON: {e}") from None
    try:
        return _from_json(data, name, str(path))
    except ValueError as e:
        raise ValueError(f"op set file {path}: {e}; expected {FILE_FORMAT}") from None


def _from_json(data: Any, name: str, where: str) -> OpSet:
    if not isinstance(data, dict):
        raise ValueError(f"the top level must be an object, got {type(data).__name__}")
    missing = [c for c in CELLS if c not in data]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(repr(c) for c in missing)}")
    source = data.get("source", "")
    if not isinstance(source, (str, dict)):
        raise ValueError(f"'source' must be a string or an object, got {source!r}")
    cells = {cell: _edge_lists(cell, data[cell]) for cell in CELLS}
    sizes = {len(ops) for lists in cells.values() for ops in lists}
    if len(sizes) != 1:
        raise ValueError(
            f"every edge must offer the same number of ops (the weights are (14, K) tensors), found sizes "
            f"{sorted(sizes)}"
        )
    return OpSet(name, cells["normal"], cells["reduce"], f"{where} ({json.dumps(source)})" if source else where)


def _edge_lists(cell: str, lists: Any) -> EdgeLists:
    if not isinstance(lists, list) or len(lists) != NUM_EDGES:
        got = f"{len(lists)} entries" if isinstance(lists, list) else type(lists).__name__
        raise ValueError(f"{cell!r} must be a list of 14 per-edge op lists, got {got}")
    out = []
    for e, ops in enumerate(lists):
        where = edge_name(cell, e)
        if not isinstance(ops, list) or not ops or not all(isinstance(op, str) for op in ops):
            raise ValueError(f"{where}: expected a non-empty list of op names, got {ops!r}")
        unknown = [op for op in ops if op not in KNOWN_OPS]
        if unknown:
            raise ValueError(f"{where}: unknown op(s) {', '.join(map(repr, unknown))}; known: {', '.join(KNOWN_OPS)}")
        if len(set(ops)) != len(ops):
            raise ValueError(f"{where}: an op is listed twice in {ops}")
        if all(op == "none" for op in ops):
            raise ValueError(f"{where}: offers only 'none', so no genotype could use it")
        out.append(tuple(ops))
    return tuple(out)
