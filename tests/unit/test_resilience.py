from __future__ import annotations

import asyncio

import pytest

from gateway.baw.resilience import RETRY_CAP_S, CircuitBreaker, ConcurrencyCap, backoff_delay
from gateway.errors import BawError, BawTimeout, BawUnavailable, NoCredential, NotFound
from tests.clock import ManualClock


def test_backoff_is_full_jitter_and_capped() -> None:
    assert backoff_delay(1, jitter=0) == 0
    assert backoff_delay(1, jitter=1) == pytest.approx(0.4)
    assert backoff_delay(2, jitter=1) == pytest.approx(0.8)
    assert backoff_delay(10, jitter=1) == RETRY_CAP_S


def test_only_baw_failures_count_against_it() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=15, clock=clock)
    for error in (BawError("5xx"), BawTimeout("slow"), BawUnavailable("refused")):
        breaker.before_call()
        breaker.record_error(error)
    assert breaker.is_open
    clock.now += 15
    breaker.before_call()  # the probe ...
    breaker.record_error(NoCredential("token endpoint down"))  # ... never reached BAW: it decides nothing
    assert breaker.is_open
    breaker.before_call()  # so the next call probes
    breaker.record_error(NotFound("no such instance"))  # a 4xx answer: BAW is up
    assert not breaker.is_open


def test_breaker_opens_after_n_failures_fails_fast_then_one_probe_decides() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=15, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record(baw_failed=True)
    breaker.before_call()
    breaker.record(baw_failed=False)  # a success resets the count
    for _ in range(3):
        breaker.before_call()
        breaker.record(baw_failed=True)
    with pytest.raises(BawUnavailable) as caught:
        breaker.before_call()
    assert caught.value.retry_after == 15
    clock.now += 15
    breaker.before_call()  # the probe
    with pytest.raises(BawUnavailable):
        breaker.before_call()  # others still fail fast while it runs
    breaker.record(baw_failed=True)  # the probe failed: open again for a whole cooldown
    with pytest.raises(BawUnavailable):
        breaker.before_call()
    clock.now += 15
    breaker.before_call()
    breaker.record(baw_failed=False)  # the probe succeeded: closed
    breaker.before_call()
    assert not breaker.is_open


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=1, clock=clock)
    breaker.before_call()
    breaker.record(baw_failed=True)
    clock.now += 1
    breaker.before_call()
    breaker.abandon()
    breaker.before_call()


async def test_concurrency_cap_refuses_after_a_bounded_wait() -> None:
    cap = ConcurrencyCap(limit=2, wait_s=0.05)
    release = asyncio.Event()

    async def hold() -> None:
        async with cap.slot():
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(BawUnavailable, match="2 calls to BAW in flight") as caught:
        async with cap.slot():
            pass
    assert caught.value.retry_after == 1
    release.set()
    await asyncio.gather(*holders)
    async with cap.slot():
        pass
