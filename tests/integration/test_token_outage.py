"""The token endpoint down for longer than the token lives: the held token is used until it expires, then lookups
answer the gateway's JSON 503 at once while readiness holds (every replica unready at once would hand hosts the
ingress's bare 503); when the endpoint returns, the gateway recovers by itself. The gateway's wall clock is moved
by hand: the token expires without the test waiting for it."""

from __future__ import annotations

import asyncio
import time

from gateway.app import create_app
from gateway.config import load_settings
from tests.clock import ManualClock


async def test_token_endpoint_outage_then_recovery_without_restart(aiohttp_client, gateway_env, simulator) -> None:
    wall = ManualClock(time.time())
    env = {**gateway_env, "GATEWAY_CACHE_TTL_S": "0"}
    gateway = await aiohttp_client(create_app(load_settings(env), wall_clock=wall))
    assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
    simulator.state.faults.token_down = True
    wall.now += simulator.config.token_lifetime_s  # the held token has expired
    started = time.monotonic()
    response = await gateway.get("/baw/process-status?process_id=23972")
    assert response.status == 503 and time.monotonic() - started < 0.5  # quickly, not after a timeout
    body = await response.json()
    assert body["error"]["code"] == "baw_unavailable" and "HTTP 503" in body["error"]["message"]
    ready = await gateway.get("/readyz")
    assert ready.status == 200 and (await ready.json())["checks"]["credential"]["usable_now"] is False
    assert (await gateway.get("/livez")).status == 200
    simulator.state.faults.token_down = False
    deadline = time.monotonic() + 10  # the renewal retries after its backoff (1 s, then 2 s ...)
    while (await gateway.get("/baw/process-status?process_id=23972")).status != 200:
        assert time.monotonic() < deadline, "the gateway did not recover after the token endpoint came back"
        await asyncio.sleep(0.2)
    assert (await gateway.get("/readyz")).status == 200
