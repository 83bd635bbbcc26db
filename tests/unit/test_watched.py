"""The one file watcher (issue 30: the CA bundle and the key file each had their own)."""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.watched import Unusable, WatchedFile
from tests.clock import ManualClock


def _numbers(path: Path) -> int:
    text = path.read_text()
    if not text.strip().isdigit():
        raise Unusable("not a number")
    return int(text)


def test_a_changed_file_is_made_again_at_most_every_check(tmp_path: Path) -> None:
    path, clock = tmp_path / "n", ManualClock()
    path.write_text("1")
    watched = WatchedFile(path, lambda: _numbers(path), "N", check_every_s=5, clock=clock)
    path.write_text("22")
    assert watched.value == 1  # not looked at before check_every_s
    clock.now += 5
    assert watched.value == 22


def test_an_unusable_version_keeps_the_value_before_and_is_said_once(tmp_path: Path, caplog) -> None:
    path, clock = tmp_path / "n", ManualClock()
    path.write_text("1")
    watched = WatchedFile(path, lambda: _numbers(path), "N", check_every_s=1, clock=clock)
    path.write_text("oops")
    with caplog.at_level(logging.WARNING, logger="gateway.watched"):
        for _ in range(3):
            clock.now += 1
            assert watched.value == 1
    assert [record.getMessage() for record in caplog.records] == [
        "N changed but cannot be used (not a number): keeping the one loaded before"
    ]
    path.write_text("333")
    clock.now += 1
    assert watched.value == 333


def test_a_vanished_file_keeps_the_value_and_without_a_path_nothing_is_looked_at(tmp_path: Path) -> None:
    path, clock = tmp_path / "n", ManualClock()
    path.write_text("7")
    watched = WatchedFile(path, lambda: _numbers(path), "N", check_every_s=1, clock=clock)
    path.unlink()
    clock.now += 1
    assert watched.value == 7
    made = []
    fixed = WatchedFile(None, lambda: made.append(1) or 5, "inline", clock=clock)
    clock.now += 100
    assert fixed.value == 5 and made == [1]
