"""Composition-time checks for what a config brings in from another package (docs/extending.md).

A search space, evaluator, algorithm, differentiable part or dataset from the user's own package reaches nasflat as
a ``_target_`` in a config group that package puts on Hydra's search path. Before anything resolves, runs or reads
data, the composed config is checked here: every ``_target_`` imports; a class configured at an extension point
meets that point's contract, whose names are read from nasflat's own base class or Protocol (so the check follows
the code); and every per-space default a method reads (``${algo.per_space.${space_name}.x}``) exists for the
configured space. Each problem is one line naming the config key, the target and what to do.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from omegaconf import DictConfig, OmegaConf

from nasflat.phases import Phase

# the guide is not installed with the package: say where it is
GUIDE = "docs/extending.md"
GUIDE_WHERE = "in the nasflat source repository"
# `${<node>.${space_name}.<key>}`: a per-space default, e.g. ${algo.per_space.${space_name}.epochs}
PER_SPACE = re.compile(r"\$\{([\w.]+)\.\$\{space_name\}\.([\w.]+)\}")


class SearchAlgorithm(Phase, Protocol):
    """What the pipeline calls on the ``algo`` object that is not a BudgetedSearch: the resumable phase, then the
    result (nasflat.pipeline._search)."""

    def best(self) -> tuple[Any, float]: ...

    def summary(self) -> dict[str, Any]: ...


class PluginError(ValueError):
    """A ``_target_`` that does not import, a class that misses part of its contract, or a per-space default the
    configured space lacks: one line per problem, each naming the key and what to do."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _is_protocol(cls: type) -> bool:
    """Whether ``cls`` declares a Protocol (``typing.Protocol`` itself carries the flag but declares nothing)."""
    return bool(cls.__dict__.get("_is_protocol")) and cls is not Protocol


def required_names(base: type) -> set[str]:
    """What code that holds a ``base`` may use: a Protocol's declared members (methods, ``__call__``, annotated
    attributes); a class's public methods and properties and its abstract methods."""
    if any(_is_protocol(k) for k in base.__mro__):
        protocols = [k for k in base.__mro__ if _is_protocol(k)]
        names = {n for k in protocols for n in [*vars(k), *inspect.get_annotations(k)]}
        return {n for n in names if not n.startswith("_") or n == "__call__"}
    public = {
        n
        for n in dir(base)
        if not n.startswith("_")
        and (callable(getattr(base, n)) or isinstance(inspect.getattr_static(base, n), property))
    }
    return public | set(getattr(base, "__abstractmethods__", ()))


def _defines(cls: type, name: str) -> bool:
    """Whether ``cls`` (or a base that is not a Protocol stub) defines ``name`` at class level."""
    return any(name in vars(k) for k in cls.__mro__ if k is not object and not _is_protocol(k))


@dataclass(frozen=True)
class Contract:
    """What a class configured at a key matching ``key`` (``*``: any entry of a dict or list node) must offer.

    ``bases``: the class a plugin subclasses, then, when a non-subclass is allowed another shape, the Protocol it
    meets instead; a class is held to the first base it subclasses, else to the last. The required names come from
    that base (``required_names``) plus ``attributes`` (class attributes), less ``set_at_init`` (instance
    attributes the constructor sets, invisible on the class)."""

    key: str
    bases: tuple[str, ...]
    anchor: str
    attributes: tuple[str, ...] = ()
    set_at_init: tuple[str, ...] = ()

    def base_for(self, cls: type) -> str:
        """The base ``cls`` is held to."""
        for dotted in self.bases[:-1]:
            if issubclass(cls, _import_target(dotted)):
                return dotted
        return self.bases[-1]

    def missing(self, cls: type) -> list[str]:
        """The methods and attributes ``cls`` lacks (abstract ones declared but never defined included), sorted."""
        base = _import_target(self.base_for(cls))
        needed = (required_names(base) | set(self.attributes)) - set(self.set_at_init)
        lacking = {n for n in needed if not _defines(cls, n)}
        return sorted(lacking | (needed & getattr(cls, "__abstractmethods__", set())))

    def advice(self, cls: type, missing: list[str]) -> str:
        """What to do, naming the base to subclass (or the Protocol to meet) and the guide's section."""
        chosen = self.base_for(cls)
        attributes = [
            a for a in missing if a in self.attributes or not callable(getattr(_import_target(chosen), a, None))
        ]
        as_attributes = f" ({', '.join(attributes)} as class attributes or properties)" if attributes else ""
        if _is_protocol(_import_target(chosen)):
            how = f"define them{as_attributes} (the {chosen} protocol)"
            how += f", or subclass {self.bases[0]}" if len(self.bases) > 1 else ""
        else:
            how = f"subclass {chosen} and define them{as_attributes}"
        return f"{how}; see {GUIDE}#{self.anchor} {GUIDE_WHERE}"


