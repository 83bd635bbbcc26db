"""The stateless tools/call the gateway answers itself (web/mcp/direct.py) answers exactly what the library
answers, and everything it does not fully recognise still goes to the library."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mcp import Client

from gateway.web.mcp import direct as mcp_direct

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
}


def _call(name: str, arguments: Any, call_id: Any = 7, **params: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": META, **params},
    }


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each message was answered directly (True) or by the library (False), in order."""
    taken: list[bool] = []
    recognise = mcp_direct.DirectCalls.recognise

    def spy(self, request, message):  # type: ignore[no-untyped-def]
        call = recognise(self, request, message)
        taken.append(call is not None)
        return call

    monkeypatch.setattr(mcp_direct.DirectCalls, "recognise", spy)
    return taken


async def _post(gateway, message: Any, **headers: str) -> tuple[int, Any]:
    response = await gateway.post("/mcp", data=json.dumps(message), headers={**HEADERS, **headers})
    return response.status, await response.json()


def _comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with the one thing that differs per request, the request id inside an error's text, removed."""
    for content in answer.get("result", {}).get("content", []):
        text = json.loads(content["text"])
        if isinstance(text, dict) and "error" in text:
            text["error"].pop("request_id")
            content["text"] = text
    return answer


SAME_ANSWERS = [
    _call("get_process_status", {"process_id": "23972"}),
    _call("get_process_status", {"process_id": 23972}, call_id="a-string-id"),
    _call("list_process_tasks", {"process_id": "23972", "state": "all"}),
    _call("get_task", {"task_id": "189489", "include_variables": True}),
    _call("explain_process_failure", {"process_id": "881"}),
    _call("search_processes", {"app": "PROC", "limit": 5}),
    _call("process_status_overview", {}),
    _call("list_process_apps", {}),
    _call("get_process_status", {"process_id": "999999"}),  # not found: an isError result
    _call("get_process_status", {"process_id": "../etc"}),  # invalid: an isError result
    _call("list_process_tasks", {"process_id": "1", "sort": "desc"}),  # an unknown argument
    _call("get_process_status", {"process_id": "23972"}, call_id="ünïcode ✓"),
    _call("get_process_status", {"process_id": "23972"}, call_id=2**70),  # orjson read it as a float
]


@pytest.mark.parametrize("message", SAME_ANSWERS, ids=lambda m: f"{m['params']['name']}:{m['params']['arguments']}")
async def test_a_direct_answer_is_the_librarys_answer(gateway, direct, monkeypatch, message) -> None:
    name = message["params"]["name"]
    status, answered = await _post(gateway, message, **{"Mcp-Name": name})
    assert direct == [True]
    monkeypatch.setattr(mcp_direct.DirectCalls, "recognise", lambda self, request, message: None)
    library_status, by_library = await _post(gateway, message, **{"Mcp-Name": name})
    assert (status, _comparable(answered)) == (library_status, _comparable(by_library))
    assert answered["id"] == message["id"] and "result" in answered


async def test_a_cached_answer_is_encoded_once_and_its_ids_still_differ(gateway, direct) -> None:
    first = await _post(
        gateway, _call("get_process_status", {"process_id": "2001"}, call_id=1), **{"Mcp-Name": "get_process_status"}
    )
    second = await _post(
        gateway, _call("get_process_status", {"process_id": "2001"}, call_id=2), **{"Mcp-Name": "get_process_status"}
    )
    assert direct == [True, True]
    assert [first[1]["id"], second[1]["id"]] == [1, 2]
    assert first[1]["result"] == second[1]["result"]
    assert first[1]["result"]["structuredContent"]["process_id"] == "2001"


def _with(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**message, **changes}


PLAIN = _call("get_process_status", {"process_id": "23972"})
NAME = {"Mcp-Name": "get_process_status"}

