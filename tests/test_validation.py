"""The composed config is checked before any work; presets compose with every algorithm and space.

In-process Hydra compose for the schema itself (fast); one CLI call shows the exit code and that nothing ran.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf

from helpers import DEMO_TINY, nasflat, results_of
from nasflat import cli  # noqa: F401  (registers the run-id resolver)
from nasflat.config import ConfigError, validate
from nasflat.config.types import annotations_of

FAMILIES = {
    "sampling": ("rs", "rea"),
    "neighborhood": ("na_rs", "na_rea"),
    "evolution": ("genas", "spos"),
    "differentiable": ("darts", "darts_2nd", "a2m", "na_darts", "pc_darts", "gdas", "drnas", "milenas"),
}
SPACES = ("nb201", "darts")
DEMO_RETRAIN = {"nb201": 15, "darts": 10}  # epochs of the retrain protocol at scale=demo
GROUPS = ("space", "dataset", "algo", "evaluator", "retrain", "hardware", "logger", "scale", "experiment", "debug")
CONTEXT = {  # options that only make sense with another choice
    "retrain=darts_cifar": ["space=darts"],
    "dataset=array": [f"dataset.path={Path(__file__)}"],  # a user's data must exist (what it holds: on loading)
    "dataset=image_folder": [f"dataset.root={Path(__file__).parent}"],
}


def options(group: str) -> list[str]:
    root = resources.files("nasflat.conf") / group
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


ALGOS = tuple(options("algo"))  # every shipped method


@pytest.fixture(scope="module", autouse=True)
def hydra_init():
    with initialize_config_module(config_module="nasflat.conf", version_base="1.3"):
        yield


def problems(*overrides: str, command: str = "search", cfg: DictConfig | None = None) -> list[str]:
    """The `config error:` lines validate() reports for ``overrides`` (or ``cfg``); [] when the config is clean."""
    try:
        validate(cfg or compose(command.replace(" ", "_"), overrides=list(overrides)), command)
    except ConfigError as e:
        assert str(e).splitlines()[-1].startswith("hint: "), str(e)
        assert all(line.startswith("config error: ") for line in e.problems)
        return e.problems
    return []


# ---- every shipped config is clean ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """CONTEXT, plus a folder holding a cifar-split.txt for the preset that uses NB201's split file."""
    splits = tmp_path_factory.mktemp("splits")
    (splits / "cifar-split.txt").write_text("{}")
    return {**CONTEXT, "experiment=nb201_darts_autodl": [f"dataset.split_dir={splits}"]}


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_validates_clean(group, context):
    """(retrain=darts_cifar on NB201 is refused: its network options are the DARTS space's.)"""
    for opt in options(group):
        choice = f"{group}={opt}"
        assert problems(choice, *context.get(choice, [])) == [], choice


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_validates_clean_at_every_scale(experiment, context):
    extra = context.get(f"experiment={experiment}", [])
    for scale in options("scale"):
        assert problems(f"experiment={experiment}", f"scale={scale}", *extra) == [], (experiment, scale)


def test_the_nb201_split_preset_is_refused_without_its_split_folder(monkeypatch):
    monkeypatch.delenv("NASFLAT_NB201_SPLITS", raising=False)
    (line,) = problems("experiment=nb201_darts_autodl")
    assert line.startswith("config error: dataset.split_dir=null: needs dataset.split_dir, the folder holding NB201's")


@pytest.mark.parametrize(
    ("command", "overrides"),
    [
        ("retrain", ["arch=x"]),
        ("retrain", ["arch=x", "experiment=demo"]),
        ("retrain", ["arch=x", "space=darts", "scale=demo"]),
        ("info", ["arch=x"]),
        ("info", ["arch=x", "space=darts"]),
        ("data check", []),
        ("data check", ["dataset=imagenet16_120"]),
    ],
)
def test_other_commands_validate_clean(command, overrides):
    assert problems(*overrides, command=command) == []


