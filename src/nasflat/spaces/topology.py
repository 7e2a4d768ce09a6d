"""Cell width and depth as defined by Shu, Wang & Cai (ICLR 2020), for any cell written as a small DAG.

Shu et al., "Understanding Architectures Learnt by Cell-based Neural Architecture Search" (ICLR 2020): the *depth*
of a cell is the number of connections along the longest path from the input nodes to the output node; its
*width* is the total width of the intermediate nodes connected to the input nodes, where a node that is only
partially connected to the inputs (it also reads other intermediate nodes) counts by the fraction of its input
connections that come from the input nodes. Widths are in units of the node width c (every node of a DARTS or NB201
cell has the same channel count), so DARTS_V2's normal cell has width 3.5 (3.5c) and depth 3.

Before measuring, edges whose op is ``none`` are dropped and so are nodes that lie on no input->output path (they
cannot change the cell's output); a cell whose output is cut off from its inputs has width 0 and depth 0.
docs/analysis.md#cell-topology-width-and-depth
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CellGraph:
    """Nodes ``0..num_nodes-1`` in topological order; ``edges`` are (source, target) pairs with source < target."""

    num_nodes: int
    inputs: frozenset[int]
    output: int
    edges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        for s, t in self.edges:
            if not 0 <= s < t < self.num_nodes:
                raise ValueError(f"edge {s}->{t} is not forward in a {self.num_nodes}-node cell")


def cell_graph(num_nodes: int, inputs: Iterable[int], output: int, edges: Iterable[tuple[int, int]]) -> CellGraph:
    return CellGraph(num_nodes, frozenset(inputs), output, tuple(edges))


def _live_edges(g: CellGraph) -> list[tuple[int, int]]:
    """Edges on some input->output path: both ends reachable from an input and reaching the output."""
    reach = set(g.inputs)
    for s, t in sorted(g.edges, key=lambda e: e[1]):  # sources come before targets in topological order
        if s in reach:
            reach.add(t)
    back = {g.output}
    for s, t in sorted(g.edges, key=lambda e: -e[0]):
        if t in back:
            back.add(s)
    return [(s, t) for s, t in g.edges if s in reach and t in back and s in back]


def depth(g: CellGraph) -> int:
    """Connections on the longest input->output path (0 when the output is cut off)."""
    longest: dict[int, int] = {i: 0 for i in g.inputs}
    for s, t in sorted(_live_edges(g), key=lambda e: e[1]):
        if s in longest:
            longest[t] = max(longest.get(t, 0), longest[s] + 1)
    return longest.get(g.output, 0)


def width(g: CellGraph) -> float:
    """Sum over live intermediate nodes of (input connections from input nodes) / (all input connections)."""
    total = 0.0
    live = _live_edges(g)
    for v in range(g.num_nodes):
        if v in g.inputs or v == g.output:
            continue
        into = [s for s, t in live if t == v]
        if into:
            total += sum(s in g.inputs for s in into) / len(into)
    return total


def topology(g: CellGraph) -> dict[str, float | int]:
    return {"width": width(g), "depth": depth(g)}


def nb201_graph(ops: Sequence[int], edges: Sequence[tuple[int, int]], none: int = 0) -> CellGraph:
    """NB201: node 0 is the input, node 3 the output (a sum, so it is not an intermediate node); ``edges`` are
    (target, source) pairs in the benchmark's order and ``none`` edges are absent."""
    return cell_graph(4, {0}, 3, [(j, i) for (i, j), o in zip(edges, ops) if o != none])


def darts_graph(pairs: Sequence[tuple[str, int]], concat: Iterable[int]) -> CellGraph:
    """DARTS: nodes 0/1 are c_{k-2}/c_{k-1}, node 2+n the n-th intermediate node (2 inputs each), and a virtual
    output node (the channel concat) reads every node in ``concat``: its connections count in the depth, as in
    Shu et al.'s Figure 1 (DARTS_V2 normal: c_{k-1} -> node 2 -> node 5 -> output = 3)."""
    steps = len(pairs) // 2
    out = 2 + steps
    edges = [(j, 2 + k // 2) for k, (op, j) in enumerate(pairs) if op != "none"]
    edges += [(n, out) for n in concat]
    return cell_graph(out + 1, {0, 1}, out, edges)
