"""One source for settings (issue 30): every variable the gateway reads is declared once in config.py, and
docs/configuration.md is written from those declarations and nowhere else."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

import gateway
from gateway import variables
from gateway.config import declarations, known_variables, load_settings
from gateway.reference import render

ROOT = Path(__file__).resolve().parents[2]
OUR_VARIABLE = re.compile(r"\b(?:GATEWAY|BAW|PLUGIN)_[A-Z0-9_]*[A-Z0-9]\b")


def test_docs_configuration_is_regenerated_from_the_declarations() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/configuration.md is stale: run `make docs`"


def test_every_setting_is_documented_with_its_meaning() -> None:
    reference = render()
    for var in declarations():
        assert f"`{var.env}`" in reference
        assert var.meaning and var.kind.accepts and var.used, var.env
    names = [var.env for var in declarations()]
    assert len(names) == len(set(names)), "a variable is declared twice"


def test_every_variable_the_reader_is_asked_for_is_declared(monkeypatch) -> None:
    """Read with an environment that turns every mode on: whatever name the settings ask the reader for is known
    (a variable read but not declared would be undocumented and refused as unknown)."""
    asked: set[str] = set()
    text = variables.Reader.text

    def recording(self, name, default=None):
        asked.add(name)
        return text(self, name, default)

    monkeypatch.setattr(variables.Reader, "text", recording)
    try:
        load_settings({"BAW_BASE_URL": "https://baw.example.com", "GATEWAY_BAW_IDENTITY": "user"})
    except Exception:  # noqa: BLE001 - the problems of this partial environment do not matter here
        pass
    assert asked
    assert asked - known_variables() == set()


def test_every_variable_named_in_the_gateways_code_is_a_known_one() -> None:
    """Source-wide: a `GATEWAY_*`/`BAW_*` name in any string of the gateway (a check, a message, a hint, a docstring)
    is one it knows; the simulator's own are its."""
    package = Path(gateway.__file__).parent
    named: dict[str, str] = {}
    for path in package.rglob("*.py"):
        if "simulator" in path.parts:
            continue
        with path.open("rb") as source:
            strings = [token.string for token in tokenize.tokenize(source.readline) if token.type == tokenize.STRING]
        for name in OUR_VARIABLE.findall("\n".join(strings)):
            named.setdefault(name, str(path.relative_to(ROOT)))
    assert {name: where for name, where in named.items() if name not in known_variables()} == {}
