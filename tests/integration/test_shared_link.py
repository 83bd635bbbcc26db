"""The Redis link and the shared cache's lock, against a real redis-server: the link's wire format is redis-py's, a
Redis that stops answering (not gone: stopped, its socket open) costs a call no more than the link's deadline
(all that bounds a batch), and a replica waiting on another's answer never waits for one that will not come."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from redis.asyncio import Redis

from gateway.metrics import Metrics
from gateway.shared.cache import WAITERS_S, Found, SharedCache
from gateway.shared.link import RETRY_S, Script, SharedState
from tests.clock import ManualClock

ECHO = Script("echo", "return ARGV[1]")


async def test_a_stopped_redis_costs_a_call_its_deadline_and_sharing_resumes(redis_server) -> None:
    clock = ManualClock(0.0)
    client = Redis.from_url(redis_server.url, password=redis_server.password)
    shared = SharedState(client, "test", Metrics(), timeout_s=0.3, clock=clock)
    try:
        assert await shared.script(ECHO, [], ["hello"]) == b"hello"
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await shared.script(ECHO, [], ["anyone?"]) is None
            assert 0.25 < loop.time() - started < 1.5
            assert not shared.up
            assert await shared.script(ECHO, [], ["still?"]) is None  # down: at once, nothing sent
            assert loop.time() - started < 1.5
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        clock.now += RETRY_S
        assert await shared.script(ECHO, [], ["back"]) == b"back"
        assert shared.up
    finally:
        await shared.close()
        await client.aclose()


@pytest.fixture
async def shared(redis_server):
    client = Redis.from_url(redis_server.url, password=redis_server.password)
    state = SharedState(client, "test", Metrics(), timeout_s=2)
    yield state
    await state.close()
    await client.aclose()


async def test_a_waiter_stops_as_soon_as_the_holder_leaves_nothing_to_share(shared: SharedState) -> None:
    holder, waiter = SharedCache(shared, "process"), SharedCache(shared, "process")
    claimed = await holder.find("2001", hold_s=10)
    assert claimed.found is Found.CLAIMED and (await waiter.find("2001", hold_s=10)).found is Found.BUSY
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(waiter.wait("2001", hold_s=10))
    await asyncio.sleep(0.1)
    await holder.store("2001", None, 0, claimed.token)  # (a cancelled call: nothing to keep)
    assert await waiting is None
    assert loop.time() - started < 1  # not the lock's 10 s


async def test_with_the_cache_off_an_answer_is_kept_only_for_those_waiting_on_it(shared: SharedState) -> None:
    holder, waiter = SharedCache(shared, "process"), SharedCache(shared, "process")
    claimed = await holder.find("2001", hold_s=10)
    waiting = asyncio.create_task(waiter.wait("2001", hold_s=10))
    await asyncio.sleep(0.05)
    await holder.store("2001", {"ok": {"id": "2001"}}, 0, claimed.token)
    assert await waiting == {"ok": {"id": "2001"}}
    await asyncio.sleep(WAITERS_S + 0.1)
    assert (await holder.find("2001", hold_s=10)).found is Found.CLAIMED  # gone: the next lookup asks BAW


async def test_a_closed_link_answers_none_and_opens_no_connection(redis_server) -> None:
    """A caller that comes late at shutdown (a lookup storing its answer) is told Redis cannot be used; the pool
    used to open a new connection for it, which nobody closed."""
    observer = Redis.from_url(redis_server.url, password=redis_server.password)
    client = Redis.from_url(redis_server.url, password=redis_server.password)
    shared = SharedState(client, "test", Metrics(), timeout_s=2)
    try:
        in_flight = asyncio.ensure_future(shared.script(ECHO, [], ["on the wire"]))
        await asyncio.sleep(0)  # the batch is being sent when the close begins
        await shared.close()
        assert await in_flight == b"on the wire"  # the batch under way was finished, not cut
        assert await shared.script(ECHO, [], ["late"]) is None
        assert len(await observer.client_list()) == 1  # the observer's own connection only
    finally:
        await client.aclose()
        await observer.aclose()
