"""Validated arguments are kept per tool (Tool.load): a hot id's query string or MCP arguments are validated once;
invalid ones, and ones too long to keep, are validated every time."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from marshmallow import ValidationError
from multidict import MultiDict

from gateway.web import rest
from gateway.web.mcp import calls as mcp_calls
from gateway.web.tools.catalogue import TOOLS

STATUS = next(tool for tool in TOOLS if tool.name == "get_process_status")
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "get_process_status",
}
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


@pytest.fixture
def validations():
    """The data validated for get_process_status, in order, whether by marshmallow or by the quick path for a
    plain id (the table starts empty: it is kept per process, across the tests' apps)."""
    STATUS.validated.clear()
    calls: list[dict[str, str]] = []
    real_quick, real = STATUS.query.quick_load, STATUS.query.load

    def counted_quick(data):  # type: ignore[no-untyped-def]
        loaded = real_quick(data)
        if loaded is not None:
            calls.append(dict(data))
        return loaded

    def counted(data, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(dict(data))
        return real(data, *args, **kwargs)

    with mock.patch.object(STATUS.query, "quick_load", counted_quick), mock.patch.object(STATUS.query, "load", counted):
        yield calls


async def _call(gateway, process_id) -> dict:  # type: ignore[no-untyped-def]
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_process_status", "arguments": {"process_id": process_id}, "_meta": META},
    }
    response = await gateway.post("/mcp", data=json.dumps(message), headers=HEADERS)
    return (await response.json())["result"]


async def test_a_query_string_is_validated_once_and_an_invalid_one_every_time(gateway, validations) -> None:
    for _ in range(3):
        assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
    assert len(validations) == 1
    for _ in range(2):
        assert (await gateway.get("/baw/process-status?process_id=abc")).status == 400
    assert len(validations) == 3


async def test_a_query_string_too_long_to_keep_is_validated_every_time(gateway, validations) -> None:
    # "process_id=2001" is 15 characters: with a bound of 10 it is valid, answered, and never kept.
    with mock.patch.object(rest, "_MEMO_QUERY_CHARS", 10):
        for _ in range(2):
            assert (await gateway.get("/baw/process-status?process_id=2001")).status == 200
    assert len(validations) == 2


async def test_mcp_arguments_are_validated_once_each_with_its_type(gateway, validations) -> None:
    for _ in range(3):
        assert (await _call(gateway, "23972"))["isError"] is False
    assert (await _call(gateway, 23972))["isError"] is False  # a number is other arguments than a string
    assert len(validations) == 2
    await _call(gateway, 1)  # valid, so kept, whatever BAW answers
    for _ in range(2):  # True == 1 in Python, not to marshmallow: not answered from 1's entry
        assert (await _call(gateway, True))["isError"] is True
    assert validations[2:] == [{"process_id": 1}, {"process_id": True}, {"process_id": True}]


async def test_mcp_arguments_too_long_to_keep_are_validated_every_time(gateway, validations) -> None:
    with mock.patch.object(mcp_calls, "_MEMO_VALUE_CHARS", 3):
        for _ in range(2):
            assert (await _call(gateway, "2001"))["isError"] is False
    assert len(validations) == 2


_QUICK_CASES = [
    {"process_id": "23972"},
    {"process_id": "2072.23972"},
    {"process_id": "000000000001"},
    {"process_id": "1234567890123"},  # 13 digits
    {"process_id": " 23972"},
    {"process_id": "23972\n"},
    {"process_id": "2078.23972"},  # a task's prefix on an instance id
    {"process_id": "٢٣٩٧٢"},  # Arabic-Indic digits are not BAW's
    {"process_id": ""},
    {"process_id": 23972},
    {"process_id": True},
    {"process_id": None},
    {"process_id": ["23972"]},
    {"task_id": "189489"},
    {"task_id": "2078.189489"},
    {"process_id": "23972", "state": "all"},
    {"process_id": "23972", "extra": "1"},
    {"pid": "23972"},
    {},
]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
@pytest.mark.parametrize("data", _QUICK_CASES + [MultiDict([("process_id", "1"), ("process_id", "2")])], ids=repr)
def test_the_quick_path_for_a_plain_id_answers_only_what_marshmallow_answers_the_same(tool, data) -> None:
    """A query of one plain id skips marshmallow (Query.quick_load); whatever it answers must be exactly what
    the schema's load answers, defaults included, and everything else (errors above all) is left to the schema."""
    quick = tool.query.quick_load(data)
    try:
        loaded = tool.query.load(data)
    except ValidationError:
        assert quick is None
        return
    assert quick is None or quick == loaded


_ONE_ID_TOOLS = {"get_process_status", "list_process_tasks", "get_task", "explain_process_failure"}


@pytest.mark.parametrize("tool", [tool for tool in TOOLS if tool.name in _ONE_ID_TOOLS], ids=lambda tool: tool.name)
def test_a_plain_id_takes_the_quick_path(tool) -> None:
    name = next(name for name in tool.query.fields if name.endswith("_id"))
    assert tool.query.quick_load({name: "2072.23972" if name == "process_id" else "2078.23972"}) == tool.query.load(
        {name: "23972"}
    )
    assert tool.query.quick_load(MultiDict([(name, "23972")])) == tool.query.load({name: "23972"})
