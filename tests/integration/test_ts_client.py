"""The MCP TypeScript SDK client (npm @modelcontextprotocol/sdk: the MCP Inspector and many hosts) against the
gateway, the same scenarios as the Python SDK's: list, every tool, every error code, numeric ids.

It used to fail on every tool error (structuredContent that did not match the outputSchema) and on numeric ids."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from gateway.web.tools import views
from tests.conftest import KEY

HERE = Path(__file__).resolve().parents[1] / "ts"


async def _run_client(url: str, key: str | None = None) -> dict:
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip("node or tests/ts/node_modules is missing: `make test` installs them where npm is available")
    process = await asyncio.create_subprocess_exec(
        node, str(HERE / "client.mjs"), url, *([key] if key else []), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    return json.loads(out)


def _error(call: dict) -> dict:
    assert call["isError"] is True and call["structured"] is None, call
    return json.loads(call["text"])["error"]


async def test_the_typescript_sdk_lists_calls_and_reads_every_error(gateway) -> None:
    report = await _run_client(f"http://127.0.0.1:{gateway.port}/mcp")
    assert "exception" not in report, report
    assert report["capabilities"]["tools"] == {"listChanged": False}
    assert report["tools"] == sorted(
        [
            "explain_process_failure",
            "fetch",
            "get_process_status",
            "get_task",
            "list_process_apps",
            "list_process_tasks",
            "process_status_overview",
            "search",
            "search_processes",
        ]
    )
    shown = {name: uri for name, uri in report["views"].items() if uri}
    assert shown == {tool: views.uri(view) for view, (_, _, tools) in views.VIEWS.items() for tool in tools}
    for view in views.VIEWS:
        read = report["resources"][views.uri(view)]
        assert read == {"mimeType": views.MCP_APP, "html": True, "csp": {"connectDomains": [], "resourceDomains": []}}
    calls = report["calls"]
    for name in (
        "get_process_status",
        "get_process_status_numeric",
        "list_process_tasks",
        "get_task",
        "explain_process_failure",
        "search_processes",
        "process_status_overview",
        "list_process_apps",
    ):
        assert "exception" not in calls[name] and calls[name]["isError"] is False, (name, calls[name])
        assert calls[name]["structured"], name
    assert calls["get_process_status_numeric"]["structured"] == calls["get_process_status"]["structured"]
    assert _error(calls["not_found"])["code"] == "not_found"
    assert _error(calls["invalid_request"])["code"] == "invalid_request"
    assert "sort: not a parameter" in _error(calls["unknown_argument"])["message"]
    assert _error(calls["baw_forbidden"])["code"] == "baw_forbidden"
    assert all(_error(calls[name])["request_id"] for name in ("not_found", "baw_forbidden"))


async def test_the_typescript_sdk_sends_the_bearer_key(protected) -> None:
    refused = await _run_client(f"http://127.0.0.1:{protected.port}/mcp")
    assert "unauthorized" in refused.get("exception", ""), refused
    report = await _run_client(f"http://127.0.0.1:{protected.port}/mcp", KEY)
    assert "exception" not in report and report["calls"]["get_process_status"]["isError"] is False
