"""Cell width and depth (Shu et al., ICLR 2020): hand examples, an independent path enumeration over all NB201
cells, and where the numbers surface (info, the report table)."""

from __future__ import annotations

import itertools

import pytest

from nasflat import report
from nasflat.info import describe
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.darts.codec import parse_genotype
from nasflat.spaces.nb201 import EDGES, NONE, NB201Space
from nasflat.spaces.topology import cell_graph, depth, width

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def test_darts_v2_by_hand():
    # normal: node 2 <- (0, 1), node 3 <- (0, 1), node 4 <- (1, 0), node 5 <- (0, 2).
    #   width: nodes 2, 3, 4 read only cell inputs (1 each); node 5 reads one input of two (1/2) -> 3.5 (c)
    #   depth: c_{k-1} -> node 2 -> node 5 -> concat output = 3 connections
    # reduce: node 2 <- (0, 1), node 3 <- (2, 1), node 4 <- (0, 2), node 5 <- (2, 1).
    #   width: 1 + 1/2 + 1/2 + 1/2 = 2.5; depth: c_{k-2} -> node 2 -> node 3 -> output = 3
    got = DartsSpace().topology(parse_genotype(DARTS_V2))
    assert got == {"width": 3.5, "depth": 3, "reduce_width": 2.5, "reduce_depth": 3}


@pytest.mark.parametrize(
    ("arch", "w", "d"),
    [
        # chain 0 -> 1 -> 2 -> 3: node 1 reads the input (1), node 2 only node 1 (0); 3 connections
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|", 1.0, 3),
        # every intermediate node reads only the input: 1 + 1; longest path 0 -> 1 -> 3
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|", 2.0, 2),
        # the CIFAR-10 optimum: node 2 reads the input and node 1 (1/2); 0 -> 1 -> 2 -> 3
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 1.5, 3),
        # output cut off from the input: nothing to measure
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|", 0.0, 0),
        # node 1 reaches nothing (dead), node 2 has no input: only the direct edge 0 -> 3 remains
        ("|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|", 0.0, 1),
        # node 1 is not reached from the input, so node 2's edge from it carries nothing: node 2 counts fully
        ("|none~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|skip_connect~1|avg_pool_3x3~2|", 1.0, 2),
    ],
)
def test_nb201_hand_examples(arch, w, d):
    assert NB201Space().topology(arch) == {"width": w, "depth": d}


def _by_paths(ops):
    """Independent NB201 reference: enumerate every input -> output path through non-none edges."""
    live = {(j, i) for (i, j), o in zip(EDGES, ops) if o != NONE}
    paths = [p for p in ([0, 3], [0, 1, 3], [0, 2, 3], [0, 1, 2, 3]) if all(e in live for e in itertools.pairwise(p))]
    on_path = {e for p in paths for e in itertools.pairwise(p)}
    w = 0.0
    for v in (1, 2):
        into = [s for s, t in on_path if t == v]
        if into:
            w += into.count(0) / len(into)
    return w, max((len(p) - 1 for p in paths), default=0)


def test_nb201_every_cell_matches_path_enumeration():
    space = NB201Space()
    for ops in itertools.product(range(5), repeat=6):
        t = space.topology(ops)
        assert (t["width"], t["depth"]) == _by_paths(ops), ops


def test_generic_graph_rejects_backward_edges():
    with pytest.raises(ValueError, match="not forward"):
        cell_graph(3, {0}, 2, [(2, 1)])
    g = cell_graph(4, {0, 1}, 3, [(0, 2), (1, 2), (2, 3)])
    assert (width(g), depth(g)) == (1.0, 2)


def test_info_and_report_show_width_and_depth():
    info = describe(NB201Space(), "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert info["topology"] == {"width": 1.0, "depth": 3}
    runs = [
        {"space": "nb201", "algo": "rs", "dataset": "cifar10", "arch_summary": {"topology": {"width": w, "depth": d}}}
        for w, d in ((1.0, 3), (2.0, 2))
    ]
    header, rows = report.table(runs)
    assert rows[0][header.index("width")] == "1.50±0.71" and rows[0][header.index("depth")] == "2.50±0.71"
