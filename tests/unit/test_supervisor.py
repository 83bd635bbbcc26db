"""The GATEWAY_WORKERS supervisor's policy, with real processes standing in for workers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from gateway.workers import EXIT_CRASHING, RESTARTS_PER_MINUTE, Supervisor, supervise


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


async def test_workers_dying_faster_than_the_limit_stop_the_supervisor_non_zero(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, "gateway")
    status = await Supervisor(2, str(tmp_path), python("raise SystemExit(1)")).run()
    assert status == EXIT_CRASHING
    replaced = [r for r in caplog.records if "starting another" in r.getMessage()]
    assert len(replaced) == RESTARTS_PER_MINUTE  # then the next death stops everything
    assert any("died within a minute: stopping every worker" in r.getMessage() for r in caplog.records)


async def test_a_worker_with_the_configuration_status_is_not_replaced(tmp_path: Path, caplog) -> None:
    status = await Supervisor(1, str(tmp_path), python("raise SystemExit(2)")).run()
    assert status == 2
    assert not [r for r in caplog.records if "starting another" in r.getMessage()]


async def test_output_is_relayed_in_whole_lines_and_nothing_is_lost(tmp_path: Path, capfd) -> None:
    """A line written in pieces, with pauses, arrives in one piece; the last, unterminated, arrives too."""
    code = (
        "import sys, time\n"
        "for piece in ('{\"a\":', '1}\\n{\"b\"', ':2}\\n', 'tail'):\n"
        "    sys.stdout.write(piece); sys.stdout.flush(); time.sleep(0.05)\n"
        "sys.stderr.write('err line\\n')\n"
        "raise SystemExit(2)\n"
    )
    assert await Supervisor(1, str(tmp_path), python(code)).run() == 2
    out, err = capfd.readouterr()
    assert out == '{"a":1}\n{"b":2}\ntail'
    assert "err line\n" in err


def test_a_metrics_directory_that_cannot_be_used_is_one_clear_line(tmp_path: Path, monkeypatch, capsys) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(taken))
    assert supervise(2) == 2
    assert f"PROMETHEUS_MULTIPROC_DIR cannot be used: File exists ({taken})" in capsys.readouterr().err