DIFFERENTIABLE = "nasflat.algorithms.differentiable"
PARTS_ANCHOR = "a-relaxation-or-an-α-gradient"
CONTRACTS = (
    Contract("space", ("nasflat.spaces.base.SearchSpace",), "a-search-space", ("name", "ops")),
    Contract("evaluator", ("nasflat.evaluators.base.Evaluator",), "an-evaluator", ("name",)),
    Contract(
        "algo",
        ("nasflat.algorithms.budgeted.BudgetedSearch", "nasflat.plugins.SearchAlgorithm"),
        "a-sampling-algorithm",
        set_at_init=("total_steps",),
    ),
    Contract("algo.relaxation", (f"{DIFFERENTIABLE}.relaxations.base.Relaxation",), PARTS_ANCHOR),
    Contract("algo.arch_grad", (f"{DIFFERENTIABLE}.arch_grads.ArchGradient",), PARTS_ANCHOR),
    Contract("algo.objective", (f"{DIFFERENTIABLE}.objectives.Objective",), PARTS_ANCHOR),
    Contract("algo.selection", (f"{DIFFERENTIABLE}.selection.Selection",), PARTS_ANCHOR),
    Contract("algo.modifiers.*", (f"{DIFFERENTIABLE}.modifiers.Modifier",), PARTS_ANCHOR),
    Contract("dataset", ("nasflat.context.DataSpec",), "a-dataset"),
)


def check_composition(cfg: DictConfig, choices: Mapping[str, Any] | None = None) -> None:
    """Raise PluginError listing every problem; ``choices`` (Hydra's group choices) name the option that set a key."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(tree, dict)
    choices = dict(choices or {})
    problems = [p for path, target in _targets(tree) if (p := target_problem(path, target, choices))]
    problems += per_space_problems(cfg, tree, choices)
    if problems:
        raise PluginError(problems)


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, key, value) of every entry of the tree, depth first; list items are keyed by their index."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        here = f"{path}.{key}" if path else str(key)
        yield here, key, child
        yield from _walk(child, here)


def _targets(tree: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(dotted key of the node, target) of every ``_target_`` in the tree, interpolated ones left to Hydra."""
    for here, key, child in _walk(tree):
        if key == "_target_" and isinstance(child, str) and "${" not in child:
            yield here.rpartition(".")[0], child


