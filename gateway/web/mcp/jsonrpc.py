"""What the gateway checks of a JSON-RPC message before the MCP library sees it.

The library answers most malformed messages itself; these it did not, and each became a 500 or worse:
- nesting deep enough to exhaust the parser's recursion (RecursionError): a parse error, -32700;
- an id that cannot be written back (a string with a lone surrogate): an invalid request, -32600;
- a request method (tools/call ...) sent as a notification, without an id: JSON-RPC gives it no answer, and the
  gateway gives it no effect either (the library ran the tool, for nobody);
- a method that cannot be written (a lone surrogate): an invalid request, -32600;
- a batch (2025-03-26) of more than MAX_BATCH messages: an invalid request. A smaller one is admitted message by
  message under the caller's rate limit (web/mcp/endpoint.py), not as one request.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway import exact_json

PARSE_ERROR, INVALID_REQUEST = -32700, -32600
MAX_BATCH = 20


def _writable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def error(code: int, message: str) -> web.Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    return web.json_response(body, status=400)


def trace_context(message: Any) -> dict[str, str] | None:
    """For a single tools/call (as `screen` parsed it): the W3C trace context and protocol revision its `_meta`
    carries (2026-07-28 lets `traceparent` travel there) and its id, for the tool's span."""
    params = message.get("params") if isinstance(message, dict) and message.get("method") == "tools/call" else None
    if not isinstance(params, dict):
        return None
    meta = params["_meta"] if isinstance(params.get("_meta"), dict) else {}
    found = {key: meta[key] for key in ("traceparent", "tracestate") if isinstance(meta.get(key), str)}
    version = meta.get("io.modelcontextprotocol/protocolVersion")
    if isinstance(version, str):
        found["mcp.protocol.version"] = version
    found["jsonrpc.request.id"] = str(message.get("id"))
    return found


def screen(raw: bytes) -> tuple[web.Response | None, Any]:
    """(an answer for a message the library must not see, or None to pass it on; the parsed message, or None
    where it is not JSON)."""
    try:
        message = exact_json.loads(raw)  # a fraction of the standard parser's time for the usual message
    except ValueError:  # orjson also refuses lone surrogates and deep nests: the standard parser judges those
        try:
            message = json.loads(raw)
        except RecursionError:
            return error(PARSE_ERROR, "Parse error: the JSON is nested too deeply."), None
        except ValueError:
            return None, None  # not JSON at all: the library answers that itself
    return _refusal(message), message


def _refusal(message: Any) -> web.Response | None:
    if type(message) is dict and type(message.get("id")) is int:  # the usual request: only its method is looked at
        method = message.get("method")
        if type(method) is str and not method.isascii() and not _writable(method):
            return error(INVALID_REQUEST, "Invalid request: the method must be a well-formed string.")
        return None
    messages = message if isinstance(message, list) else [message]
    if len(messages) > MAX_BATCH:
        return error(INVALID_REQUEST, f"Invalid request: a batch holds at most {MAX_BATCH} messages.")
    ignored = 0
    for item in messages:
        if not isinstance(item, dict):
            continue
        if not _writable(item.get("id")):
            return error(INVALID_REQUEST, "Invalid request: the id must be a number or a well-formed string.")
        method = item.get("method")
        if not _writable(method):
            return error(INVALID_REQUEST, "Invalid request: the method must be a well-formed string.")
        if "id" not in item and isinstance(method, str) and not method.startswith("notifications/"):
            ignored += 1
    if not ignored:
        return None
    if ignored == len(messages):
        return web.Response(status=202)  # notifications are accepted and get no answer; these get no effect either
    return error(INVALID_REQUEST, "Invalid request: a batch holds a request method sent as a notification.")
