"""Composition-time checks for what a config brings in from another package (docs/extending.md).

A search space, evaluator, algorithm or dataset from the user's own package reaches nasflat as a ``_target_`` in a
config group that package puts on Hydra's search path. Before anything resolves, runs or reads data, the composed
config is checked here: every ``_target_`` imports; a space or evaluator class meets its contract (the methods of
``SearchSpace`` / ``Evaluator``); and every per-space default a method reads (``${algo.per_space.${space_name}.x}``)
exists for the configured space. Each problem is one line naming the config key, the target and what to do.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

GUIDE = "docs/extending.md"
# `${<node>.${space_name}.<key>}`: a per-space default, e.g. ${algo.per_space.${space_name}.epochs}
PER_SPACE = re.compile(r"\$\{([\w.]+)\.\$\{space_name\}\.([\w.]+)\}")


class PluginError(ValueError):
    """A ``_target_`` that does not import, a class that misses part of its contract, or a per-space default the
    configured space lacks: one line per problem, each naming the key and what to do."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Contract:
    """What a class configured under ``key`` must offer: the public methods of ``base`` (a subclass inherits them;
    its abstract ones must be overridden) and the class attributes ``attributes``."""

    key: str
    base: str
    attributes: tuple[str, ...]
    anchor: str

    def missing(self, cls: type) -> list[str]:
        """The methods and attributes ``cls`` lacks, sorted."""
        base = _import_target(self.base)
        needed = {n for n in dir(base) if not n.startswith("_")} | set(self.attributes) | base.__abstractmethods__
        lacking = {n for n in needed if not hasattr(cls, n)}
        return sorted(lacking | (needed & getattr(cls, "__abstractmethods__", set())))  # declared, never defined


CONTRACTS = (
    Contract("space", "nasflat.spaces.base.SearchSpace", ("name", "ops"), "a-search-space"),
    Contract("evaluator", "nasflat.evaluators.base.Evaluator", ("name",), "an-evaluator"),
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


def _targets(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, target) of every ``_target_`` in the tree, interpolated ones left to Hydra."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        here = f"{path}.{key}" if path else str(key)
        if key == "_target_" and isinstance(child, str) and "${" not in child:
            yield path, child
        elif isinstance(child, dict | list):
            yield from _targets(child, here)


def _origin(path: str, choices: Mapping[str, Any]) -> str:
    """`` (set by space=mine)`` for the deepest config group choice that owns ``path``, else ''."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        group = "/".join(parts[:n])
        if choices.get(group) is not None:
            return f" (set by {group}={choices[group]})"
    return ""


def target_problem(path: str, target: str, choices: Mapping[str, Any]) -> str | None:
    """Why ``path._target_`` is unusable (it does not import, or its class breaks a contract), else None."""
    where = f"{path}._target_={target}{_origin(path, choices)}"
    try:
        obj = _import_target(target)
    except _TargetError as e:
        return f"{where}: {e}"
    contract = next((c for c in CONTRACTS if c.key == path), None)
    if contract is None or not inspect.isclass(obj):  # a factory function: its result is known only at run time
        return None
    missing = contract.missing(obj)
    if not missing:
        return None
    base = contract.base.rsplit(".", 1)[1]
    attributes = [a for a in contract.attributes if a in missing]
    as_attributes = f" ({', '.join(attributes)} as class attributes)" if attributes else ""
    return (
        f"{where}: {obj.__qualname__} does not implement the {base} contract: missing {', '.join(missing)}; "
        f"subclass {contract.base} and define them{as_attributes}, see {GUIDE}#{contract.anchor}"
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
            f"only; set them for space_name={space}: {sets} (see {GUIDE}#per-space-defaults)"
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


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(child, str):
            yield here, child
        else:
            yield from _strings(child, here)


def _first(wanted: dict[str, dict[str, str]]) -> str:
    return next(iter(next(iter(wanted.values())).values()))
