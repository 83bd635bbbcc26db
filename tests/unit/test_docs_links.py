"""The README is a page a newcomer finishes, and every link in it and in docs/ resolves (issue 30): a file that
exists, and an anchor that is a heading or an `<a id>` of that file."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors: a heading lowercased, punctuation but '-' and '_' dropped, spaces as '-'."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        slug = "".join(
            char for char in heading.lower() if char in " -_" or unicodedata.category(char)[0] in "LN"
        ).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 250


def test_the_guides_the_issue_names_are_there() -> None:
    names = {page.name for page in PAGES}
    assert {"hosts.md", "operations.md", "security.md", "cluster.md", "configuration.md"} <= names
    assert {"architecture.md", "performance.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_resolves(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+:", target):  # https:, mailto: - outside the repository
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert broken == []


def test_make_help_lists_every_target_with_one_line() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = set(re.search(r"^\.PHONY: (.+)$", makefile, re.MULTILINE).group(1).split())
    described = set(re.findall(r"^([a-z-]+):[^\n]*## \S", makefile, re.MULTILINE))
    assert phony == described
