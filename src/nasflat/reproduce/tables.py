"""What `nasflat reproduce TABLE scale=...` runs: each published table as methods x seeds x search datasets.

A table names the published numbers it is compared with (``published.py``), the ``nasflat search`` overrides of
every method, and per scale the extra overrides, the seeds and what a run costs. ``scale=paper`` adds nothing to the
method's official preset; ``smoke`` is seconds (the tests); ``cpu`` is the documented reduced protocol of
docs/reproduce.md. A protocol the table cannot follow exactly says so in ``deviations``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nasflat.reproduce.published import PublishedTable, published_table

SCALES = ("smoke", "cpu", "paper")
# The reduced NB201 protocol of experiment=collapse_cpu, for the other differentiable NB201 tables at scale=cpu
NB201_CPU = ("search_net.C=8", "search_net.N=1", "dataset.resolution=16", "algo.eval_images=5000")
SMOKE = ("scale=tiny", "dataset.split_method=first")  # the embedded digits have no NB201 split file


@dataclass(frozen=True)
class Scale:
    """One scale of a table: overrides added to every method, the seeds, the search datasets and the cost."""

    overrides: tuple[str, ...]
    seeds: tuple[int, ...]
    cost: str  # what one table run costs at this scale, and where that figure comes from
    datasets: tuple[str, ...] | None = None  # None: the table's own search datasets


@dataclass(frozen=True)
class Method:
    """A row of the table that nasflat runs: its published method id and its ``nasflat search`` overrides."""

    name: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class ReproTable:
    """A published table made runnable."""

    name: str
    published: tuple[str, ...]  # published tables, looked up in order for each method's rows
    base: tuple[str, ...]  # overrides shared by every method and scale
    methods: tuple[Method, ...]
    datasets: tuple[str, ...]  # search datasets (dataset=...)
    scales: Mapping[str, Scale] = field(hash=False)
    per_dataset_search: bool = False  # True: a dataset's numbers come from the runs searched on it
    needs_table: bool = True  # results are NB201 table lookups: benchmark.nb201_table must be set
    deviations: tuple[str, ...] = ()  # where scale=paper cannot be the official protocol, and why
    title: str = ""  # when the table is not simply its first published table

    def heading(self) -> str:
        return self.title or self.published_tables()[0].title

    def published_tables(self) -> list[PublishedTable]:
        return [published_table(name) for name in self.published]

    def method(self, name: str) -> Method:
        return next(m for m in self.methods if m.name == name)


def _scales(
    cpu: tuple[str, ...], seeds: tuple[int, int], costs: tuple[str, str, str], paper: tuple[str, ...] = ()
) -> dict[str, Scale]:
    """smoke / cpu / paper for a differentiable NB201 table (smoke: tiny networks on the embedded digits)."""
    return {
        "smoke": Scale(SMOKE, (0,), costs[0], datasets=("digits",)),
        "cpu": Scale(cpu, tuple(range(seeds[0])), costs[1]),
        "paper": Scale(paper, tuple(range(seeds[1])), costs[2]),
    }


def _table_scales(smoke_budget: int, seeds: int, cost: str) -> dict[str, Scale]:
    """Table lookups cost no training: cpu is the paper protocol; smoke shrinks the budget and the seeds."""
    return {
        "smoke": Scale((f"algo.budget={smoke_budget}", f"algo.chunk={smoke_budget}"), (0, 1), "a few seconds"),
        "cpu": Scale((), tuple(range(seeds)), cost),
        "paper": Scale((), tuple(range(seeds)), cost),
    }


AUTODL = ("experiment=nb201_darts_autodl",)
RS_TABLE = ("space=nb201", "evaluator=benchmark", "retrain=none", "evaluator.dataset=cifar10", "evaluator.split=valid")
BETA = "algo/modifiers=[beta_darts]"
RS = Method("rs", ("algo=rs", "algo.budget=100", "algo.chunk=100"))  # NB201's RS on the table, 100 candidates
# measured on the 2-core development machine (2026-12-05, other jobs running): 500 + 500 RS/REA runs and 100 + 100
# RS/NA-RS runs took 73 min, nearly all of it Hydra composing each job's config (the lookups take 0.1 s a run)
TABLE_COST = "table lookups only: about 3.6 s per run on 2 busy CPU cores, nearly all of it Hydra's composition"
NASWOT = ("space=nb201", "algo=rs", "evaluator=naswot", "retrain=none")
# measured on the 2-core development machine (2026-12-05, two threads, other jobs running): the 20 cpu-scale runs
# took 14 min, 16 s a run at N=10 and 70 s at N=100 (C=16, N=5, one 128-image CIFAR-10 batch an architecture)
NASWOT_CPU_COST = "10 runs of N=10 and of N=100: 14 min measured on 2 busy CPU cores"
NASWOT_PAPER_COST = "500 runs of N=10 and of N=100: about 12 h on 2 CPU cores; runs are independent (any launcher)"


def _naswot(name: str, n: int) -> Method:
    """NASWOT's search: the best-scored of ``n`` uniform samples, scored untrained on one CIFAR-10 batch."""
    return Method(name, (f"algo.budget={n}", f"algo.chunk={n}"))


# collapse_cpu at scale=paper: A²M's NB201 protocol (full network and resolution) with final-epoch selection
COLLAPSE_PAPER = (
    "search_net.C=16",
    "search_net.N=5",
    "dataset.resolution=null",
    "algo.eval_images=null",
    "algo.hessian.every=1",
)

