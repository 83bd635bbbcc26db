"""The hosts guide's table of tools is the catalogue's (issue 30: it missed list_process_apps and said "seven")."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.web.tools.catalogue import TOOLS

README = Path(__file__).resolve().parents[2] / "docs" / "hosts.md"


def test_the_readme_lists_every_tool_with_its_rest_path_and_nothing_else() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| `GET (/baw/[a-z-]+)", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert dict(rows) == {tool.name: tool.path for tool in TOOLS}


def test_the_readme_counts_the_tools_right() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())  # a sentence may wrap anywhere
    words = {7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven"}
    assert f"lists the {words[len(TOOLS)]} read-only tools" in text