# Each is something the gateway does not answer itself; the library's answer (status, JSON-RPC error code or a
# result) comes back unchanged.
TO_THE_LIBRARY = [
    ("a foreign Origin", PLAIN, {**NAME, "Origin": "https://evil.example"}, 403, None),
    ("a session header", PLAIN, {**NAME, "Mcp-Session-Id": "nope"}, 404, None),
    ("Mcp-Name disagrees", PLAIN, {"Mcp-Name": "get_task"}, 400, -32020),
    ("Mcp-Name missing", PLAIN, {}, 400, -32020),
    ("Mcp-Method disagrees", PLAIN, {**NAME, "Mcp-Method": "tools/list"}, 400, -32020),
    ("no header version", PLAIN, {**NAME, "MCP-Protocol-Version": ""}, 400, None),
    ("an unknown tool", _call("delete_everything", {}), {"Mcp-Name": "delete_everything"}, 404, -32601),
    ("arguments not an object", _call("get_process_status", [1]), NAME, 200, -32602),
    ("a boolean id", _with(PLAIN, id=True), NAME, 400, -32600),
    ("a null id", _with(PLAIN, id=None), NAME, 400, -32600),
    ("not JSON-RPC 2.0", _with(PLAIN, jsonrpc="1.0"), NAME, 400, -32600),
    ("no capabilities", _call("get_process_status", {"process_id": "1"}, _meta={}), NAME, 400, -32600),
    (
        "clientInfo without version",
        _call(
            "get_process_status",
            {"process_id": "1"},
            _meta={**META, "io.modelcontextprotocol/clientInfo": {"name": "x"}},
        ),
        NAME,
        200,
        -32602,
    ),
    (
        "a progress token",
        _call("get_process_status", {"process_id": "23972"}, _meta={**META, "progressToken": 5}),
        NAME,
        200,
        None,
    ),
    (
        "a name sent base64-encoded",
        PLAIN,
        {"Mcp-Name": "=?base64?" + base64.b64encode(b"get_process_status").decode() + "?="},
        200,
        None,
    ),
    ("JSON not accepted", PLAIN, {**NAME, "Accept": "text/event-stream"}, 406, None),
    ("JSON refused by quality", PLAIN, {**NAME, "Accept": "application/json;q=0, text/event-stream"}, 406, None),
]


@pytest.mark.parametrize(
    ("case", "message", "headers", "status", "code"), TO_THE_LIBRARY, ids=[case[0] for case in TO_THE_LIBRARY]
)
async def test_what_is_not_recognised_goes_to_the_library(
    gateway, direct, case, message, headers, status, code
) -> None:
    response = await gateway.post("/mcp", data=json.dumps(message), headers={**HEADERS, **headers})
    assert direct == [False], case
    assert response.status == status, (case, await response.text())
    if code is not None:
        assert (await response.json())["error"]["code"] == code, case
    elif response.status == 200:
        assert (await response.json())["result"]["structuredContent"]["process_id"] == "23972"


async def test_the_accept_verdict_is_the_librarys_for_each_header_value(gateway, direct) -> None:
    """The verdict is kept per Accept value: a value accepted before does not let a refused one through."""
    statuses = []
    for accept in ("application/json", "text/event-stream", "application/json", "", "*/*"):
        response = await gateway.post("/mcp", data=json.dumps(PLAIN), headers={**HEADERS, **NAME, "Accept": accept})
        statuses.append(response.status)
    assert statuses == [200, 406, 200, 406, 200]
    assert direct == [True, False, True, False, True]


async def test_the_official_sdk_is_answered_directly(gateway, direct) -> None:
    async with Client(f"http://127.0.0.1:{gateway.port}/mcp", mode="auto") as client:
        result = await client.call_tool("get_process_status", {"process_id": "23972"})
        failed = await client.call_tool("get_process_status", {"process_id": "999999"})
    assert result.is_error is False and result.structured_content["process_id"] == "23972"
    assert failed.is_error is True and failed.structured_content is None
    assert True in direct  # the calls; discovery and the client's tools/list went to the library
    assert direct.count(True) == 2
