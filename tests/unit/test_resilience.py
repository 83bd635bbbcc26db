from __future__ import annotations

import asyncio

import pytest

from gateway.baw.resilience import (
    RETRY_CAP_S,
    BawHealth,
    BreakerPolicy,
    FailureMemory,
    FairSlots,
    backoff_delay,
)
from gateway.errors import (
    BawError,
    BawForbidden,
    BawTimeout,
    BawUnavailable,
    NoCredential,
    NotFound,
    Overloaded,
    RateLimited,
)
from tests.clock import ManualClock

# One caller (the tests' "-") may open it here; the distinct-caller rule has tests of its own.
POLICY = BreakerPolicy(
    window_s=30, min_calls=10, failure_rate=0.5, slow_call_s=5, min_subjects=3, min_callers=1, cooldown_s=15
)


def test_backoff_is_full_jitter_and_capped() -> None:
    assert backoff_delay(1, jitter=0) == 0
    assert backoff_delay(1, jitter=1) == pytest.approx(0.4)
    assert backoff_delay(2, jitter=1) == pytest.approx(0.8)
    assert backoff_delay(10, jitter=1) == RETRY_CAP_S


def _record(health: BawHealth, subject: str, *, failed: bool, seconds: float = 0.01) -> None:
    health.before_call()
    health.record(subject, failed=failed, seconds=seconds)


def _tripped(clock: ManualClock) -> BawHealth:
    """A breaker opened by failures of ten distinct ids."""
    health = BawHealth(POLICY, clock=clock)
    for n in range(10):
        _record(health, f"id {n}", failed=True)
    assert health.is_open
    return health


def test_failures_of_one_id_never_open_the_breaker_however_many() -> None:
    health = BawHealth(POLICY, clock=ManualClock())
    for _ in range(100):
        _record(health, "process instance 5", failed=True)
    assert not health.is_open
    health.before_call()  # everyone else still gets through


def test_a_failure_rate_over_distinct_ids_opens_it_and_fewer_calls_than_the_minimum_never_do() -> None:
    health = BawHealth(POLICY, clock=ManualClock())
    for n in range(9):
        _record(health, f"process instance {n}", failed=True)
    assert not health.is_open  # 9 calls: below the minimum, whatever their outcome
    _record(health, "process instance 9", failed=True)
    assert health.is_open
    with pytest.raises(BawUnavailable, match="many different requests") as caught:
        health.before_call()
    assert caught.value.retry_after == 15


def test_one_callers_broken_ids_never_open_it_for_everyone() -> None:
    """Issue 29 row 9: one key asking three broken ids (one of them answering 503) opened the breaker, and another
    key's healthy lookups were refused. Failures must come from MIN_CALLERS distinct callers."""
    health = BawHealth(BreakerPolicy(window_s=30, min_calls=10, min_subjects=3, min_callers=2), clock=ManualClock())
    for n in range(60):
        health.before_call()
        health.record(f"process instance {n % 3}", failed=True, seconds=0.01, caller="key:broken")
        if n % 4 == 0:
            health.before_call()
            health.record("process instance 23972", failed=False, seconds=0.01, caller="key:healthy")
    assert not health.is_open
    health.before_call()  # BAW failing for a second caller too: now it is BAW
    health.record("process instance 23972", failed=True, seconds=0.01, caller="key:healthy")
    assert health.is_open


def test_a_low_failure_rate_keeps_it_closed() -> None:
    health = BawHealth(POLICY, clock=ManualClock())
    for n in range(40):
        _record(health, f"process instance {n}", failed=n % 3 == 0)  # a third fail: under the 50 % rate
    assert not health.is_open


def test_old_outcomes_leave_the_window() -> None:
    clock = ManualClock()
    health = BawHealth(POLICY, clock=clock)
    for n in range(9):
        _record(health, f"id {n}", failed=True)
    clock.now += 31
    for n in range(9):
        _record(health, f"ok {n}", failed=False)
    _record(health, "id 9", failed=True)  # 10 calls in the window, 1 failed
    assert not health.is_open


def test_the_window_is_bounded_and_judged_by_what_it_still_holds() -> None:
    """Past its bound the window drops its oldest outcomes, and what they counted goes with them: 10,000
    successes push out earlier failures of many ids, and only failures still held can open the breaker."""
    health = BawHealth(POLICY, clock=ManualClock())
    for n in range(20):
        _record(health, f"first {n}", failed=False)
    for n in range(8):
        _record(health, f"failed {n}", failed=True)  # 8 of 28: under the rate
    for n in range(BawHealth._MAX_OUTCOMES):
        _record(health, f"ok {n}", failed=False)
    assert len(health._outcomes) == BawHealth._MAX_OUTCOMES  # memory stays bounded
    for n in range(BawHealth._MAX_OUTCOMES):  # every success replaced by a failure of one of two ids
        _record(health, f"failed {n % 2}", failed=True)
    assert not health.is_open  # all failing, but two ids only (the 8 earlier ones left the window with their counts)
    _record(health, "failed 2", failed=True)
    assert health.is_open


def test_slow_calls_over_distinct_ids_open_it() -> None:
    health = BawHealth(POLICY, clock=ManualClock())
    for n in range(10):
        _record(health, f"id {n}", failed=False, seconds=6)
    assert health.is_open


