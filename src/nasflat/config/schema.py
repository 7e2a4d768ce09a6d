"""Check the composed config against its targets before any data is read or network built.

Every node with a ``_target_`` may set only parameters of that callable (``inspect.signature``), with values
that fit their annotations (``config.types``) and, for numbers, the range of their name (``config.ranges``).
``**kwargs`` are followed to where they go (``FORWARDED``), option dicts (``search_net``, ``network``) are checked
against the space's builders, and ranges apply only to phases that run (``supernet.epochs`` with an evaluator that
needs a trained supernet, ``retrain.*`` when retraining). All problems are reported at once, one line each.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nasflat.config.differentiable import parts_problems
from nasflat.config.ranges import range_for
from nasflat.config.types import Signature, describe, is_choice, kind_of, matches, signature_of
from nasflat.data.custom import config_problems

MISSING = "???"
META_KEYS = frozenset({"_target_", "_partial_", "_convert_", "_recursive_", "_args_"})
HINT = (
    "hint: set these keys on the command line (key=value) or drop them from the preset that sets them; "
    "`nasflat {command} --cfg job ...` prints the composed config"
)
# where a target's **kwargs go: the callable whose parameters they must be ("space.<method>": the configured space's)
FORWARDED = {
    "nasflat.evaluators.combined._WithFlatness": "nasflat.evaluators.flatness.FlatnessEvaluator",
    "nasflat.train.SupernetTrainer": "space.supernet",
}
# option dicts passed as keywords to a method of the configured space (by key name), and the arguments it gets anyway
SPACE_OPTIONS = {"search_net": "supernet", "network": "network"}
SPACE_ARGS = ("self", "num_classes", "arch")
# keys outside any _target_ node, by dotted path
TOP_LEVEL: dict[str, Any] = {
    "seed": int,
    "restart": bool,
    "out_root": str,
    "objective": str | None,
    "arch": str | None,  # null: analyze weights without a supernet path
    "run_dir": str,  # analyze weights RUN_DIR
    "source": str,
    "out": str,
    "benchmark.nb201_table": str | None,
    "space_name": str,  # the key of per-space method defaults (algo.per_space.<space_name>)
}


@dataclass(frozen=True)
class Rule:
    """A constraint between parameters of one target that no single annotation or range expresses."""

    keys: tuple[str, ...]
    holds: Callable[..., bool]
    accepted: str


RULES: dict[str, tuple[Rule, ...]] = {
    "nasflat.algorithms.evolution.Evolution": (
        Rule(
            ("mutations", "crossovers", "population"),
            lambda m, c, n: m + c <= n,
            "mutations + crossovers <= population",
        ),
    ),
}


# checks that build a target's parts (cheap objects) to refuse combinations before any work:
# (path, settings, whole tree) -> [(key, value, what, accepted)]
PART_CHECKS: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], list[tuple[str, Any, str, str]]]] = {
    "nasflat.algorithms.differentiable.harness.DifferentiableSearch": parts_problems,
    "nasflat.context.DataSpec": config_problems,  # a user's folder or file: given, existing, usable settings
}


class ConfigError(ValueError):
    """The composed config breaks the schema: one ``config error:`` line per problem, then a hint."""

    def __init__(self, problems: list[str], command: str) -> None:
        self.problems = problems
        super().__init__("\n".join([*problems, HINT.format(command=command)]))


def validate(cfg: DictConfig, command: str) -> None:
    """Raise ConfigError listing every problem of ``cfg`` for ``command`` (search, retrain, info, data check)."""
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        line = f"config error: {key}: {str(e).splitlines()[0]}; accepted: a value that resolves"
        raise ConfigError([line], command) from e
    assert isinstance(tree, dict)
    problems = _Checker(tree, command).run()
    if problems:
        raise ConfigError(problems, command)


def show(value: Any) -> str:
    """A value as it would be typed on the command line (short)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str).replace('"', "")
    text = text if text != "" else "''"
    return text if len(text) <= 60 else text[:57] + "..."


def problem(key: str, value: Any, what: str, accepted: str) -> str:
    return f"config error: {key}={show(value)}: {what}; accepted: {accepted}"


