"""Browser callers: only the configured origins (GATEWAY_CORS_ORIGINS), never `*` (answers may carry credentials)."""

from __future__ import annotations

from aiohttp import web

from gateway.config import SETTINGS
from gateway.web.front import Handler

ALLOWED_HEADERS = (
    "Authorization, Content-Type, Accept, X-Request-ID, MCP-Protocol-Version, Mcp-Session-Id, "
    "Mcp-Method, Mcp-Name, Last-Event-ID"
)
EXPOSED_HEADERS = "X-Request-ID, Retry-After, Cache-Status, WWW-Authenticate, Mcp-Session-Id"
MANIFEST = "/.well-known/ai-plugin.json"


def allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    return origin if origin is not None and origin in request.app[SETTINGS].cors_origins else None


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Preflights are answered here; the allow headers of every answer are added when it is prepared
    (web/front/stamp.py), which streamed answers pass through too."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return await handler(request)
    response = web.Response(status=204)
    if allowed_origin(request) is not None:
        response.headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        )
        if request.headers.get("Access-Control-Request-Private-Network") == "true" and request.path == MANIFEST:
            response.headers["Access-Control-Allow-Private-Network"] = "true"
    return response
