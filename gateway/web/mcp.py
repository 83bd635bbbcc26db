"""The MCP face of the tool catalogue: `POST /mcp` (Streamable HTTP), served by aiohttp-tiny-mcp.

The library speaks every protocol revision (2025-03-26, 2025-06-18 and 2025-11-25 with the initialize
handshake; stateless 2026-07-28 with server/discover) from one set of declarations and validates Origin;
we declare the tools. Their inputSchema/outputSchema are generated from the same marshmallow schemas as the
REST endpoints, arguments are validated by those schemas, and calls go to the same ProcessService (one
cache, one set of limits, one set of metrics). Tool failures are results with `isError: true` whose text is the
gateway's error envelope (code, message, request id), logged like REST errors; never a JSON-RPC error and never
a traceback.
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from aiohttp_tiny_mcp import AdapterSet, CallToolResult, Endpoint, Registry, SessionStore, TextContent
from aiohttp_tiny_mcp.protocol.adapter import Adapter
from marshmallow import ValidationError
from pydantic import BaseModel, ConfigDict

from gateway import __version__, tracing
from gateway.config import Settings
from gateway.context import bound, request_id_var
from gateway.errors import GatewayError
from gateway.keys import MCP_SESSIONS, PROCESS_SERVICE
from gateway.service import ProcessService
from gateway.shared.sessions import SessionTable
from gateway.web import jsonrpc
from gateway.web.audit import audited
from gateway.web.openapi import json_schema
from gateway.web.rest import validation_message
from gateway.web.tools import TOOLS, Rendered, Tool

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Read-only access to IBM Business Automation Workflow. Look up a process instance by its numeric id "
    "(get_process_status), its tasks (list_process_tasks, get_task), why it failed (explain_process_failure), "
    "find instances when the id is unknown (search_processes; list_process_apps gives the app acronyms it filters "
    "by) or count them per status (process_status_overview)."
)


class Arguments(BaseModel):
    """Accepts any arguments: the tool's marshmallow schema validates them, so REST and MCP agree exactly."""

    model_config = ConfigDict(extra="allow")


def _result(rendered: Rendered) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=rendered.body.decode())], structured_content=rendered.answer)


def _failure(code: str, message: str, detail: str | None = None, *, level: int = logging.INFO) -> CallToolResult:
    """A tool error the model reads: the REST envelope (code, message, request id) as the text content.

    No structuredContent: clients validate it against the tool's outputSchema even on errors (the TypeScript SDK
    turns a mismatch into an unrelated -32602), and the error envelope is not the answer's shape."""
    request_id = request_id_var.get()
    logged = f"{message} [{detail}]" if detail else message
    log.log(level, "MCP tool error %s: %s", code, logged, extra={"request_id": request_id})
    body = json.dumps({"error": {"code": code, "message": message, "request_id": request_id}})
    return CallToolResult(content=[TextContent(text=body)], is_error=True)


# The W3C context and protocol revision of the tools/call being handled (from its `_meta`), for its span.
call_trace_var: ContextVar[dict[str, str] | None] = ContextVar("mcp_call_trace", default=None)


def _tool_span(name: str) -> AbstractContextManager[Any]:
    """A span per tool call, per the MCP semantic conventions; it continues the host's trace when `_meta` carries
    a `traceparent`, else it is a child of the HTTP request's span."""
    context = call_trace_var.get() or {}
    attributes = {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "mcp.protocol.version": context.get("mcp.protocol.version", ""),
        "jsonrpc.request.id": context.get("jsonrpc.request.id", ""),
    }
    carrier = {key: context[key] for key in ("traceparent", "tracestate") if key in context}
    return tracing.span(f"tools/call {name}", kind="server", carrier=carrier or None, attributes=attributes)


def _tool_function(tool: Tool):  # type: ignore[no-untyped-def]
    async def call(args: Arguments, service: ProcessService) -> CallToolResult:
        if not tracing.active():
            return await run(args, service)
        with _tool_span(tool.name):
            return await run(args, service)

    async def run(args: Arguments, service: ProcessService) -> CallToolResult:
        arguments = args.model_extra or {}
        async with audited(tool.name, "mcp", arguments) as audit:
            try:
                rendered, _ = await tool.run(service, tool.query.load(arguments))
                return _result(rendered)
            except ValidationError as exc:
                audit["outcome"] = "invalid_request"
                return _failure("invalid_request", validation_message(exc, tool.query, "arguments"))
            except GatewayError as exc:
                audit["outcome"] = exc.code
                level = logging.WARNING if exc.status >= 500 else logging.INFO
                return _failure(exc.code, exc.message, exc.detail, level=level)
            except Exception:  # noqa: BLE001 - a tool fault is a result for the model, the traceback is for the log
                audit["outcome"] = "internal_error"
                log.exception("MCP tool %s failed unexpectedly", tool.name)
                return _failure(
                    "internal_error",
                    "The gateway failed unexpectedly. Quote the request id to the operator.",
                    level=logging.ERROR,
                )

    call.__name__ = tool.name
    return call


def _fixed_catalogue(adapter: Adapter) -> Adapter:
    """The same revision, advertising `tools.listChanged: false`: the catalogue never changes, and a client told
    otherwise keeps a notification stream open for nothing (the library always says true)."""

    class Fixed(type(adapter)):  # type: ignore[misc]
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
    return registry


def add_routes(app: web.Application, settings: Settings) -> None:
    """POST only: the gateway never sends server-initiated messages (its tools never change, it asks nothing of
    the client), so `GET /mcp` is 405 as the transport allows, rather than an idle stream per client."""
    sessions = app[MCP_SESSIONS] = SessionTable(settings.mcp_max_sessions, settings.mcp_sessions_per_caller)
    endpoint = Endpoint(
        build_registry(settings, sessions), adapters=ADAPTERS, allowed_origins=set(settings.cors_origins)
    )

    async def mcp(request: web.Request) -> web.StreamResponse:
        raw = await request.read() if request.content_type == "application/json" else b""
        refusal, message = jsonrpc.screen(raw) if raw else (None, None)
        if refusal is not None:
            return refusal
        if tracing.active() and raw:
            context = jsonrpc.trace_context(message) or {}
            context.setdefault("mcp.protocol.version", request.headers.get("MCP-Protocol-Version", ""))
            with bound(call_trace_var, context):
                return await endpoint.handle(request)
        return await endpoint.handle(request)

    app.router.add_post("/mcp", mcp, name="mcp")