# ---- presets compose with every method ------------------------------------------------------------------------
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("algo", ALGOS)
def test_demo_composes_with_every_algo_and_space(algo, space):
    cfg = compose("search", overrides=["experiment=demo", f"algo={algo}", f"space={space}"])
    assert problems(cfg=cfg) == []
    OmegaConf.resolve(cfg)
    assert cfg.dataset.name == "digits" and cfg.supernet.epochs == 6 and cfg.retrain.epochs == DEMO_RETRAIN[space]
    assert cfg.search_net == ({"C": 8, "N": 1, "kernel": "grouped"} if space == "nb201" else {"C": 8, "layers": 5})
    if algo in FAMILIES["sampling"]:
        assert (cfg.algo.budget, cfg.algo.chunk) == (20, 10)
    elif algo in FAMILIES["neighborhood"]:  # 4 random neighbors, not all 24 (NB201) / 120 (DARTS)
        assert (cfg.algo.budget, cfg.algo.chunk, cfg.algo.neighborhood.neighbors) == (20, 10, 4)
    elif algo in FAMILIES["evolution"]:
        assert (cfg.algo.generations, cfg.algo.population, cfg.algo.mutations + cfg.algo.crossovers) == (3, 10, 10)
    else:
        assert (cfg.algo.epochs, cfg.algo.batch_size) == (4, 64)


def test_every_algo_names_a_family_with_sizes_at_each_scale():
    for family, algos in FAMILIES.items():
        for algo in algos:
            cfg = compose("search", overrides=[f"algo={algo}"], return_hydra_config=True)
            assert cfg.hydra.runtime.choices.algo_family == family, algo
        for scale in ("demo", "tiny"):
            assert (resources.files("nasflat.conf") / "scale" / scale / "algo" / f"{family}.yaml").is_file()


def test_demo_keeps_the_quickstart_settings():
    """The README's `nasflat search experiment=demo` (default algo rs) composes exactly as before the scale split."""
    cfg = compose("search", overrides=["experiment=demo"])
    OmegaConf.resolve(cfg)
    assert cfg.dataset.name == "digits" and cfg.algo._target_.endswith("RandomSearch")
    assert cfg.evaluator._target_.endswith("SupernetEvaluator") and cfg.evaluator.bn_images == 256
    assert cfg.search_net == {"C": 8, "N": 1, "kernel": "grouped"}
    assert (cfg.supernet.epochs, cfg.supernet.batch_size) == (6, 64)
    assert (cfg.algo.budget, cfg.algo.chunk) == (20, 10)
    assert (cfg.retrain.epochs, cfg.retrain.batch_size, cfg.retrain.optim.lr) == (15, 64, 0.05)
    assert cfg.retrain.network == {"C": 8, "N": 1} and cfg.hardware.threads == 2


def test_scale_sizes_win_over_the_experiment_and_debug_tiny_keeps_the_algorithm_sizes():
    cfg = compose("search", overrides=["experiment=a2m_darts", "scale=demo"])
    OmegaConf.resolve(cfg)
    assert cfg.algo.epochs == 4 and cfg.search_net == {"C": 8, "layers": 5}  # the experiment said 50, C=16 x 8
    assert cfg.space.op_set == "darts7" and cfg.algo.selection.patience == 10  # the method is untouched
    assert cfg.algo.selection._target_.endswith("A2MEarlyStop")
    tiny = compose("search", overrides=["algo=darts", "scale=tiny"])
    debug = compose("search", overrides=["algo=darts", "debug=tiny"])
    assert (tiny.algo.epochs, debug.algo.epochs) == (2, 50)
    assert tiny.supernet.epochs == debug.supernet.epochs == 2 and tiny.dataset.max_train == debug.dataset.max_train


# ---- bad values -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["seed=1.5"], "seed=1.5: wrong type (a decimal number); accepted: an integer >= 0"),
        (["seed=abc"], "seed=abc: wrong type (a string); accepted: an integer >= 0"),
        (["seed=-1"], "seed=-1: out of range; accepted: an integer >= 0"),
        (["supernet.epochs=-1"], "supernet.epochs=-1: out of range; accepted: an integer >= 1"),
        (["algo.budget=abc"], "algo.budget=abc: wrong type (a string); accepted: an integer >= 1"),
        (["algo.budget=0"], "algo.budget=0: out of range; accepted: an integer >= 1"),
        (["retrain.epochs=-1"], "retrain.epochs=-1: out of range; accepted: an integer >= 1"),
        (["algo=darts", "algo.epochs=0"], "algo.epochs=0: out of range; accepted: an integer >= 1"),
        (["algo=darts", "algo.arch_lr=0"], "algo.arch_lr=0: out of range; accepted: a number > 0"),
        (["supernet.batch_size=0"], "supernet.batch_size=0: out of range; accepted: an integer >= 1"),
        (["supernet.optim.momentum=1.0"], "supernet.optim.momentum=1.0: out of range; accepted: a number in [0, 1)"),
        (["retrain.optim.lr_min=-0.1"], "retrain.optim.lr_min=-0.1: out of range; accepted: a number >= 0"),
        (["dataset.split_portion=1"], "dataset.split_portion=1: out of range; accepted: a number in (0, 1)"),
        (["algo=genas", "algo.mutation_prob=2"], "algo.mutation_prob=2: out of range; accepted: a number in [0, 1]"),
        (
            ["evaluator=flatness", "evaluator.stds=[0.001,-0.1]"],
            "evaluator.stds=[0.001, -0.1]: out of range; accepted: a list (each item a number > 0)",
        ),
        (["restart=maybe"], "restart=maybe: wrong type (a string); accepted: true or false"),
        (["hardware.threads=1.5"], "hardware.threads=1.5: wrong type (a decimal number); accepted: an integer >= 0"),
        (
            ["dataset.split_method=halves"],
            "dataset.split_method=halves: not an option; accepted: one of random, first, nb201 or null",
        ),
        (["algo.budget_unit=items"], "algo.budget_unit=items: not an option; accepted: one of candidates, evaluations"),
        (["hardware.dtype=float16"], "hardware.dtype=float16: not an option; accepted: one of float32, float64"),
    ],
)
def test_bad_value_is_refused_naming_key_and_accepted_range(overrides, line):
    assert problems(*overrides) == [f"config error: {line}"]


