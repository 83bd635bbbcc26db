"""The gateway's own answer to the commonest MCP message: one stateless (2026-07-28) tools/call.

Why: the library decodes every message into pydantic models, validates the arguments into one more and encodes the
result through two model copies; an MCP call of a cached answer cost 2.6 times its REST lookup. A 2026-07-28 host
sends little but tools/call after server/discover. So a call the gateway fully recognises (one message, no session,
headers mirroring the body, no Origin, a known tool, a `_meta` of only the keys below) is answered here from the
message `jsonrpc.screen` already parsed, with the result's bytes encoded once per cached answer. Anything else goes
to the library, which stays the authority on the protocol (Origin checks, every error, every other revision and
method): for what this module answers, it answers the same, which tests/integration/test_mcp_direct.py checks by
sending each call both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from aiohttp import web
from pydantic_core import to_json

from gateway.context import hidden_tools_var
from gateway.service import PROCESS_SERVICE
from gateway.web.mcp.calls import Outcome, call_tool
from gateway.web.tools.catalogue import Rendered, Tool

REVISION = "2026-07-28"
_VERSION, _CLIENT_INFO, _CAPABILITIES = (
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/clientCapabilities",
)
_META_KEYS = frozenset({_VERSION, _CLIENT_INFO, _CAPABILITIES, "traceparent", "tracestate"})
_MESSAGE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_PARAMS_KEYS = frozenset({"name", "arguments", "_meta"})
_INFO_KEYS = frozenset({"name", "version", "title"})
_ACCEPT_HEADERS_KEPT = 64


class DirectCall(NamedTuple):  # (a tuple: made once per call on the hot path, where a frozen dataclass costs)
    tool: Tool
    id: int | str
    arguments: dict[str, Any]


def _client_info(info: Any) -> bool:
    return (
        isinstance(info, dict)
        and info.keys() <= _INFO_KEYS
        and isinstance(info.get("name"), str)
        and isinstance(info.get("version"), str)
        and isinstance(info.get("title", ""), str)
    )


def _meta(meta: Any) -> bool:
    return (
        isinstance(meta, dict)
        and meta.keys() <= _META_KEYS
        and meta.get(_VERSION) == REVISION
        and isinstance(meta.get(_CAPABILITIES), dict)
        and (_CLIENT_INFO not in meta or _client_info(meta[_CLIENT_INFO]))
    )


class DirectCalls:
    """Recognises the calls answered here and answers them."""

    def __init__(
        self,
        tools: Mapping[str, Tool],
        server_info: dict[str, Any],
        accepts_json: Callable[[web.Request], bool],
    ) -> None:
        self.tools = tools
        self.accepts_json = accepts_json
        self.meta = {"io.modelcontextprotocol/serverInfo": server_info}
        # The library's verdict per Accept header: hosts send the same one every time; bounded all the same.
        self._accepted: dict[str | None, bool] = {}

    def _accepts_json(self, request: web.Request) -> bool:
        accept = request.headers.get("Accept")  # absent (None) and empty are told apart, as the library does
        verdict = self._accepted.get(accept)
        if verdict is None:
            verdict = self.accepts_json(request)
            if len(self._accepted) < _ACCEPT_HEADERS_KEPT:
                self._accepted[accept] = verdict
        return verdict

    def recognise(self, request: web.Request, message: Any) -> DirectCall | None:
        headers = request.headers
        if (
            headers.get("MCP-Protocol-Version") != REVISION
            or headers.get("Mcp-Method") != "tools/call"
            or "Origin" in headers
            or "Mcp-Session-Id" in headers
            or not isinstance(message, dict)
            or message.keys() != _MESSAGE_KEYS
            or message["jsonrpc"] != "2.0"
            or message["method"] != "tools/call"
            or type(message["id"]) not in (int, str)  # the library's StrictInt | StrictStr: never a bool
        ):
            return None
        params = message["params"]
        if not isinstance(params, dict) or not params.keys() <= _PARAMS_KEYS or not _meta(params.get("_meta")):
            return None
        name, arguments = params.get("name"), params.get("arguments", {})
        tool = self.tools.get(name) if isinstance(name, str) and name not in hidden_tools_var.get() else None
        # Mcp-Name must equal the name as sent; a base64-encoded header is the library's to decode.
        if tool is None or headers.get("Mcp-Name") != name or not isinstance(arguments, dict):
            return None
        if not self._accepts_json(request):
            return None
        return DirectCall(tool, message["id"], arguments)

    async def answer(self, request: web.Request, call: DirectCall) -> web.Response:
        outcome = await call_tool(call.tool, request.app[PROCESS_SERVICE], call.arguments)
        result = outcome.wrapped(self._encode) if isinstance(outcome, Rendered) else self._encode(outcome)
        body = b'{"jsonrpc":"2.0","id":' + to_json(call.id) + b',"result":' + result + b"}"
        return web.Response(body=body, content_type="application/json")

    def _encode(self, outcome: Outcome) -> bytes:
        """The CallToolResult the library writes. An answer's structuredContent is its JSON bytes as they are; a
        failure has none (clients validate it against the tool's outputSchema even on errors, and the error
        envelope is not the answer's shape)."""
        text = outcome.body.decode() if isinstance(outcome, Rendered) else outcome.text
        result = {"resultType": "complete", "_meta": self.meta, "content": [{"type": "text", "text": text}]}
        head = to_json(result)[:-1]  # the object left open for the fields that follow
        if isinstance(outcome, Rendered):
            return head + b',"structuredContent":' + outcome.body + b',"isError":false}'
        return head + b',"isError":true}'
