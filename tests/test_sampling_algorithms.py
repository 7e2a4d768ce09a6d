"""Sampling algorithms: RS / NA-RS budgets, regularized evolution, the GeNAS evolution, resume mid-run, and the
CLI end to end for every algorithm x space on tiny settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from nasflat.algorithms.evolution import Evolution
from nasflat.algorithms.random_search import RandomSearch
from nasflat.algorithms.rea import RegularizedEvolution
from nasflat.checkpoint import CheckpointStore
from nasflat.context import SearchContext
from nasflat.evaluators.base import Evaluator
from nasflat.evaluators.neighborhood import Neighborhood
from nasflat.phases import run_phase
from nasflat.spaces.base import IntEncoding
from nasflat.spaces.darts import DartsSpace
from nasflat.spaces.darts import codec as dg
from nasflat.spaces.nb201 import NB201Space
from nasflat.tracking import Tracker


class Smooth(Evaluator):
    """A cheap deterministic landscape: 3x3 convs are good, skips slightly, everything else nothing."""

    name = "smooth"

    def _score_batch(self, archs):
        return [float(sum({3: 1.0, 1: 0.1}.get(o, 0.0) for o in self.space.encode(a)[:6])) for a in archs]


def ctx_for(space, seed: int = 0) -> SearchContext:
    return SearchContext(space=space, seed=seed)


# ---- RS / NA-RS ----------------------------------------------------------------------------------------------------
def test_random_search_budget_in_candidates_and_evaluations():
    ctx = ctx_for(NB201Space())
    rs = RandomSearch(ctx, Smooth(ctx.space), budget=40, chunk=15)
    for step in range(rs.total_steps):
        rs.run_step(step)
    assert len(rs.history) == 40 and rs.summary()["evaluations"] == len({a for a, _ in rs.history})
    by_eval = RandomSearch(ctx, Smooth(ctx.space), budget=40, chunk=15, budget_unit="evaluations")
    for step in range(by_eval.total_steps):
        by_eval.run_step(step)
    assert by_eval.evaluator.total_evaluations == 40 and len(by_eval.history) >= 40
    _, score = rs.best()
    assert score == max(s for _, s in rs.history)


def test_na_rs_budget_by_evaluations_is_never_exceeded():
    ctx = ctx_for(NB201Space())
    for k, budget in ((None, 60), (4, 30), (4, 10), (None, 10)):
        na = RandomSearch(
            ctx,
            Smooth(ctx.space),
            budget=budget,
            chunk=7,
            budget_unit="evaluations",
            neighborhood=Neighborhood(neighbors=k),
        )
        for step in range(na.total_steps):
            na.run_step(step)
        s = na.summary()
        assert s["candidates"] >= 1 and s["candidate_evaluations"] == len({a for a, _ in na.history})
        if (k or 24) + 1 <= budget:
            assert s["evaluations"] <= budget
        else:
            assert s["candidates"] == 1  # one candidate costs more than the budget: it is still scored
    by_cand = RandomSearch(ctx, Smooth(ctx.space), budget=3, chunk=3, neighborhood=Neighborhood())
    by_cand.run_step(0)
    assert len(by_cand.history) == 3 and 25 < by_cand.summary()["evaluations"] <= 75


def test_na_rs_prefers_flat_regions():
    """A needle (one arch with a huge score amid poor neighbors) wins RS but not NA-RS."""
    space = NB201Space()
    needle = space.parse(
        "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
    )

    class Needle(Smooth):
        def _score_batch(self, archs):
            return [100.0 if a == needle else s for a, s in zip(archs, super()._score_batch(archs))]

    plain = Needle(space).score([needle])[0]
    na = Neighborhood().wrap(Needle(space), seed=0).score([needle])[0]
    assert plain == 100 and na < 100 / 25 + 1


# ---- regularized evolution --------------------------------------------------------------------------------------
def test_rea_ages_population_and_mutates_by_one_hop():
    space = NB201Space()
    rea = RegularizedEvolution(ctx_for(space), Smooth(space), budget=60, chunk=60, population=10, sample_size=3)
    seen = []
    orig = rea.observe

    def spy(arch, score):
        seen.append(arch)
        orig(arch, score)
        assert len(rea.population) <= 10

    rea.observe = spy
    rea.run_step(0)
    assert len(rea.history) == 60 and [a for a, _ in rea.population] == seen[-10:]
    # every child after the initial population is one hop from some member of the population at its birth
    for i in range(10, 60):
        assert any(space.distance(seen[i], p) == 1 for p in seen[i - 10 : i])
    assert rea.mutation == "by_node" and rea.summary()["mutation"] == "by_node"  # auto: NB201's reference
    assert rea.best()[1] >= max(s for _, s in list(rea.history)[:10])


def test_rea_mutation_is_what_the_space_offers():
    space = DartsSpace()
    with pytest.raises(ValueError, match=r"'by_node' is not offered by space darts.*uniform"):
        RegularizedEvolution(ctx_for(space), Smooth(space), mutation="by_node")
    assert RegularizedEvolution(ctx_for(space), Smooth(space)).mutation == "uniform"
    nb201 = NB201Space()
    assert RegularizedEvolution(ctx_for(nb201), Smooth(nb201), mutation="uniform").summary()["mutation"] == "uniform"
    with pytest.raises(ValueError, match="'by_node' is not offered by space 'darts'; choose one of uniform"):
        space.mutate(space.sample(np.random.default_rng(0)), np.random.default_rng(0), scheme="by_node")


def test_rea_finds_better_than_random_on_a_smooth_landscape():
    space = NB201Space()
    rs_best, rea_best = [], []
    for seed in range(10):
        ctx = ctx_for(space, seed)
        rs, rea = RandomSearch(ctx, Smooth(space), budget=60), RegularizedEvolution(ctx, Smooth(space), budget=60)
        for algo in (rs, rea):
            for step in range(algo.total_steps):
                algo.run_step(step)
        rs_best.append(rs.best()[1])
        rea_best.append(rea.best()[1])
    assert np.mean(rea_best) > np.mean(rs_best)


# ---- GeNAS evolution ----------------------------------------------------------------------------------------------
def run_all(phase) -> None:
    for step in range(phase.total_steps):
        phase.run_step(step)


def test_evolution_counts_uniqueness_and_repair_on_darts():
    space = DartsSpace()
    ev = Evolution(ctx_for(space), Smooth(space), generations=4, population=12, select=4, mutations=5, crossovers=5)
    run_all(ev)
    codes = [c for c, _, _ in ev.history]
    assert len(codes) == 48 == len(set(codes)) and ev.evaluator.evaluations == 48
    assert Counter(g for _, _, g in ev.history) == {0: 12, 1: 12, 2: 12, 3: 12}
    for c in codes:  # SPOS repair: every intermediate node has exactly two inputs, in both cells
        for cell in (c[:14], c[14:]):
            assert [sum(1 for j in range(n) if cell[dg.edge_index(n, j)]) for n in range(2, 6)] == [2, 2, 2, 2]
    top = sorted(((c, s) for c, s, _ in ev.history), key=lambda cs: cs[1], reverse=True)
    assert [s for _, s in ev.top] == [s for _, s in top[:4]]
    arch, score = ev.best()
    assert score == top[0][1] and space.encode(arch) == list(ev.top[0][0])


def test_evolution_mutates_only_the_normal_cell_by_default():
    space = DartsSpace()
    ev = Evolution(ctx_for(space), Smooth(space), mutation_prob=0.5)
    ev.top = [(tuple(space.encode(space.sample(np.random.default_rng(i)))), 0.0) for i in range(3)]
    for _ in range(50):
        child = ev._mutant()
        assert any(child[14:] == p[14:] for p, _ in ev.top)
    ev_all = Evolution(ctx_for(space), Smooth(space), mutation_prob=0.5, mutate_cells="all")
    ev_all.top = ev.top
    assert any(all(ev_all._mutant()[14:] != p[14:] for p, _ in ev.top) for _ in range(50))


def test_evolution_nb201_port_and_encoding_errors():
    space = NB201Space()
    assert space.encoding() == IntEncoding(6, 5, ((0, 6),), repair=None)
    assert DartsSpace().encoding() == IntEncoding(28, 8, ((0, 14), (14, 28)), repair=dg.spos_repair)
    with pytest.raises(ValueError, match="op_set=darts8; got op_set='darts7'"):
        Evolution(ctx_for(DartsSpace("darts7")), Smooth(space))
    ev = Evolution(ctx_for(space), Smooth(space), generations=5, population=20, select=5, mutations=8, crossovers=8)
    run_all(ev)
    assert ev.best()[1] >= max(s for _, s, g in ev.history if g == 0)
    with pytest.raises(ValueError, match="exceed"):
        Evolution(ctx_for(space), Smooth(space), population=10)


# ---- resume mid-run -----------------------------------------------------------------------------------------------
class Stop(Exception):
    pass


@pytest.mark.parametrize("algo", ["genas_darts", "na_rea_nb201", "rs_nb201"])
def test_resume_mid_run_gives_identical_state(tmp_path, algo):
    def build():
        if algo == "genas_darts":
            space = DartsSpace()
            return Evolution(
                ctx_for(space, 3), Smooth(space), generations=5, population=10, select=3, mutations=4, crossovers=4
            )
        space = NB201Space()
        if algo == "rs_nb201":
            return RandomSearch(
                ctx_for(space, 3),
                Smooth(space),
                budget=50,
                chunk=10,
                budget_unit="evaluations",
                neighborhood=Neighborhood(neighbors=3),
            )
        return RegularizedEvolution(
            ctx_for(space, 3), Smooth(space), budget=60, chunk=10, neighborhood=Neighborhood(neighbors=4)
        )

    def tracker(d):
        return Tracker(run_dir=d, config={})

    ref = build()
    run_phase(ref, CheckpointStore(tmp_path / "ref", "x"), tracker(tmp_path / "ref"))

    killed = build()
    real = killed.run_step

    def crash(step):
        if step == 2:
            raise Stop
        return real(step)

    killed.run_step = crash
    store = CheckpointStore(tmp_path / "run", "x")
    with pytest.raises(Stop):
        run_phase(killed, store, tracker(tmp_path / "run"))
    assert torch.load(store.path("search"), weights_only=True)["step"] == 2
    resumed = build()  # a fresh process: new algorithm and evaluator objects
    run_phase(resumed, store, tracker(tmp_path / "run"))
    a, b = ref.state_dict(), resumed.state_dict()
    a.pop("wall_time"), b.pop("wall_time")
    assert a == b and ref.best() == resumed.best()


# ---- CLI end to end ---------------------------------------------------------------------------------------------
TINY = ["dataset=digits", "debug=tiny", "retrain=none", "logger=none", "supernet.epochs=1"]
ALGO_TINY = {
    "rs": ["algo.budget=3", "algo.chunk=2"],
    "na_rs": ["algo.budget=2", "algo.chunk=1", "algo.neighborhood.neighbors=2"],
    "rea": ["algo.budget=5", "algo.chunk=2", "algo.population=3", "algo.sample_size=2"],
    "na_rea": [
        "algo.budget=4",
        "algo.chunk=2",
        "algo.population=2",
        "algo.sample_size=2",
        "algo.neighborhood.neighbors=1",
    ],
    "genas": ["algo.generations=2", "algo.population=4", "algo.select=2", "algo.mutations=1", "algo.crossovers=1"],
    "spos": ["algo.generations=2", "algo.population=4", "algo.select=2", "algo.mutations=1", "algo.crossovers=1"],
}
EVAL_TINY = ["evaluator.bn_images=32", "evaluator.val_images=32", "evaluator.batch_size=32"]
FAST = {("genas", "darts"), ("na_rea", "nb201")}


def nasflat(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run(
        [sys.executable, "-m", "nasflat.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.parametrize(
    ("algo", "space"),
    [
        pytest.param(a, s, marks=() if (a, s) in FAST else pytest.mark.slow)
        for a in ALGO_TINY
        for s in ("nb201", "darts")
    ],
)
def test_cli_every_algo_and_space(tmp_path, algo, space):
    evaluator = {"genas": [], "spos": []}.get(algo, ["evaluator=supernet"])  # genas/spos pick their own default
    proc = nasflat(
        "search",
        f"algo={algo}",
        f"space={space}",
        *TINY,
        *evaluator,
        *ALGO_TINY[algo],
        *EVAL_TINY,
        f"out_root={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = list(Path(tmp_path).glob("*/*/results.json"))
    r = json.loads(path.read_text())
    assert r["algo"] == algo and r["space"] == space and r["search"]["evaluations"] >= 1
    want = {"genas": "flatness", "spos": "supernet"}.get(algo, "supernet")
    name = r["search"]["evaluator"].get("inner", r["search"]["evaluator"])["name"]
    assert name == want
    if algo.startswith("na_"):
        assert r["search"]["evaluator"]["name"] == "na_supernet"
        assert r["search"]["evaluations"] > r["search"]["candidate_evaluations"]


def test_cli_na_rs_on_the_table(tmp_path, nb201_csv):
    proc = nasflat(
        "search",
        "experiment=nb201_na_rs_benchmark",
        "algo.budget=20",
        "logger=none",
        f"benchmark.nb201_table={nb201_csv}",
        f"out_root={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = list(Path(tmp_path).glob("*/*/results.json"))
    r = json.loads(path.read_text())
    assert r["search"]["candidates"] == 20 and 20 * 20 < r["search"]["evaluations"] <= 20 * 25
    assert r["benchmark"]["cifar10"]["valid"] > 80


EVALUATOR_TINY = {
    "flatness": EVAL_TINY,
    "angle": [],
    "angle_flatness": EVAL_TINY,
    "acc_flatness": [*EVAL_TINY, "evaluator.acc_bn_images=32", "evaluator.acc_val_images=32"],
    "naswot": ["evaluator.batch_size=16"],
    "train": ["evaluator.epochs=1", "evaluator.batch_size=32", "evaluator.max_batches=2"],
}
NETS = {"nb201": "{C:2,N:1}", "darts": "{C:4,layers:3}"}


@pytest.mark.slow
@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize("evaluator", list(EVALUATOR_TINY))
def test_cli_every_evaluator(tmp_path, evaluator, space):
    net = [f"evaluator.network={NETS[space]}"] if evaluator in ("naswot", "train") else []
    proc = nasflat(
        "search",
        "algo=rs",
        f"space={space}",
        f"evaluator={evaluator}",
        *TINY,
        *ALGO_TINY["rs"],
        *EVALUATOR_TINY[evaluator],
        *net,
        f"out_root={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = list(Path(tmp_path).glob("*/*/results.json"))
    r = json.loads(path.read_text())
    assert r["search"]["evaluator"]["name"] == evaluator and r["search"]["candidates"] == 3
    assert r["search"]["supernet_time_s"] > 0 or evaluator in ("naswot", "train")
