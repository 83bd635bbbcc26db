"""The token endpoint down for several token lifetimes: the held token is used until it expires, then lookups
answer the gateway's JSON 503 at once while readiness holds (every replica unready at once would hand hosts the
ingress's bare 503); when the endpoint returns, the gateway recovers by itself."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.simulator.server import SimulatorConfig
from tests.conftest import CLIENT_SECRET


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig(client_secret=CLIENT_SECRET, token_lifetime_s=1.0)


@pytest.fixture
def gateway_env(gateway_env: dict[str, str]) -> dict[str, str]:
    return {**gateway_env, "GATEWAY_CACHE_TTL_S": "0"}


async def test_token_endpoint_outage_then_recovery_without_restart(gateway, simulator) -> None:
    assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
    simulator.state.faults.token_down = True
    await asyncio.sleep(3.0)  # three lifetimes: the last token has expired
    started = time.monotonic()
    response = await gateway.get("/baw/process-status?process_id=23972")
    assert response.status == 503 and time.monotonic() - started < 0.5  # quickly, not after a timeout
    body = await response.json()
    assert body["error"]["code"] == "baw_unavailable" and "HTTP 503" in body["error"]["message"]
    ready = await gateway.get("/readyz")
    assert ready.status == 200 and (await ready.json())["checks"]["credential"]["usable_now"] is False
    assert (await gateway.get("/livez")).status == 200
    simulator.state.faults.token_down = False
    deadline = time.monotonic() + 35  # within the renewal backoff cap (30 s)
    while time.monotonic() < deadline:
        if (await gateway.get("/baw/process-status?process_id=23972")).status == 200:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the gateway did not recover after the token endpoint came back")
    assert (await gateway.get("/readyz")).status == 200
