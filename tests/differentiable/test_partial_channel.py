"""PC-DARTS's relaxation: edge normalization, the genotype rule and the partial-channel supernet (float64)."""

from __future__ import annotations

from importlib import resources

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import tiny_relaxed_supernet
from nasflat.algorithms.differentiable.relaxations.partial_channel import PartialChannel, edge_softmax
from nasflat.spaces.mixture import Mixture

DARTS_INCOMING = ((0, 1), (2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12, 13))
NB201_INCOMING = ((0,), (1, 2), (3, 4, 5))


CONFIG = resources.files("nasflat.conf") / "algo" / "relaxation" / "partial_channel.yaml"


class _Space:
    """The two methods a relaxation reads, with the DARTS / NB201 cell structure."""

    def __init__(self, shapes: dict[str, tuple[int, int]], incoming: tuple[tuple[int, ...], ...]) -> None:
        self.shapes, self.incoming = shapes, incoming

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        return dict(self.shapes)

    def incoming_edges(self) -> dict[str, tuple[tuple[int, ...], ...]]:
        return {c: self.incoming for c in self.shapes}


DARTS = _Space({"normal": (14, 8), "reduce": (14, 8)}, DARTS_INCOMING)
NB201 = _Space({"cell": (6, 5)}, NB201_INCOMING)