REPRO_TABLES: dict[str, ReproTable] = {
    t.name: t
    for t in (
        ReproTable(
            name="nb201_darts",
            published=("nb201_darts",),
            base=("space=nb201", "retrain=none"),
            methods=(
                Method("darts", AUTODL),
                Method("darts_2nd", (*AUTODL, "algo=darts_2nd")),
                Method("gdas", (*AUTODL, "algo=gdas")),
            ),
            datasets=("cifar10",),
            scales=_scales(
                NB201_CPU,
                (3, 3),
                (
                    "about 1 min for the three methods (2 CPU cores)",
                    "DARTS 42 min a search at this size on one shared core; 2nd order about x2.7; GDAS 250 epochs",
                    "the paper's search cost (search_cost_s rows): DARTS-V1 about 3 GPU-hours per search",
                ),
            ),
            deviations=(
                "AutoDL's CIFAR-10 halves are NB201's cifar-split.txt: scale=cpu|paper need dataset.split_dir (or "
                "NASFLAT_NB201_SPLITS) and are refused without it; scale=smoke uses the first-half split",
            ),
        ),
        ReproTable(
            name="nb201_table",
            published=("nb201_table",),
            base=RS_TABLE,
            methods=(
                RS,
                Method("rea", ("algo=rea", "algo.budget=100", "algo.chunk=100")),
            ),
            datasets=("cifar10",),
            scales=_table_scales(10, 500, TABLE_COST),
            deviations=(
                "the NB201 paper selects by the 12-epoch cifar10-valid accuracy under a 12,000 s simulated budget; "
                "the table here has only the 200-epoch accuracies and no training times, so the search signal is the "
                "200-epoch valid accuracy and the budget is 100 architectures",
            ),
        ),
        ReproTable(
            name="na_nb201",
            published=("na_nb201",),
            base=RS_TABLE,
            methods=(
                RS,
                Method("na_rs", ("experiment=nb201_na_rs_benchmark",)),
            ),
            datasets=("cifar10",),
            scales=_table_scales(10, 100, TABLE_COST),
            deviations=(
                "the NA paper's NB201 protocol (budget, signal, number of runs) is not known (docs/published.md); "
                "this runs RS and NA-RS with 100 candidates scored by the 200-epoch cifar10-valid accuracy",
            ),
        ),
        ReproTable(
            name="naswot_nb201",
            published=("naswot_nb201",),
            base=NASWOT,
            methods=(_naswot("naswot_n10", 10), _naswot("naswot", 100)),
            datasets=("cifar10",),
            scales={
                "smoke": Scale(
                    ("scale=tiny", "algo.budget=3", "algo.chunk=3"), (0, 1), "a few seconds", datasets=("digits",)
                ),
                "cpu": Scale((), tuple(range(10)), NASWOT_CPU_COST),
                "paper": Scale((), tuple(range(500)), NASWOT_PAPER_COST),
            },
            deviations=(
                "the published N=1000 rows are not run (about 12 min a run on 2 CPU cores); "
                "scale=cpu runs 10 seeds where the paper runs 500",
            ),
        ),
        ReproTable(
            name="a2m_nb201",
            published=("a2m_nb201", "nb201_darts"),
            base=("experiment=a2m_nb201",),
            methods=(Method("darts", ("algo=darts",)), Method("a2m", ("algo=a2m",))),
            datasets=("cifar10",),
            scales=_scales(
                NB201_CPU,
                (3, 4),
                (
                    "about 30 s (2 CPU cores)",
                    "measured at this size on one shared core: DARTS 42 min, A²M 90 min a search (collapse_cpu)",
                    "A²M's scripts on one GPU: a few hours per search",
                ),
            ),
        ),
        ReproTable(
            name="collapse_cpu",
            title="DARTS's collapse at CPU scale: DARTS, A²M and β-DARTS per epoch (docs/reproduce.md)",
            published=("a2m_nb201", "nb201_darts"),
            base=("experiment=collapse_cpu",),
            methods=(
                Method("darts", ("algo=darts",)),
                Method("a2m", ("algo=a2m",)),
                Method("beta_darts", ("algo=darts", BETA)),
            ),
            datasets=("cifar10",),
            scales=_scales(
                (),
                (3, 3),
                (
                    "about 30 s (2 CPU cores)",
                    "measured on one shared core: DARTS 42 min, A²M 90 min, β-DARTS 27–30 min a search",
                    "C=16, N=5 at 32x32: the a2m_nb201 protocol with final-epoch selection, GPU hours",
                ),
                paper=COLLAPSE_PAPER,
            ),
        ),
    )
}


def repro_table(name: str) -> ReproTable:
    """A runnable table by name; ValueError naming the runnable and the published-only tables otherwise."""
    if name in REPRO_TABLES:
        return REPRO_TABLES[name]
    from nasflat.reproduce.published import published_tables

    only = sorted(set(published_tables()) - set(REPRO_TABLES))
    if name in only:
        raise ValueError(
            f"table {name!r} has published numbers but no runnable protocol yet (nasflat reproduce --list); "
            f"runnable: {', '.join(REPRO_TABLES)}"
        )
    raise ValueError(f"unknown table {name!r}; runnable: {', '.join(REPRO_TABLES)}; published only: {', '.join(only)}")
