"""Who may call, how often, from which origin, with how much: over real sockets."""

from __future__ import annotations

import asyncio

from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.config import load_settings
from tests.conftest import KEY


async def test_lookups_need_a_valid_bearer_key(protected) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        response = await protected.get("/baw/process-status?process_id=23972", headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await response.json())["error"]["code"] == "unauthorized"
    response = await protected.get("/baw/process-status?process_id=23972", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status == 200


async def test_probes_metrics_and_discovery_stay_open(protected) -> None:
    for path in (
        "/livez",
        "/healthz",
        "/metrics",
        "/.well-known/ai-plugin.json",
        "/openapi.json",
        "/docs",
        "/logo.png",
        "/legal",
    ):
        assert (await protected.get(path)).status == 200, path
    assert (await protected.get("/readyz")).status != 401  # ready or not, never behind a key


async def test_with_keys_the_manifest_and_openapi_declare_bearer_auth(protected) -> None:
    manifest = await (await protected.get("/.well-known/ai-plugin.json")).json()
    assert manifest["auth"] == {
        "type": "service_http",
        "authorization_type": "bearer",
        "verification_tokens": {"openai": "openai-verif-123"},
    }
    document = await (await protected.get("/openapi.json")).json()
    validate(document)
    assert document["components"]["securitySchemes"]["bearerKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A key from GATEWAY_API_KEYS.",
    }
    operation = document["paths"]["/baw/process-status"]["get"]
    assert operation["security"] == [{"bearerKey": []}]
    assert {"401", "429"} <= set(operation["responses"])


async def test_cors_echoes_allowed_origins_only_and_answers_preflight(gateway) -> None:
    preflight = await gateway.options(
        "/baw/process-status",
        headers={
            "Origin": "https://chatgpt.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://chatgpt.com"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    allowed = await gateway.get("/baw/process-status?process_id=23972", headers={"Origin": "https://chat.openai.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://chat.openai.com"
    foreign = await gateway.get("/baw/process-status?process_id=23972", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    foreign_preflight = await gateway.options(
        "/baw/process-status", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in foreign_preflight.headers


async def test_the_manifest_allows_private_network_access_for_local_development(gateway) -> None:
    preflight = await gateway.options(
        "/.well-known/ai-plugin.json",
        headers={
            "Origin": "https://chatgpt.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.headers["Access-Control-Allow-Private-Network"] == "true"
    response = await gateway.get("/.well-known/ai-plugin.json", headers={"Origin": "https://chatgpt.com"})
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"


async def test_a_caller_over_its_rate_gets_429_with_retry_after(aiohttp_client, gateway_env) -> None:
    env = {**gateway_env, "GATEWAY_RATE_LIMIT_RPS": "1", "GATEWAY_RATE_LIMIT_BURST": "3"}
    client = await aiohttp_client(create_app(load_settings(env)))
    statuses = [(await client.get("/baw/process-status?process_id=23972")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await client.get("/baw/process-status?process_id=23972")
    assert limited.headers["Retry-After"] == "1"
    assert (await limited.json())["error"]["code"] == "rate_limited"
    assert (await client.get("/livez")).status == 200  # probes are never rate limited


async def test_oversized_request_lines_and_headers_are_refused(gateway) -> None:
    too_long = await gateway.get("/baw/process-status?process_id=1&pad=" + "x" * 5000)
    assert too_long.status in (400, 414)
    too_big_header = await gateway.get("/livez", headers={"X-Filler": "y" * 9000})
    assert too_big_header.status in (400, 431)
    # The process is unharmed.
    assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200


async def test_a_large_body_is_refused_with_413(gateway) -> None:
    padding = "x" * (200 * 1024)
    response = await gateway.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "pad": padding},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "request_too_large"
    assert (await gateway.get("/livez")).status == 200


async def test_raw_garbage_on_the_socket_does_not_hurt(gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(b"\x16\x03\x01garbage that is not HTTP\r\n\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.read(100), 5)).split(b"\r\n")[0].endswith(b" 400 Bad Request")
    finally:
        writer.close()
        await writer.wait_closed()
    assert (await gateway.get("/livez")).status == 200
