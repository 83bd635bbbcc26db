"""Headers every answer carries, streamed ones included; Connection: close while draining; callers behind
trusted proxies; failed authentications limited per address."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import load_settings
from gateway.lifecycle import LIFECYCLE

_ACCEPT = {"Accept": "application/json, text/event-stream", "Origin": "https://chatgpt.com"}


def _initialize(capabilities: dict) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": capabilities,
            "clientInfo": {"name": "t", "version": "1"},
        },
    }


async def test_a_streamed_mcp_answer_carries_the_request_id_and_cors_headers(gateway) -> None:
    # A client that can answer questions (elicitation) is answered over SSE, prepared while the handler runs.
    opened = await gateway.post("/mcp", json=_initialize({"elicitation": {}}), headers=_ACCEPT)
    session = {"Mcp-Session-Id": opened.headers["Mcp-Session-Id"], "MCP-Protocol-Version": "2025-06-18"}
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "get_process_status", "arguments": {"process_id": "23972"}},
    }
    response = await gateway.post("/mcp", json=call, headers={**_ACCEPT, **session, "X-Request-ID": "req-sse-1"})
    assert response.content_type == "text/event-stream"
    assert "23972" in await response.text()
    assert response.headers["X-Request-ID"] == "req-sse-1"
    assert response.headers["Access-Control-Allow-Origin"] == "https://chatgpt.com"


async def test_answers_while_draining_close_the_connection(gateway) -> None:
    assert "close" not in (await gateway.get("/livez")).headers.get("Connection", "").lower()
    gateway.app[LIFECYCLE].draining = True
    response = await gateway.get("/baw/process-status?process_id=23972")
    assert response.status == 200 and response.headers["Connection"].lower() == "close"


@pytest.fixture
async def behind_proxy(aiohttp_client, gateway_env, tmp_path: Path):
    keys = tmp_path / "keys"
    keys.write_text("right-key-5a5a5a\n")
    env = {
        **gateway_env,
        "GATEWAY_API_KEYS_FILE": str(keys),
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.0/8, ::1/128",
    }
    return await aiohttp_client(create_app(load_settings(env)))


async def _wrong_key(client, forwarded_for: str) -> int:
    response = await client.get(
        "/baw/process-status?process_id=23972",
        headers={"Authorization": "Bearer wrong", "X-Forwarded-For": forwarded_for},
    )
    return response.status


async def test_wrong_keys_from_one_address_are_slowed_down_and_the_right_key_never_is(behind_proxy) -> None:
    """10,000 wrong keys from one address were all 401: guessing was free; then the right key from that address was
    refused too (issue 28: every caller behind one address shared the guesser's fate). Now the failing requests
    are 429 past their budget, and a valid key is served from the same address throughout."""
    answers = [await _wrong_key(behind_proxy, "203.0.113.7") for _ in range(15)]
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
    for _ in range(3):
        served = await behind_proxy.get(
            "/baw/process-status?process_id=23972",
            headers={"Authorization": "Bearer right-key-5a5a5a", "X-Forwarded-For": "203.0.113.7"},
        )
        assert served.status == 200
    assert await _wrong_key(behind_proxy, "203.0.113.7") == 429  # and the guesser is still braked
    assert await _wrong_key(behind_proxy, "198.51.100.9") == 401  # another client behind the same ingress


async def test_forwarded_headers_from_untrusted_peers_are_ignored(protected) -> None:
    # Without GATEWAY_TRUSTED_PROXIES anyone could claim any address: the spoofed header changes nothing.
    answers = [await _wrong_key(protected, f"192.0.2.{n}") for n in range(12)]
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
