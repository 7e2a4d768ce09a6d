"""`nasflat list [GROUP] [hydra.searchpath=[...]]`: every config group's options, each with a one-line description.

The groups are read through Hydra's own config repository over the same search path `nasflat search` composes
from (nasflat's ``pkg://nasflat.conf``, every installed ``hydra_plugins.*`` SearchPathPlugin, ``hydra.searchpath``
entries and Hydra's ConfigStore), so an installed plugin's options appear without nasflat knowing about it.
A YAML option's description is the first sentence of its file's opening comment, cut to one line.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigSource

MAIN_PROVIDER = "main"  # Hydra's name for the primary config source: nasflat's pkg://nasflat.conf
SEARCHPATH_PROVIDER = "hydra.searchpath in command-line"  # Hydra's name for entries given as hydra.searchpath=[...]
HYDRA_ORIGINS = ("pkg://hydra.conf", "hydra")  # Hydra's own YAML package and its own ConfigStore entries
# groups a config picks for the user: `algo_family` is named by each algo config (it selects the run scale's sizes)
PICKED_BY_CONFIGS = ("algo_family",)
DESCRIPTION_WIDTH = 110  # characters of an option's description, "…" included
SENTENCE_END = re.compile(r"\.\s+(\S)")  # a period, whitespace, then the next word's first character


HELP_FLAGS = ("-h", "--help")
LIST_USAGE = """usage: nasflat list [GROUP] [hydra.searchpath=[pkg://PACKAGE.conf,file://DIR]]

Every config group's options with a one-line description (the first sentence of the option's opening comment);
options from installed plugins or hydra.searchpath entries are marked with where they come from.
  nasflat list                      all groups
  nasflat list algo/relaxation      one group's options (pick one with algo/relaxation=NAME)
  nasflat list hydra.searchpath=[file://DIR]
                                    include the config groups under DIR
"""


class UnknownGroupError(ValueError):
    """A group (or argument) `nasflat list` cannot resolve; the message lists what it accepts."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One choice of a group; ``origin`` is "" for nasflat's own configs, else the search-path entry (or the
    ConfigStore provider) that contributes it, so a user sees which installed package to read about it."""

    name: str
    description: str
    origin: str = ""


@dataclasses.dataclass(frozen=True)
class Group:
    name: str
    options: tuple[Option, ...]

    def option_names(self, origin: str | None = None) -> list[str]:
        return [o.name for o in self.options if origin is None or o.origin == origin]


def opening_comment(text: str) -> str:
    """A YAML file's opening comment block as one line: the ``#`` lines at the top (leading blank lines and
    ``# @package`` lines skipped, an empty ``#`` line after text ends it), whitespace runs collapsed to one space.
    Content before any comment gives "": a later comment describes a key, not the file."""
    bodies: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped and not bodies:
            continue
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if body.startswith("@package"):
            continue
        if not body and bodies:
            break
        bodies.append(body)
    return " ".join(" ".join(bodies).split())


def first_sentence(text: str) -> str:
    """Up to the first period followed by whitespace and an uppercase word, so that dotted names
    (``docs/methods.md#a2m``, ``search.yaml``, ``0.025``) and ``e.g. x`` do not end the sentence."""
    for end in SENTENCE_END.finditer(text):
        if end.group(1).isupper():
            return text[: end.start() + 1]
    return text


def shorten(text: str, limit: int = DESCRIPTION_WIDTH) -> str:
    """``text`` if it fits ``limit`` characters, else its words before the limit and "…", so a listing line stays
    one terminal line and never ends mid-word; trailing symbol-only words (``=``, ``->``) and ``,;:.`` are dropped."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    words = (text[:cut] if cut > 0 else text[: limit - 1]).split(" ")
    while len(words) > 1 and not any(c.isalnum() for c in words[-1]):
        words.pop()
    return " ".join(words).rstrip(",;:.") + "…"


def description(text: str) -> str:
    """A YAML file's description: the first sentence of its opening comment, shortened to one listing line."""
    return shorten(first_sentence(opening_comment(text)))


def _origin(source: ConfigSource, provider: str | None) -> str:
    if source.provider == MAIN_PROVIDER:
        return ""
    if source.scheme() == "structured":
        return provider or source.provider
    return f"{source.scheme()}://{source.path}"


def _yaml_text(source: ConfigSource, config_path: str) -> str | None:
    """The raw text of a YAML option (comments included, which Hydra's loader drops)."""
    if source.scheme() == "file":
        return (Path(source.path) / f"{config_path}.yaml").read_text(encoding="utf-8")
    if source.scheme() == "pkg":
        return importlib.resources.files(source.path).joinpath(f"{config_path}.yaml").read_text(encoding="utf-8")
    return None


def _structured_description(node: Any) -> str:
    """A ConfigStore entry's description: its class docstring's first line, unless dataclass generated it."""
    from omegaconf import OmegaConf

    kind = OmegaConf.get_type(node)
    if kind is None or kind in (dict, list):
        return ""
    doc = (kind.__doc__ or "").strip()
    first = doc.splitlines()[0].strip() if doc else ""
    return first if first and not first.startswith(f"{kind.__name__}(") else f"structured config {kind.__name__}"


def _option(source: ConfigSource, group: str, name: str) -> Option:
    path = f"{group}/{name}" if group else name
    if (text := _yaml_text(source, path)) is not None:
        return Option(name, description(text), _origin(source, None))
    loaded = source.load_config(path)
    if loaded is None:  # a source that lists an option it cannot load: no description to show
        return Option(name, "", _origin(source, None))
    return Option(name, _structured_description(loaded.config), _origin(source, loaded.provider))


def searchpath_override(args: Sequence[str]) -> list[str]:
    """The entries of a ``hydra.searchpath=[...]`` argument, parsed by Hydra's override grammar."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        overrides = OverridesParser.create().parse_overrides(list(args))
    except HydraException as e:
        raise UnknownGroupError(f"nasflat list: cannot parse {' '.join(args)}: {e}") from None
    entries: list[str] = []
    for override in overrides:
        value = override.value()
        if override.get_key_element() != "hydra.searchpath" or not isinstance(value, list):
            raise UnknownGroupError(
                f"nasflat list takes a group and hydra.searchpath=[pkg://PACKAGE,file://DIR] only, not "
                f"{override.input_line!r}"
            )
        entries += [str(v) for v in value]
    return entries


def config_sources(searchpath: Sequence[str] = ()) -> list[ConfigSource]:
    """Hydra's config sources in lookup order: Hydra's own, nasflat's, SearchPathPlugins', ``hydra.searchpath``
    entries, then the ConfigStore (as ConfigLoaderImpl orders them, so the first source holding an option wins)."""
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.utils import create_config_search_path

    path = create_config_search_path("pkg://nasflat.conf")  # runs every plugin's manipulate_search_path
    schema = path.get_path().pop(-1)  # the ConfigStore stays last, after the searchpath entries
    for entry in searchpath:
        path.append(SEARCHPATH_PROVIDER, entry)
    path.append(schema.provider, schema.path)
    sources = ConfigRepository(path).get_sources()
    # an entry given here must exist (a typo would list nothing); an installed plugin's missing entry lists nothing,
    # as Hydra itself only warns about it
    if missing := [
        f"{s.scheme()}://{s.path}" for s in sources if s.provider == SEARCHPATH_PROVIDER and not s.available()
    ]:
        raise UnknownGroupError(
            f"hydra.searchpath entry {', '.join(missing)} is not available: give an existing directory "
            "(file://DIR) or an importable package (pkg://PACKAGE.conf)"
        )
    return sources


def config_groups(searchpath: Sequence[str] = ()) -> dict[str, Group]:
    """Every config group on the search path (nested ones too), sorted, with each option from its first source."""
    sources = config_sources(searchpath)
    groups: dict[str, Group] = {}
    pending = [""]
    while pending:
        parent = pending.pop()
        for name in sorted({g for s in sources if s.is_group(parent) for g in s.list(parent, ObjectType.GROUP)}):
            group = f"{parent}/{name}" if parent else name
            options: dict[str, Option] = {}
            for source in sources:
                if source.is_group(group):
                    for option in source.list(group, ObjectType.CONFIG):
                        if option not in options:
                            options[option] = _option(source, group, option)
            groups[group] = Group(group, tuple(options[k] for k in sorted(options)))
            pending.append(group)
    return dict(sorted(groups.items()))


def is_listed(group: Group, groups: dict[str, Group]) -> bool:
    """Whether `nasflat list` shows a group: not the parts of one option (``scale/demo/...`` belongs to
    ``scale=demo``), not picked by configs, and among Hydra's groups only those something else adds to
    (hydra/launcher, hydra/sweeper: logging and help formats are Hydra's own, documented by Hydra)."""
    if not group.options or group.name.split("/")[0] in PICKED_BY_CONFIGS:
        return False
    parts = group.name.split("/")
    for i in range(1, len(parts)):
        parent = groups.get("/".join(parts[:i]))
        if parent is not None and parts[i] in parent.option_names():
            return False
    if parts[0] == "hydra":
        return any(o.origin not in HYDRA_ORIGINS for o in group.options)
    return True


def listed_groups(searchpath: Sequence[str] = (), groups: dict[str, Group] | None = None) -> list[Group]:
    """The groups a user chooses from, as `nasflat list` prints them (of ``groups`` when already read)."""
    groups = config_groups(searchpath) if groups is None else groups
    return [g for g in groups.values() if is_listed(g, groups)]


def format_group(group: Group) -> str:
    """The group's name, then one line per option: name, description, and where a non-nasflat option comes from."""
    width = max(len(o.name) for o in group.options) + 2
    lines = [group.name]
    for o in group.options:
        origin = f"  [{o.origin}]" if o.origin else ""
        lines.append(f"  {o.name:<{width}}{o.description}{origin}".rstrip())
    return "\n".join(lines)


def list_command(args: Sequence[str]) -> str:
    """The text of `nasflat list [GROUP] [hydra.searchpath=[...]]` (its usage for -h/--help); an unknown group
    raises UnknownGroupError."""
    if any(a in HELP_FLAGS for a in args):
        return LIST_USAGE
    names = [a.strip("/") for a in args if "=" not in a]
    searchpath = searchpath_override([a for a in args if "=" in a])
    if len(names) > 1:
        raise UnknownGroupError(f"nasflat list takes at most one group, got {len(names)}: {' '.join(names)}")
    groups = config_groups(searchpath)
    listed = listed_groups(groups=groups)
    if not names:
        return "\n\n".join(format_group(g) for g in listed) + "\n"
    group = groups.get(names[0])
    if group is None or not group.options:
        raise UnknownGroupError(
            f"unknown config group {names[0]!r}; the groups are: {', '.join(g.name for g in listed)}"
        )
    return format_group(group) + "\n"
