"""The NB201 supernet's Mixture forward against a brute-force reading of each field (float64, tiny supernet).

The reference below recomputes every cell from the supernet's own op modules, written the way the published code
reads: AutoDL's GDAS cell (every op k != i contributes its bare weight), PC-DARTS's partial channels (concat, then a
channel shuffle written as an explicit permutation), edge weights scaling each edge before the node sum.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasflat.spaces.mixture import Mixture
from nasflat.spaces.nb201 import EDGES, NONE, NUM_NODES, OPS, NB201Space, SearchCell

SPACE = NB201Space()
E, K = len(EDGES), len(OPS)


def make_net(partial_channels: int = 1, aux_skip: bool = False, C: int = 8) -> torch.nn.Module:
    torch.manual_seed(0)
    return SPACE.supernet(10, C=C, N=1, aux_skip=aux_skip, partial_channels=partial_channels).double()


def shuffle_perm(c: int, groups: int) -> list[int]:
    """Output channel p reads input channel perm[p]: input g * (c / groups) + j lands at j * groups + g."""
    perm = [0] * c
    for g in range(groups):
        for j in range(c // groups):
            perm[j * groups + g] = g * (c // groups) + j
    return perm


def ref_edge(
    cell: SearchCell, e: int, x: torch.Tensor, cell_input: torch.Tensor, m: Mixture, k_pc: int
) -> torch.Tensor:
    c = x.shape[1] // k_pc
    xa, xb = x[:, :c], x[:, c:]
    w = m.weights["cell"][e]
    outs = [op(xa) for op in cell.edges[e]]  # every op, `none` included (zeros)
    if m.index is None:
        mixed = sum(w[k] * outs[k] for k in range(K))
    else:
        i = int(m.index["cell"][e])
        mixed = sum(w[k] * outs[k] if k == i else w[k] for k in range(K))
    out = torch.cat([mixed, xb], dim=1)[:, shuffle_perm(x.shape[1], k_pc)] if k_pc > 1 else mixed
    out = out + m.aux_skip * cell_input  # A²M's NB201 DARTS-: the cell input, on every edge
    return out * (m.edge_weights["cell"][e] if m.edge_weights is not None else 1.0)


def ref_forward(net: torch.nn.Module, x: torch.Tensor, m: Mixture) -> torch.Tensor:
    x = net.stem(x)
    for cell in net.cells:
        if not isinstance(cell, SearchCell):
            x = cell(x)
            continue
        nodes = [x]
        for i in range(1, NUM_NODES):
            terms = [
                ref_edge(cell, e, nodes[j], x, m, net.partial_channels) for e, (t, j) in enumerate(EDGES) if t == i
            ]
            nodes.append(sum(terms))
        x = nodes[-1]
    return net.head(x)


def mixture(seed: int, index: bool = False, edges: bool = False, aux: float = 0.0) -> Mixture:
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(E, K, generator=g, dtype=torch.float64).softmax(-1).requires_grad_()
    idx = {"cell": torch.tensor([0, 3, 1, 2, 4, 3])} if index else None  # edge 0 picks `none`
    ew = {"cell": torch.rand(E, generator=g, dtype=torch.float64) + 0.5} if edges else None
    return Mixture({"cell": w}, index=idx, edge_weights=ew, aux_skip=aux)


X = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize(
    ("pc", "index", "edges", "aux"),
    [(1, False, False, 0.0), (1, True, False, 0.0), (1, False, True, 0.0), (1, False, False, 0.3),
     (4, False, False, 0.0), (2, True, True, 0.2)],
)  # fmt: skip
def test_mixture_forward_matches_brute_force(pc: int, index: bool, edges: bool, aux: float) -> None:
    net = make_net(pc, aux_skip=bool(aux))
    m = mixture(2, index, edges, aux)
    got, want = net(X, m), ref_forward(net, X, m)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(got, make_net(pc, aux_skip=bool(aux))(X, mixture(3, index, edges, aux)))


def test_plain_mapping_is_the_weights_mixture_and_aux_kwarg_adds() -> None:
    net = make_net(aux_skip=True)
    m = mixture(4)
    torch.testing.assert_close(net(X, m.weights), net(X, m), rtol=0, atol=0)
    torch.testing.assert_close(net(X, m.weights, aux_skip=0.3), ref_forward(net, X, mixture(4, aux=0.3)))


def test_index_runs_only_the_chosen_op() -> None:
    net = make_net()
    calls: dict[tuple[int, int], int] = {}
    for cell in net.cells:
        if isinstance(cell, SearchCell):
            for e, ops in enumerate(cell.edges):
                for k, op in enumerate(ops):
                    op.register_forward_hook(lambda *_, key=(e, k): calls.__setitem__(key, calls.get(key, 0) + 1))
    m = mixture(5, index=True)
    net(X, m)
    assert calls == {(e, int(i)): 3 for e, i in enumerate(m.index["cell"]) if int(i) != NONE}  # 3 search cells


def test_gdas_straight_through_equals_single_path_and_hand_gradient() -> None:
    """One-hot straight-through weights (GDAS's hardwts): the value is the single path; d/dw is AutoDL's."""
    net = make_net()
    g = torch.Generator().manual_seed(6)
    probs = torch.rand(E, K, generator=g, dtype=torch.float64).softmax(-1).requires_grad_()
    index = torch.tensor([3, 2, 0, 1, 4, 3])
    hard = torch.nn.functional.one_hot(index, K).double() - probs.detach() + probs
    m = Mixture({"cell": hard}, index={"cell": index})
    out = net(X, m)
    torch.testing.assert_close(out, net(X, index.tolist()), rtol=1e-12, atol=1e-12)
    r = torch.randn(out.shape, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * r).sum(), probs)
    torch.testing.assert_close(grad, hand_gradient(net, index, r), rtol=1e-10, atol=1e-12)


def hand_gradient(net: torch.nn.Module, index: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """dL/dw[e, k] = sum over cells of sum(dL/dy_e * op_i(x)) for k = i, and sum(dL/dy_e) for every k != i."""
    ys, ops_out = [], []
    x = net.stem(X)
    for cell in net.cells:
        if not isinstance(cell, SearchCell):
            x = cell(x)
            continue
        nodes = [x]
        for i in range(1, NUM_NODES):
            terms = []
            for e, (t, j) in enumerate(EDGES):
                if t == i:
                    o = cell.edges[e][int(index[e])](nodes[j])
                    y = o + 0.0  # the edge output at the one-hot weights
                    y.retain_grad()
                    ys.append((e, y))
                    ops_out.append(o.detach())
                    terms.append(y)
            nodes.append(sum(terms))
        x = nodes[-1]
    (net.head(x) * r).sum().backward()
    grad = torch.zeros(E, K, dtype=torch.float64)
    for (e, y), o in zip(ys, ops_out):
        for k in range(K):
            grad[e, k] += (y.grad * o).sum() if k == int(index[e]) else y.grad.sum()
    return grad


def test_partial_channels_options_and_refusals() -> None:
    assert SPACE.incoming_edges() == {"cell": ((0,), (1, 2), (3, 4, 5))}
    net = make_net(4)
    conv = net.cells[0].edges[0][3][1]
    assert (conv.in_channels, conv.out_channels) == (2, 2)  # C=8, K=4
    with pytest.raises(ValueError, match="partial_channels=4"):
        net(X, [1, 2, 3, 4, 1, 2])
    with pytest.raises(ValueError, match="partial_channels=4"):
        net.subnet_state_dict([1, 2, 3, 4, 1, 2])
    with pytest.raises(ValueError, match="divide"):
        SPACE.supernet(10, C=6, N=1, partial_channels=4)
    with pytest.raises(ValueError, match="partial_channels"):
        SPACE.supernet(10, C=8, N=1, partial_channels=0)
    with pytest.raises(ValueError, match="aux_skip=True"):
        make_net()(X, mixture(1, aux=0.5))
    with pytest.raises(ValueError, match="index"):
        make_net()(X, Mixture(mixture(1).weights, index={"cell": torch.tensor([0, 1, 2, 3, 4, 5])}))
    with pytest.raises(ValueError, match="edge_weights"):
        make_net()(X, Mixture(mixture(1).weights, edge_weights={"cell": torch.ones(5)}))


def test_channel_shuffle_is_pc_darts_permutation() -> None:
    from nasflat.spaces.ops import channel_shuffle

    x = torch.arange(8.0).reshape(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert channel_shuffle(x, 4).flatten().tolist() == np.array(shuffle_perm(8, 4), float).tolist()
