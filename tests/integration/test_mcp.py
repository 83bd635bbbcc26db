"""`POST /mcp` driven by a client nobody here wrote: the official `mcp` SDK, in its legacy (initialize
handshake) and auto (2026-07-28 stateless, server/discover) modes."""

from __future__ import annotations

import json
import logging

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import KEY

MODES = ["legacy", "auto"]
CALLS = {
    "get_process_status": ({"process_id": "23972"}, "/baw/process-status?process_id=23972"),
    "list_process_tasks": ({"process_id": "23972", "state": "all"}, "/baw/process-tasks?process_id=23972&state=all"),
    "get_task": ({"task_id": "189489"}, "/baw/task?task_id=189489"),
    "explain_process_failure": ({"process_id": "881"}, "/baw/process-failure?process_id=881"),
    "search_processes": ({"app": "PROC", "limit": 5}, "/baw/processes?app=PROC&limit=5"),
    "process_status_overview": ({}, "/baw/process-overview"),
    "list_process_apps": ({}, "/baw/process-apps"),
    "search": ({"query": "PROC active"}, "/baw/search?query=PROC+active"),
    "fetch": ({"id": "23972"}, "/baw/fetch?id=23972"),
}


def _url(client) -> str:
    return f"http://127.0.0.1:{client.port}/mcp"


@pytest.mark.parametrize("mode", MODES)
async def test_tools_are_listed_read_only_with_input_and_output_schemas(gateway, mode: str) -> None:
    async with Client(_url(gateway), mode=mode) as client:
        listed = (await client.list_tools()).tools
    assert sorted(tool.name for tool in listed) == sorted(CALLS)
    for tool in listed:
        assert tool.annotations.read_only_hint is True
        assert tool.input_schema["type"] == "object" and tool.output_schema["type"] == "object"
        assert tool.description and len(tool.description) <= 300
    status = next(tool for tool in listed if tool.name == "get_process_status")
    assert status.input_schema["required"] == ["process_id"]
    assert "open_tasks" in status.output_schema["properties"]


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_answers_what_the_rest_endpoint_answers(gateway, mode: str) -> None:
    async with Client(_url(gateway), mode=mode) as client:
        for name, (arguments, rest_path) in CALLS.items():
            result = await client.call_tool(name, arguments)
            assert result.is_error is False, (name, result)
            rest = await (await gateway.get(rest_path)).json()
            assert result.structured_content == rest, name
            assert result.content[0].type == "text" and '"' in result.content[0].text


@pytest.mark.parametrize("mode", MODES)
async def test_tool_failures_are_results_with_the_gateway_code(gateway, mode: str) -> None:
    async with Client(_url(gateway), mode=mode) as client:
        missing = await client.call_tool("get_process_status", {"process_id": "999999"})
        invalid = await client.call_tool("get_process_status", {"process_id": "../etc"})
        unknown = await client.call_tool("list_process_tasks", {"process_id": "1", "sort": "desc"})
    for result in (missing, invalid, unknown):
        # No structuredContent on errors: clients check it against the outputSchema, which errors do not match.
        assert result.is_error and result.structured_content is None
    assert _error(missing)["code"] == "not_found"
    assert _error(invalid)["code"] == "invalid_request" and "1 to 12 digits" in _error(invalid)["message"]
    assert "sort" in _error(unknown)["message"]


def _error(result) -> dict:
    return json.loads(result.content[0].text)["error"]


async def test_tool_failures_are_logged_and_carry_the_request_id_they_are_logged_with(gateway, caplog) -> None:
    caplog.set_level(logging.INFO, "gateway")
    async with Client(_url(gateway), mode="auto") as client:
        missing = await client.call_tool("get_process_status", {"process_id": "999999"})
    request_id = _error(missing)["request_id"]
    assert request_id and len(request_id) == 32
    logged = [r for r in caplog.records if r.getMessage().startswith("MCP tool error not_found")]
    assert [r.request_id for r in logged] == [request_id]


@pytest.mark.parametrize("mode", MODES)
async def test_inbound_keys_apply_to_mcp_as_to_rest(protected, mode: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with Client(streamable_http_client(_url(protected), http_client=http), mode=mode) as client:
            result = await client.call_tool("get_process_status", {"process_id": "2001"})
    assert result.structured_content["status"] == "active"
    refused = await protected.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True):  # how the SDK surfaces the 401
        async with Client(_url(protected), mode=mode) as client:
            await client.list_tools()


# A stateful handshake (2025-06-18), as a raw JSON-RPC body.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


async def test_a_foreign_origin_is_refused(gateway) -> None:
    response = await gateway.post(
        "/mcp",
        json=INITIALIZE,
        headers={"Origin": "https://evil.example", "Accept": "application/json, text/event-stream"},
    )
    assert response.status == 403


async def test_stateless_revision_answers_405_on_get(gateway) -> None:
    response = await gateway.get("/mcp", headers={"MCP-Protocol-Version": "2026-07-28", "Accept": "text/event-stream"})
    assert response.status == 405


async def test_mcp_calls_share_the_cache_and_are_counted_by_surface(gateway, simulator) -> None:
    await gateway.get("/baw/process-status?process_id=1600")
    async with Client(_url(gateway), mode="auto") as client:
        result = await client.call_tool("get_process_status", {"process_id": "1600"})
    assert result.is_error is False
    metrics = await (await gateway.get("/metrics")).text()
    assert 'gateway_cache_lookups_total{result="hit",surface="mcp"} 1.0' in metrics
    assert 'gateway_cache_lookups_total{result="miss",surface="rest"} 1.0' in metrics
    assert simulator.state.calls["process"] == 1


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_every_handshake_revision_is_negotiated(gateway, version: str) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    response = await gateway.post(
        "/mcp",
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
        },
    )
    assert response.status == 200
    text = await response.text()
    body = _body(text)
    assert body["result"]["protocolVersion"] == version
    assert "tools" in body["result"]["capabilities"]
    assert body["result"]["serverInfo"]["name"] == "baw-gateway"


