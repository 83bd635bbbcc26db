"""Who may call and how often: the caller's address (through trusted proxies only), bearer keys, per-caller rate
limits and a separate limit on failed authentications per address; CORS preflights for browser hosts."""

from __future__ import annotations

from aiohttp import web

from gateway.context import bound, caller_var
from gateway.errors import RateLimited, Unauthorized
from gateway.keys import API_KEYS, AUTH_FAILURES, CALLER, CLIENT_ADDRESS, RATE_LIMITER, SETTINGS
from gateway.web.access import is_protected
from gateway.web.errors import Handler
from gateway.web.forwarded import client_address


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    request[CLIENT_ADDRESS] = address
    caller = f"ip:{address}"
    keys = request.app[API_KEYS]
    if is_protected(request.path) and keys.enabled:
        failures = request.app[AUTH_FAILURES]
        # An address that keeps presenting wrong keys is slowed down before its next guess is even checked.
        wait = await failures.retry_after(caller, take=False)
        if wait is not None:
            message = f"Too many failed authentications from this address: retry in {wait} s."
            raise RateLimited(message, retry_after=wait)
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        known = keys.caller(presented.strip()) if scheme.lower() == "bearer" else None
        if known is None:
            await failures.retry_after(caller)
            raise Unauthorized("A valid bearer key is required: send `Authorization: Bearer <key>`.")
        caller = known
    request[CALLER] = caller
    with bound(caller_var, caller):
        return await handler(request)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_protected(request.path):
        wait = await request.app[RATE_LIMITER].retry_after(request[CALLER])
        if wait is not None:
            raise RateLimited(f"Too many requests from this caller: retry in {wait} s.", retry_after=wait)
    return await handler(request)


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
    (web/stamp.py), which streamed answers pass through too."""
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
