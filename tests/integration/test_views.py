"""MCP Apps views (issue 27): every tool with a view names it in `_meta.ui.resourceUri` (and ChatGPT's alias),
`resources/list` and `resources/read` serve the bundled HTML in every revision, and the bundle is fresh."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from mcp import Client

from gateway.web.tools import views

VIEWS_DIR = views.BUNDLE.parent
MODES = ["legacy", "auto"]


def _sources_hash() -> str:
    """What build.mjs writes into the bundle: SHA-256 over each source's path and bytes, in sorted order."""
    files = sorted(
        [f"src/{path.name}" for path in (VIEWS_DIR / "src").iterdir()]
        + ["style.css", "build.mjs", "package-lock.json", "../../../tests/views/host.js"]
    )
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name}\0".encode() + (VIEWS_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_the_bundle_is_built_from_the_current_sources() -> None:
    """Neither `make run` nor the image needs npm: the bundle is committed. Edit a view, run `make views`."""
    built = re.search(r"sources sha256 ([0-9a-f]{64})", views.BUNDLE.read_text(encoding="utf-8")).group(1)
    assert built == _sources_hash(), "gateway/web/views/views.html is stale: run `make views`"


def test_the_bundle_loads_nothing_from_another_origin() -> None:
    html = views.BUNDLE.read_text(encoding="utf-8")
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?https?:""", html, re.IGNORECASE)
    assert "@import" not in html


@pytest.mark.parametrize("mode", MODES)
async def test_tools_name_their_views_and_the_resources_serve_them(gateway, mode) -> None:
    async with Client(f"http://127.0.0.1:{gateway.port}/mcp", mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        listed = {str(resource.uri): resource for resource in (await client.list_resources()).resources}
        for view, (_, _, names) in views.VIEWS.items():
            for name in names:
                meta = tools[name].meta
                assert meta["ui"]["resourceUri"] == views.uri(view) and meta[
                    "openai/outputTemplate"
                ] == views.skybridge_uri(view)
            assert listed[views.uri(view)].mime_type == views.MCP_APP
            assert listed[views.skybridge_uri(view)].mime_type == views.SKYBRIDGE
            read = (await client.read_resource(views.uri(view))).contents[0]
            assert read.mime_type == views.MCP_APP and f'data-view="{views.VIEWS[view][0]}"' in read.text
            assert read.meta["ui"]["csp"] == {"connectDomains": [], "resourceDomains": []}
        assert "get_task" not in {name for _, _, names in views.VIEWS.values() for name in names}
        assert tools["get_task"].meta is None  # no view: text and structured content only


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_every_handshake_revision_lists_and_reads_the_views(gateway, version) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    opened = await gateway.post(
        "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    )
    headers = {**headers, "Mcp-Session-Id": opened.headers["Mcp-Session-Id"], "MCP-Protocol-Version": version}

    async def rpc(method: str, **arguments) -> dict:
        answer = await gateway.post(
            "/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": method, "params": arguments}
        )
        text = await answer.text()
        return json.loads(text.split("data: ", 1)[1] if text.startswith(("event:", "data:")) else text)["result"]

    listed = {resource["uri"] for resource in (await rpc("resources/list"))["resources"]}
    assert {views.uri(view) for view in views.VIEWS} <= listed
    [content] = (await rpc("resources/read", uri=views.uri("task-list")))["contents"]
    assert content["mimeType"] == views.MCP_APP and 'data-view="tasks"' in content["text"]
