"""docs/methods.md is what code comments cite: every cited anchor must exist, and no comment may cite a document
outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHODS = REPO / "docs" / "methods.md"
CITATION = re.compile(r"docs/methods\.md#([A-Za-z0-9_-]+)")


def _sources() -> list[Path]:
    """Tracked and new (not ignored) files of the package, configs and scripts."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "src", "conf", "scripts"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / f for f in out if f.endswith((".py", ".yaml")) and (REPO / f).exists()]


def _anchors(text: str) -> set[str]:
    return set(re.findall(r'<a id="([^"]+)"></a>', text))


def test_cited_anchors_exist():
    anchors = _anchors(METHODS.read_text())
    cited = {(path.relative_to(REPO).as_posix(), a) for path in _sources() for a in CITATION.findall(path.read_text())}
    assert len(cited) >= 10  # the package does cite the document
    assert {(f, a) for f, a in cited if a not in anchors} == set()


def test_internal_links_resolve():
    text = METHODS.read_text()
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert {"darts", "a2m", "flatness", "presets"} <= links
    assert links - _anchors(text) == set()


def test_no_citation_of_documents_outside_the_repository():
    offenders = [p.relative_to(REPO).as_posix() for p in _sources() if "algorithms.md" in p.read_text()]
    assert offenders == []