def test_every_problem_is_reported_at_once():
    found = problems("seed=1.5", "algo.budget=0", "retrain.epochs=-1", "dataset.split_method=halves")
    assert [p.split("=")[0] for p in found] == [
        "config error: seed",
        "config error: dataset.split_method",
        "config error: algo.budget",
        "config error: retrain.epochs",
    ]


def test_ranges_apply_only_to_phases_that_run():
    assert problems("algo=darts", "supernet.epochs=0") == []  # DARTS trains no SPOS supernet
    assert problems("evaluator=benchmark", "supernet.epochs=0") == []  # table lookups need no supernet
    assert problems("retrain=none", "+retrain.epochs=-1") == []
    assert problems("evaluator=flatness", "supernet.epochs=0") == [
        "config error: supernet.epochs=0: out of range; accepted: an integer >= 1"
    ]
    # a phase that does not run still gets its types and keys checked
    assert problems("algo=darts", "supernet.epochs=abc") == [
        "config error: supernet.epochs=abc: wrong type (a string); accepted: an integer >= 1"
    ]


# ---- keys a target does not take ------------------------------------------------------------------------------
def test_unknown_key_of_an_algorithm_lists_what_it_takes():
    (line,) = problems("algo=darts", "+algo.budget=3")
    assert line.startswith(
        "config error: algo.budget=3: DifferentiableSearch does not take `budget`; accepted: relaxation, objective, "
    )
    assert ", epochs, batch_size, " in line and "did you mean" not in line and "evaluator" not in line
    # a preset of one method with another method: both foreign keys named, nothing instantiated
    assert [p.split(":")[1] for p in problems("experiment=nb201_rs_benchmark", "algo=darts")] == [
        " algo.budget=100",
        " algo.chunk=100",
    ]


@pytest.mark.parametrize(
    ("overrides", "start"),
    [
        (
            ["algo=darts", "+algo.epoch=3"],
            "algo.epoch=3: DifferentiableSearch does not take `epoch` (did you mean `epochs`?)",
        ),
        (
            ["algo=darts", "algo/modifiers=[beta_darts,sdarts_rs]", "+algo.modifiers.beta_darts.tauu=1"],
            "algo.modifiers.beta_darts.tauu=1: BetaDarts does not take `tauu` (did you mean `tau`?)",
        ),
        (
            ["algo=darts", "algo/selection=darts_es", "+algo.selection.windw=3"],
            "algo.selection.windw=3: DartsES does not take `windw` (did you mean `window`?)",
        ),
        (["algo=a2m", "+algo.arch_grad.rh=1"], "algo.arch_grad.rh=1: A2M does not take `rh` (did you mean `rho`?)"),
        (
            ["algo=na_rs", "+algo.neighborhood.radus=2"],
            "algo.neighborhood.radus=2: Neighborhood does not take `radus` (did you mean `radius`?)",
        ),
        # **flatness goes to FlatnessEvaluator: its parameters are accepted, a typo of them is not
        (
            ["evaluator=acc_flatness", "+evaluator.stdss=[1]"],
            "evaluator.stdss=[1]: AccFlatnessEvaluator does not take `stdss` (did you mean `stds`?)",
        ),
        # option dicts go to the configured space's builders
        (["space=darts", "+search_net.N=3"], "search_net.N=3: DartsSpace.supernet does not take `N`"),
        (["+supernet.layers=3"], "supernet.layers=3: SupernetTrainer does not take `layers`"),
    ],
)
def test_typo_in_a_key_suggests_the_parameter(overrides, start):
    (line,) = problems(*overrides)
    assert line.startswith(f"config error: {start}; accepted: ")


