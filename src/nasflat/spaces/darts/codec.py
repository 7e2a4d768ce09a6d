"""DARTS architecture values: the Genotype, its three formats, validation, sampling, derivation and neighbors.

Everything here is plain Python/numpy (no modules), so algorithms can manipulate architectures cheaply.

**Cell layout.** Inputs 0 and 1 are the two previous cells; intermediate nodes are numbered 2..5 (the numbering the
genotype's input indices use). Node ``k`` has an edge from every earlier node ``0..k-1``, giving 2+3+4+5 = 14 edges,
ordered node by node: edge ``NODE_OFFSETS[k-2] + j`` goes from ``j`` to ``k`` (node 2 <- 0,1; node 3 <- 0,1,2; ...).
A genotype keeps two edges per node, listed node by node as ``(op, input)`` pairs (8 per cell).

**Formats.** (1) the text researchers paste, which is Python's repr of quark0's namedtuple with list fields
(``parse_genotype`` reads it without ``eval``, also accepting ``range(2, 6)`` for a concat); (2) JSON
(``to_json``/``from_json``, the structure of ``published_genotypes.json`` entries); (3) GeNAS's 28 integers
(14 normal + 14 reduce edges, op index into the 8-op list, 0 = no edge; ``decode_genas``/``encode_genas``).

**Equality.** A Genotype keeps the pair order it was given, so published texts round-trip byte for byte; the two
inputs of a node listed in swapped order are the same architecture, and ``canonical`` (pairs sorted by input) is the
key to compare, cache or de-duplicate with. Isomorphisms that relabel intermediate nodes are *not* merged.

**Neighborhood.** One move, in one cell (normal or reduce), either (a) replaces the op of one kept edge by another
non-``none`` op (6 choices), or (b) moves one kept edge, with its op, to another input of the same node that the
node's other edge does not use (node k: k-2 choices). Every genotype has exactly 2 * (12+14+16+18) = 120 one-move
results, all distinct. With per-edge op sets (RobustDARTS's S1–S4, ``choices``) (a) picks among the edge's other
non-``none`` ops and (b) only targets inputs whose edge offers the op. Radius ``r`` = the architectures whose
shortest move distance is exactly ``r`` (reachable by ``r`` moves minus those reachable by fewer, compared by
``canonical``), found breadth first in a deterministic order; results keep the listing order of the genotype they
came from.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nasflat.spaces.base import ArchFormat, ArchFormatError, other_space_hint, register_arch_format

DARTS8_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
DARTS7_OPS: tuple[str, ...] = DARTS8_OPS[1:]  # A²M's variant: `none` removed, order kept
CHOOSABLE_OPS: tuple[str, ...] = DARTS7_OPS  # the non-`none` ops of darts8/darts7 (what their moves change to)
# every op a Genotype may name: RobustDARTS's S4 adds `noise`; which ops an edge offers is the op set's business
GENOTYPE_OPS: tuple[str, ...] = (*CHOOSABLE_OPS, "noise")
PARAM_FREE_OPS: frozenset[str] = frozenset({"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "noise"})

NUM_NODES = 4  # intermediate nodes 2..5
NUM_EDGES = 14
NODE_OFFSETS: tuple[int, ...] = (0, 2, 5, 9)  # first edge of node 2, 3, 4, 5
FULL_CONCAT: tuple[int, ...] = (2, 3, 4, 5)
CELLS: tuple[str, str] = ("normal", "reduce")

SPACE = "darts"  # DartsSpace.name: the space=... these values belong to
_GENOTYPE_START = re.compile(r"([A-Za-z_]\w*\.)*Genotype\s*\(")
Pair = tuple[str, int]
Cell = tuple[Pair, ...]
# per edge of one cell type (14 entries), the ops it offers: op index k on edge e means edge_ops[e][k]
EdgeOps = Sequence[Sequence[str]]
# per cell type, per edge, the ops a genotype may put there (the non-`none` ones)
EdgeChoices = Mapping[str, EdgeOps]


def __getattr__(name: str) -> Any:
    """``codec.OP_SETS`` moved to ``op_sets`` (with S1–S4); the old import keeps working."""
    if name == "OP_SETS":
        from nasflat.spaces.darts.op_sets import OP_SETS

        return OP_SETS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def edge_index(node: int, inp: int) -> int:
    """Index (0..13) of the edge ``inp -> node`` for an intermediate node 2..5."""
    return NODE_OFFSETS[node - 2] + inp


# ---- the value --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Genotype:
    """An immutable, hashable DARTS architecture, field for field quark0's ``Genotype`` namedtuple.

    The constructor accepts lists (or ``range`` for a concat) exactly as quark0's text writes them, stores tuples,
    and validates; ``repr``/``str`` print the text researchers paste.
    """

    normal: Cell
    normal_concat: tuple[int, ...]
    reduce: Cell
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for cell in CELLS:
            object.__setattr__(self, cell, _check_cell(cell, getattr(self, cell)))
            key = f"{cell}_concat"
            object.__setattr__(self, key, _check_concat(key, getattr(self, key)))

    @classmethod
    def _trusted(cls, normal: Cell, normal_concat: tuple[int, ...], reduce: Cell, reduce_concat: tuple[int, ...]):
        """Build without validation (inner loops of neighbors/sampling, inputs already valid)."""
        g = object.__new__(cls)
        for name, value in zip(
            ("normal", "normal_concat", "reduce", "reduce_concat"), (normal, normal_concat, reduce, reduce_concat)
        ):
            object.__setattr__(g, name, value)
        return g

    def __repr__(self) -> str:
        return format_genotype(self)

    __str__ = __repr__

    def to_str(self) -> str:
        return format_genotype(self)

    @classmethod
    def from_str(cls, text: str) -> Genotype:
        return parse_genotype(text)

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | str) -> Genotype:
        return from_json(obj)

    def cell(self, name: str) -> Cell:
        return getattr(self, name)


def _where(cell: str, slot: int) -> str:
    return f"{cell} cell, node {2 + slot // 2}, edge {slot % 2 + 1} of 2"


def _check_cell(cell: str, pairs: Any) -> Cell:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise ArchFormatError(f"{cell} cell: expected a list of (op, input) pairs, got {pairs!r}")
    if len(pairs) != 2 * NUM_NODES:
        raise ArchFormatError(
            f"{cell} cell: expected 8 (op, input) pairs (2 per intermediate node 2..5, listed node by node), "
            f"got {len(pairs)}"
        )
    out: list[Pair] = []
    for slot, pair in enumerate(pairs):
        where = _where(cell, slot)
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ArchFormatError(f"{where}: expected an (op, input) pair, got {pair!r}")
        op, inp = pair
        if not isinstance(op, str):
            raise ArchFormatError(f"{where}: op must be a string, got {op!r}")
        if op == "none":
            raise ArchFormatError(
                f"{where}: 'none' cannot be a chosen op (every node has exactly two non-'none' inputs); "
                f"valid ops: {', '.join(GENOTYPE_OPS)}"
            )
        if op not in GENOTYPE_OPS:
            raise ArchFormatError(f"{where}: unknown op {op!r}; valid ops: {', '.join(GENOTYPE_OPS)}")
        try:
            if isinstance(inp, bool):
                raise TypeError
            inp = operator.index(inp)
        except TypeError:
            raise ArchFormatError(f"{where}: input must be an integer node index, got {inp!r}") from None
        node = 2 + slot // 2
        if not 0 <= inp < node:
            raise ArchFormatError(
                f"{where}: input {inp} out of range for node {node} (valid inputs: 0..{node - 1}; "
                "0/1 are the previous cells, 2..5 the intermediate nodes)"
            )
        if slot % 2 == 1 and inp == out[-1][1]:
            raise ArchFormatError(
                f"{cell} cell, node {node}: input {inp} is used twice (a node takes two distinct inputs)"
            )
        out.append((op, inp))
    return tuple(out)


def _check_concat(key: str, concat: Any) -> tuple[int, ...]:
    try:
        values = tuple(operator.index(c) for c in concat if not isinstance(c, bool))
        if len(values) != len(concat):
            raise TypeError
    except TypeError:
        raise ArchFormatError(f"{key}: expected a list of node indices such as [2, 3, 4, 5], got {concat!r}") from None
    if not values or any(not 2 <= c <= 5 for c in values) or len(set(values)) != len(values):
        raise ArchFormatError(
            f"{key}: {list(values)} must be distinct intermediate nodes in 2..5 (DARTS uses [2, 3, 4, 5])"
        )
    return values


# ---- text ------------------------------------------------------------------------------------------------------------
def format_genotype(g: Genotype) -> str:
    """quark0's text: Python's repr of its namedtuple with list fields."""
    return (
        f"Genotype(normal={list(g.normal)!r}, normal_concat={list(g.normal_concat)!r}, "
        f"reduce={list(g.reduce)!r}, reduce_concat={list(g.reduce_concat)!r})"
    )


_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)|(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)|(?P<int>[+-]?\d+)"
    r"|(?P<str>'[^'\\\n]*'|\"[^\"\\\n]*\")|(?P<punct>[()\[\],=])"
)
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


class _Parser:
    """Recursive descent over the literal subset quark0 genotypes use: lists, tuples, ints, strings, range()."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                self.fail(f"unexpected character {text[pos]!r}", pos)
            if m.lastgroup != "ws":
                self.toks.append((m.lastgroup, m.group(), pos))
            pos = m.end()
        self.i = 0

    def fail(self, msg: str, pos: int | None = None) -> None:
        if pos is None:
            pos = self.toks[self.i][2] if self.i < len(self.toks) else len(self.text)
        snippet = self.text[max(0, pos - 20) : pos + 20].replace("\n", " ")
        raise ArchFormatError(f"cannot parse genotype text: {msg} at column {pos + 1} (near {snippet!r})")

    def peek(self, k: int = 0) -> tuple[str, str, int] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            found = "end of text" if tok is None else repr(tok[1])
            want = repr(value) if value is not None else kind
            self.fail(f"expected {want}, found {found}")
        self.i += 1
        return tok[1]

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "punct" and tok[1] == value

    def genotype(self) -> dict[str, Any]:
        name = self.take("name")
        if name.split(".")[-1] != "Genotype":
            self.fail(f"expected 'Genotype(...)', found {name!r}", self.toks[0][2])
        self.take("punct", "(")
        fields: dict[str, Any] = {}
        npos = 0
        while not self.at(")"):
            nxt = self.peek(1)
            if self.peek() and self.peek()[0] == "name" and nxt and nxt[1] == "=":
                key = self.take("name")
                if key not in _FIELDS:
                    self.fail(f"unknown field {key!r}; fields are {', '.join(_FIELDS)}", self.toks[self.i - 1][2])
                self.take("punct", "=")
            else:
                if fields and npos < len(fields):
                    self.fail("positional argument after keyword argument")
                if npos >= len(_FIELDS):
                    self.fail("too many positional arguments")
                key = _FIELDS[npos]
                npos += 1
            if key in fields:
                self.fail(f"field {key!r} given twice", self.toks[self.i - 1][2])
            fields[key] = self.value()
            if not self.at(","):
                break
            self.take("punct", ",")
        self.take("punct", ")")
        if self.peek() is not None:
            self.fail("unexpected text after the closing parenthesis")
        missing = [f for f in _FIELDS if f not in fields]
        if missing:
            raise ArchFormatError(f"cannot parse genotype text: missing field(s) {', '.join(missing)}")
        return fields

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            self.fail("expected a value, found end of text")
        kind, text, _ = tok
        if kind == "int":
            self.i += 1
            return int(text)
        if kind == "str":
            self.i += 1
            return text[1:-1]
        if kind == "punct" and text in "[(":
            close = "]" if text == "[" else ")"
            self.i += 1
            items = []
            while not self.at(close):
                items.append(self.value())
                if not self.at(","):
                    break
                self.take("punct", ",")
            self.take("punct", close)
            return items if close == "]" else tuple(items)
        if kind == "name" and text == "range":
            self.i += 1
            self.take("punct", "(")
            args = [int(self.take("int"))]
            while self.at(","):
                self.take("punct", ",")
                if self.at(")"):
                    break
                args.append(int(self.take("int")))
            self.take("punct", ")")
            if len(args) > 3:
                self.fail("range() takes at most 3 arguments")
            return list(range(*args))
        self.fail(f"expected a list, tuple, integer, string or range(...), found {text!r}")
        raise AssertionError  # unreachable: fail() raises


