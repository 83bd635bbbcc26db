"""Who may call and how often: the caller's address (through trusted proxies only), bearer keys, per-caller rate
limits and a separate limit on failed authentications per address; CORS preflights for browser hosts."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from aiohttp import web

from gateway.baw.users import Subject
from gateway.context import baw_credential_var, baw_identity_var, bound, caller_var, client_var
from gateway.errors import InsufficientScope, RateLimited, Unauthorized, UserRequired
from gateway.keys import (
    API_KEYS,
    AUTH_FAILURES,
    CALLER,
    CLIENT_ADDRESS,
    OAUTH_ISSUER,
    PRINCIPAL,
    RATE_LIMITER,
    SETTINGS,
    USER_CREDENTIALS,
)
from gateway.oauth.issuer import InvalidToken, MissingScope, Principal
from gateway.web.access import is_protected
from gateway.web.discovery import challenge
from gateway.web.errors import Handler
from gateway.web.forwarded import client_address

log = logging.getLogger(__name__)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every protected request names its caller: a bearer key's fingerprint (machine callers), a signed-in user
    (`user:<issuer>#<sub>`, from an OAuth access token), or, where neither is configured, the client address."""
    settings = request.app[SETTINGS]
    address = client_address(request, settings.trusted_proxies)
    request[CLIENT_ADDRESS] = address
    caller = f"ip:{address}"
    keys, issuer = request.app[API_KEYS], request.app.get(OAUTH_ISSUER)
    if is_protected(request.path) and (keys.enabled or issuer is not None):
        failures = request.app[AUTH_FAILURES]
        # An address that keeps presenting wrong credentials is slowed down before its next guess is even checked.
        wait = await failures.retry_after(caller, take=False)
        if wait is not None:
            message = f"Too many failed authentications from this address: retry in {wait} s."
            raise RateLimited(message, retry_after=wait)
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        token = presented.strip() if scheme.lower() == "bearer" else ""
        try:
            caller = await _authenticate(request, token)
        except Unauthorized:
            if token:
                await failures.retry_after(caller)
            raise
    request[CALLER] = caller
    principal = request.get(PRINCIPAL)
    with bound(caller_var, caller), bound(client_var, principal.client_id if principal is not None else None):
        if settings.baw_identity == "user" and is_protected(request.path):
            with _as_user(request, principal):
                return await handler(request)
        return await handler(request)


@contextmanager
def _as_user(request: web.Request, principal: Principal | None) -> Iterator[None]:
    """GATEWAY_BAW_IDENTITY=user: BAW is called with the signed-in user's own credential; a key caller gets the
    service account only where GATEWAY_BAW_IDENTITY_KEYS=service allows it."""
    if principal is None:
        if request.app[SETTINGS].baw_identity_keys != "service":
            raise UserRequired(
                "This gateway answers as the signed-in user, and this caller is a key, not a user: sign in with OAuth."
            )
        yield  # the service account, keyed as such
        return
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    subject = Subject(token.strip(), principal.username)
    credential = request.app[USER_CREDENTIALS].for_user(principal.identity, subject)
    with bound(baw_identity_var, principal.identity), bound(baw_credential_var, credential):
        yield


async def _authenticate(request: web.Request, token: str) -> str:
    settings, keys, issuer = request.app[SETTINGS], request.app[API_KEYS], request.app.get(OAUTH_ISSUER)
    known = keys.caller(token) if token and keys.enabled else None
    if known is not None:
        return known
    if issuer is None:
        raise Unauthorized("A valid bearer key is required: send `Authorization: Bearer <key>`.")
    if not token:
        raise Unauthorized(
            "Sign in first: this endpoint needs an OAuth access token.", challenge=challenge(settings, request.path)
        )
    try:
        principal = await issuer.verify(token)
    except MissingScope as exc:
        raise InsufficientScope(
            f"The access token lacks the scope {' '.join(exc.needed)}: sign in again granting it.",
            challenge=challenge(settings, request.path, "insufficient_scope"),
        ) from None
    except InvalidToken as exc:
        log.info("refused an access token: %s", exc)
        raise Unauthorized(
            "The access token is not valid here (expired, for another service, or not signed by the trusted issuer): "
            "sign in again.",
            challenge=challenge(settings, request.path, "invalid_token"),
        ) from None
    request[PRINCIPAL] = principal
    return principal.identity


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
