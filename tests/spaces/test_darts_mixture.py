"""DARTS supernet's Mixture forward against a brute-force computation from the ops (float64, tiny nets).

The reference walks the supernet's own modules (stem, preprocessing, each edge's op list) but none of its mixing
code: plain weights, GDAS's hard path (value and gradient by hand), edge weights, DARTS-'s auxiliary skip and
PC-DARTS's partial channels with an explicit channel permutation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.darts.codec import CELLS, NODE_OFFSETS
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.ops import channel_shuffle


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def tiny(op_set: str = "darts8", seed: int = 0, **options):
    """C=4, 3 cells (normal, reduce, reduce), eval mode with non-trivial BN statistics."""
    torch.manual_seed(seed)
    net = DartsSpace(op_set).supernet(10, C=4, layers=3, **options).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def permute_channels(z: torch.Tensor, groups: int) -> torch.Tensor:
    """Channel shuffle written as an index list: output channel j*groups + g is input channel g*(C/groups) + j."""
    per = z.shape[1] // groups
    return z[:, [g * per + j for j in range(per) for g in range(groups)]]


def ref_edge(edge, x, w, stride, *, i=None, ew=None, aux=0.0, k=1, record=None):
    """One edge by hand from its op list."""
    part = x[:, : x.shape[1] // k]
    if i is None:
        y = sum(w[q] * op(part) for q, op in enumerate(edge.ops))
    else:
        o = edge.ops[i](part)
        y = w[i] * o + sum(w[q] for q in range(len(w)) if q != i)
        if record is not None:
            y.retain_grad()
            record.append((o, y))
    if k > 1:
        rest = x[:, x.shape[1] // k :]
        rest = F.max_pool2d(rest, 2, 2) if stride == 2 else rest
        y = permute_channels(torch.cat([y, rest], 1), k)
    if aux:
        y = y + aux * edge.aux(x)
    return y if ew is None else ew * y


def ref_forward(net, x, weights, index=None, edge_weights=None, aux=0.0, k=1, record=None):
    s0 = s1 = net.stem(x)
    for cell in net.cells:
        c = "reduce" if cell.reduction else "normal"
        states = [cell.preprocess0(s0), cell.preprocess1(s1)]
        for node in range(2, 6):
            total = 0
            for j in range(node):
                e = NODE_OFFSETS[node - 2] + j
                stride = 2 if cell.reduction and j < 2 else 1
                i = None if index is None else int(index[c][e])
                ew = None if edge_weights is None else edge_weights[c][e]
                rec = None if record is None else record.setdefault(c, {}).setdefault(e, [])
                total = total + ref_edge(cell.edges[e], states[j], weights[c][e], stride, i=i, ew=ew, aux=aux, k=k,
                                         record=rec)  # fmt: skip
            states.append(total)
        s0, s1 = s1, torch.cat(states[2:], 1)
    return net.classifier(net.global_pooling(s1).flatten(1))


def rand_weights(net, seed=1, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return {
        c: torch.randn(*shape, generator=g).softmax(-1).requires_grad_(requires_grad)
        for c, shape in net.weight_shapes().items()
    }


X = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)


def test_plain_mixture_equals_ops_sum_and_dict_equals_mixture() -> None:
    net = tiny()
    w = rand_weights(net)
    with torch.no_grad():
        out = net(X, w)
        torch.testing.assert_close(out, ref_forward(net, X, w), rtol=1e-12, atol=1e-12)
        assert torch.equal(net(X, Mixture(weights=w)), out)


def test_edge_weights_scale_each_edge() -> None:
    net = tiny()
    w = rand_weights(net)
    g = torch.Generator().manual_seed(2)
    ew = {c: torch.rand(14, generator=g) + 0.5 for c in CELLS}
    with torch.no_grad():
        out = net(X, Mixture(weights=w, edge_weights=ew))
        torch.testing.assert_close(out, ref_forward(net, X, w, edge_weights=ew), rtol=1e-12, atol=1e-12)
        assert not torch.allclose(out, net(X, w))  # the edge weights matter


def test_aux_skip_from_mixture_or_argument() -> None:
    net = tiny(aux_skip=True)
    w = rand_weights(net)
    ew = {c: torch.linspace(0.5, 1.5, 14) for c in CELLS}
    with torch.no_grad():
        out = net(X, Mixture(weights=w, edge_weights=ew, aux_skip=0.3))
        torch.testing.assert_close(out, ref_forward(net, X, w, edge_weights=ew, aux=0.3), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(net(X, w, aux_skip=0.3), ref_forward(net, X, w, aux=0.3), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="aux_skip=True"):
        tiny()(X, Mixture(weights=w, aux_skip=0.3))


def straight_through(net, seed=3):
    """GDAS's hard one-hot with the softmax's gradient, and its argmax."""
    g = torch.Generator().manual_seed(seed)
    alphas = {c: torch.randn(*s, generator=g).requires_grad_(True) for c, s in net.weight_shapes().items()}
    soft = {c: a.softmax(-1) for c, a in alphas.items()}
    index = {c: p.argmax(-1) for c, p in soft.items()}
    hard = {c: F.one_hot(index[c], p.shape[1]).to(p.dtype) - p.detach() + p for c, p in soft.items()}
    return alphas, hard, index


def test_index_hard_path_value_and_weight_gradient_by_hand() -> None:
    net = tiny()
    alphas, hard, index = straight_through(net)
    w = {c: v.detach().requires_grad_(True) for c, v in hard.items()}  # differentiate w.r.t. the weights
    out = net(X, Mixture(weights=w, index=index))
    # value: only op i runs, and the other weights are 0 in value -> the one-hot plain mixture
    with torch.no_grad():
        one_hot = {c: F.one_hot(index[c], w[c].shape[1]).double() for c in CELLS}
        torch.testing.assert_close(out, net(X, one_hot), rtol=1e-10, atol=1e-12)
    # gradient: d/dw[e, i] = sum over cells of <dL/dy, op_i(x)>; d/dw[e, k != i] = sum over cells of sum(dL/dy)
    v = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    (out * v).sum().backward()
    ref_w = {c: t.detach().clone().requires_grad_(True) for c, t in w.items()}
    record: dict = {}
    ref_out = ref_forward(net, X, ref_w, index=index, record=record)
    torch.testing.assert_close(ref_out, out.detach(), rtol=1e-12, atol=1e-12)
    (ref_out * v).sum().backward()
    for c in CELLS:
        expected = torch.zeros_like(w[c])
        for e, pairs in record[c].items():
            i = int(index[c][e])
            for o, y in pairs:
                expected[e] += y.grad.sum()
                expected[e, i] += (y.grad * o).sum() - y.grad.sum()
        torch.testing.assert_close(w[c].grad, expected, rtol=1e-9, atol=1e-12)
        unchosen = F.one_hot(index[c], w[c].shape[1]) == 0
        assert (w[c].grad[unchosen] != 0).all()  # the unchosen weights get GDAS's gradient too
    # and through the straight-through weights the α gradient flows
    net(X, Mixture(weights=hard, index=index)).sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())


def test_index_validation() -> None:
    net = tiny()
    w = rand_weights(net)
    bad = {c: torch.full((14,), 8) for c in CELLS}
    with pytest.raises(ValueError, match=r"op indices in 0\.\.7"):
        net(X, Mixture(weights=w, index=bad))
    with pytest.raises(ValueError, match="integer tensor"):
        net(X, Mixture(weights=w, index={c: torch.zeros(14) for c in CELLS}))
    with pytest.raises(ValueError, match="lacks"):
        net(X, Mixture(weights=w, edge_weights={"normal": torch.ones(14)}))


@pytest.mark.parametrize("k", [2, 4])
def test_partial_channels_split_pool_concat_shuffle(k: int) -> None:
    net = tiny(partial_channels=k)
    assert net.cells[0].edges[0].ops[4][0][1].in_channels == 4 // k  # sep_conv built for C/K channels
    w = rand_weights(net)
    ew = {c: torch.linspace(0.2, 1.0, 14) for c in CELLS}
    with torch.no_grad():
        out = net(X, w)
        torch.testing.assert_close(out, ref_forward(net, X, w, k=k), rtol=1e-12, atol=1e-12)
        out = net(X, Mixture(weights=w, edge_weights=ew))
        torch.testing.assert_close(out, ref_forward(net, X, w, edge_weights=ew, k=k), rtol=1e-12, atol=1e-12)
        _, hard, index = straight_through(net)
        out = net(X, Mixture(weights=hard, index=index))
        torch.testing.assert_close(out, ref_forward(net, X, hard, index=index, k=k), rtol=1e-12, atol=1e-12)


def test_channel_shuffle_is_pc_darts_permutation() -> None:
    z = torch.arange(2 * 8 * 2 * 2, dtype=torch.float64).reshape(2, 8, 2, 2)
    assert torch.equal(channel_shuffle(z, 4), permute_channels(z, 4))
    assert channel_shuffle(z, 4)[0, :, 0, 0].tolist() == [0, 8, 16, 24, 4, 12, 20, 28]  # channels 0,2,4,6,1,3,5,7


def test_partial_channels_refuses_single_path_and_bad_k() -> None:
    space = DartsSpace("darts8")
    net = tiny(partial_channels=2)
    with pytest.raises(ValueError, match="partial_channels=2 runs mixtures only"):
        net(X, space.sample(np.random.default_rng(0)))
    with pytest.raises(ValueError, match="must divide the supernet width C=4"):
        space.supernet(10, C=4, layers=3, partial_channels=3)
    with pytest.raises(ValueError, match="integer >= 1"):
        space.supernet(10, C=4, layers=3, partial_channels=0)


def test_incoming_edges() -> None:
    inc = DartsSpace().incoming_edges()
    expected = ((0, 1), (2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12, 13))
    assert inc == {"normal": expected, "reduce": expected}
