"""No 500 for bad input (failures-stay-local row 8): each of these used to be an internal error or worse."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.app import create_app
from gateway.config import load_settings

_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-06-18",
}


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00", "2026-13-01", "yesterday"]
)
async def test_dates_out_of_range_or_unreadable_are_400(gateway, value: str) -> None:
    response = await gateway.get(f"/baw/processes?modified_after={value}")
    assert response.status == 400
    assert "modified_after: expected" in (await response.json())["error"]["message"]


@pytest.mark.parametrize("value", ["2026-11-01", "2026-11-01T09:30:00", "2026-11-01T09:30:00Z"])
async def test_a_date_or_a_time_without_offset_is_read_as_utc(gateway, value: str) -> None:
    assert (await gateway.get(f"/baw/processes?modified_after={value}")).status == 200


async def test_json_nested_too_deep_is_a_parse_error(gateway) -> None:
    response = await gateway.post("/mcp", data="[" * 10_000 + "]" * 10_000, headers=_HEADERS)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == -32700


async def test_an_id_with_a_lone_surrogate_is_an_invalid_request(gateway) -> None:
    body = '{"jsonrpc":"2.0","id":"\\ud800","method":"tools/list"}'
    response = await gateway.post("/mcp", data=body, headers=_HEADERS)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == -32600


async def test_a_tool_call_sent_as_a_notification_never_runs(gateway, simulator) -> None:
    body = (
        '{"jsonrpc":"2.0","method":"tools/call",'
        '"params":{"name":"get_process_status","arguments":{"process_id":"23972"}}}'
    )
    response = await gateway.post("/mcp", data=body, headers=_HEADERS)
    assert response.status == 202 and await response.read() == b""
    assert simulator.state.calls["process"] == 0


async def _raw(base: str, request: bytes) -> bytes:
    """One request written as bytes (no client library would send these), and the status line of its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(base.rsplit(":", 1)[1]))
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.close()
    await writer.wait_closed()
    return head.split(b"\r\n", 1)[0]


def _mcp_request(body: bytes, *headers: bytes) -> bytes:
    lines = [b"POST /mcp HTTP/1.1", b"Host: t", b"Content-Type: application/json"]
    lines += [b"Accept: application/json, text/event-stream", b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


_LIST = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'


async def test_bytes_that_are_not_text_in_headers_are_refused_with_one_json_log_line_each(gateway_process) -> None:
    """Issue 29 row 12: `Bearer ...\\xff` was a 500 every time (never counted as a failed authentication, so never
    429) with 666 KB of ERROR log; `MCP-Protocol-Version: \\xff` was a 500 and ~80 lines of non-JSON log."""
    _, base, log = await gateway_process(GATEWAY_API_KEYS="right-key-0123456789", GATEWAY_LOG_FORMAT="json")
    key = b"Authorization: Bearer right-key-0123456789"
    status = await _raw(base, _mcp_request(_LIST, key, b"MCP-Protocol-Version: \xff"))
    assert status == b"HTTP/1.1 400 Bad Request"
    statuses = []
    for _ in range(12):
        statuses.append(await _raw(base, _mcp_request(_LIST, b"Authorization: Bearer abc\xff")))
    assert statuses[:10] == [b"HTTP/1.1 401 Unauthorized"] * 10 and statuses[-1] == b"HTTP/1.1 429 Too Many Requests"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    assert 10 < len(lines) < 40 and all(json.loads(line) for line in lines)  # a JSON line each, no more
    assert not [line for line in lines if '"ERROR"' in line or "Traceback" in line]


async def test_a_method_with_a_lone_surrogate_is_an_invalid_request(gateway) -> None:
    body = '{"jsonrpc":"2.0","id":1,"method":"\\ud800"}'
    response = await gateway.post("/mcp", data=body, headers=_HEADERS)
    assert response.status in (200, 400)
    assert (await response.json())["error"]["code"] in (-32600, -32601)


async def test_every_message_of_a_batch_counts_under_the_rate_limit(aiohttp_client, gateway_env, simulator) -> None:
    """Issue 29 row 7: 28 HTTP requests in 10 s made 14,000 BAW calls, a batch (2025-03-26) counting as one."""
    env = {**gateway_env, "GATEWAY_RATE_LIMIT_RPS": "1", "GATEWAY_RATE_LIMIT_BURST": "15"}
    client = await aiohttp_client(create_app(load_settings(env)))
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    opened = await client.post("/mcp", json=initialize, headers=headers)
    headers = {**headers, "Mcp-Session-Id": opened.headers["Mcp-Session-Id"], "MCP-Protocol-Version": "2025-03-26"}

    def batch(size: int, first: int) -> list[dict]:
        arguments = {"name": "get_process_status", "arguments": {"process_id": "23972"}}
        return [{"jsonrpc": "2.0", "id": first + n, "method": "tools/call", "params": arguments} for n in range(size)]

    too_big = await client.post("/mcp", json=batch(21, 100), headers=headers)
    assert too_big.status == 400 and (await too_big.json())["error"]["code"] == -32600
    first = await client.post("/mcp", json=batch(10, 200), headers=headers)
    assert first.status == 200
    second = await client.post("/mcp", json=batch(10, 300), headers=headers)
    assert second.status == 429  # 1 (initialize) + 10 + 10 > 15
    assert simulator.state.calls["process"] <= 1  # one BAW call: the first batch's lookups share it
