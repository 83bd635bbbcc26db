"""Every inbound phase has a deadline and every table a bound (failures-stay-local rows 2, 3, 4, 8): a real gateway
process where the behaviour is the process's, raw sockets where a well-behaved client library would hide it."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.shared.sessions import MCP_SESSIONS

_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
_MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


async def _read_all(reader: asyncio.StreamReader, timeout: float) -> bytes:
    return await asyncio.wait_for(reader.read(-1), timeout)


async def _read_answer(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, bytes]:
    """One HTTP answer (head, body) without waiting for the connection to close."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head, await asyncio.wait_for(reader.readexactly(length), timeout)


async def test_a_connection_that_never_completes_its_headers_is_closed(gateway_process) -> None:
    """Slowloris: aiohttp's default gives a connection 3,630 s to send its first request."""
    _, base, log = await gateway_process(GATEWAY_KEEPALIVE_TIMEOUT_S="1")
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(base))
    writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    await writer.drain()
    started = time.monotonic()
    assert await _read_all(reader, 5) == b""  # closed by the server, without an answer
    assert 0.5 < time.monotonic() - started < 3
    writer.close()
    await writer.wait_closed()
    assert "ERROR" not in log.read_text()


_SLOW_BODY = b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"


async def test_past_the_connection_cap_new_connections_get_a_clean_503(gateway_process) -> None:
    _, base, log = await gateway_process(GATEWAY_MAX_CONNECTIONS="5")
    idle = [await asyncio.open_connection("127.0.0.1", _port(base)) for _ in range(5)]
    for _, busy in idle:  # each one a request under way (its body still arriving): none of them is idle
        busy.write(_SLOW_BODY)
        await busy.drain()
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(base))
    refusal = await _read_all(reader, 5)
    assert refusal.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in refusal
    assert json.loads(refusal.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "overloaded"
    for _, idle_writer in idle:
        idle_writer.close()
        await idle_writer.wait_closed()
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/livez") as response:
            assert response.status == 200  # room again
        async with http.get(f"{base}/metrics") as response:
            # counted, though the refusal never reached the application: the operator's only trace of it
            assert "gateway_connections_refused_total 1.0" in (await response.text()).splitlines()
    assert "ERROR" not in log.read_text() and "Traceback" not in log.read_text()


async def test_at_the_cap_an_idle_connection_makes_room_for_a_new_one(gateway_process) -> None:
    """Issue 29 row 10: 1,000 idle keep-alive sockets held the connection cap, and /livez answered 503 for a
    minute. At the cap the oldest idle connection is closed for the new one; busy ones are never touched."""
    _, base, log = await gateway_process(GATEWAY_MAX_CONNECTIONS="5")
    connections = [await asyncio.open_connection("127.0.0.1", _port(base)) for _ in range(5)]
    for reader, writer in connections[:3]:  # kept alive after one request each
        writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        await _read_answer(reader, 5)
    for _, writer in connections[3:]:  # busy: a body under way
        writer.write(_SLOW_BODY)
        await writer.drain()
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.get(f"{base}/livez", headers={"Connection": "close"}) as response:
                assert response.status == 200
    assert await _read_all(connections[0][0], 5) == b""  # the oldest idle one was closed for the first
    for _, writer in connections:
        writer.close()
    assert "ERROR" not in log.read_text()


async def test_a_body_that_does_not_arrive_in_time_is_408_and_a_hang_up_is_no_5xx(gateway_process) -> None:
    _, base, log = await gateway_process(GATEWAY_BODY_TIMEOUT_S="0.5")
    head = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(base))
    writer.write(head.encode() + b'{"jsonrpc":')
    status, body = await _read_answer(reader, 5)
    assert status.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in status
    assert json.loads(body)["error"]["code"] == "request_timeout"
    writer.close()
    await writer.wait_closed()
    # A client that hangs up mid-body is not the gateway's failure.
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(base))
    writer.write(head.encode() + b'{"jsonrpc":')
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
        metrics = await response.text()
    assert 'route="/mcp",status="5' not in metrics
    assert "ERROR" not in log.read_text() and "Traceback" not in log.read_text()


async def test_get_mcp_is_405_rather_than_an_idle_stream(gateway) -> None:
    response = await gateway.get("/mcp", headers={"Accept": "text/event-stream"})
    assert response.status == 405 and response.headers["Allow"] == "POST"
    assert (await response.json())["error"]["code"] == "method_not_allowed"


@pytest.fixture
def gateway_env(gateway_env: dict[str, str]) -> dict[str, str]:
    return {**gateway_env, "GATEWAY_MCP_MAX_SESSIONS": "100", "GATEWAY_MCP_SESSIONS_PER_CALLER": "100"}


