"""Fault injection against the simulator: each fault ends with the documented code within its deadline, the
process stays healthy, and it recovers by itself."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import pytest

from gateway.app import create_app
from gateway.config import load_settings
from gateway.logs import configure_logging
from tests.clock import ManualClock
from tests.conftest import CLIENT_SECRET


@pytest.fixture
def gateway_env(gateway_env: dict[str, str]) -> dict[str, str]:
    return {
        **gateway_env,
        "BAW_TIMEOUT_S": "1",
        "GATEWAY_BREAKER_MIN_CALLS": "3",
        "GATEWAY_BREAKER_MIN_IDS": "3",
        "GATEWAY_BREAKER_MIN_CALLERS": "1",  # one caller here (an open gateway); the rule has tests of its own
        "GATEWAY_BREAKER_COOLDOWN_S": "15",
        "GATEWAY_CACHE_FAILURE_TTL_S": "0",
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.monotonic())


@pytest.fixture
async def gateway(aiohttp_client, gateway_env: dict[str, str], clock: ManualClock):
    """The gateway with a clock the test moves: cooldowns and TTLs pass without sleeping."""
    return await aiohttp_client(create_app(load_settings(gateway_env), clock=clock))


async def _lookup(gateway, piid: str) -> tuple[int, dict, float, dict]:
    started = time.monotonic()
    response = await gateway.get(f"/baw/process-status?process_id={piid}")
    return response.status, await response.json(), time.monotonic() - started, dict(response.headers)


async def _healthy(gateway) -> None:
    assert (await gateway.get("/livez")).status == 200


async def test_a_slow_baw_answers_504_after_the_timeout_and_is_not_retried(gateway, simulator) -> None:
    simulator.state.faults.delay_s = 1.5
    status, body, elapsed, _ = await _lookup(gateway, "23972")
    assert (status, body["error"]["code"]) == (504, "baw_timeout")
    assert 0.9 < elapsed < 2.5
    assert simulator.state.calls["process"] == 1
    simulator.state.faults.delay_s = 0
    await _healthy(gateway)
    assert (await _lookup(gateway, "23972"))[0] == 200


async def test_the_whole_request_deadline_ends_a_lookup_that_waits_on_a_slow_baw(
    aiohttp_client, gateway_env: dict[str, str], simulator
) -> None:
    """GATEWAY_REQUEST_TIMEOUT_S bounds a request whatever BAW_TIMEOUT_S allows: 504, the task freed, and the
    next request is served (the deadline's timer serves every request, not one per request)."""
    env = {**gateway_env, "BAW_TIMEOUT_S": "10", "GATEWAY_REQUEST_TIMEOUT_S": "0.5"}
    gateway = await aiohttp_client(create_app(load_settings(env)))
    simulator.state.faults.delay_s = 3
    status, body, elapsed, _ = await _lookup(gateway, "23972")
    assert (status, body["error"]["code"]) == (504, "baw_timeout")
    assert "stopped waiting for BAW after 0.5 s" in body["error"]["message"]
    assert 0.4 < elapsed < 2.5  # (the deadline's, not BAW's 3 s)
    simulator.state.faults.delay_s = 0
    assert (await _lookup(gateway, "2001"))[0] == 200


async def test_a_short_burst_of_5xx_is_absorbed_by_retries(gateway, simulator) -> None:
    simulator.state.faults.error_burst, simulator.state.faults.error_status = 2, 503
    status, body, _, _ = await _lookup(gateway, "2001")
    assert status == 200 and body["process_id"] == "2001"
    assert simulator.state.calls["process"] == 3


@pytest.mark.parametrize(("baw_status", "status", "code"), [(503, 503, "baw_unavailable"), (502, 502, "baw_error")])
async def test_a_lasting_5xx_gives_the_documented_code_after_bounded_attempts(
    gateway, simulator, baw_status, status, code
) -> None:
    simulator.state.faults.error_burst, simulator.state.faults.error_status = 50, baw_status
    answer, body, elapsed, headers = await _lookup(gateway, "1500")
    assert (answer, body["error"]["code"]) == (status, code)
    assert simulator.state.calls["process"] == 3 and elapsed < 5
    if status == 503:
        assert "Retry-After" in headers
    await _healthy(gateway)


async def test_connection_resets_are_retried_and_a_lasting_one_is_503(gateway, simulator) -> None:
    simulator.state.faults.resets = 2
    assert (await _lookup(gateway, "1600"))[0] == 200
    simulator.state.faults.resets = 50
    status, body, _, _ = await _lookup(gateway, "1700")
    assert (status, body["error"]["code"]) == (503, "baw_unavailable")
    simulator.state.faults.resets = 0
    assert (await _lookup(gateway, "1700"))[0] == 200  # one lookup (three attempts) is one outcome: still closed


@pytest.mark.parametrize(
    ("kind", "text"),
    [("malformed", "not JSON"), ("html", "instead of JSON"), ("oversized", "more than"), ("wrong_shape", "shape")],
)
async def test_unusable_bodies_are_502_never_500(gateway, simulator, kind: str, text: str) -> None:
    simulator.state.faults.body = kind
    status, body, _, _ = await _lookup(gateway, "1800")
    assert (status, body["error"]["code"]) == (502, "baw_error")
    assert text in body["error"]["message"]
    simulator.state.faults.body = None
    assert (await _lookup(gateway, "1800"))[0] == 200


async def test_the_breaker_fails_fast_serves_the_cache_and_recovers_after_one_probe(gateway, simulator, clock) -> None:
    assert (await _lookup(gateway, "23972"))[0] == 200  # cached for 5 s
    simulator.state.faults.error_burst, simulator.state.faults.error_status = 1000, 500
    for piid in ("2001", "881", "1500"):
        assert (await _lookup(gateway, piid))[0] == 502
    calls = simulator.state.calls["process"]
    status, body, elapsed, headers = await _lookup(gateway, "1600")
    assert (status, body["error"]["code"]) == (503, "baw_unavailable") and headers["Retry-After"] == "15"
    assert simulator.state.calls["process"] == calls and elapsed < 0.5  # not even tried
    cached = await gateway.get("/baw/process-status?process_id=23972")
    assert cached.status == 200 and "hit" in cached.headers["Cache-Status"]
    simulator.state.faults.error_burst = 0
    clock.now += 15
    assert (await _lookup(gateway, "1600"))[0] == 200  # the probe succeeds: closed again
    assert (await _lookup(gateway, "1700"))[0] == 200


async def test_500_simultaneous_lookups_of_one_id_cost_one_baw_call(gateway, simulator) -> None:
    # A credential first: on a slow machine the first token's fetch, racing the burst for the one event loop, could
    # outlast BAW_TIMEOUT_S (1 s here), and the burst is about coalescing, not about starting up.
    assert (await _lookup(gateway, "23972"))[0] == 200
    calls = simulator.state.calls["process"]
    simulator.state.faults.delay_s = 0.3
    responses = await asyncio.gather(*(gateway.get("/baw/process-status?process_id=2001") for _ in range(500)))
    assert [response.status for response in responses] == [200] * 500
    assert simulator.state.calls["process"] == calls + 1
    statuses = {response.headers["Cache-Status"] for response in responses}
    assert statuses <= {"baw-gateway; fwd=miss", "baw-gateway; fwd=miss; collapsed", "baw-gateway; hit"}


async def test_no_secret_leaks_through_any_fault(gateway, simulator) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", stream=buffer)
    try:
        answers = []
        for fault in (
            {"delay_s": 1.5},
            {"error_burst": 5},
            {"resets": 5},
            {"body": "malformed"},
            {"body": "oversized"},
            {"token_down": True},
            {},
        ):
            simulator.state.faults.__init__(**fault)
            simulator.state.tokens.clear()
            answers.append(await (await gateway.get("/baw/process-status?process_id=4242")).text())
        answers.append(await (await gateway.get("/metrics")).text())
    finally:
        root.handlers[:], root.level = saved
    seen = buffer.getvalue() + "".join(answers)
    assert all(json.loads(line) for line in buffer.getvalue().splitlines())
    for secret in (CLIENT_SECRET, *simulator.state.issued_tokens):
        assert secret not in seen
    assert "programmersDetails" not in seen and "BPDInstanceDAO" not in seen
