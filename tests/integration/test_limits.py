"""Limiter.look_then_take (the failed-authentication check and a key's rate limit, together): the same decisions
from a real Redis, in one round trip, as from the local token buckets."""

from __future__ import annotations

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
