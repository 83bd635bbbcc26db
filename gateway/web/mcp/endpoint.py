"""The MCP face of the tool catalogue: `POST /mcp` (Streamable HTTP), served by aiohttp-tiny-mcp.

The library speaks every protocol revision (2025-03-26, 2025-06-18 and 2025-11-25 with the initialize
handshake; stateless 2026-07-28 with server/discover) from one set of declarations and validates Origin;
we declare the tools. Their inputSchema/outputSchema are generated from the same marshmallow schemas as the
REST endpoints, arguments are validated by those schemas, and calls go to the same ProcessService (one
cache, one set of limits, one set of metrics). What a call does is web/mcp/calls.py; the commonest message, a
stateless tools/call, the gateway answers itself (web/mcp/direct.py says why), the library everything else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp_tiny_mcp import AdapterSet, CallToolResult, Endpoint, Registry, SessionStore, TextContent
from aiohttp_tiny_mcp.protocol.adapter import Adapter
from pydantic import BaseModel, ConfigDict

from gateway import __version__, tracing
from gateway.config import Settings
from gateway.context import bound, caller_var, hidden_tools_var
from gateway.errors import RateLimited
from gateway.service import PROCESS_SERVICE, ProcessService
from gateway.shared.limits import RATE_LIMITER
from gateway.shared.sessions import MCP_SESSIONS, SessionTable
from gateway.web.documents.openapi import json_schema
from gateway.web.mcp import jsonrpc
from gateway.web.mcp.calls import Outcome, ToolFailure, call_tool, call_trace_var
from gateway.web.mcp.direct import DirectCalls
from gateway.web.tools import views
from gateway.web.tools.catalogue import TOOLS, Tool

INSTRUCTIONS = (
    "Read-only access to IBM Business Automation Workflow. Look up a process instance by its numeric id "
    "(get_process_status), its tasks (list_process_tasks, get_task), why it failed (explain_process_failure), "
    "find instances when the id is unknown (search_processes; list_process_apps gives the app acronyms it filters "
    "by) or count them per status (process_status_overview)."
)


class Arguments(BaseModel):
    """Accepts any arguments: the tool's marshmallow schema validates them, so REST and MCP agree exactly."""

    model_config = ConfigDict(extra="allow")


def _result(outcome: Outcome) -> CallToolResult:
    if isinstance(outcome, ToolFailure):
        # No structuredContent: clients validate it against the tool's outputSchema even on errors (the TypeScript
        # SDK turns a mismatch into an unrelated -32602), and the error envelope is not the answer's shape.
        return CallToolResult(content=[TextContent(text=outcome.text)], is_error=True)
    return CallToolResult(content=[TextContent(text=outcome.body.decode())], structured_content=outcome.answer)


def _tool_function(tool: Tool):  # type: ignore[no-untyped-def]
    async def call(args: Arguments, service: ProcessService) -> CallToolResult:
        return _result(await call_tool(tool, service, args.model_extra or {}))

    call.__name__ = tool.name
    return call


def _fixed_catalogue(adapter: Adapter) -> Adapter:
    """The same revision, advertising `tools.listChanged: false`: the catalogue never changes, and a client told
    otherwise keeps a notification stream open for nothing (the library always says true)."""

    class Fixed(type(adapter)):  # type: ignore[misc]
        def describe_tool(self, spec: Any) -> Any:
            # A tool this caller's scopes do not reach is absent from tools/list and unknown to tools/call
            # (the library asks this for both).
            return None if spec.name in hidden_tools_var.get() else super().describe_tool(spec)

        def build_tool(self, spec: Any) -> Any:
            # Built once per revision (the library keeps it on the spec): with its view, where it has one.
            built = super().build_tool(spec)
            meta = views.tool_meta(spec.name)  # web/tools/views.py
            return built.model_copy(update={"_meta": meta}) if built is not None and meta else built

        def capabilities(self, registry: Any) -> dict[str, Any]:
            caps = dict(super().capabilities(registry))
            if "tools" in caps:
                caps["tools"] = {**caps["tools"], "listChanged": False}
            return caps

    Fixed.__name__ = type(adapter).__name__
    return Fixed()


ADAPTERS = AdapterSet([_fixed_catalogue(adapter) for adapter in AdapterSet.default().adapters])


