"""The NB201 search cell's grouped kernel: the ops of all edges leaving one node run as a few large kernels.

The per-op cell (``SearchCell.mix``) runs 4 ops and 4 scaled adds per edge, 24 of each per cell; at small widths
(C=8) the per-kernel overhead, not the arithmetic, sets the speed. Edges that share a source node share their input,
so per source node this kernel runs one ReLU, one 1x1 and one 3x3 convolution whose output channels are every
edge's kernels, one batch norm per conv (BN is per channel, so this is exactly the per-edge BNs; the mixture weights
fold into its scale) and one average pool (a depthwise box sum); on CPU in channels-last memory, each node then sums
its edges' terms by scalar multiply-adds, elsewhere a group's edges are weighted in a few 5-D broadcasts. The
parameters stay the per-edge modules' (concatenated at forward time), so state_dicts,
checkpoints, single-path forwards and weight inheritance are unchanged. docs/methods.md#the-nb201-grouped-kernel
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from nasflat.spaces.nb201.codec import CONV1, CONV3, EDGES, NUM_NODES, POOL, SKIP

# per source node j: the edges leaving it, in edge order (each goes to a different target node)
GROUPS: tuple[tuple[int, ...], ...] = tuple(
    tuple(e for e, (_, s) in enumerate(EDGES) if s == j) for j in range(NUM_NODES - 1)
)
CONVS = (CONV1, CONV3)


@dataclass
class GroupWeights:
    """One source node's mixture, shared by every cell of a forward (edge weights and DARTS-'s skip folded in)."""

    conv: dict[int, torch.Tensor]  # op (CONV1, CONV3) -> (k,) weights of the group's edges
    skip: torch.Tensor  # (1, k, 1, 1, 1): skip weight (+ DARTS-'s skip on the cell input's own edges)
    pool: torch.Tensor  # (1, k, 1, 1, 1)
    aux: torch.Tensor | None  # (1, k, 1, 1, 1): DARTS-'s skip of the cell input, on edges from other nodes
    cache: dict[tuple[str, int, int], torch.Tensor] = field(default_factory=dict)

    def channel_scale(self, op: int, c: int) -> torch.Tensor:
        """(k C,): the weight of each output channel of the group's ``op`` conv (cached per width)."""
        key = ("conv", op, c)
        if key not in self.cache:
            self.cache[key] = self.conv[op].repeat_interleave(c)
        return self.cache[key]

    def pool_scale(self, h: int, w: int) -> torch.Tensor:
        """(1, k, 1, h, w): the pool weight over each pixel's window size (padding not counted)."""
        key = ("pool", h, w)
        if key not in self.cache:
            self.cache[key] = self.pool / _window_sizes(h, w, self.pool.dtype, self.pool.device)
        return self.cache[key]


