"""Probes, metrics and logs, against the simulator over TLS."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.config import load_settings
from gateway.keys import BACKGROUND_TASKS
from gateway.lifecycle import LIFECYCLE
from gateway.logs import configure_logging
from tests.conftest import API_KEY, CLIENT_SECRET, PASSWORD


async def test_livez_and_its_alias_answer_without_dependencies(gateway) -> None:
    for path in ("/livez", "/healthz"):
        response = await gateway.get(path)
        assert response.status == 200 and await response.json() == {
            "status": "ok",
            "checks": {"event_loop": {"ok": True}, "credential_renewal": {"ok": True}},
        }


async def test_livez_fails_when_the_renewal_task_has_died(gateway, caplog) -> None:
    """A dead renewal task used to go unnoticed until shutdown while every lookup failed."""
    renewal = gateway.app[BACKGROUND_TASKS]["credential_renewal"]
    renewal.cancel()
    await asyncio.sleep(0)
    response = await gateway.get("/livez")
    assert response.status == 503
    assert (await response.json())["checks"]["credential_renewal"] == {"ok": False}
    assert "background task baw-credential-renewal was cancelled" in caplog.text


async def test_readyz_reports_the_credential_and_turns_503_while_draining(gateway) -> None:
    for _ in range(100):  # not ready until the first token arrives, moments after start
        response = await gateway.get("/readyz")
        if response.status == 200:
            break
        await asyncio.sleep(0.02)
    body = await response.json()
    assert response.status == 200 and body["status"] == "ready"
    assert body["checks"]["credential"]["ok"] is True
    assert body["checks"]["credential"]["expires_at"].startswith("20")
    gateway.app[LIFECYCLE].draining = True
    response = await gateway.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["checks"]["draining"] == {"ok": False, "draining": True}


async def test_readyz_is_503_without_a_usable_credential(aiohttp_client, gateway_env) -> None:
    env = {key: value for key, value in gateway_env.items() if key != "BAW_CLIENT_SECRET_FILE"}
    client = await aiohttp_client(create_app(load_settings({**env, "BAW_CLIENT_SECRET": "wrong"})))
    await client.get("/baw/process-status?process_id=1500")  # waits for the first (failed) renewal
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["credential"] == {"ok": False, "usable_now": False, "expires_at": None}


async def _scrape(client) -> dict[str, list]:
    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    return {family.name: family.samples for family in text_string_to_metric_families(await response.text())}


async def test_metrics_parse_and_carry_route_templates_never_raw_paths(gateway, simulator) -> None:
    for piid in ("23972", "881", "999999"):
        await gateway.get(f"/baw/process-status?process_id={piid}")
    await gateway.get("/no/such/path/12345")
    families = await _scrape(gateway)
    for name in (
        "gateway_http_requests",
        "gateway_http_request_duration_seconds",
        "gateway_baw_requests",
        "gateway_baw_request_duration_seconds",
        "gateway_token_refreshes",
        "gateway_token_expiry_timestamp_seconds",
        "gateway_cache_lookups",
        "process_cpu_seconds",
    ):
        assert name in families, name
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["gateway_http_requests"]
        if s.name.endswith("_total")
    }
    assert requests[("/baw/process-status", "200")] == 2
    assert requests[("/baw/process-status", "404")] == 1
    assert requests[("unmatched", "404")] == 1
    assert not any("23972" in route or "12345" in route for route, _ in requests)
    outcomes = {s.labels["outcome"]: s.value for s in families["gateway_baw_requests"] if s.name.endswith("_total")}
    assert outcomes == {"success": 2, "not_found": 1}
    refreshes = {s.labels["outcome"]: s.value for s in families["gateway_token_refreshes"] if s.name.endswith("_total")}
    assert refreshes == {"success": 1}
    buckets = {s.labels["le"] for s in families["gateway_http_request_duration_seconds"] if s.name.endswith("bucket")}
    assert {"0.001", "45.0", "+Inf"} <= buckets


@pytest.fixture
def json_log():
    """The gateway's own JSON logging at DEBUG into a buffer; the root handlers are restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", stream=buffer)
    yield buffer
    root.handlers[:], root.level = saved


async def test_json_logs_have_the_request_id_and_an_access_line_per_request(gateway, json_log) -> None:
    response = await gateway.get("/baw/process-status?process_id=23972", headers={"X-Request-ID": "trace-42"})
    await gateway.get("/readyz")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "gateway.access"]
    lookup = next(line for line in access if line["route"] == "/baw/process-status")
    assert response.headers["X-Request-ID"] == "trace-42"
    assert lookup["request_id"] == "trace-42"
    assert lookup["level"] == "info" and lookup["status"] == 200 and lookup["baw_calls"] == 1
    assert lookup["duration_ms"] > 0
    probe = next(line for line in access if line["route"] == "/readyz")
    assert probe["level"] == "debug"  # probes never at INFO


async def test_no_secret_token_or_authorization_header_is_logged_at_debug(
    aiohttp_client, gateway, gateway_env, simulator, json_log
) -> None:
    await gateway.get("/baw/process-status?process_id=23972")
    simulator.state.tokens.clear()  # forces the 401 → renewal path
    await gateway.get("/baw/process-status?process_id=881")
    await gateway.get("/baw/process-status?process_id=4242")
    base = {key: value for key, value in gateway_env.items() if not key.startswith("BAW_CLIENT")}
    for extra in (
        {"BAW_AUTH": "basic", "BAW_USERNAME": "svc-gateway", "BAW_PASSWORD": PASSWORD},
        {"BAW_AUTH": "zen_api_key", "BAW_USERNAME": "svc-gateway", "BAW_API_KEY": API_KEY},
        {"BAW_AUTH": "oauth2", "BAW_CLIENT_ID": "baw-gateway", "BAW_CLIENT_SECRET": "S3CRET-wrong-1"},
    ):
        client = await aiohttp_client(create_app(load_settings({**base, **extra})))
        await client.get("/baw/process-status?process_id=1500")
    output = json_log.getvalue()
    assert "token renewed" in output and "HTTP 401 (invalid_client)" in output
    for secret in (CLIENT_SECRET, PASSWORD, API_KEY, "S3CRET-wrong-1", *simulator.state.issued_tokens):
        assert secret not in output
    assert "Bearer " not in output and "Basic " not in output and "ZenApiKey " not in output
