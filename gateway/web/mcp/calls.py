"""What running a tool for an MCP host means, whichever path the message took (the library's, or the gateway's own
for a stateless tools/call, web/mcp/direct.py): its span, its audit line, arguments validated by the tool's
marshmallow schema, and failures as results the model reads (code, message, request id), logged like REST errors;
never a JSON-RPC error and never a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from gateway import tracing
from gateway.context import request_id_var
from gateway.errors import GatewayError
from gateway.service import ProcessService
from gateway.web.tools.audit import audited
from gateway.web.tools.catalogue import Rendered, Tool
from gateway.web.tools.schemas import validation_message

log = logging.getLogger("gateway.web.mcp.endpoint")

# The W3C context and protocol revision of the tools/call being handled (from its `_meta`), for its span.
call_trace_var: ContextVar[dict[str, str] | None] = ContextVar("mcp_call_trace", default=None)


@dataclass(frozen=True)
class ToolFailure:
    """A failed call, as the text content of an `isError` result: the gateway's error envelope."""

    text: str


Outcome = Rendered | ToolFailure

# Arguments kept validated (Tool.load) are the short scalar ones an id-only tool is called with.
_MEMO_ARGUMENTS, _MEMO_VALUE_CHARS = 8, 64


def _memo_key(arguments: dict[str, Any]) -> Hashable | None:
    """A key that stands for `arguments` exactly, or None when they are not worth keeping. Each value carries its
    type: True == 1 in Python, not to marshmallow."""
    if len(arguments) > _MEMO_ARGUMENTS:
        return None
    key = []
    for name, value in sorted(arguments.items()) if len(arguments) > 1 else arguments.items():
        kind = type(value)
        if kind not in (str, int, bool) and value is not None:
            return None
        if kind is str and len(value) > _MEMO_VALUE_CHARS:
            return None
        key.append((name, kind, value))
    return tuple(key)


def _failure(code: str, message: str, detail: str | None = None, *, level: int = logging.INFO) -> ToolFailure:
    request_id = request_id_var.get()
    logged = f"{message} [{detail}]" if detail else message
    log.log(level, "MCP tool error %s: %s", code, logged, extra={"request_id": request_id})
    return ToolFailure(json.dumps({"error": {"code": code, "message": message, "request_id": request_id}}))


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


async def call_tool(tool: Tool, service: ProcessService, arguments: dict[str, Any]) -> Outcome:
    if not tracing.active():
        return await _run(tool, service, arguments)
    with _tool_span(tool.name):
        return await _run(tool, service, arguments)


async def _run(tool: Tool, service: ProcessService, arguments: dict[str, Any]) -> Outcome:
    async with audited(tool.name, "mcp", arguments) as audit:
        try:
            rendered, _ = await tool.run(service, tool.load(arguments, _memo_key(arguments)))
            return rendered
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