async def test_sessions_are_capped_and_fat_capabilities_are_not_kept(gateway) -> None:
    """3,000 initializes with 60 KB of client capabilities used to hold every one of them for an hour."""
    fat = {"experimental": {f"x{n}": "y" * 1000 for n in range(60)}, "elicitation": {}}
    request = {**_INITIALIZE, "params": {**_INITIALIZE["params"], "capabilities": fat}}
    sessions = []
    for _ in range(300):
        response = await gateway.post("/mcp", json=request, headers=_MCP_HEADERS)
        assert response.status == 200
        sessions.append(response.headers["Mcp-Session-Id"])
    store = gateway.app[MCP_SESSIONS]
    assert len(store) == 100
    record = await store.get(sessions[-1])
    assert len(json.dumps(record.data)) < 2048 and set(record.data["capabilities"]) == {"experimental", "elicitation"}
    # The least recently used were forgotten: their clients are told 404 and open a new session.
    gone = await gateway.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        headers={**_MCP_HEADERS, "Mcp-Session-Id": sessions[0], "MCP-Protocol-Version": "2025-06-18"},
    )
    assert gone.status == 404


async def test_shutdown_is_bounded_even_when_a_request_never_finishes(gateway_process, simulator) -> None:
    """runner.cleanup() used to wait twice the shutdown timeout, and requests had no deadline of their own."""
    simulator.state.faults.delay_s = 60
    process, base, log = await gateway_process(
        GATEWAY_DRAIN_S="0.5", GATEWAY_SHUTDOWN_TIMEOUT_S="1", GATEWAY_REQUEST_TIMEOUT_S="60", BAW_TIMEOUT_S="60"
    )
    async with aiohttp.ClientSession() as http:

        async def lookup() -> object:
            try:
                async with http.get(f"{base}/baw/process-status?process_id=23972") as response:
                    return response.status
            except aiohttp.ClientError as exc:
                return exc

        stuck = asyncio.ensure_future(lookup())
        await asyncio.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        # drain 0.5 + in-flight 1 + cancel grace 1 (+ start-up of the shutdown itself)
        assert time.monotonic() - started < 4, log.read_text()
        assert isinstance(await stuck, aiohttp.ClientError)  # cut off unanswered (and awaited: nothing left open)
    assert "still in flight after 1 s: cancelled" in log.read_text()


async def test_inline_secrets_are_gone_from_the_process_environment(gateway_process, gateway_env) -> None:
    """/proc/<pid>/environ kept inline secrets for the process's lifetime although the README said otherwise."""
    key, secret = "inline-key-9f8e7d6c", "S3CRET-client-7f1c9a"
    env = {k: v for k, v in gateway_env.items() if k != "BAW_CLIENT_SECRET_FILE"}
    process, base, _ = await gateway_process(
        **{"BAW_CLIENT_SECRET_FILE": "", **env, "BAW_CLIENT_SECRET": secret, "GATEWAY_API_KEYS": key}
    )
    environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    assert secret.encode() not in environ and key.encode() not in environ
    assert b"BAW_CLIENT_SECRET_FILE=/proc/self/fd/" in environ
    async with aiohttp.ClientSession() as http:  # and the secrets still work: a token, a key
        async with http.get(
            f"{base}/baw/process-status?process_id=23972", headers={"Authorization": f"Bearer {key}"}
        ) as response:
            assert response.status == 200


async def test_a_malformed_request_never_puts_its_header_bytes_in_the_log(gateway_process) -> None:
    _, base, log = await gateway_process(GATEWAY_LOG_LEVEL="DEBUG")
    for raw in (
        b"GET /livez HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer leaked-key-1\x01x\r\n\r\n",
        b"GET /livez HTTP/1.1\nHost: a\nAuthorization: Bearer leaked-key-2\n\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", _port(base))
        writer.write(raw)
        assert (await _read_all(reader, 5)).startswith(b"HTTP/1.")
        writer.close()
        await writer.wait_closed()
    # At DEBUG the MCP library used to log whole answers, task variables included.
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/mcp", json=_INITIALIZE, headers=_MCP_HEADERS) as response:
            assert response.status == 200
    text = log.read_text()
    assert "leaked-key" not in text and "ERROR" not in text
    assert "refused a malformed request with HTTP 400" in text
    assert '"protocolVersion"' not in text


async def test_the_redis_urls_password_is_gone_from_the_process_environment(
    gateway_process, redis_server, tmp_path
) -> None:
    """Issue 29 row 13: GATEWAY_REDIS_URL=redis://:password@host stayed in /proc/<pid>/environ; it moves like the
    other inline secrets, and cluster mode still works with it."""
    url = f"redis://:{redis_server.password}@127.0.0.1:{redis_server.port}/0"
    process, base, log = await gateway_process(GATEWAY_REDIS_URL=url)
    environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    assert redis_server.password.encode() not in environ
    assert b"GATEWAY_REDIS_URL_FILE=/proc/self/fd/" in environ
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 200
    assert "cluster mode" in log.read_text() and redis_server.password not in log.read_text()