def _origin(path: str, choices: Mapping[str, Any]) -> str:
    """`` (set by space=mine)`` for the deepest config group choice that owns ``path``, else ''."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        group = "/".join(parts[:n])
        choice = choices.get(group)
        if choice is not None:
            shown = f"[{','.join(map(str, choice))}]" if isinstance(choice, list | tuple) else choice
            return f" (set by {group}={shown})"
    return ""


def contract_for(path: str) -> Contract | None:
    """The contract of the extension point at dotted key ``path`` (``algo.modifiers.beta_darts`` -> modifiers)."""
    return next(
        (c for c in CONTRACTS if fnmatch.fnmatchcase(path, c.key) and path.count(".") == c.key.count(".")), None
    )


def target_problem(path: str, target: str, choices: Mapping[str, Any]) -> str | None:
    """Why ``path._target_`` is unusable (it does not import, or its class breaks a contract), else None.

    ``_partial_: true`` changes nothing here: nasflat supplies the remaining arguments, the class is the same."""
    where = f"{path}._target_={target}{_origin(path, choices)}"
    try:
        obj = _import_target(target)
    except _TargetError as e:
        return f"{where}: {e}"
    contract = contract_for(path)
    if contract is None or not inspect.isclass(obj):  # a factory function: its result is known only at run time
        return None
    missing = contract.missing(obj)
    if not missing:
        return None
    kind = contract.base_for(obj).rsplit(".", 1)[1]
    return (
        f"{where}: {obj.__qualname__} does not implement the {kind} contract: missing {', '.join(missing)}; "
        f"{contract.advice(obj, missing)}"
    )


class _TargetError(Exception):
    """Why a dotted path does not import (the text says what to do)."""


def _import_target(dotted: str) -> Any:
    """The object at ``dotted`` (a module path, then attributes), or _TargetError saying which part is missing."""
    parts = dotted.split(".")
    module, n = None, len(parts)
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        try:
            module = importlib.import_module(name)
            break
        except ModuleNotFoundError as e:
            if e.name is None or not (name == e.name or name.startswith(e.name + ".")):
                raise _TargetError(f"importing it failed: {e}; install what it needs into this environment") from e
        except Exception as e:  # the module exists but raises on import
            raise _TargetError(f"importing it failed: {type(e).__name__}: {e}; fix that module") from e
    if module is None:
        raise _TargetError(
            f"no module named {parts[0]!r}; install the package that provides it into this environment "
            "(pip install <package>) or correct the module path in the config that sets this key"
        )
    obj = module
    for i, attr in enumerate(parts[n:], start=n):
        if not hasattr(obj, attr):
            owner = ".".join(parts[:i])
            close = difflib.get_close_matches(attr, [a for a in dir(obj) if not a.startswith("_")], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _TargetError(f"{owner} has no attribute {attr!r}{hint}; correct the name in the config")
        obj = getattr(obj, attr)
    return obj


def per_space_problems(cfg: DictConfig, tree: dict[str, Any], choices: Mapping[str, Any]) -> list[str]:
    """Per-space defaults (``${<node>.${space_name}.<key>}``) that the configured space does not have.

    A method's config keys its defaults by space (``algo.per_space.nb201``, ``...darts``); a space from another
    package has none until the user gives them, which would otherwise surface as an interpolation traceback.
    """
    wanted: dict[str, dict[str, str]] = {}  # node -> key -> a config key that reads it
    for path, text in _strings(tree):
        for node, key in PER_SPACE.findall(text):
            wanted.setdefault(node, {}).setdefault(key, path)
    if not wanted:
        return []
    space = tree.get("space_name")
    if not isinstance(space, str) or "${" in space:
        return [
            f"space_name: not set{_origin('space', choices)}, but {_first(wanted)} reads per-space defaults by it; "
            "add `space_name: <name>` to the space's config"
        ]
    problems = []
    for node, keys in wanted.items():
        lacking = [k for k in keys if _select(cfg, f"{node}.{space}.{k}") is _ABSENT]
        if not lacking:
            continue
        have = _select(cfg, node)
        others = [str(k) for k in have] if isinstance(have, DictConfig) else []
        sets = " ".join(f"+{node}.{space}.{k}=VALUE{_examples(cfg, node, others, k)}" for k in lacking)
        problems.append(
            f"{node}.{space}: missing{_origin(node, choices)}: {keys[lacking[0]]} reads "
            f"${{{node}.${{space_name}}.{lacking[0]}}}, and there are defaults for {', '.join(others) or 'no space'} "
            f"only; set them for space_name={space}: {sets} (see {GUIDE}#per-space-defaults {GUIDE_WHERE})"
        )
    return problems


_ABSENT = object()


def _examples(cfg: DictConfig, node: str, spaces: list[str], key: str) -> str:
    """`` (nb201: 0.01, darts: 0.1)``: what the other spaces use for ``key``."""
    values = [(s, v) for s in spaces if (v := _select(cfg, f"{node}.{s}.{key}")) is not _ABSENT]
    shown = [f"{s}: {json.dumps(OmegaConf.to_container(v) if isinstance(v, DictConfig) else v)}" for s, v in values]
    return f" ({', '.join(shown)})" if shown else ""


def _select(cfg: DictConfig, key: str) -> Any:
    """The node at ``key`` unresolved, or _ABSENT."""
    return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=False, throw_on_missing=False)


def _strings(tree: dict[str, Any]) -> Iterator[tuple[str, str]]:
    return ((here, child) for here, _, child in _walk(tree) if isinstance(child, str))


def _first(wanted: dict[str, dict[str, str]]) -> str:
    return next(iter(next(iter(wanted.values())).values()))
