"""Short-lived tokens under steady traffic: renewal runs in the background, never per request."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.simulator.server import SimulatorConfig
from tests.conftest import CLIENT_SECRET


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig(client_secret=CLIENT_SECRET, token_lifetime_s=2.0)


@pytest.fixture
def gateway_env(gateway_env: dict[str, str]) -> dict[str, str]:
    return {**gateway_env, "GATEWAY_CACHE_TTL_S": "0"}  # every lookup goes to BAW with the token held then


async def test_traffic_across_several_short_token_lifetimes_is_all_answered(gateway, simulator) -> None:
    """2-second tokens for 7 seconds: every lookup succeeds and the token endpoint is called about once per
    lifetime (renewal at 72-80 % of it), whatever the load."""
    started = time.monotonic()
    statuses: list[int] = []

    async def caller() -> None:
        while time.monotonic() - started < 7:
            statuses.append((await gateway.get("/baw/process-status?process_id=2001")).status)
            await asyncio.sleep(0.02)

    await asyncio.gather(*(caller() for _ in range(4)))
    elapsed = time.monotonic() - started
    assert len(statuses) > 100 and set(statuses) == {200}
    token_calls = simulator.state.calls["token"]
    assert elapsed / 2.0 <= token_calls <= elapsed / (0.72 * 2.0) + 2
