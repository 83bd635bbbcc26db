"""`baw-gateway serve` as a process: SIGTERM drains without losing a request."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import aiohttp
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.config import load_settings


async def test_sigterm_lets_every_in_flight_lookup_finish_and_exits_0(gateway_process, simulator) -> None:
    process, base, log = await gateway_process(GATEWAY_DRAIN_S="1", GATEWAY_SHUTDOWN_TIMEOUT_S="10")
    simulator.state.faults.delay_s = 2.0  # slow BAW: lookups are still running when SIGTERM arrives
    async with aiohttp.ClientSession() as http:

        async def lookup() -> int:
            async with http.get(f"{base}/baw/process-status?process_id=23972") as response:
                await response.read()
                return response.status

        in_flight = [asyncio.create_task(lookup()) for _ in range(10)]
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with http.get(f"{base}/readyz") as response:  # still serving while draining, but not ready
            assert response.status == 503
            assert (await response.json())["checks"]["draining"]["draining"] is True
        assert await asyncio.gather(*in_flight) == [200] * 10
    assert await asyncio.wait_for(process.wait(), 20) == 0, log.read_text()
    assert "draining" in log.read_text() and "stopped" in log.read_text()


async def test_a_second_signal_ends_the_process_at_once(gateway_process) -> None:
    process, _, log = await gateway_process(GATEWAY_DRAIN_S="60")
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    returncode = await asyncio.wait_for(process.wait(), 5)
    assert time.monotonic() - started < 5
    assert returncode == 128 + signal.SIGINT, log.read_text()


async def test_a_lookup_still_running_at_shutdown_ends_before_baw_and_redis_are_closed(
    aiohttp_client, gateway_env, redis_server, simulator, tmp_path
) -> None:
    """A lookup outlives a request that went away (its answer fills the cache for the next asker). It used to
    outlive the application too: it went on over a closed BAW session and stored its outcome through a closed
    Redis link, whose pool opened a connection nobody closed (a ResourceWarning, in some later test's GC)."""
    password = tmp_path / "redis-password"
    password.write_text(redis_server.password)
    env = {**gateway_env, "GATEWAY_REDIS_URL": redis_server.url, "GATEWAY_REDIS_PASSWORD_FILE": str(password)}
    client = await aiohttp_client(create_app(load_settings(env)))
    simulator.state.faults.delay_s = 5
    request = asyncio.ensure_future(client.get("/baw/process-status?process_id=2001"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not simulator.state.calls["process"]:  # the lookup is waiting on BAW
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    request.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await request
    [lookup] = [task for task in asyncio.all_tasks() if task.get_name() == "baw-lookup-2001"]
    assert not lookup.done()  # the request went away, its lookup goes on
    await client.close()
    assert lookup.done()
    # It ended while Redis was still open: its cross-replica lock was released, no other replica waits on it.
    redis = Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        assert [key async for key in redis.scan_iter("*lock*")] == []
        clients = await redis.client_list()
    finally:
        await redis.aclose()
    assert len(clients) == 1, clients  # ours: the gateway left no connection open
