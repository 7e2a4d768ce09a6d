"""Refuse a differentiable method whose parts cannot work together, at config validation (before any work).

The parts (relaxation, objective, α-gradient, modifiers, selection) are small objects, so they are built here from
their config nodes and asked the same questions the harness asks when it starts
(:meth:`nasflat.algorithms.differentiable.harness.Parts.problems`); docs/methods.md#the-differentiable-harness.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate

PARTS = ("relaxation", "objective", "arch_grad", "selection")
ACCEPTED = "a combination of parts that works together (docs/methods.md#the-differentiable-harness)"


def _shown(node: Any) -> str:
    """A part as the user picked it: its class name (``A2M``, ``Gumbel``...)."""
    target = node.get("_target_", "?") if isinstance(node, dict) else str(node)
    return str(target).rsplit(".", 1)[-1]


def parts_problems(path: str, settings: dict[str, Any], tree: dict[str, Any]) -> list[tuple[str, Any, str, str]]:
    """(key, value, what, accepted) per problem of the method configured at ``path`` (e.g. ``algo``), including a
    supernet the parts need (e.g. partial channels) that the run's ``search_net`` cannot give."""
    from nasflat.algorithms.differentiable.harness import Parts

    nodes = {k: settings[k] for k in PARTS if isinstance(settings.get(k), dict)}
    modifiers = settings.get("modifiers") or {}
    built: dict[str, Any] = {}
    try:
        built = {k: instantiate(v, _convert_="all") for k, v in nodes.items()}
        built["modifiers"] = {k: instantiate(v, _convert_="all") for k, v in modifiers.items()}
    except Exception as e:  # a part refusing its own settings: the message is the constructor's
        cause = e.__cause__ or e
        return [(path, "...", f"a part cannot be built: {cause}", ACCEPTED)]
    parts = Parts(**built)
    found = parts.problems(
        eval_images=settings.get("eval_images"), track_hessian=bool(settings.get("track_hessian", True))
    )
    shown = {**nodes, **{f"modifiers.{k}": v for k, v in modifiers.items()}}
    out = [(f"{path}.{key}", _shown(shown.get(key)), reason, ACCEPTED) for key, reason in found]
    return out or _supernet_problems(path, parts.supernet_options(), tree)


def _supernet_problems(path: str, options: dict[str, Any], tree: dict[str, Any]) -> list[tuple[str, Any, str, str]]:
    """Build the search supernet on the meta device (no memory, no compute) with the parts' build options."""
    import torch

    if not options or not isinstance(tree.get("space"), dict):
        return []
    net = dict(tree.get("search_net") or {})
    try:
        space = instantiate(tree["space"], _convert_="all")
        with torch.device("meta"):
            space.supernet(10, **net, **options)
    except (TypeError, ValueError) as e:
        shown = ", ".join(f"{k}={v}" for k, v in options.items())
        what = f"the search supernet cannot be built with search_net={net or '{}'} and {shown}: {e}"
        return [(f"{path}.relaxation", shown, what, "a search_net width these options divide (e.g. search_net.C)")]
    return []
