"""What a config value may be, read from the annotations of the callable it configures (one place of truth).

A ``Signature`` lists the keyword parameters a config node may set on its ``_target_``; ``matches`` and
``describe`` check a plain value (after OmegaConf resolution) against a parameter's annotation: ``int`` refuses
``1.5`` and ``true``, ``Literal[...]`` refuses anything outside its options, ``X | None`` also takes ``null``,
sequences take lists, and a class (``SGDConfig``, ``Neighborhood``...) takes a node with its own ``_target_``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal, Union, get_args, get_origin

NUMBER_KINDS = (int, float)
SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable, collections.abc.Collection)
MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


@dataclasses.dataclass(frozen=True)
class Signature:
    """The parameters a config node may set on ``owner`` (a class or function name, for messages)."""

    owner: str
    params: dict[str, inspect.Parameter]  # settable from the config, in signature order
    hints: dict[str, Any]  # resolved annotations (missing or unresolvable: Any)
    supplied: frozenset[str] = frozenset()  # positional parameters the caller passes to a partial factory
    open: bool = False  # **kwargs that go to a place nasflat cannot check

    def required(self) -> list[str]:
        """Parameters the config must set (no default, not passed by the caller)."""
        return [n for n, p in self.params.items() if p.default is inspect.Parameter.empty]

    def merged(self, other: Signature) -> Signature:
        """This signature with ``other``'s parameters added (where ``**kwargs`` are forwarded to)."""
        params = {**self.params, **{k: p for k, p in other.params.items() if k not in self.params}}
        return dataclasses.replace(self, params=params, hints={**other.hints, **self.hints}, open=other.open)


def signature_of(fn: Callable[..., Any], *, partial: bool = False, skip: Iterable[str] = ()) -> Signature:
    """The config-settable parameters of ``fn`` (a class: its constructor). A partial factory gets its positional
    parameters from the pipeline (``ctx``, ``evaluator``, ``supernet``) and its keyword-only ones from the config;
    ``skip`` names further parameters the caller always passes (``num_classes``, ``arch``)."""
    params, supplied, is_open = {}, set(), False
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind is p.VAR_KEYWORD:
            is_open = True
        elif p.kind is p.VAR_POSITIONAL or name in skip:
            continue
        elif partial and p.kind is not p.KEYWORD_ONLY:
            supplied.add(name)
        else:
            params[name] = p
    hints = {n: h for n, h in annotations_of(fn).items() if n in params}
    return Signature(getattr(fn, "__qualname__", str(fn)), params, hints, frozenset(supplied), is_open)


def annotations_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """Resolved parameter annotations; one that cannot be resolved (an import only for type checkers) is Any."""
    target = fn.__init__ if inspect.isclass(fn) and not dataclasses.is_dataclass(fn) else fn
    try:
        return typing.get_type_hints(target)
    except Exception:  # some annotation names a type-checking-only import: resolve them one by one
        return _annotations_one_by_one(target)


def _annotations_one_by_one(target: Callable[..., Any]) -> dict[str, Any]:
    module = inspect.getmodule(target)
    namespace = {**vars(typing), **(vars(module) if module else {})}
    hints = {}
    for name, ann in getattr(target, "__annotations__", {}).items():
        holder = types.SimpleNamespace(__annotations__={name: ann})
        try:
            hints[name] = typing.get_type_hints(holder, globalns=namespace)[name]
        except Exception:  # unresolvable: any value is accepted
            hints[name] = Any
    return hints


def matches(value: Any, hint: Any) -> bool:
    """Whether a resolved config value fits the annotation ``hint`` (unknown kinds of annotation accept it)."""
    if hint is Any:
        return True
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint is type(None):
        return value is None
    if hint in (bool, int, float, str):
        return _scalar(value, hint)
    if origin in SEQUENCES or hint in (list, tuple):
        return isinstance(value, list) and _items_match(value, origin, args)
    if origin in MAPPINGS or hint is dict:
        return isinstance(value, dict) and all(matches(v, args[1] if args else Any) for v in value.values())
    if (inspect.isclass(hint) and hint is not object) or origin is collections.abc.Callable:
        return isinstance(value, dict) and "_target_" in value  # built by its own _target_ node
    return True


def _scalar(value: Any, hint: type) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, NUMBER_KINDS) and not isinstance(value, bool)
    return isinstance(value, str)


def _items_match(value: list[Any], origin: Any, args: tuple[Any, ...]) -> bool:
    if origin is tuple and args and args[-1] is not Ellipsis:
        return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
    return all(matches(v, args[0] if args else Any) for v in value)


def describe(hint: Any, bounds: str = "") -> str:
    """``hint`` in words, e.g. 'an integer >= 1 or null'; ``bounds`` is appended to every number in it."""
    if hint is Any:
        return "anything"
    origin, args = get_origin(hint), get_args(hint)
    suffix = f" {bounds}" if bounds else ""
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a, bounds) for a in args))
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    words = {bool: "true or false", int: f"an integer{suffix}", float: f"a number{suffix}", str: "a string"}
    if hint in words:
        return words[hint]
    if hint is type(None):
        return "null"
    if origin in SEQUENCES or hint in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} items (each {describe(args[0], bounds)})"
        return f"a list (each item {describe(args[0], bounds)})" if args else "a list"
    if origin in MAPPINGS or hint is dict:
        return "a mapping"
    if inspect.isclass(hint) and hint is not object:
        return f"a {hint.__name__} node (with its _target_)"
    return "anything"


def is_choice(hint: Any) -> bool:
    """Whether ``hint`` enumerates its accepted values (a Literal, possibly with None)."""
    origin = get_origin(hint)
    return origin is Literal or (origin in (Union, types.UnionType) and any(is_choice(a) for a in get_args(hint)))


def kind_of(value: Any) -> str:
    """What a wrong value is, in words (for 'wrong type (...)')."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "a mapping"