def _locate(path: Any) -> Any:
    if not path:  # no such node (e.g. `nasflat retrain` has no algo): nothing to look up, nothing to log
        return None
    try:
        return get_object(str(path))
    except Exception:  # hydra names the import error itself when it instantiates
        return None


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def _inactive(tree: dict[str, Any], command: str) -> set[str]:
    """Top-level phase nodes that will not run: their numbers are not range-checked (types and keys still are)."""
    algo, evaluator = (_locate((tree.get(k) or {}).get("_target_")) for k in ("algo", "evaluator"))
    uses_evaluator = command == "search" and bool(getattr(algo, "uses_evaluator", True))
    needs_supernet = command == "analyze evaluators" or (
        command == "search"
        and (
            bool(getattr(algo, "needs_supernet", False))
            or (uses_evaluator and bool(getattr(evaluator, "needs_supernet", False)))
        )
    )
    retrain = tree.get("retrain")
    retrains = command in ("search", "retrain") and not (isinstance(retrain, dict) and retrain.get("enabled") is False)
    off = {"evaluator": not uses_evaluator, "supernet": not needs_supernet, "retrain": not retrains}
    return {k for k, is_off in off.items() if is_off}


class _Checker:
    """One pass over the resolved config tree, collecting problem lines."""

    def __init__(self, tree: dict[str, Any], command: str) -> None:
        self.tree, self.problems = tree, []
        self.space = _locate((tree.get("space") or {}).get("_target_"))
        self.inactive = _inactive(tree, command)

    def run(self) -> list[str]:
        for dotted, hint in TOP_LEVEL.items():
            head, _, rest = dotted.partition(".")
            node = self.tree.get(head)
            if rest and isinstance(node, dict) and rest in node:
                self.value(dotted, rest, node[rest], hint, active=True)
            elif not rest and head in self.tree:
                self.value(dotted, head, node, hint, active=True)
        for key, node in self.tree.items():
            if isinstance(node, dict):
                self.node(key, node, active=key not in self.inactive)
        self.space_instance()
        return self.problems

    def space_instance(self) -> None:
        """Build the space (cheap: no network) so its own refusals (an op set file, an op set it lacks) are config
        errors naming the key, before any work."""
        node = self.tree.get("space")
        if not isinstance(node, dict) or "_target_" not in node or self._has_problems("space"):
            return
        try:
            instantiate(node, _convert_="all")
        except Exception as e:  # hydra wraps the constructor's error: report the constructor's message
            cause = e.__cause__ or e
            named = [k for k, v in node.items() if k != "_target_" and v is not None and str(v) in str(cause)]
            named.sort(key=lambda k: -len(str(node[k])))  # the most specific value the message quotes
            key = f"space.{named[0]}" if named else "space"
            value = node.get(key.partition(".")[2], node["_target_"])
            accepted = "see the space's options in its config file (conf/space/, or its plugin's conf/space/)"
            self.problems.append(problem(key, value, str(cause), accepted))

    def node(self, path: str, node: dict[str, Any], active: bool) -> None:
        if "_target_" in node:
            self.target(path, node, active)
        elif path in SPACE_OPTIONS:
            self.space_options(path, path, node, active)
        else:
            for key, child in node.items():
                if isinstance(child, dict):
                    self.node(f"{path}.{key}", child, active)

    def target(self, path: str, node: dict[str, Any], active: bool) -> None:
        fn = _locate(node["_target_"])
        if fn is None:
            self.problems.append(problem(f"{path}._target_", node["_target_"], "cannot be imported", "a callable"))
            return
        sig = self.signature(fn, partial=bool(node.get("_partial_", False)))
        settings = {k: v for k, v in node.items() if k not in META_KEYS}
        self.keywords(path, settings, sig, active)
        for name in (n for n in sig.required() if n not in settings):
            accepted = describe(sig.hints.get(name, Any))
            self.problems.append(problem(f"{path}.{name}", MISSING, f"missing, {sig.owner} needs it", accepted))
        if active:
            self.rules(path, fn, settings, sig)
            if (check := PART_CHECKS.get(_qualname(fn))) is not None and not self._has_problems(path):
                self.problems.extend(problem(*found) for found in check(path, settings, self.tree))

    def _has_problems(self, path: str) -> bool:
        return any(p.startswith(f"config error: {path}.") for p in self.problems)

    def signature(self, fn: Any, partial: bool) -> Signature:
        """``fn``'s settable parameters, with those of wherever its ``**kwargs`` are forwarded."""
        sig = signature_of(fn, partial=partial)
        dest = next((FORWARDED[q] for q in map(_qualname, getattr(fn, "__mro__", (fn,))) if q in FORWARDED), None)
        if sig.open and dest is not None:
            if dest.startswith("space.") and self.space is None:
                return sig
            where = getattr(self.space, dest[len("space.") :]) if dest.startswith("space.") else _locate(dest)
            sig = sig.merged(signature_of(where, partial=not dest.startswith("space."), skip=SPACE_ARGS))
        return sig

    def keywords(self, path: str, settings: dict[str, Any], sig: Signature, active: bool) -> None:
        for key, value in settings.items():
            dotted = f"{path}.{key}"
            if key in sig.params:
                self.value(dotted, key, value, sig.hints.get(key, Any), active)
            elif key in sig.supplied:
                self.problems.append(problem(dotted, value, "passed by nasflat at run time", "no such key here"))
            elif not sig.open:
                self.problems.append(problem(dotted, value, _unknown(sig, key), ", ".join(sig.params) or "no keys"))

    def value(self, dotted: str, name: str, value: Any, hint: Any, active: bool) -> None:
        if value == MISSING:
            self.problems.append(problem(dotted, value, "missing, a value is required", describe(hint)))
            return
        bounds = range_for(name)
        if not matches(value, hint):
            what = "not an option" if is_choice(hint) else f"wrong type ({kind_of(value)})"
            self.problems.append(problem(dotted, value, what, describe(hint, str(bounds or ""))))
        elif isinstance(value, dict) and "_target_" in value:
            self.target(dotted, value, active)
        elif isinstance(value, dict) and value and all(isinstance(v, dict) and "_target_" in v for v in value.values()):
            for key, node in value.items():  # a mapping of parts, e.g. algo.modifiers.<name>
                self.target(f"{dotted}.{key}", node, active)
        elif isinstance(value, dict) and name in SPACE_OPTIONS:
            self.space_options(dotted, name, value, active)
        elif active and bounds is not None and any(not bounds.contains(x) for x in _numbers(value)):
            self.problems.append(problem(dotted, value, "out of range", describe(hint, str(bounds))))

    def space_options(self, path: str, name: str, options: dict[str, Any], active: bool) -> None:
        """Keywords for ``space.supernet`` / ``space.network``: checked against the configured space's method."""
        method = getattr(self.space, SPACE_OPTIONS[name], None)
        if method is not None:
            sig = signature_of(method, skip=SPACE_ARGS)
            owner = f"{self.space.__name__}.{SPACE_OPTIONS[name]}"
            self.keywords(path, options, Signature(owner, sig.params, sig.hints, open=sig.open), active)

    def rules(self, path: str, fn: Any, settings: dict[str, Any], sig: Signature) -> None:
        """Cross-parameter rules, checked once every parameter involved has a value of the right type."""
        for rule in RULES.get(_qualname(fn), ()):
            values = [settings.get(k, sig.params[k].default) for k in rule.keys if k in sig.params]
            typed = len(values) == len(rule.keys) and all(map(matches, values, (sig.hints.get(k) for k in rule.keys)))
            if typed and not rule.holds(*values):
                key = ",".join(f"{path}.{k}" for k in rule.keys)
                self.problems.append(problem(key, values, "inconsistent", rule.accepted))


def _unknown(sig: Signature, key: str) -> str:
    close = difflib.get_close_matches(key, list(sig.params), n=1, cutoff=0.6)
    return f"{sig.owner} does not take `{key}`" + (f" (did you mean `{close[0]}`?)" if close else "")


def _numbers(value: Any) -> list[float]:
    """The numbers a value holds (itself, or the items of a list), booleans excluded."""
    items = value if isinstance(value, list) else [value]
    return [x for x in items if isinstance(x, int | float) and not isinstance(x, bool)]