@functools.cache
def _window_sizes(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(h, w): how many pixels of a 3x3 window (padding 1) lie inside an h x w image."""
    rows, cols = ((torch.arange(n) + 1).clamp(max=n - 1) - (torch.arange(n) - 1).clamp(min=0) + 1 for n in (h, w))
    return (rows[:, None] * cols[None, :]).to(dtype=dtype, device=device)


def _channels_last_pool(x: torch.Tensor) -> torch.Tensor:
    """avg_pool_3x3 (padding not counted) of a channels-last ``x``: avg_pool2d from 16 channels on, where it
    vectorises over the channels; below, the box sum over the window sizes, twice as fast at C=8."""
    if x.shape[1] >= 16:
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return _box_sum(x) / _channels_last_window_sizes(*x.shape[1:], x.dtype, x.device)


@functools.cache
def _channels_last_window_sizes(c: int, h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(1, c, h, w) channels-last: the window sizes repeated per channel, as dividing by an (h, w) broadcast does not
    vectorise with channels innermost (about 5x slower at C=8)."""
    return _window_sizes(h, w, dtype, device).expand(1, c, h, w).contiguous(memory_format=torch.channels_last)


def group_weights(weights: torch.Tensor, edge: torch.Tensor | None, aux_skip: float) -> list[GroupWeights]:
    """Split a (6, 5) mixture into per-source groups; edge weights scale whole edges, so they fold into the ops'."""
    aux = weights.new_full((len(EDGES),), aux_skip) if aux_skip else None
    if edge is not None:
        weights = weights * edge[:, None]
        aux = None if aux is None else aux * edge
    out = []
    for j, ids in enumerate(GROUPS):
        w = weights[list(ids)]
        a = None if aux is None else aux[list(ids)].view(1, -1, 1, 1, 1)
        skip = w[:, SKIP].view(1, -1, 1, 1, 1)
        if j == 0 and a is not None:  # on edges leaving the cell input, DARTS-'s skip adds to the skip op's weight
            skip, a = skip + a, None
        out.append(GroupWeights({op: w[:, op] for op in CONVS}, skip, w[:, POOL].view(1, -1, 1, 1, 1), a))
    return out


def supported(edges: nn.ModuleList) -> bool:
    """Whether the grouped kernel computes exactly what the cell's modules would: every BN a plain BatchNorm2d (not
    a cross-rank one) with one momentum and eps, and no forward hooks on the op modules (the grouped kernel does
    not call them, so hooks that count or record would see nothing)."""
    bns = [edges[e][op][2] for e in range(len(EDGES)) for op in CONVS]
    first = bns[0]
    plain = all(type(b) is nn.BatchNorm2d and (b.momentum, b.eps) == (first.momentum, first.eps) for b in bns)
    return plain and not any(m._forward_hooks or m._forward_pre_hooks for m in edges.modules())


def grouped_mix(
    edges: nn.ModuleList, x: torch.Tensor, groups: list[GroupWeights], channels_last: bool | None = None
) -> torch.Tensor:
    """The relaxed cell from its ``edges[e][k]`` modules: node i = sum of its incoming edges' outputs.

    ``channels_last`` (default: on CPU) runs the cell in channels-last memory, where oneDNN's 1x1 convs and BNs are
    several times faster at 8-32 channels, and sums each node from per-edge scalar multiply-adds (a 5-D broadcast
    over a group's edges reduces over a strided axis there, which cost more than the convs saved); otherwise (CUDA,
    unchanged) each group's edges are mixed in three 5-D broadcasts, fewer kernel launches.
    """
    if channels_last is None:
        channels_last = x.device.type == "cpu"
    if channels_last:
        return _mix_by_node(edges, x.contiguous(memory_format=torch.channels_last), groups)
    nodes: dict[int, torch.Tensor] = {0: x}
    for j, (ids, w) in enumerate(zip(GROUPS, groups)):
        ys = _group(edges, ids, nodes[j], x, w).unbind(1)  # edge ids[i]'s output is ys[i]
        for e, y in zip(ids, ys):
            t = EDGES[e][0]
            nodes[t] = y if t not in nodes else nodes[t] + y
    return nodes[NUM_NODES - 1]


def _mix_by_node(edges: nn.ModuleList, x: torch.Tensor, groups: list[GroupWeights]) -> torch.Tensor:
    """:func:`grouped_mix` by node: each node sums its edges' conv outputs (channel slices of their group's summed
    BNs) and scalar multiply-adds of their skips, pools and DARTS-'s auxiliary skips, once all its sources are done."""
    terms: dict[int, list[tuple[torch.Tensor | None, torch.Tensor]]] = {t: [] for t in range(1, NUM_NODES)}
    node = x
    for j, (ids, w) in enumerate(zip(GROUPS, groups)):
        if j:
            node = _weighted_sum(terms.pop(j))
        convs = _group_convs(edges, ids, node, w).split(node.shape[1], dim=1)
        pool = _channels_last_pool(node)
        skip, pool_w = w.skip.view(-1).unbind(0), w.pool.view(-1).unbind(0)
        aux = None if w.aux is None else w.aux.view(-1).unbind(0)
        for i, e in enumerate(ids):
            terms[EDGES[e][0]] += [(None, convs[i]), (skip[i], node), (pool_w[i], pool)]
            if aux is not None:
                terms[EDGES[e][0]].append((aux[i], x))
    return _weighted_sum(terms[NUM_NODES - 1])


def _weighted_sum(terms: list[tuple[torch.Tensor | None, torch.Tensor]]) -> torch.Tensor:
    """The sum of ``w * t`` over ``terms`` (``w`` None: 1; the first term unweighted, at least two terms); in place
    after the first add, which leaves the BN output the first term is a slice of untouched."""
    w, t = terms[1]
    out = terms[0][1] + t if w is None else torch.addcmul(terms[0][1], w, t)
    for w, t in terms[2:]:
        out = out.add_(t) if w is None else out.addcmul_(w, t)
    return out


def _group(
    edges: nn.ModuleList, ids: tuple[int, ...], x: torch.Tensor, cell_input: torch.Tensor, w: GroupWeights
) -> torch.Tensor:
    """All ops of the edges ``ids`` (sharing input ``x``), weighted: (B, k, C, H, W)."""
    b, c, h, wd = x.shape
    out = _group_convs(edges, ids, x, w).view(b, len(ids), c, h, wd)
    out = torch.addcmul(out, w.skip, x.unsqueeze(1))
    out = torch.addcmul(out, w.pool_scale(h, wd), _box_sum(x).unsqueeze(1))
    if w.aux is not None:
        out = torch.addcmul(out, w.aux, cell_input.unsqueeze(1))
    return out


def _group_convs(edges: nn.ModuleList, ids: tuple[int, ...], x: torch.Tensor, w: GroupWeights) -> torch.Tensor:
    """The weighted 1x1 and 3x3 ReLUConvBN ops of the edges ``ids`` on ``x``, summed per edge: (B, k C, H, W)
    (the sum in place: BN's backward needs its input, not its output)."""
    r = F.relu(x)
    z1, z3 = (_conv_bn([edges[e][op] for e in ids], r, w.channel_scale(op, x.shape[1])) for op in CONVS)
    return z3.add_(z1)


def _box_sum(x: torch.Tensor) -> torch.Tensor:
    """3x3 window sums (zero padding): avg_pool_3x3 times each pixel's window size. A depthwise conv is several times
    faster on CPU than avg_pool2d(count_include_pad=False), the per-op cell's largest cost at C=8."""
    return F.conv2d(x, x.new_ones(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])


def _conv_bn(ops: list[nn.Module], r: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The ReLUConvBN modules ``ops`` on the ReLU'd input ``r`` as one conv and one BN (affine scaled by the
    mixture weights ``scale``): (B, k C, H, W)."""
    convs, bns = [m[1] for m in ops], [m[2] for m in ops]
    weight = torch.cat([conv.weight for conv in convs])
    bias = None if convs[0].bias is None else torch.cat([conv.bias for conv in convs])
    z = F.conv2d(r, weight, bias, padding=convs[0].padding)
    if bns[0].affine:
        gamma, beta = torch.cat([bn.weight for bn in bns]) * scale, torch.cat([bn.bias for bn in bns]) * scale
    else:
        gamma, beta = scale, None
    return _batch_norm(bns, z, gamma, beta)


def _batch_norm(
    bns: list[nn.BatchNorm2d], z: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor | None
) -> torch.Tensor:
    """The BNs ``bns`` on their channel blocks of ``z`` as ``nn.BatchNorm2d.forward`` computes them, with the given
    affine; updated running statistics are written back to each module's buffers."""
    first = bns[0]
    tracked = first.track_running_stats and first.running_mean is not None
    update = first.training and tracked
    mean = torch.cat([bn.running_mean for bn in bns]) if tracked else None
    var = torch.cat([bn.running_var for bn in bns]) if tracked else None
    factor = 0.0 if first.momentum is None else first.momentum
    if update:
        torch._foreach_add_([bn.num_batches_tracked for bn in bns], 1)
        if first.momentum is None:  # cumulative moving average, as nn.BatchNorm2d
            factor = 1.0 / float(first.num_batches_tracked)
    out = F.batch_norm(z, mean, var, gamma, beta, first.training or not tracked, factor, first.eps)
    if update:
        with torch.no_grad():
            c = first.num_features
            torch._foreach_copy_([bn.running_mean for bn in bns], list(mean.split(c)))
            torch._foreach_copy_([bn.running_var for bn in bns], list(var.split(c)))
    return out