def _alphas(relax: PartialChannel, seed: int = 0, scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {n: scale * torch.randn(s, generator=g, dtype=torch.float64) for n, s in relax.arch_shapes().items()}


def _official_pc_darts_edges(beta: torch.Tensor) -> torch.Tensor:
    """PC-DARTS's model_search.py construction: softmax(β[0:2]), then slices of 3, 4, 5 edges."""
    parts, start, n = [beta[0:2].softmax(-1)], 2, 3
    for _ in range(3):
        parts.append(beta[start : start + n].softmax(-1))
        start, n = start + n, n + 1
    return torch.cat(parts)


def test_arch_shapes_add_one_edge_logit_per_edge_and_cell() -> None:
    relax = PartialChannel().bind(DARTS)
    assert relax.arch_shapes() == {"normal": (14, 8), "reduce": (14, 8), "normal_edges": (14,), "reduce_edges": (14,)}
    assert relax.supernet_options() == {"partial_channels": 4}
    plain = PartialChannel(partial_channels=2, edge_normalization=False).bind(DARTS)
    assert plain.arch_shapes() == {"normal": (14, 8), "reduce": (14, 8)}
    assert plain.supernet_options() == {"partial_channels": 2}


def test_edge_softmax_equals_official_construction() -> None:
    beta = torch.randn(14, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(edge_softmax(beta, DARTS_INCOMING), _official_pc_darts_edges(beta), rtol=0, atol=1e-15)
    # the grouping need not be contiguous: a permuted grouping gives the permuted softmaxes
    w = edge_softmax(beta, ((1, 0), (4, 2, 3), (8, 5, 6, 7), (13, 9, 10, 11, 12)))
    torch.testing.assert_close(w, _official_pc_darts_edges(beta), rtol=0, atol=1e-15)


def test_nb201_single_input_node_has_weight_one_and_no_gradient() -> None:
    beta = torch.tensor([0.3, -1.0, 2.0, 0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    w = edge_softmax(beta, NB201_INCOMING)
    assert w[0].item() == 1.0
    torch.testing.assert_close(w[1:3], beta[1:3].softmax(-1))
    torch.testing.assert_close(w[3:], beta[3:].softmax(-1))
    (w * torch.arange(6.0, dtype=torch.float64)).sum().backward()
    assert beta.grad[0].item() == 0.0 and beta.grad[1:].abs().min() > 0


def test_edge_softmax_refuses_an_incomplete_grouping() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        edge_softmax(torch.zeros(6), ((0,), (1, 2), (3, 4)))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_partial_channels_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="partial_channels"):
        PartialChannel(partial_channels=bad)  # type: ignore[arg-type]


def test_mixture_is_softmax_ops_and_normalised_edges() -> None:
    relax = PartialChannel().bind(DARTS)
    a = _alphas(relax)
    m = relax.mixture(a)
    assert m.index is None and m.aux_skip == 0.0
    for c in ("normal", "reduce"):
        torch.testing.assert_close(m.weights[c], a[c].softmax(-1), rtol=0, atol=0)
        torch.testing.assert_close(m.edge_weights[c], _official_pc_darts_edges(a[f"{c}_edges"]), rtol=0, atol=1e-15)
    halved = relax.mixture(a, transform=lambda p: p / 2)
    torch.testing.assert_close(halved.weights["normal"], a["normal"].softmax(-1) / 2)
    assert PartialChannel(edge_normalization=False).bind(DARTS).mixture(a).edge_weights is None


def test_derive_weights_follow_pc_darts_genotype_rule() -> None:
    """derive_weights = softmax(α) * normalised β, so edge ranking uses β (PC-DARTS's _parse)."""
    relax = PartialChannel().bind(DARTS)
    a = _alphas(relax, seed=3, scale=2.0)
    d = relax.derive_weights(a)
    for c in ("normal", "reduce"):
        expected = a[c].softmax(-1) * _official_pc_darts_edges(a[f"{c}_edges"]).unsqueeze(-1)
        torch.testing.assert_close(d[c], expected, rtol=0, atol=1e-15)
        assert not d[c].requires_grad
    # a large β on one input makes it win the node even though its ops are uniform
    a["normal"] = torch.zeros(14, 8, dtype=torch.float64)
    a["normal"][1, 3] = 1.0  # edge 1 (node 2 <- input 1) has a clear best op
    a["normal_edges"] = torch.zeros(14, dtype=torch.float64)
    a["normal_edges"][0] = 5.0  # but node 2's β strongly prefers edge 0
    w = relax.derive_weights(a)["normal"]
    assert w[0].max() > w[1].max()


def test_darts_space_derivation_matches_official_parse() -> None:
    from nasflat.spaces.darts import DartsSpace

    space = DartsSpace()
    relax = PartialChannel().bind(space)
    a = _alphas(relax, seed=5, scale=3.0)
    ops = space.ops
    none = ops.index("none")

    def official_parse(w: torch.Tensor) -> tuple[tuple[str, int], ...]:
        gene, start = [], 0
        for i in range(4):
            rows = w[start : start + i + 2]
            best = [max(rows[j][k] for k in range(len(ops)) if k != none) for j in range(i + 2)]
            for j in sorted(range(i + 2), key=lambda x: -best[x])[:2]:
                k_best = max((k for k in range(len(ops)) if k != none), key=lambda k: rows[j][k])
                gene.append((ops[k_best], j))
            start += i + 2
        return tuple(gene)

    genotype = space.derive(relax.derive_weights(a))
    for c in ("normal", "reduce"):
        weighted = a[c].softmax(-1) * _official_pc_darts_edges(a[f"{c}_edges"]).unsqueeze(-1)
        assert tuple(genotype.cell(c)) == official_parse(weighted)


def _tiny_supernet(space_name: str, relax: PartialChannel) -> tuple[torch.nn.Module, object]:
    return tiny_relaxed_supernet(space_name, relax)


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_supernet_forward_scales_each_edge_by_its_weight(space_name: str) -> None:
    """Full channels: β_e * Σ_k w_ek op_k(x) equals the plain mixture with weights β_e * w_ek (float64)."""
    torch.manual_seed(0)
    relax = PartialChannel(partial_channels=1)
    net, _ = _tiny_supernet(space_name, relax)
    a = _alphas(relax, seed=7)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    m = relax.mixture(a)
    scaled = Mixture(weights={c: m.weights[c] * m.edge_weights[c].unsqueeze(-1) for c in relax.cells})
    with torch.no_grad():
        out = net(x, m)
        ref = net(x, scaled)
        unscaled = net(x, Mixture(weights=m.weights))
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    assert (out - unscaled).abs().max() > 1e-6  # the edge weights do change the output


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_alpha_and_beta_gradients_match_the_official_formula_on_a_pc_supernet(space_name: str) -> None:
    """K = 4: ∂L/∂(α, β) through the relaxation equal autograd through softmax(α) and PC-DARTS's β softmaxes."""
    torch.manual_seed(0)
    relax = PartialChannel()
    net, _ = _tiny_supernet(space_name, relax)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    a = {n: t.requires_grad_() for n, t in _alphas(relax, seed=9).items()}
    grads = torch.autograd.grad(net(x, relax.mixture(a)).pow(2).sum(), list(a.values()))
    b = {n: t.detach().clone().requires_grad_() for n, t in a.items()}
    ref_mixture = Mixture(
        weights={c: b[c].softmax(-1) for c in relax.cells},
        edge_weights={c: _official_edges(b[f"{c}_edges"]) for c in relax.cells},
    )
    ref = torch.autograd.grad(net(x, ref_mixture).pow(2).sum(), list(b.values()))
    for n, g, r in zip(a, grads, ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-14)
        moving = g[1:] if n == "cell_edges" else g  # NB201 node 1 has one input: its β has no gradient
        assert moving.abs().min() > 0
    if space_name == "nb201":
        assert grads[list(a).index("cell_edges")][0] == 0


def _official_edges(beta: torch.Tensor) -> torch.Tensor:
    """PC-DARTS's construction on the DARTS cell; on NB201 the same per-node softmax over (0,), (1, 2), (3, 4, 5)."""
    if beta.shape[0] == 14:
        return _official_pc_darts_edges(beta)
    return torch.cat([beta[0:1].softmax(-1), beta[1:3].softmax(-1), beta[3:6].softmax(-1)])


def test_config_builds_the_official_defaults() -> None:
    relax = instantiate(OmegaConf.load(str(CONFIG)))
    assert isinstance(relax, PartialChannel)
    assert relax.describe() == {"name": "partial_channel", "partial_channels": 4, "edge_normalization": True}


def test_stub_structure_is_the_spaces_incoming_edges() -> None:
    from nasflat.spaces.darts import DartsSpace
    from nasflat.spaces.nb201 import NB201Space

    assert NB201Space().incoming_edges() == NB201.incoming_edges()
    assert DartsSpace().incoming_edges() == DARTS.incoming_edges()
