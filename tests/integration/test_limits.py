"""Limiter.look_then_take (the failed-authentication check and a key's rate limit, together): the same decisions
from a real Redis, in one round trip, as from the local token buckets."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gateway.metrics import Metrics
from gateway.shared.limits import Limiter
from gateway.shared.link import SharedState


@pytest.fixture(params=["local", "redis"])
async def limits(request, tmp_path):
    """(failures limit: burst 3; request limit: burst 2) at a rate too slow to refill during a test, and the
    Redis client when shared."""
    failures, requests = Limiter("auth-failures", 0.001, 3), Limiter("requests", 0.001, 2)
    if request.param == "local":
        yield failures, requests, None
        return
    server = request.getfixturevalue("redis_server")
    client = Redis.from_url(server.url, password=server.password)
    shared = SharedState(client, "test", Metrics(), timeout_s=2)
    failures.attach(shared)
    requests.attach(shared)
    yield failures, requests, client
    await shared.close()
    await client.aclose()


async def _scripts_run(client: Redis | None) -> int:
    if client is None:
        return 0
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_an_address_with_no_failures_takes_from_the_keys_limit_in_one_round_trip(limits) -> None:
    failures, requests, client = limits
    await failures.look_then_take("ip:warm", requests, "key:warm")  # Redis learns the script (NOSCRIPT, load)
    before = await _scripts_run(client)
    answers = [await failures.look_then_take("ip:a", requests, "key:k") for _ in range(3)]
    assert answers[:2] == [None, None]
    refused_by, wait = answers[2]
    assert refused_by is requests and wait >= 1
    if client is not None:
        assert await _scripts_run(client) - before == 3  # one script per admission, where there were two
    assert await requests.retry_after("key:other") is None  # the limit is per key


async def test_an_address_over_its_failures_is_refused_and_takes_nothing_from_the_key(limits) -> None:
    failures, requests, _ = limits
    for _ in range(3):
        assert await failures.retry_after("ip:guesser") is None  # three failed authentications
    refused_by, wait = await failures.look_then_take("ip:guesser", requests, "key:k")
    assert refused_by is failures and wait >= 1
    # The refused admission took nothing: the key's burst of two is whole, for another address.
    assert await failures.look_then_take("ip:other", requests, "key:k") is None
    assert await failures.look_then_take("ip:other", requests, "key:k") is None
    assert (await failures.look_then_take("ip:other", requests, "key:k"))[0] is requests


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
