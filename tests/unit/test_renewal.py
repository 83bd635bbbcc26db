"""The one renewal loop (issue 30: the BAW credential, the issuer's keys and the users' sweep each had their own,
and one had a wake-up that nothing could set). Driven by an injected sleep: no test waits."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.errors import BawUnavailable
from gateway.renewal import Renewal


class Stop(BaseException):
    """Ends the loop from the injected sleep (a BaseException, so the loop's failure handling does not take it)."""


async def test_failures_back_off_then_a_success_sets_the_next_delay(caplog) -> None:
    outcomes = [BawUnavailable("down", detail="idp down"), BawUnavailable("down", detail="idp down"), 600.0]
    waits: list[float] = []

    async def attempt() -> float:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def sleep(delay: float, wake: asyncio.Event) -> None:
        waits.append(delay)
        if not outcomes:
            raise Stop

    loop = Renewal("key renewal", attempt, cap_s=30, jitter=lambda: 1.0, sleep=sleep)
    with caplog.at_level(logging.WARNING, logger="gateway.renewal"), pytest.raises(Stop):
        await loop.run()
    assert waits == [1.0, 2.0, 600.0]
    assert loop.failures == 0
    assert [record.getMessage() for record in caplog.records] == [
        "key renewal failed (1 in a row), next try in 1.0 s: down [idp down]",
        "key renewal failed (2 in a row), next try in 2.0 s: down [idp down]",
    ]


async def test_the_backoff_is_capped_and_an_unexpected_error_is_logged_with_its_traceback(caplog) -> None:
    waits: list[float] = []

    async def attempt() -> float:
        raise RuntimeError("a bug")

    async def sleep(delay: float, wake: asyncio.Event) -> None:
        waits.append(delay)
        if len(waits) == 8:
            raise Stop

    with caplog.at_level(logging.ERROR, logger="gateway.renewal"), pytest.raises(Stop):
        await Renewal("sweep", attempt, cap_s=30, jitter=lambda: 1.0, sleep=sleep).run()
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert caplog.records[0].exc_info is not None


async def test_wake_ends_the_wait_at_once() -> None:
    attempts = 0

    async def attempt() -> float:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            raise Stop
        return 3600.0

    loop = Renewal("credential renewal", attempt)
    task = asyncio.create_task(loop.run())
    while attempts < 1:
        await asyncio.sleep(0)
    loop.wake()  # a credential BAW refused: renew now, not in an hour
    with pytest.raises(Stop):
        await asyncio.wait_for(task, 5)
    assert attempts == 2
