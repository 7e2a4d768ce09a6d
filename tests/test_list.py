"""`nasflat list`: the groups and options equal the YAML files on disk, plugins' entries appear, the README's table
agrees with it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasflat import listing
from nasflat.cli import main

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def _comment_words(path: Path) -> list[str]:
    """The words of a YAML file's opening ``#`` block (no ``@package`` line; an empty ``#`` after text ends it)."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").lstrip().splitlines():
        if not line.lstrip().startswith("#") or (words and not line.strip("# \t")):
            break
        if not line.lstrip("# \t").startswith("@package"):
            words += line.lstrip().lstrip("#").split()
    return words


def _expected(path: Path) -> str:
    """The description rule, word by word: words up to one ending in "." before a capitalised word (or the last
    word), then, past 110 characters, the words that fit 109 with "…" (symbol-only words and ,;:. dropped)."""
    words = _comment_words(path)
    sentence: list[str] = []
    for word, following in zip(words, [*words[1:], ""]):
        sentence.append(word)
        if word.endswith(".") and following[:1].isupper():
            break
    if len(" ".join(sentence)) <= 110:
        return " ".join(sentence)
    kept: list[str] = []
    for word in sentence:
        if len(" ".join([*kept, word])) > 109:
            break
        kept.append(word)
    while not re.search(r"\w", kept[-1]):
        kept.pop()
    return " ".join(kept).rstrip(",;:.") + "…"


def _own(groups: list[listing.Group]) -> dict[str, set[str]]:
    """nasflat's own options per group (those with no origin), as the README documents them."""
    return {g.name: set(g.option_names("")) for g in groups if g.option_names("")}


def _groups_on_disk() -> set[str]:
    """Folders of conf/ holding YAML files, less the parts of one option (conf/scale/demo/ with conf/scale/demo.yaml
    belongs to scale=demo) and algo_family (named by each algo config)."""
    folders = {p.parent.relative_to(CONF) for p in CONF.rglob("*.yaml") if p.parent != CONF}

    def is_part(folder: Path) -> bool:
        return any((CONF / a).with_suffix(".yaml").exists() for a in (folder, *folder.parents) if a.parent != Path("."))

    return {f.as_posix() for f in folders if not is_part(f) and f.parts[0] != "algo_family"}


