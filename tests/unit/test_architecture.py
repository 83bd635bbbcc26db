"""The dependency rule is a contract (setup.cfg [importlinter]): web -> service -> baw -> leaves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_imports_follow_the_layers() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint_imports), "setup.cfg", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_keys_is_a_leaf_at_run_time() -> None:
    """Importing the keys must not import the layers their values come from."""
    code = "import sys, gateway.keys; print(sorted(m for m in sys.modules if m.startswith('gateway.')))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['gateway.keys']"


def test_the_command_line_loads_the_application_only_for_the_commands_that_run_it() -> None:
    """GATEWAY_WORKERS' supervisor lives as long as the pod next to its workers: it imports neither the app nor
    the server (about half a worker's memory)."""
    code = "import sys, gateway.__main__; print([m for m in ('gateway.app', 'gateway.server') if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_the_contract_counts_type_checking_imports_and_forbids_cycles() -> None:
    """Issue 30: `keys` passed only because type-checking imports were excluded, and `keys` <-> the façade was a
    cycle. Both are part of the contract now, and the web folders are layered like the rest."""
    import configparser  # noqa: PLC0415

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config.get("importlinter", "exclude_type_checking_imports") == "False"
    acyclic = config["importlinter:contract:acyclic"]
    assert acyclic["type"] == "acyclic_siblings"
    assert {"gateway", "gateway.web", "gateway.web.front", "gateway.web.mcp"} <= set(acyclic["ancestors"].split())
    keys = (ROOT / "gateway" / "keys.py").read_text()
    assert "TYPE_CHECKING" not in keys and "gateway." not in keys.split('"""', 2)[2]