# ---- differentiable parts that cannot work together -------------------------------------------------------------
PARTS_ACCEPTED = "; accepted: a combination of parts that works together (docs/methods.md#the-differentiable-harness)"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            ["algo=darts_2nd", "algo/objective=mixed_level"],
            "algo.arch_grad=Unrolled: second-order DARTS unrolls the bilevel problem; objective=mixed_level has no "
            "inner problem to unroll: use objective=bilevel or arch_grad=first_order",
        ),
        (
            ["algo=darts", "algo/relaxation=gumbel", "algo/arch_grad=second_order"],
            "algo.arch_grad=Unrolled: second-order DARTS differences losses at w ± Rv, which a stochastic relaxation "
            "(gumbel) makes meaningless; use arch_grad=first_order (or a2m)",
        ),
        (
            ["algo=darts", "algo/selection=a2m_early_stop", "algo.eval_images=0"],
            "algo.selection=A2MEarlyStop: selection=a2m_early_stop needs the per-epoch held-out loss; set "
            "eval_images > 0 or null",
        ),
        (
            ["algo=a2m", "algo/selection=darts_es", "algo.track_hessian=false"],
            "algo.selection=DartsES: selection=darts_es stops on the tracked α-Hessian eigenvalue; set "
            "track_hessian=true",
        ),
    ],
)
def test_incompatible_parts_are_refused_with_the_reason(overrides, line):
    assert problems(*overrides) == [f"config error: {line}{PARTS_ACCEPTED}"]


def test_a_supernet_the_parts_cannot_get_is_refused_naming_the_width():
    """DrNAS's K = 6 partial channels on the C = 16 DARTS search net: refused at validation, not at build."""
    [line] = problems("algo=drnas", "space=darts")
    assert line.startswith("config error: algo.relaxation=partial_channels=6: the search supernet cannot be built")
    assert "must divide the supernet width C=16" in line and "search_net.C" in line
    assert problems("algo=drnas", "space=darts", "search_net.C=36") == []


def test_space_refusals_are_config_errors_naming_the_key(tmp_path):
    [nb201] = problems("space=nb201", "space.op_set=s4")
    assert nb201.startswith("config error: space.op_set=s4: op_set='s4': NAS-Bench-201 has one op set")
    assert "use space=darts space.op_set=s4" in nb201
    missing = tmp_path / "s1.json"
    [line] = problems("space=darts", "space.op_set=s1", f"space.op_set_file={missing}")
    assert line.startswith("config error: space.op_set_file=") and f"op set file {missing} does not exist" in line


@pytest.mark.parametrize("group", ("relaxation", "objective", "arch_grad", "modifiers", "selection"))
def test_every_part_option_validates_clean_on_darts(group):
    for opt in options(f"algo/{group}"):
        choice = f"algo/{group}=[{opt}]" if group == "modifiers" else f"algo/{group}={opt}"
        assert problems("algo=darts", choice) == [], choice


def test_composed_parts_equal_the_named_method():
    """algo=darts algo/arch_grad=a2m is algo=a2m, key for key (and so for every named method)."""
    for name, group in (("a2m", "a2m"), ("darts_2nd", "second_order"), ("na_darts", "na")):
        named = compose("search", overrides=[f"algo={name}", "space=darts"])
        composed = compose("search", overrides=["algo=darts", f"algo/arch_grad={group}", "space=darts"])
        assert OmegaConf.to_container(named, resolve=True) == OmegaConf.to_container(composed, resolve=True)
    both = compose("search", overrides=["algo=a2m", "algo/modifiers=[beta_darts,sdarts_rs]"])
    assert sorted(both.algo.modifiers) == ["beta_darts", "sdarts_rs"] and "modifiers" not in compose("search").algo


def test_forwarded_keywords_are_range_checked():
    assert problems("evaluator=acc_flatness", "evaluator.bn_images=-1") == [
        "config error: evaluator.bn_images=-1: out of range; accepted: an integer >= 0"
    ]


def test_missing_constructor_argument_and_keys_the_pipeline_passes():
    missing = "config error: dataset.name=???: missing, DataSpec needs it; accepted: a string"
    assert problems("~dataset.name") == [missing]
    assert problems("+evaluator.supernet=1") == [
        "config error: evaluator.supernet=1: passed by nasflat at run time; accepted: no such key here"
    ]