def _compact(schema: Any) -> Any:
    """An output schema as small as a model needs: names, types, enums. The descriptions stay in the OpenAPI
    document; in tools/list they were two thirds of every output schema, sent with every listing."""
    if isinstance(schema, list):
        return [_compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    compact = {}
    for key, value in schema.items():
        if key in ("description", "example"):
            continue
        if key == "properties" and isinstance(value, dict):  # its keys are field names, not keywords
            compact[key] = {name: _compact(field) for name, field in value.items()}
        else:
            compact[key] = _compact(value)
    return compact


def build_registry(settings: Settings, sessions: SessionStore) -> Registry:
    registry = Registry(
        "baw-gateway",
        __version__,
        instructions=INSTRUCTIONS,
        session_store=sessions,
        session_ttl_seconds=settings.mcp_session_idle_s,
    )
    registry.provide(ProcessService, PROCESS_SERVICE)
    for tool in TOOLS:
        registry.tool(
            _tool_function(tool),
            name=tool.name,
            title=tool.title,
            description=tool.description,
            annotations={
                "readOnlyHint": True,
                "destructiveHint": False,
                "idempotentHint": True,
                "openWorldHint": False,
            },
        )
        spec = registry.tools[tool.name]
        spec.input_schema = json_schema(tool.query)
        spec.output_schema = _compact(json_schema(tool.answer))
    views.register(registry)
    return registry


# The headers the MCP library reads: each must be printable ASCII (bytes that are not text were a 500).
_MCP_HEADERS = ("MCP-Protocol-Version", "Mcp-Session-Id", "Mcp-Method", "Mcp-Name", "Last-Event-ID", "Origin")


def _stateless_ping(request: web.Request, message: Any) -> bool:
    """`ping` in the stateless revision (2026-07-28), which the library does not route: hosts still send it (Claude
    shows no views of a server that does not answer it), and the handshake revisions have it from the library."""
    return (
        request.headers.get("MCP-Protocol-Version") == "2026-07-28"
        and type(message) is dict
        and message.get("method") == "ping"
        and type(message.get("id")) in (int, str)
    )


def _text(value: str) -> bool:
    return value.isascii() and value.isprintable()


async def _admit_batch(request: web.Request, more: int) -> None:
    """A batch (2025-03-26) is as many requests as it holds messages: the caller middleware took one token, the
    rest are taken here (a batch of 500 tools/call made 500 BAW calls for one token)."""
    limiter, caller = request.app[RATE_LIMITER], caller_var.get()
    waits = await asyncio.gather(*(limiter.retry_after(caller) for _ in range(more)))
    wait = max((wait for wait in waits if wait is not None), default=None)
    if wait is not None:
        raise RateLimited(
            f"Too many requests from this caller (a batch counts each message): retry in {wait} s.", retry_after=wait
        )


def add_routes(app: web.Application, settings: Settings) -> None:
    """POST only: the gateway never sends server-initiated messages (its tools never change, it asks nothing of
    the client), so `GET /mcp` is 405 as the transport allows, rather than an idle stream per client."""
    sessions = app[MCP_SESSIONS] = SessionTable(settings.mcp_max_sessions, settings.mcp_sessions_per_caller)
    registry = build_registry(settings, sessions)
    endpoint = Endpoint(registry, adapters=ADAPTERS, allowed_origins=set(settings.cors_origins))
    direct = DirectCalls(
        {tool.name: tool for tool in TOOLS},
        registry.info.wire(),
        lambda request: endpoint.accepts(request, "application/json"),
    )

    async def answer(request: web.Request, message: Any) -> web.StreamResponse:
        if _stateless_ping(request, message):
            return web.json_response({"jsonrpc": "2.0", "id": message["id"], "result": {}})
        call = direct.recognise(request, message)
        return await (direct.answer(request, call) if call is not None else endpoint.handle(request))

    async def mcp(request: web.Request) -> web.StreamResponse:
        if not all(_text(request.headers.get(name, "")) for name in _MCP_HEADERS):
            return jsonrpc.error(
                jsonrpc.INVALID_REQUEST, "Invalid request: an MCP header holds bytes that are not text."
            )
        raw = await request.read() if request.content_type == "application/json" else b""
        refusal, message = jsonrpc.screen(raw) if raw else (None, None)
        if refusal is not None:
            return refusal
        if type(message) is list and len(message) > 1:
            await _admit_batch(request, len(message) - 1)
        if tracing.active() and raw:
            context = jsonrpc.trace_context(message) or {}
            context.setdefault("mcp.protocol.version", request.headers.get("MCP-Protocol-Version", ""))
            with bound(call_trace_var, context):
                return await answer(request, message)
        return await answer(request, message)

    app.router.add_post("/mcp", mcp, name="mcp")
