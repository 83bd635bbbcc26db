from __future__ import annotations

import asyncio

import pytest

from gateway.baw.models import parse_process_details
from gateway.errors import BawUnavailable, NotFound
from gateway.metrics import Metrics
from gateway.service import CacheResult, ProcessService
from tests.clock import ManualClock


class FakeClient:
    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail_with: Exception | None = None

    async def process_details(self, piid: str):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        if piid == "404":
            raise NotFound("no such instance")
        return parse_process_details({"data": {"piid": piid, "executionState": "Active"}})


def service(client: FakeClient, clock: ManualClock, ttl: float = 5) -> ProcessService:
    return ProcessService(client, Metrics(), ttl_s=ttl, not_found_ttl_s=1, max_entries=100, clock=clock)


async def test_a_success_is_served_from_the_cache_until_its_ttl() -> None:
    client, clock = FakeClient(), ManualClock()
    lookups = service(client, clock)
    assert (await lookups.lookup("7")).cache is CacheResult.MISS
    clock.now += 4.9
    assert (await lookups.lookup("7")).cache is CacheResult.HIT
    clock.now += 0.2
    assert (await lookups.lookup("7")).cache is CacheResult.MISS
    assert client.calls == 2


async def test_not_found_is_kept_for_a_shorter_time_and_failures_never() -> None:
    client, clock = FakeClient(), ManualClock()
    lookups = service(client, clock)
    for _ in range(2):
        with pytest.raises(NotFound):
            await lookups.lookup("404")
    assert client.calls == 1
    clock.now += 1.1
    with pytest.raises(NotFound):
        await lookups.lookup("404")
    assert client.calls == 2
    client.fail_with = BawUnavailable("down")
    for _ in range(2):
        with pytest.raises(BawUnavailable):
            await lookups.lookup("8")
    assert client.calls == 4


async def test_a_zero_ttl_disables_the_cache() -> None:
    client = FakeClient()
    lookups = service(client, ManualClock(), ttl=0)
    await lookups.lookup("7")
    await lookups.lookup("7")
    assert client.calls == 2


async def test_concurrent_lookups_of_one_id_share_one_call_and_its_failure() -> None:
    client = FakeClient()
    client.gate = asyncio.Event()
    lookups = service(client, ManualClock())
    waiters = [asyncio.create_task(lookups.lookup("9")) for _ in range(100)]
    await asyncio.sleep(0)
    client.fail_with = BawUnavailable("BAW is down")
    client.gate.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert client.calls == 1
    assert all(isinstance(outcome, BawUnavailable) for outcome in outcomes)


async def test_a_cancelled_caller_does_not_cancel_the_call_the_others_wait_on() -> None:
    client = FakeClient()
    client.gate = asyncio.Event()
    lookups = service(client, ManualClock())
    first = asyncio.create_task(lookups.lookup("9"))
    await asyncio.sleep(0)
    second = asyncio.create_task(lookups.lookup("9"))
    await asyncio.sleep(0)
    first.cancel()
    client.gate.set()
    result = await second
    assert result.cache is CacheResult.COALESCED and result.instance.process_id == "9"
    assert (await lookups.lookup("9")).cache is CacheResult.HIT


async def test_a_cached_not_found_keeps_no_traceback_frames_or_context() -> None:
    """12,000 cached unknown ids used to hold 15 KB each: the traceback's frames kept the BAW response and the
    Authorization header alive. Only the message is kept now."""
    client, clock = FakeClient(), ManualClock()
    lookups = service(client, clock)
    with pytest.raises(NotFound) as caught:
        await lookups.lookup("404")
    cached = lookups._cache["404"]  # type: ignore[index]
    assert isinstance(cached, NotFound) and cached is not caught.value
    assert cached.__traceback__ is None and cached.__context__ is None and cached.__cause__ is None
    assert vars(cached) == {"message": "no such instance", "detail": None, "retry_after": None, "transient": False}