def test_constraint_between_parameters():
    assert problems("algo=genas", "algo.mutations=30", "algo.crossovers=30") == [
        "config error: algo.mutations,algo.crossovers,algo.population=[30, 30, 50]: inconsistent; "
        "accepted: mutations + crossovers <= population"
    ]


# ---- the CLI ----------------------------------------------------------------------------------------------------
def test_cli_refuses_bad_values_with_exit_2_before_any_work(tmp_path):
    bad = ["seed=1.5", "supernet.epochs=-1", "algo.budget=abc", "retrain.epochs=-1"]
    proc = nasflat("search", *DEMO_TINY, *bad, "logger=none", f"out_root={tmp_path}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert [ln.split("=")[0] for ln in lines[:-1]] == [
        "config error: seed",
        "config error: supernet.epochs",
        "config error: algo.budget",
        "config error: retrain.epochs",
    ]
    assert "accepted: an integer >= 1" in lines[1] and lines[-1].startswith("hint: ")
    assert "Traceback" not in proc.stderr
    made = {p.name for p in tmp_path.rglob("*")}
    assert not made & {"checkpoints", "results.json", "metrics.jsonl", "supernet.pt", "arch.txt"}, made


def test_cli_info_validates_its_groups():
    proc = nasflat("info", "space=darts", "space.op_set=darts9", "arch=x")
    assert proc.returncode == 2
    assert "config error: space.op_set=darts9: not an option; accepted: one of darts8, darts7" in proc.stderr


# ---- every method at demo scale, for real (make test-all) --------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("algo", ALGOS)
def test_demo_runs_every_algo(algo, space, tmp_path):
    args = ("experiment=demo", f"algo={algo}", f"space={space}", "logger=none", f"out_root={tmp_path}")
    nasflat("search", *args, check=True, timeout=900)
    r = results_of(tmp_path)
    assert (r["algo"], r["space"], r["dataset"], r["retrain"]["epochs"]) == (algo, space, "digits", DEMO_RETRAIN[space])
    assert 0.5 < r["retrain"]["test_acc"] <= 1.0  # 10 classes, chance 0.1; every demo run so far reached > 0.9
    s = r["search"]
    if algo in FAMILIES["differentiable"]:
        assert s["supernet_time_s"] == 0.0  # no SPOS supernet for DARTS-family methods
    else:
        assert s["supernet_time_s"] > 0.0


def test_annotations_that_cannot_be_resolved_accept_any_value():
    def factory(ctx: NotImportedHere, *, n: int = 1) -> None:  # noqa: F821  (a type-checking-only import)
        """A stand-in for a target whose module imports a type only for type checkers."""

    assert annotations_of(factory) == {"ctx": Any, "n": int, "return": type(None)}


# ---- a plain override of a key the config lacks (Hydra's struct refusal) ---------------------------------------
def hydra_refusal(*overrides: str) -> Exception:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as e:
        compose("search", overrides=list(overrides))
    return e.value


@pytest.mark.parametrize(
    ("overrides", "first"),
    [
        (
            ["algo=darts", "algo.epoch=3"],
            "config error: algo.epoch=3: DifferentiableSearch does not take `epoch` (did you mean `epochs`?)",
        ),
        (["hardware.threadz=2"], "config error: hardware.threadz=2: Hardware does not take `threadz` (did you mean"),
        (["seeed=1"], "config error: seeed=1: the config's top level has no key `seeed` (did you mean `seed`?)"),
    ],
)
def test_a_typo_without_plus_is_answered_like_any_config_error(overrides, first):
    from nasflat.config.unknown_keys import unknown_key_problems

    text = unknown_key_problems(hydra_refusal(*overrides), "search", overrides, "search")
    assert text is not None
    (line, hint) = text.splitlines()
    assert line.startswith(first) and hint.startswith("hint: ")
    if overrides == ["seeed=1"]:
        assert "accepted: seed, out_root, restart, " in line


def test_a_real_parameter_the_preset_does_not_list_keeps_hydras_advice():
    from nasflat.config.unknown_keys import unknown_key_problems

    refusal = hydra_refusal("dataset.split_chosen_by=me")  # a DataSpec field that conf/dataset/*.yaml leaves out
    assert "+dataset.split_chosen_by=me" in str(refusal)  # Hydra: append it with +
    assert unknown_key_problems(refusal, "search", ["dataset.split_chosen_by=me"], "search") is None
    sweep = hydra_refusal("algo.epoch=3")  # the override is not on this command line: nothing to retry
    assert unknown_key_problems(sweep, "search", ["algo.epoch=1,2"], "search") is None
