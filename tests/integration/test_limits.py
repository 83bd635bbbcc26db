"""The Limiter on a real Redis: a fast caller's tokens taken a lease at a time, never past its limit."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gateway.metrics import Metrics
from gateway.shared.limits import Limiter
from gateway.shared.link import SharedState


async def _scripts_run(client: Redis | None) -> int:
    if client is None:
        return 0
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


@pytest.fixture
async def shared_redis(redis_server):
    client = Redis.from_url(redis_server.url, password=redis_server.password)
    shared = SharedState(client, "test", Metrics(), timeout_s=2)
    yield shared, client
    await shared.close()
    await client.aclose()


async def test_a_fast_caller_takes_its_tokens_a_lease_at_a_time(shared_redis) -> None:
    """1000/s allows leases of 50 (LEASE_S = 50 ms of the rate): 200 requests, in sequence and all at once, cost
    a handful of round trips, not 200 each."""
    shared, client = shared_redis
    limit = Limiter("requests", 1000, 1000)
    limit.attach(shared)
    await limit.retry_after("warm")  # Redis learns the script
    before = await _scripts_run(client)
    assert [await limit.retry_after("key:fast") for _ in range(200)] == [None] * 200
    assert await _scripts_run(client) - before <= 200 // 50 + 1
    before = await _scripts_run(client)
    assert await asyncio.gather(*(limit.retry_after("key:burst") for _ in range(200))) == [None] * 200
    # one take in flight per caller: the others wait for its tokens instead of each taking a lease
    assert await _scripts_run(client) - before <= 200 // 50 + 1


async def test_leases_never_let_a_caller_past_its_limit_and_give_back_what_they_did_not_spend(shared_redis) -> None:
    """Two replicas, one leasing (1/s over 4 s: 4 tokens at a time) and one not: the lease's tokens are taken
    before they are spent, and its unspent rest is given back with its next take. (At 1/s nothing refills
    meanwhile, however slow the machine.)"""
    shared, _ = shared_redis
    now = [0.0]
    leasing = Limiter("requests", 1, 40, clock=lambda: now[0], lease_s=4.0)
    plain = Limiter("requests", 1, 40, lease_s=0)
    leasing.attach(shared)
    plain.attach(shared)
    assert await leasing.retry_after("key:k") is None  # takes 4, spends 1
    admitted = 0
    while await plain.retry_after("key:k") is None:
        admitted += 1
    assert admitted == 40 - 4  # the lease's 3 unspent tokens are not the other replica's to use
    assert await plain.retry_after("key:k") >= 1
    now[0] += 5  # the lease expired with 3 unspent: the next take gives them back and takes them again
    assert await leasing.retry_after("key:k") is None
    assert await plain.retry_after("key:k") >= 1  # (nothing was created: the bucket is still spent)


async def test_the_default_limit_takes_no_lease(shared_redis) -> None:
    """10/s with a burst of 100 (the defaults) is one take per request, as precise as before leases."""
    shared, client = shared_redis
    limit = Limiter("requests", 10, 100)
    limit.attach(shared)
    await limit.retry_after("warm")
    before = await _scripts_run(client)
    for _ in range(5):
        assert await limit.retry_after("key:k") is None
    assert await _scripts_run(client) - before == 5
