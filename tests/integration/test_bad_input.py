"""No 500 for bad input (failures-stay-local row 8): each of these used to be an internal error or worse."""

from __future__ import annotations

import pytest

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
