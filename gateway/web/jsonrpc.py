"""What the gateway checks of a JSON-RPC message before the MCP library sees it.

The library answers most malformed messages itself; these it did not, and each became a 500 or worse:
- nesting deep enough to exhaust the parser's recursion (RecursionError): a parse error, -32700;
- an id that cannot be written back (a string with a lone surrogate): an invalid request, -32600;
- a request method (tools/call ...) sent as a notification, without an id: JSON-RPC gives it no answer, and the
  gateway gives it no effect either (the library ran the tool, for nobody).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PARSE_ERROR, INVALID_REQUEST = -32700, -32600


def _writable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _error(code: int, message: str) -> web.Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    return web.json_response(body, status=400)


def trace_context(raw: bytes) -> dict[str, str] | None:
    """For a single tools/call: the W3C trace context and protocol revision its `_meta` carries (2026-07-28 lets
    `traceparent` travel there), for the tool's span."""
    try:
        message = json.loads(raw)
    except (RecursionError, ValueError):
        return None
    params = message.get("params") if isinstance(message, dict) and message.get("method") == "tools/call" else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return {"jsonrpc.request.id": str(message.get("id"))} if isinstance(params, dict) else None
    found = {key: meta[key] for key in ("traceparent", "tracestate") if isinstance(meta.get(key), str)}
    version = meta.get("io.modelcontextprotocol/protocolVersion")
    if isinstance(version, str):
        found["mcp.protocol.version"] = version
    found["jsonrpc.request.id"] = str(message.get("id"))
    return found


def screen(raw: bytes) -> web.Response | None:
    """An answer for a message the library must not see, or None to pass it on."""
    try:
        message = json.loads(raw)
    except RecursionError:
        return _error(PARSE_ERROR, "Parse error: the JSON is nested too deeply.")
    except ValueError:
        return None  # not JSON at all: the library answers that itself
    messages = message if isinstance(message, list) else [message]
    ignored = 0
    for item in messages:
        if not isinstance(item, dict):
            continue
        if not _writable(item.get("id")):
            return _error(INVALID_REQUEST, "Invalid request: the id must be a number or a well-formed string.")
        method = item.get("method")
        if "id" not in item and isinstance(method, str) and not method.startswith("notifications/"):
            ignored += 1
    if not ignored:
        return None
    if ignored == len(messages):
        return web.Response(status=202)  # notifications are accepted and get no answer; these get no effect either
    return _error(INVALID_REQUEST, "Invalid request: a batch holds a request method sent as a notification.")
