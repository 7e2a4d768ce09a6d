"""DARTS-PT's perturbation-based selection: schedule, decisions and the projected mixture (float64)."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers import nasflat, results_of
from nasflat.algorithms.differentiable.darts_pt import (
    Projection,
    choose_inputs,
    choose_op,
    pick,
    schedule,
    without_edge,
    without_op,
)
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.mixture import Mixture
from nasflat.spaces.nb201 import NB201Space

NB201_INCOMING = ((0,), (1, 2), (3, 4, 5))
DARTS_INCOMING = ((0, 1), (2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12, 13))


def test_schedule_matches_darts_pt_scripts() -> None:
    # NB201: tune_epochs = 5 * (6 - 1) = 25, rounds at e % 5 == 0 or e == 24
    assert schedule(6, 5, 0) == [0, 5, 10, 15, 20, 24]
    # DARTS space: 14 op rounds + 3 topology rounds, tune_epochs = 5 * 16 + 1 = 81, rounds at e % 5 == 0
    assert schedule(17, 5, 1) == list(range(0, 81, 5))
    # the last round keeps its own epoch where the official NB201 formula would merge it (proj_intv = 1)
    assert schedule(6, 1, 0) == [0, 1, 2, 3, 4, 5]
    assert schedule(1, 5, 0) == [0]
    with pytest.raises(ValueError, match="proj_intv"):
        schedule(6, 0, 0)


def test_pick_follows_darts_pt_comparisons() -> None:
    # op choice: the first lowest accuracy / the first highest loss
    assert pick([0.5, 0.2, 0.2, 0.9], "acc", worst=True) == 1
    assert pick([1.0, 3.0, 3.0, 0.1], "loss", worst=True) == 1
    # edge to drop: the last highest accuracy / the last lowest loss (darts-pt updates on ties)
    assert pick([0.5, 0.9, 0.9, 0.1], "acc", worst=False) == 2
    assert pick([1.0, 0.2, 0.2, 3.0], "loss", worst=False) == 2


def _linear_evaluate(values: dict[str, torch.Tensor], calls: list[Mixture]):
    """acc = Σ edge_weight_e · Σ_k w[e, k] · value[e, k] (a supernet whose accuracy is linear in the mixture)."""

    def evaluate(m: Mixture) -> tuple[float, float]:
        calls.append(m)
        acc = 0.0
        for c, w in m.weights.items():
            ew = m.edge_weights[c] if m.edge_weights is not None else torch.ones(w.shape[0], dtype=w.dtype)
            acc += float((ew[:, None] * w * values[c]).sum())
        return acc, -acc

    return evaluate


def test_choose_op_removes_one_weight_and_keeps_the_most_needed_op() -> None:
    w = torch.full((6, 5), 0.2, dtype=torch.float64)
    values = torch.zeros(6, 5, dtype=torch.float64)
    values[2] = torch.tensor([0.0, 3.0, 1.0, 5.0, 2.0], dtype=torch.float64)
    calls: list[Mixture] = []
    op, scores = choose_op(_linear_evaluate({"cell": values}, calls), Mixture({"cell": w}), "cell", 2, "acc")
    assert op == 3  # removing op 3 costs 0.2 * 5, the most
    total = float((w * values).sum())
    assert scores == pytest.approx([total - 0.2 * v for v in values[2].tolist()])
    for k, m in enumerate(calls):  # only w[2, k] changed, no renormalisation
        expected = w.clone()
        expected[2, k] = 0.0
        assert torch.equal(m.weights["cell"], expected)
    op_loss, _ = choose_op(_linear_evaluate({"cell": values}, []), Mixture({"cell": w}), "cell", 2, "loss")
    assert op_loss == 3


def test_choose_inputs_drops_the_least_needed_edges_one_at_a_time() -> None:
    w = torch.full((14, 8), 1 / 8, dtype=torch.float64)
    values = torch.zeros(14, 8, dtype=torch.float64)
    for e, v in zip((9, 10, 11, 12, 13), (4.0, 1.0, 5.0, 2.0, 3.0)):
        values[e] = v
    calls: list[Mixture] = []
    evaluate = _linear_evaluate({"normal": values, "reduce": values}, calls)
    mixture = Mixture({"normal": w, "reduce": w})
    kept, rounds = choose_inputs(evaluate, mixture, "normal", DARTS_INCOMING[3], 2, "acc")
    assert kept == [9, 11]  # the two edges carrying the most accuracy
    assert [len(r) for r in rounds] == [5, 4, 3] and len(calls) == 12
    for m in calls:  # each evaluation removes exactly one edge of the normal cell through its edge weight
        ew = m.edge_weights["normal"]
        assert int((ew == 0).sum()) == 1 and torch.equal(m.edge_weights["reduce"], torch.ones(14, dtype=w.dtype))
        assert torch.equal(m.weights["normal"], w)


def test_projection_apply_fixes_ops_sets_the_hard_index_and_drops_edges() -> None:
    shapes = {"normal": (14, 8), "reduce": (14, 8)}
    proj = Projection.empty(shapes, {c: DARTS_INCOMING for c in shapes})
    proj.ops["normal"][3] = 5
    proj.dropped["normal"][4] = True
    g = torch.Generator().manual_seed(0)
    w = {c: torch.rand(14, 8, generator=g, dtype=torch.float64) for c in shapes}
    index = {c: torch.zeros(14, dtype=torch.long) for c in shapes}
    out = proj.apply(Mixture(weights=w, index=index))
    assert torch.equal(out.weights["normal"][3], torch.nn.functional.one_hot(torch.tensor(5), 8).double())
    assert int(out.index["normal"][3]) == 5 and int(out.index["normal"][0]) == 0
    expected_edges = torch.ones(14, dtype=torch.float64)
    expected_edges[4] = 0.0
    assert torch.equal(out.edge_weights["normal"], expected_edges)
    assert torch.equal(out.edge_weights["reduce"], torch.ones(14, dtype=torch.float64))
    assert torch.equal(out.weights["reduce"], w["reduce"])  # nothing decided there
    assert proj.open_nodes("normal", 2) == [1, 2, 3] and proj.open_nodes("normal", None) == []
    restored = Projection.empty(shapes, {c: DARTS_INCOMING for c in shapes})
    restored.load_state_dict(proj.state_dict())
    assert restored.ops == proj.ops and restored.dropped == proj.dropped


def test_projected_mixture_runs_the_decided_ops_on_a_tiny_nb201_supernet() -> None:
    space = NB201Space()
    torch.manual_seed(0)
    net = space.supernet(10, C=4, N=1).double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = torch.softmax(torch.randn(6, 5, dtype=torch.float64), dim=-1)
    proj = Projection.empty(space.weight_shapes(), {"cell": NB201_INCOMING})
    for e, k in enumerate((3, 1, 2, 4, 0, 3)):
        proj.ops["cell"][e] = k
    arch = space.derive(proj.derive_weights({"cell": w}))
    assert list(arch) == [3, 1, 2, 4, 0, 3]
    with torch.no_grad():
        projected = net(x, proj.apply(Mixture({"cell": w})))
        single = net(x, space.one_hot(arch, dtype=torch.float64))
    torch.testing.assert_close(projected, single)


def test_removing_an_edge_drops_its_bypassed_channels_too() -> None:
    """Without partial channels, an edge weight of 0 equals zeroing the edge's op weights (darts-pt's fill_(0));
    with partial channels only the edge weight also removes the channels that bypass the ops."""
    space = DartsSpace()
    w = {c: torch.full((14, 8), 1 / 8, dtype=torch.float64) for c in ("normal", "reduce")}
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    zero_ops = {**w, "normal": w["normal"].clone()}
    zero_ops["normal"][6] = 0.0
    for k, same in ((1, True), (4, False)):
        torch.manual_seed(0)
        net = space.supernet(10, C=8, layers=3, partial_channels=k).double().train()
        with torch.no_grad():
            dropped = net(x, without_edge(Mixture(w), "normal", 6))
            zeroed = net(x, Mixture(zero_ops))
        assert torch.allclose(dropped, zeroed) is same
    assert float(without_op(Mixture(w), "normal", 6, 2).weights["normal"][6, 2]) == 0.0


def test_darts_derive_keeps_the_chosen_inputs() -> None:
    space = DartsSpace()
    shapes = space.weight_shapes()
    proj = Projection.empty(shapes, {c: DARTS_INCOMING for c in shapes})
    for c in shapes:
        proj.ops[c] = [4] * 14  # sep_conv_3x3 in darts8
        for e in (2, 6, 7, 9, 10, 12):
            proj.dropped[c][e] = True
    probs = {c: torch.softmax(torch.randn(14, 8, dtype=torch.float64), dim=-1) for c in shapes}
    g = space.derive(proj.derive_weights(probs))
    for cell in (g.normal, g.reduce):
        assert [sorted(j for _, j in cell[2 * n : 2 * n + 2]) for n in range(4)] == [[0, 1], [1, 2], [0, 3], [2, 4]]
        assert {op for op, _ in cell} == {"sep_conv_3x3"}


# ---- as a selection rule of a tiny NB201 search -------------------------------------------------------------------
def _search(*overrides: str, space: str = "nb201"):
    """A tiny DARTS search with selection=darts_pt as the CLI builds it: 32 digits images (16 per split), one
    iteration per epoch, the α split evaluated in one plain batch."""
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    import nasflat.cli  # noqa: F401  (registers the run-id resolver)
    from nasflat.context import SearchContext, official_split

    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        cfg = compose(
            "search",
            overrides=[
                "algo=darts",
                f"space={space}",
                "dataset=digits",
                "debug=tiny",
                "dataset.max_train=32",
                "algo.epochs=1",
                "algo.batch_size=16",
                "algo.eval_batch_size=64",
                "algo.eval_augment=false",
                "algo.track_hessian=false",
                "algo/selection=darts_pt",
                "algo.selection.proj_intv=1",
                *overrides,
            ],
        )
    OmegaConf.resolve(cfg)
    factory = instantiate(cfg.algo)
    ctx = SearchContext(
        space=instantiate(cfg.space),
        seed=0,
        data_spec=instantiate(cfg.dataset).with_default_split(official_split(factory)),
        supernet_options=dict(cfg.search_net),
    )
    return factory(ctx, None)


def _run_selection(search, steps: range) -> list[dict]:
    rule = search.parts.selection
    return [rule.run_step(t, search) for t in steps]


def test_each_decision_is_the_op_whose_removal_hurts_most_by_brute_force() -> None:
    """With the tuning frozen (lr 0, no α step) every decision must equal an independent full-batch evaluation of
    the train-mode supernet with one op weight zeroed, the earlier decisions one-hot (crit=loss: no accuracy ties)."""
    search = _search("algo.selection.tune_lr_scale=0.0", "algo.selection.tune_alpha=false", "algo.selection.crit=loss")
    rule = search.parts.selection
    assert rule.extra_steps(search.space) == 6 and rule.round_epochs(search.space) == [0, 1, 2, 3, 4, 5]
    ((x, y),) = list(search.eval_loader)  # the whole α split, one plain batch
    probs = {c: p.clone() for c, p in search.probs().items()}
    _run_selection(search, range(6))
    fixed = probs["cell"].clone()
    for d in rule.decisions:
        losses = []
        for k in range(5):
            w = fixed.clone()
            w[d["edge"], k] = 0.0
            search.model.train()
            with torch.no_grad():
                losses.append(float(torch.nn.functional.cross_entropy(search.model(x, {"cell": w}), y)))
        assert d["scores"] == pytest.approx(losses, rel=1e-5)
        assert d["op"] == max(range(5), key=lambda k: (losses[k], -k))
        fixed[d["edge"]] = torch.nn.functional.one_hot(torch.tensor(d["op"]), 5).to(fixed.dtype)
    assert sorted(d["edge"] for d in rule.decisions) == list(range(6))  # every edge once, in a drawn order
    arch, _ = search.best()
    assert list(arch) == [int(fixed[e].argmax()) for e in range(6)]
    assert search.summary()["selection_settings"]["decisions"] == rule.decisions


def test_darts_pt_resumes_to_the_same_decisions() -> None:
    """A checkpoint after three tuning epochs, resumed in a fresh search: the same decisions, weights and arch."""
    whole = _search()
    _run_selection(whole, range(3))
    state = copy.deepcopy(whole.state_dict())
    _run_selection(whole, range(3, 6))
    resumed = _search()
    resumed.load_state_dict(state)
    _run_selection(resumed, range(3, 6))
    assert resumed.parts.selection.decisions == whole.parts.selection.decisions
    assert resumed.best()[0] == whole.best()[0]
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        torch.testing.assert_close(a, b)


def test_bad_darts_pt_settings_are_refused_with_the_key() -> None:
    from nasflat.algorithms.differentiable.darts_pt import DartsPT

    for kwargs, key in (
        ({"crit": "top5"}, "selection.crit"),
        ({"edge_order": "sgas"}, "selection.edge_order"),
        ({"proj_intv": 0}, "selection.proj_intv"),
        ({"topology_inputs": 0}, "selection.topology_inputs"),
    ):
        with pytest.raises(ValueError, match=key):
            DartsPT(**kwargs)


def test_topology_round_keeps_the_inputs_whose_removal_hurts_most_by_brute_force() -> None:
    """DARTS space, every op decided: one topology round per cell type (node 1, inputs 0, 1, 2 by edges 2, 3, 4);
    each score is an independent train-mode evaluation without that edge, and the two worst-to-lose edges stay."""
    search = _search("algo.selection.crit=loss", "algo.selection.edge_order=in_order", space="darts")
    rule = search.parts.selection
    assert rule.rounds(search.space) == (14, 3) and rule.extra_steps(search.space) == 17  # 1 * 16 + 1
    relax = rule.install(search)
    for cell in relax.cells:
        rule.projection.ops[cell] = [int(k) for k in search.probs()[cell].argmax(dim=1)]
    ((x, y),) = list(search.eval_loader)
    base = relax.measured(search.detached())
    decisions = rule.decide(14, search)
    assert [(d["cell"], d["node"]) for d in decisions] == [("normal", 1), ("reduce", 1)]
    for d in decisions:
        losses = []
        for e in (2, 3, 4):
            search.model.train()
            with torch.no_grad():
                losses.append(
                    float(torch.nn.functional.cross_entropy(search.model(x, without_edge(base, d["cell"], e)), y))
                )
        assert d["scores"][0] == pytest.approx(losses, rel=1e-5)
        drop = min(range(3), key=lambda i: (losses[i], -i))
        assert d["kept"] == [e for i, e in enumerate((2, 3, 4)) if i != drop]
        assert rule.projection.dropped[d["cell"]][2:5] == [i == drop for i in range(3)]
        base = rule.projection.apply(relax.base.mixture(search.detached()))  # the reduce cell sees normal's decision
    g = search.derive()
    for cell, d in zip((g.normal, g.reduce), decisions):
        assert sorted(j for _, j in cell[2:4]) == [e - 2 for e in d["kept"]]


@pytest.mark.slow
def test_cli_search_runs_the_darts_pt_tuning_epochs(tmp_path) -> None:
    """`nasflat search ... algo/selection=darts_pt`: the tuning epochs follow the search epoch in the same phase and
    results.json records one decision per NB201 edge and the projected architecture."""
    nasflat(
        "search",
        "algo=darts",
        "space=nb201",
        "dataset=digits",
        "debug=tiny",
        "retrain=none",
        "logger=none",
        "dataset.max_train=32",
        "algo.epochs=1",
        "algo.batch_size=16",
        "algo.track_hessian=false",
        "algo/selection=darts_pt",
        "algo.selection.proj_intv=1",
        f"out_root={tmp_path}",
        check=True,
    )
    search = results_of(tmp_path)["search"]
    decisions = search["selection_settings"]["decisions"]
    assert sorted(d["edge"] for d in decisions) == list(range(6))
    assert len(search["selection_settings"]["tuning"]) == 6
    assert search["selection_settings"]["tuning"][-1]["arch"] == search["final_arch"]
