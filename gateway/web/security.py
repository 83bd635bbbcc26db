"""The middlewares that decide who may call: bearer keys, per-caller rate limits, CORS for browser hosts."""

from __future__ import annotations

from aiohttp import web

from gateway.config import Settings
from gateway.errors import RateLimited, Unauthorized
from gateway.keys import API_KEYS, CALLER, RATE_LIMITER, SETTINGS
from gateway.web.access import is_protected
from gateway.web.errors import Handler


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    keys = request.app[API_KEYS]
    if is_protected(request.path) and keys.enabled:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        caller = keys.caller(presented.strip()) if scheme.lower() == "bearer" else None
        if caller is None:
            raise Unauthorized("A valid bearer key is required: send `Authorization: Bearer <key>`.")
        request[CALLER] = caller
    else:
        request[CALLER] = f"ip:{request.remote}"
    return await handler(request)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_protected(request.path):
        wait = request.app[RATE_LIMITER].retry_after(request[CALLER])
        if wait is not None:
            raise RateLimited(f"Too many requests from this caller: retry in {wait} s.", retry_after=wait)
    return await handler(request)


_ALLOWED_HEADERS = (
    "Authorization, Content-Type, Accept, X-Request-ID, MCP-Protocol-Version, Mcp-Session-Id, "
    "Mcp-Method, Mcp-Name, Last-Event-ID"
)
_EXPOSED_HEADERS = "X-Request-ID, Retry-After, Cache-Status, WWW-Authenticate, Mcp-Session-Id"
_MANIFEST = "/.well-known/ai-plugin.json"


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Allowed origins are echoed, never `*`; a foreign origin gets no allow header (the browser blocks it)."""
    settings: Settings = request.app[SETTINGS]
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin in settings.cors_origins
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204)
        if allowed:
            response.headers.update(
                {
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
                    "Access-Control-Max-Age": "600",
                }
            )
            if request.headers.get("Access-Control-Request-Private-Network") == "true" and request.path == _MANIFEST:
                response.headers["Access-Control-Allow-Private-Network"] = "true"
    else:
        response = await handler(request)
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = origin  # type: ignore[assignment]
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED_HEADERS
        if request.path == _MANIFEST:
            response.headers["Access-Control-Allow-Private-Network"] = "true"
    response.headers.add("Vary", "Origin")
    return response
