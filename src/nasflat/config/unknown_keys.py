"""A command-line override of a key the composed config lacks, said as nasflat says any config error.

Hydra refuses ``algo.epoch=3`` ("Key 'epoch' is not in struct ... To append to your config use +algo.epoch=3"),
which for a typo is the wrong advice. Here the override is tried as ``+algo.epoch=3`` and the schema check answers:
a parameter the target does not take is named with its closest match and what the target accepts; a key under a
node without a target (``hardware``, the top level) gets the closest key there. Only when the key is a real
parameter the preset does not list does Hydra's own advice (append it with ``+``) stand.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from nasflat.config.schema import HINT, ConfigError, problem, validate

NOT_IN_STRUCT = re.compile(r"Could not override '([^']+)'")


def unknown_key_problems(error: BaseException, config_name: str, overrides: Sequence[str], command: str) -> str | None:
    """``config error:`` lines and the hint for Hydra's struct refusal ``error``; None where Hydra's own message is
    right (or the override cannot be retried, e.g. a sweep list)."""
    found = NOT_IN_STRUCT.search(str(error))
    if not found or "not in struct" not in str(error.__cause__ or ""):
        return None
    key = found.group(1)
    given = next((o for o in overrides if o.split("=", 1)[0] == key), None)
    if given is None:
        return None
    value = given.split("=", 1)[1]
    rest = [o for o in overrides if o is not given and not o.startswith(("hydra.", "hydra/"))]
    try:
        from hydra import compose

        cfg = compose(config_name, overrides=[*rest, f"+{key}={value}"])
    except Exception:  # another bad override, or a sweep value: Hydra's message stands
        return None
    lines = _schema_lines(cfg, key, command) or _closest_key(cfg, key, value)
    return None if not lines else "\n".join([*lines, HINT.format(command=command)])


def _schema_lines(cfg: DictConfig, key: str, command: str) -> list[str]:
    """The schema's own lines about ``key`` (a target that does not take it: closest parameter, accepted ones)."""
    try:
        validate(cfg, command)
    except ConfigError as e:
        return [p for p in e.problems if p.startswith(f"config error: {key}=")]
    return []


def _closest_key(cfg: DictConfig, key: str, value: str) -> list[str]:
    """For a key under a node without a target: the node's keys, the closest first."""
    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig) or "_target_" in node:
        return []  # a target's real parameter the preset does not list: append it with +key=value
    keys = [str(k) for k in node if str(k) != name]
    close = difflib.get_close_matches(name, keys, n=1, cutoff=0.6)
    where = f"`{parent}`" if parent else "the config's top level"
    what = f"{where} has no key `{name}`" + (f" (did you mean `{close[0]}`?)" if close else "")
    return [problem(key, value, what, ", ".join(keys))]