async def test_an_unexpected_fault_never_shows_its_internals(gateway, monkeypatch) -> None:
    async def broken(self, app):  # noqa: ANN001
        raise RuntimeError("boom at /opt/secret/path.py line 42")

    monkeypatch.setattr("gateway.service.ProcessService.overview", broken)
    async with Client(_url(gateway), mode="auto") as client:
        result = await client.call_tool("process_status_overview", {})
    assert result.is_error and _error(result)["code"] == "internal_error" and _error(result)["request_id"]
    rest = await gateway.get("/baw/process-overview")
    assert rest.status == 500 and (await rest.json())["error"]["code"] == "internal_error"
    for text in (str(result), await rest.text()):
        assert "boom" not in text and "secret" not in text and "Traceback" not in text


_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.mark.parametrize(
    ("headers", "method", "meta", "status", "code"),
    [
        ({"Mcp-Method": "server/discover"}, "server/discover", _META, 200, None),
        ({"Mcp-Method": "tools/list"}, "tools/call", _META, 400, -32020),  # header and body disagree
        (
            {"Mcp-Method": "tools/list", "MCP-Protocol-Version": "2099-01-01"},
            "tools/list",
            {**_META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"},
            400,
            -32022,
        ),
    ],
)
async def test_stateless_revision_rules(gateway, headers, method, meta, status, code) -> None:
    response = await gateway.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": {"_meta": meta}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28", **headers},
    )
    body = await response.json()
    assert response.status == status
    if code is None:
        assert "2026-07-28" in body["result"]["supportedVersions"] and "tools" in body["result"]["capabilities"]
    else:
        assert body["error"]["code"] == code


async def test_numeric_ids_are_accepted_and_messages_read_like_sentences(gateway) -> None:
    async with Client(_url(gateway), mode="auto") as client:
        by_number = await client.call_tool("get_process_status", {"process_id": 23972})
        unknown = await client.call_tool("list_process_tasks", {"process_id": 1, "sort": "desc"})
        missing = await client.call_tool("get_task", {})
    assert by_number.is_error is False and by_number.structured_content["process_id"] == "23972"
    for result in (unknown, missing):
        message = _error(result)["message"]
        assert ".." not in message and "Not a valid" not in message and "Missing data" not in message
    assert "Known parameters: cursor, limit, process_id, state." in _error(unknown)["message"]
    assert _error(missing)["message"] == "Invalid arguments: task_id: required."


async def test_the_catalogue_is_small_fixed_and_lists_the_process_apps(gateway) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    opened = await gateway.post(
        "/mcp",
        json=INITIALIZE,
        headers=headers,
    )
    assert (await opened.json())["result"]["capabilities"]["tools"] == {"listChanged": False}
    session = {"Mcp-Session-Id": opened.headers["Mcp-Session-Id"], "MCP-Protocol-Version": "2025-06-18"}
    listed = await gateway.post(
        "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers={**headers, **session}
    )
    tools = {tool["name"]: tool for tool in (await listed.json())["result"]["tools"]}
    six = [
        json.dumps(tools[name]["outputSchema"])
        for name in CALLS
        if name not in ("list_process_apps", "search", "fetch")
    ]
    assert sum(map(len, six)) < 5000  # was 8 KB, most of it descriptions the OpenAPI document keeps
    assert "explain_process_failure" in tools["get_process_status"]["description"]  # routes failures there
    async with Client(_url(gateway), mode="auto") as client:
        apps = (await client.call_tool("list_process_apps", {})).structured_content
    assert {"name": "Procurement", "acronym": "PROC"}.items() <= next(
        app for app in apps["apps"] if app["acronym"] == "PROC"
    ).items()


def _body(text: str) -> dict:
    return json.loads(text.split("data: ", 1)[1]) if text.startswith(("event:", "data:")) else json.loads(text)


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_ping_answers_in_every_handshake_revision(gateway, version: str) -> None:
    """Claude skips a server's views when it does not answer ping (issue 27)."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    opened = await gateway.post(
        "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    )
    session = {"Mcp-Session-Id": opened.headers["Mcp-Session-Id"], "MCP-Protocol-Version": version}
    pinged = await gateway.post(
        "/mcp", headers={**headers, **session}, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}
    )
    assert pinged.status == 200 and _body(await pinged.text()) == {"jsonrpc": "2.0", "id": 2, "result": {}}


async def test_ping_answers_in_the_stateless_revision(gateway) -> None:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "ping",
    }
    ping = {"jsonrpc": "2.0", "id": 7, "method": "ping", "params": {"_meta": _META}}
    pinged = await gateway.post("/mcp", headers=headers, json=ping)
    assert pinged.status == 200 and _body(await pinged.text())["result"] == {}


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_states_all_four_hints(gateway, mode: str) -> None:
    """OpenAI's review rejects apps whose tools leave readOnlyHint, destructiveHint or openWorldHint unset."""
    async with Client(_url(gateway), mode=mode) as client:
        listed = (await client.list_tools()).tools
    for tool in listed:
        hints = tool.annotations
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
            True,
            False,
            True,
            False,
        ), tool.name