def test_only_baw_failures_count_and_errors_raised_before_baw_decide_nothing() -> None:
    clock = ManualClock()
    health = BawHealth(POLICY, clock=clock)
    for n, error in enumerate(([BawError("5xx"), BawTimeout("slow"), BawUnavailable("refused")] * 4)[:10]):
        health.before_call()
        health.record_error(f"id {n}", error, 0.01)
    assert health.is_open
    clock.now += 15
    for error in (NoCredential("token endpoint down"), Overloaded("full"), RateLimited("share")):
        health.before_call()  # the probe ...
        health.record_error("x", error, 0.01)  # ... never reached BAW: it decides nothing, the next call probes
        assert health.is_open
    health.before_call()
    health.record_error("x", NotFound("no such instance"), 0.01)  # a 4xx answer: BAW is up
    assert not health.is_open


def test_one_probe_decides_after_the_cooldown() -> None:
    clock = ManualClock()
    health = _tripped(clock)
    clock.now += 15
    health.before_call()  # the probe
    with pytest.raises(BawUnavailable):
        health.before_call()  # others still fail fast while it runs
    health.record("id 0", failed=True, seconds=0.01)  # the probe failed: open again for a whole cooldown
    with pytest.raises(BawUnavailable):
        health.before_call()
    clock.now += 15
    health.before_call()
    health.record("id 0", failed=False, seconds=0.01)  # the probe succeeded: closed, the window forgotten
    assert not health.is_open
    _record(health, "id 1", failed=True)
    assert not health.is_open


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    clock = ManualClock()
    health = _tripped(clock)
    clock.now += 15
    health.before_call()
    health.abandon()
    health.before_call()


def test_failure_memory_keeps_detached_per_subject_failures_for_their_ttl() -> None:
    clock = ManualClock()
    memory = FailureMemory(ttl_s=5, max_entries=100, clock=clock)
    try:
        raise BawError("BAW could not answer the lookup of process instance 5: HTTP 500.")
    except BawError as raised:
        memory.remember("5", raised)
    for error in (BawUnavailable("503: BAW as a whole"), NotFound("none"), BawForbidden("no")):
        memory.remember(str(id(error)), error)  # not about one subject (or cached elsewhere): not kept
    recalled = memory.recall("5")
    assert isinstance(recalled, BawError) and "HTTP 500" in recalled.message
    assert recalled.__traceback__ is None and recalled.__context__ is None
    assert len(memory._errors) == 1  # type: ignore[arg-type]
    clock.now += 5
    assert memory.recall("5") is None


def test_failure_memory_is_bounded() -> None:
    memory = FailureMemory(ttl_s=60, max_entries=10)
    for n in range(1000):
        memory.remember(n, BawTimeout("slow"))
    assert len(memory._errors) == 10  # type: ignore[arg-type]


async def test_slots_give_each_caller_a_bounded_share_and_refuse_after_a_bounded_wait() -> None:
    slots = FairSlots(limit=4, per_caller=2, wait_s=0.05)
    release = asyncio.Event()

    async def hold(caller: str) -> None:
        async with slots.slot(caller):
            await release.wait()

    greedy = [asyncio.create_task(hold("key:greedy")) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(RateLimited, match="2 calls to BAW in flight") as caught:
        async with slots.slot("key:greedy"):
            pass
    assert caught.value.retry_after == 1
    others = [asyncio.create_task(hold(f"key:other{n}")) for n in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="4 calls to BAW in flight"):
        async with slots.slot("key:third"):
            pass
    release.set()
    await asyncio.gather(*greedy, *others)
    assert slots._callers == {} and slots._holders == {}  # nothing kept for callers without calls in flight
    async with slots.slot("key:greedy"):
        pass


async def test_a_queued_call_gets_the_slot_freed_within_its_wait_and_a_cancelled_one_leaves_nothing() -> None:
    slots = FairSlots(limit=1, per_caller=1, wait_s=1.0)
    order: list[str] = []

    async def call(name: str, hold_s: float) -> None:
        async with slots.slot(f"key:{name}"):
            order.append(name)
            await asyncio.sleep(hold_s)

    first = asyncio.create_task(call("first", 0.05))
    await asyncio.sleep(0)
    queued = asyncio.create_task(call("queued", 0))
    abandoned = asyncio.create_task(call("abandoned", 0))
    await asyncio.sleep(0.01)
    abandoned.cancel()  # a caller that went away while queued
    await asyncio.gather(first, queued, abandoned, return_exceptions=True)
    assert order == ["first", "queued"] and abandoned.cancelled()
    assert slots._callers == {} and slots._holders == {} and not slots._slots.locked()


async def test_no_wait_refuses_a_call_that_would_queue_at_once_and_keeps_nothing() -> None:
    """GATEWAY_BAW_QUEUE_WAIT_S=0: a full share is a refusal within the loop turn, not a wait (the deadline of no
    delay fires on the next turn), and the refused call holds nothing afterwards."""
    slots = FairSlots(limit=2, per_caller=1, wait_s=0)
    async with slots.slot("key:a"):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RateLimited):
            async with slots.slot("key:a"):
                pass
        assert loop.time() - started < 0.5
        async with slots.slot("key:b"):  # another caller's share is untouched
            pass
    assert slots._callers == {} and slots._holders == {} and not slots._waits._pending