def parse_genotype(text: str) -> Genotype:
    """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`` without eval."""
    if not isinstance(text, str):
        raise ArchFormatError(f"expected genotype text, got {type(text).__name__}")
    try:
        return Genotype(**_Parser(text).genotype())
    except ArchFormatError as e:
        if hint := other_space_hint(text, SPACE):
            raise ArchFormatError(f"{hint} (as a DARTS genotype: {e})") from e
        raise


def looks_like_genotype(text: str) -> bool:
    """Whether ``text`` is shaped like DARTS genotype text or its JSON, valid or not."""
    s = text.strip()
    return bool(_GENOTYPE_START.match(s)) or (s.startswith("{") and '"normal"' in s)


# ---- JSON ------------------------------------------------------------------------------------------------------------
def to_json(g: Genotype) -> dict[str, Any]:
    """The structure of a ``published_genotypes.json`` entry (lists only)."""
    return {
        "normal": [[op, j] for op, j in g.normal],
        "normal_concat": list(g.normal_concat),
        "reduce": [[op, j] for op, j in g.reduce],
        "reduce_concat": list(g.reduce_concat),
    }


def from_json(obj: Mapping[str, Any] | str) -> Genotype:
    """Inverse of ``to_json``; accepts a JSON string too and ignores extra metadata keys of the data file."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as e:
            raise ArchFormatError(f"genotype JSON does not parse: {e}") from None
    if not isinstance(obj, Mapping):
        raise ArchFormatError(f"genotype JSON must be an object with keys {', '.join(_FIELDS)}, got {obj!r}")
    missing = [f for f in _FIELDS if f not in obj]
    if missing:
        raise ArchFormatError(f"genotype JSON lacks key(s) {', '.join(missing)}")
    return Genotype(**{f: obj[f] for f in _FIELDS})


# ---- GeNAS's 28 integers -------------------------------------------------------------------------------------------
def cell_from_dense(cell: str, ops14: Sequence[int]) -> Cell:
    """14 op indices into the 8-op list (0 = no edge) -> 8 pairs, inputs ascending per node (GeNAS's decoding)."""
    if len(ops14) != NUM_EDGES:
        raise ArchFormatError(f"{cell} cell: expected 14 edge entries, got {len(ops14)}")
    pairs: list[Pair] = []
    for node in range(2, 2 + NUM_NODES):
        chosen = []
        for j in range(node):
            v = ops14[edge_index(node, j)]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < len(DARTS8_OPS):
                raise ArchFormatError(
                    f"{cell} cell, node {node}, edge from input {j}: {v!r} is not an op index 0..7 "
                    f"(0 = no edge; 1..7 = {', '.join(DARTS7_OPS)})"
                )
            if v:
                chosen.append((DARTS8_OPS[int(v)], j))
        if len(chosen) != 2:
            raise ArchFormatError(
                f"{cell} cell, node {node}: {len(chosen)} non-zero edges (inputs {[j for _, j in chosen]}); "
                "each intermediate node needs exactly 2"
            )
        pairs += chosen
    return tuple(pairs)


def decode_genas(code: Sequence[int]) -> Genotype:
    """GeNAS ``parse_searched_cell``: 28 ints (14 normal + 14 reduce) -> Genotype, concat [2, 3, 4, 5]."""
    code = list(code)
    if len(code) != 2 * NUM_EDGES:
        raise ArchFormatError(f"GeNAS encoding needs 28 integers (14 normal + 14 reduce), got {len(code)}")
    return Genotype(
        cell_from_dense("normal", code[:14]), FULL_CONCAT, cell_from_dense("reduce", code[14:]), FULL_CONCAT
    )


def cell_to_dense(pairs: Cell) -> list[int]:
    dense = [0] * NUM_EDGES
    for slot, (op, j) in enumerate(pairs):
        if op not in DARTS8_OPS:
            raise ArchFormatError(f"{op!r} has no GeNAS index (the 28-int encoding covers the 8 DARTS ops only)")
        dense[edge_index(2 + slot // 2, j)] = DARTS8_OPS.index(op)
    return dense


def encode_genas(g: Genotype) -> list[int]:
    """Genotype -> GeNAS's 28 ints (op index into the 8-op list per edge, 0 = no edge)."""
    if g.normal_concat != FULL_CONCAT or g.reduce_concat != FULL_CONCAT:
        raise ArchFormatError("the GeNAS encoding assumes normal_concat = reduce_concat = [2, 3, 4, 5]")
    return cell_to_dense(g.normal) + cell_to_dense(g.reduce)


# ---- canonical form, sampling, derivation --------------------------------------------------------------------------
def _sorted_cell(pairs: Cell) -> Cell:
    out: list[Pair] = []
    for s in range(0, len(pairs), 2):
        out += sorted(pairs[s : s + 2], key=lambda p: (p[1], p[0]))
    return tuple(out)


def canonical(g: Genotype) -> Genotype:
    """The same architecture with each node's two pairs sorted by input (and concat sorted)."""
    return Genotype._trusted(
        _sorted_cell(g.normal), tuple(sorted(g.normal_concat)), _sorted_cell(g.reduce), tuple(sorted(g.reduce_concat))
    )


def spos_repair(ops14: Sequence[int], rng: np.random.Generator, num_ops: int = len(DARTS8_OPS)) -> list[int]:
    """SPOS/RLNAS/GeNAS ``check_cand``: make intermediate node k have exactly two non-``none`` (non-zero) edges.

    Node k (2..5) has k edges and needs k-2 of them ``none``: if too few are ``none``, random non-``none`` edges are
    zeroed; if too many, random ``none`` edges get a uniformly random non-``none`` op (1..num_ops-1).
    """
    cell = [int(v) for v in ops14]
    for node in range(2, 2 + NUM_NODES):
        edges = range(NODE_OFFSETS[node - 2], NODE_OFFSETS[node - 2] + node)
        nones = [e for e in edges if cell[e] == 0]
        need = node - 2
        if len(nones) < need:
            others = [e for e in edges if cell[e] != 0]
            for e in rng.choice(others, size=need - len(nones), replace=False):
                cell[int(e)] = 0
        elif len(nones) > need:
            for e in rng.choice(nones, size=len(nones) - need, replace=False):
                cell[int(e)] = 1 + int(rng.integers(num_ops - 1))
    return cell


def sample_darts8(rng: np.random.Generator) -> Genotype:
    """SPOS uniform single-path sampling: uniform op per edge (incl. ``none``), then ``spos_repair``, per cell."""
    cells = [spos_repair(rng.integers(len(DARTS8_OPS), size=NUM_EDGES), rng) for _ in CELLS]
    return decode_genas(cells[0] + cells[1])


def sample_per_node(rng: np.random.Generator, choices: EdgeChoices | None = None) -> Genotype:
    """Per node: two distinct inputs uniformly, and a uniform op of each chosen edge (inputs listed ascending).

    ``choices`` gives each edge's non-``none`` ops (RobustDARTS's S1–S4); None = the 7 DARTS ops everywhere (darts7).
    """
    cells = []
    for cell in CELLS:
        pairs: list[Pair] = []
        for node in range(2, 2 + NUM_NODES):
            for j in sorted(int(j) for j in rng.choice(node, size=2, replace=False)):
                ops = CHOOSABLE_OPS if choices is None else choices[cell][edge_index(node, j)]
                pairs.append((ops[int(rng.integers(len(ops)))], j))
        cells.append(tuple(pairs))
    return Genotype._trusted(cells[0], FULL_CONCAT, cells[1], FULL_CONCAT)


def sample_darts7(rng: np.random.Generator) -> Genotype:
    """darts7's sampling: ``sample_per_node`` with the 7 ops on every edge."""
    return sample_per_node(rng)


def per_edge(ops: Sequence[str] | EdgeOps) -> tuple[tuple[str, ...], ...]:
    """14 per-edge op lists from either one list shared by every edge or 14 lists."""
    if all(isinstance(op, str) for op in ops):
        return (tuple(ops),) * NUM_EDGES
    if len(ops) != NUM_EDGES:
        raise ValueError(f"expected one op list or 14 per-edge op lists, got {len(ops)} lists")
    return tuple(tuple(edge) for edge in ops)


def derive_cell(weights: torch.Tensor | np.ndarray, ops: Sequence[str] | EdgeOps) -> Cell:
    """quark0 ``genotype()._parse`` on (14, K) weights: per node the top-2 edges by their best non-``none`` weight,
    then the best non-``none`` op on each; ties go to the lower input / the earlier op, as in quark0.

    ``ops`` is one list for every edge or 14 per-edge lists (RobustDARTS's S1–S4, whose ``genotype()`` applies the
    same rule per edge). An edge without ``none`` (darts7, S1, S2, S4) is ranked by its max over all its ops.
    """
    edge_ops = per_edge(ops)
    k = len(edge_ops[0])
    w = weights.detach().cpu().double().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights, float)
    if w.shape != (NUM_EDGES, k):
        raise ValueError(f"expected weights of shape (14, {k}), got {tuple(w.shape)}")
    pairs: list[Pair] = []
    for node in range(2, 2 + NUM_NODES):
        best_op, best_w = [], []
        for j in range(node):
            e = edge_index(node, j)
            allowed = [i for i, name in enumerate(edge_ops[e]) if name != "none"]
            i = allowed[int(np.argmax(w[e, allowed]))]  # argmax: ties keep the earlier op
            best_op.append(edge_ops[e][i])
            best_w.append(w[e, i])
        for j in sorted(range(node), key=lambda j: -best_w[j])[:2]:  # stable: ties keep the lower input first
            pairs.append((best_op[j], j))
    return tuple(pairs)


# ---- neighborhoods ---------------------------------------------------------------------------------------------------
def _cell_moves(pairs: Cell, choices: EdgeOps | None = None) -> Iterator[Cell]:
    """All one-move variants of one cell, in slot order: op changes first, then input moves.

    With per-edge ``choices`` an op changes only to another op of its edge, and an edge moves only to an input whose
    edge offers its op (so every move can be undone by one move).
    """
    for slot, (op, j) in enumerate(pairs):
        node = 2 + slot // 2
        other = pairs[slot ^ 1][1]
        for new_op in CHOOSABLE_OPS if choices is None else choices[edge_index(node, j)]:
            if new_op != op:
                yield (*pairs[:slot], (new_op, j), *pairs[slot + 1 :])
        for new_j in range(node):
            if new_j not in (j, other) and (choices is None or op in choices[edge_index(node, new_j)]):
                yield (*pairs[:slot], (op, new_j), *pairs[slot + 1 :])


def one_move(g: Genotype, choices: EdgeChoices | None = None) -> Iterator[Genotype]:
    """The genotypes one move away (normal-cell moves first; 120 with the DARTS ops), keeping ``g``'s listing order.

    ``choices``: per cell type and edge, the non-``none`` ops allowed there; None = the 7 DARTS ops everywhere.
    """
    normal, reduce = (None, None) if choices is None else (choices["normal"], choices["reduce"])
    for cell in _cell_moves(g.normal, normal):
        yield Genotype._trusted(cell, g.normal_concat, g.reduce, g.reduce_concat)
    for cell in _cell_moves(g.reduce, reduce):
        yield Genotype._trusted(g.normal, g.normal_concat, cell, g.reduce_concat)


def _key(g: Genotype) -> tuple:
    return (_sorted_cell(g.normal), _sorted_cell(g.reduce), frozenset(g.normal_concat), frozenset(g.reduce_concat))


def neighbors(g: Genotype, radius: int = 1, choices: EdgeChoices | None = None) -> list[Genotype]:
    """Genotypes at move distance exactly ``radius`` (breadth first, deterministic order)."""
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}")
    seen = {_key(g)}
    frontier = [g]
    for _ in range(radius):
        layer: dict[tuple, Genotype] = {}
        for a in frontier:
            for b in one_move(a, choices):
                k = _key(b)
                if k not in seen and k not in layer:
                    layer[k] = b
        seen.update(layer)
        frontier = list(layer.values())
    return frontier


def mutate(g: Genotype, rng: np.random.Generator, choices: EdgeChoices | None = None) -> Genotype:
    """A uniformly random one-move neighbor (every move gives a distinct architecture, so uniform over moves)."""
    moves = list(one_move(g, choices))
    return moves[int(rng.integers(len(moves)))]


register_arch_format(
    ArchFormat(
        SPACE,
        "a DARTS genotype",
        looks_like_genotype,
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
        "reduce_concat=[2, 3, 4, 5])",  # DARTS (2nd order), quark0's genotypes.py
    )
)
