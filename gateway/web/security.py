"""Who may call and how often: the caller's address (through trusted proxies only), bearer keys, per-caller rate
limits and a separate limit on failed authentications per address; CORS preflights for browser hosts."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from aiohttp import web

from gateway.baw.users import Subject
from gateway.context import baw_credential_var, baw_identity_var, bound, caller_var, client_var
from gateway.errors import ExpiredAccessToken, InsufficientScope, RateLimited, Unauthorized, UserRequired
from gateway.keys import (
    API_KEYS,
    AUTH_FAILURES,
    CLIENT_ADDRESS,
    OAUTH_ISSUER,
    PRINCIPAL,
    RATE_LIMITER,
    SETTINGS,
    USER_CREDENTIALS,
)
from gateway.oauth.issuer import ExpiredToken, InvalidToken, MissingScope, Principal
from gateway.shared.limits import Limiter
from gateway.web.access import is_protected
from gateway.web.discovery import challenge
from gateway.web.errors import Handler
from gateway.web.forwarded import client_address

log = logging.getLogger(__name__)
MAX_CREDENTIAL = 8192  # an access token of many claims is a few KB; nothing longer is read


@web.middleware
async def caller_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every protected request names its caller and is admitted under the caller's rate limit. The caller is a
    bearer key's fingerprint (machine callers), a signed-in user (`user:<issuer>#<sub>`, from an OAuth access
    token), or, where neither is configured, the client address."""
    settings = request.app[SETTINGS]
    address = client_address(request, settings.trusted_proxies, settings.trusted_proxy_header)
    request[CLIENT_ADDRESS] = address
    caller = f"ip:{address}"
    if is_protected(request.path):
        caller = await _admitted(request, caller)
    principal = request.get(PRINCIPAL)
    with bound(caller_var, caller), bound(client_var, principal.client_id if principal is not None else None):
        if settings.baw_identity == "user" and is_protected(request.path):
            with _as_user(request, principal):
                return await handler(request)
        return await handler(request)


async def _admitted(request: web.Request, address_caller: str) -> str:
    """The caller, once authenticated and within its limit; raises Unauthorized or RateLimited otherwise.

    An address that keeps presenting wrong credentials is slowed down before its next guess counts: it is refused
    whatever it presents. A bearer key is checked first, because checking it is a local constant-time lookup;
    then one round trip to the shared limits looks at the address's failures and takes from the key's rate
    limit (two round trips were a fifth of a cached lookup in cluster mode). Anything else (an access token, a
    wrong key) is looked at before it is verified, because verifying costs."""
    keys, issuer = request.app[API_KEYS], request.app.get(OAUTH_ISSUER)
    failures, limit = request.app[AUTH_FAILURES], request.app[RATE_LIMITER]
    if not keys.enabled and issuer is None:
        _admit(await _refusal(limit, address_caller), failures)
        return address_caller
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = presented.strip() if scheme.lower() == "bearer" else ""
    # Bytes that are not text (aiohttp keeps them as surrogates) are never a key or a token: refused below, before
    # any comparison or signature check, and counted as a failed authentication (they were a 500 every time).
    known = keys.caller(token) if token and keys.enabled and _well_formed(token) else None
    if known is not None:
        _admit(await failures.look_then_take(address_caller, limit, known), failures)
        return known
    _admit(await _refusal(failures, address_caller, take=False), failures)
    try:
        caller = await _authenticate(request, token)
    except Unauthorized as exc:
        if token and not isinstance(exc, ExpiredAccessToken):  # a guess, not a host refreshing late
            await failures.retry_after(address_caller)
        raise
    _admit(await _refusal(limit, caller), failures)
    return caller


def _well_formed(token: str) -> bool:
    return len(token) <= MAX_CREDENTIAL and token.isascii() and token.isprintable()


async def _refusal(limiter: Limiter, caller: str, *, take: bool = True) -> tuple[Limiter, int] | None:
    wait = await limiter.retry_after(caller, take=take)
    return None if wait is None else (limiter, wait)


def _admit(refusal: tuple[Limiter, int] | None, failures: Limiter) -> None:
    if refusal is None:
        return
    limiter, wait = refusal
    if limiter is failures:
        raise RateLimited(f"Too many failed authentications from this address: retry in {wait} s.", retry_after=wait)
    raise RateLimited(f"Too many requests from this caller: retry in {wait} s.", retry_after=wait)


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
    """The signed-in user an access token names (a valid bearer key never gets here)."""
    settings, issuer = request.app[SETTINGS], request.app.get(OAUTH_ISSUER)
    if token and not _well_formed(token):
        raise Unauthorized("The bearer credential is malformed: send `Authorization: Bearer <key or token>`.")
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
        refused = ExpiredAccessToken if isinstance(exc, ExpiredToken) else Unauthorized
        raise refused(
            "The access token is not valid here (expired, for another service, or not signed by the trusted issuer): "
            "sign in again.",
            challenge=challenge(settings, request.path, "invalid_token"),
        ) from None
    request[PRINCIPAL] = principal
    return principal.identity


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