def _readme_table() -> dict[str, set[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration groups", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {group: set(re.findall(r"`([^`]+)`", options)) for group, options in rows}


def _list(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main(["list", *args])
    return capsys.readouterr().out


def test_each_group_lists_the_yaml_files_on_disk():
    own = _own(listing.listed_groups())
    assert set(own) == _groups_on_disk()
    assert {"algo", "algo/relaxation", "algo/modifiers", "scale", "hydra/launcher", "hydra/sweeper"} <= set(own)
    assert not {"scale/demo", "scale/tiny/algo", "algo_family", "hydra/job_logging"} & set(own)
    for group, options in own.items():
        assert options == {p.stem for p in (CONF / group).glob("*.yaml")}, group


def test_descriptions_are_the_first_sentence_of_the_opening_comment():
    own = {f"{g.name}/{o.name}": o.description for g in listing.listed_groups() for o in g.options if not o.origin}
    assert own["algo/darts"] == (
        "DARTS, first order, in the quark0 / A²M harness (docs/methods.md#the-differentiable-harness): each iteration…"
    )
    assert (
        own["evaluator/train"]
        == "Short training from scratch: accuracy on search-val after `epochs` of SGD on search-train."
    )
    assert own["experiment/genas_darts"] == (
        "GeNAS on the DARTS space with the README settings: SPOS supernet 250 epochs (affine BN, batch 64, SGD 0.025…"
    )
    for name, text in own.items():
        path = CONF / f"{name}.yaml"
        assert text == _expected(path), name
        assert 0 < len(text) <= 110, f"{name}.yaml: description {text!r} is empty or over 110 characters"
        words, block = text.removesuffix("…").split(), _comment_words(path)
        assert words[:-1] == block[: len(words) - 1], name  # whole words of the block, from its start
        last = block[len(words) - 1]
        assert last == words[-1] or (text.endswith("…") and last.rstrip(",;:.") == words[-1]), name  # no mid-word cut


def test_description_rule_on_dotted_names_and_abbreviations():
    describe = listing.description
    assert describe("# @package _global_\n#\n# Tiny runs.\n# More.\nseed: 0\n") == "Tiny runs."
    assert describe("\n# Blank lines first.\n") == "Blank lines first."
    assert describe("_target_: x\n# a later comment\n") == ""
    assert describe("# A²M (docs/methods.md#a2m) uses search.yaml,\n#   lr 0.025, e.g. darts. Then more.\n") == (
        "A²M (docs/methods.md#a2m) uses search.yaml, lr 0.025, e.g. darts."
    )
    assert describe("# One paragraph without a period\n#\n# Second paragraph.\n") == "One paragraph without a period"
    assert describe("# Ends at e.g. the block end") == "Ends at e.g. the block end"
    long = "# " + "word " * 30 + "tail -> more words.\n"  # one sentence of 169 characters
    assert describe(long) == ("word " * 22).strip() + "…" and len(describe(long)) == 110
    assert describe("# " + "x" * 200) == "x" * 109 + "…"  # one word longer than a line: cut inside it
    assert describe("# " + "a" * 103 + " b, -> cdefgh\n") == "a" * 103 + " b…"  # "->" and "," dropped


def test_printed_listing_shows_every_option_with_its_description(capsys):
    out = _list(capsys)
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in out.strip().split("\n\n")}
    assert list(blocks) == [g.name for g in listing.listed_groups()]
    relaxation = dict(line.split(maxsplit=1) for line in blocks["algo/relaxation"])
    assert relaxation == {p.stem: _expected(p) for p in (CONF / "algo/relaxation").glob("*.yaml")}


def test_one_group_and_hydra_own_options_marked(capsys):
    out = _list(capsys, "hydra/launcher")
    assert out.splitlines()[0] == "hydra/launcher"
    assert re.search(r"^  basic +structured config BasicLauncherConf  \[hydra\]$", out, flags=re.MULTILINE)
    assert re.search(r"^  slurm +SLURM through submitit", out, flags=re.MULTILINE)  # nasflat's own: unmarked
    parts = _list(capsys, "scale/demo/algo")  # a group `nasflat list` hides can still be asked for
    assert [line.split()[0] for line in parts.splitlines()[1:]] == sorted(
        p.stem for p in (CONF / "scale/demo/algo").glob("*.yaml")
    )


def _toy_conf(root: Path) -> Path:
    (root / "space").mkdir(parents=True)
    (root / "space" / "mytoy.yaml").write_text("# @package space\n# A toy space of three edges.\nname: mytoy\n")
    (root / "space" / "nb201.yaml").write_text("# A shadowed copy: nasflat's own file comes first.\n")
    (root / "toygroup").mkdir()
    (root / "toygroup" / "a.yaml").write_text("# Option a of a group only the plugin has.\n")
    return root


def test_searchpath_directory_appears_in_the_listing(tmp_path, capsys):
    conf = _toy_conf(tmp_path / "toyconf")
    searchpath = f"hydra.searchpath=[file://{conf}]"
    groups = listing.config_groups(listing.searchpath_override([searchpath]))
    space = {o.name: o for o in groups["space"].options}
    assert sorted(space) == ["darts", "mytoy", "nb201"]
    assert space["mytoy"] == listing.Option("mytoy", "A toy space of three edges.", f"file://{conf}")
    assert space["nb201"].origin == "" and space["nb201"].description == _expected(CONF / "space/nb201.yaml")
    out = _list(capsys, searchpath)
    assert f"  mytoy  A toy space of three edges.  [file://{conf}]" in out.splitlines()
    assert "\n\ntoygroup\n  a  Option a of a group only the plugin has." in out
    assert "toygroup" not in _list(capsys)


def test_search_path_plugin_entries_appear(tmp_path):
    """A SearchPathPlugin under hydra_plugins.* (how an installed package adds configs) is found by Hydra itself."""
    conf = _toy_conf(tmp_path / "toyconf")
    plugin = tmp_path / "site" / "hydra_plugins" / "mytoy_searchpath"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text(
        "from hydra.plugins.search_path_plugin import SearchPathPlugin\n\n\n"
        "class MyToySearchPath(SearchPathPlugin):\n"
        "    def manipulate_search_path(self, search_path):\n"
        f"        search_path.append(provider='mytoy', path={f'file://{conf}'!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "nasflat.cli", "list", "space"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"  mytoy  A toy space of three edges.  [file://{conf}]" in done.stdout.splitlines()


def test_unknown_group_is_refused_with_the_groups(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["list", "algo/relaxations"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    names = ", ".join(g.name for g in listing.listed_groups())
    assert f"error: unknown config group 'algo/relaxations'; the groups are: {names}" in err.replace("\n", "")
    assert "Traceback" not in err
    for bad, message in [
        (["seed=1"], "nasflat list takes a group and hydra.searchpath=[pkg://PACKAGE,file://DIR] only, not 'seed=1'"),
        (["hydra.searchpath=[file:///no/such/dir]"], "hydra.searchpath entry file:///no/such/dir is not available"),
        (["space", "algo"], "nasflat list takes at most one group, got 2: space algo"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["list", *bad])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err.replace("\n", "")


def test_readme_table_matches_the_listing():
    table = _readme_table()
    assert len(table) >= 15
    assert table == _own(listing.listed_groups())


def test_listing_is_quick():
    start = time.perf_counter()
    listing.list_command([])
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_list_usage(flag, capsys):
    """`nasflat list --help` is the usage, not an unknown group called '--help'."""
    main(["list", flag])  # returns: exit status 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: nasflat list [GROUP] [hydra.searchpath=[pkg://PACKAGE.conf,file://DIR]]\n")
    assert "nasflat list algo/relaxation" in out and err == ""
    main(["list", "space", flag])  # with a group too: still the usage
    assert capsys.readouterr().out == out
