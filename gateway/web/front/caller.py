"""Who may call and how often: the caller's address (through trusted proxies only), bearer keys or access tokens,
per-caller rate limits and a separate limit on failed authentications per address (browsers' CORS: cors.py)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from aiohttp import web

from gateway.baw.users import USER_CREDENTIALS, Subject
from gateway.config import SETTINGS
from gateway.context import (
    baw_credential_var,
    baw_identity_var,
    baw_user_var,
    bound,
    caller_var,
    client_var,
    hidden_tools_var,
)
from gateway.errors import ExpiredAccessToken, InsufficientScope, RateLimited, Unauthorized, UserRequired
from gateway.keys import CLIENT_ADDRESS
from gateway.oauth.facade import FACADE
from gateway.oauth.issuer import OAUTH_ISSUER, PRINCIPAL, ExpiredToken, InvalidToken, MissingScope, Principal
from gateway.shared.limits import AGENT_LIMITS, AUTH_FAILURES, RATE_LIMITER
from gateway.web.documents.discovery import challenge
from gateway.web.front import Handler
from gateway.web.front.access import API_KEYS, is_protected
from gateway.web.front.forwarded import client_address
from gateway.web.tools import scopes

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
    if principal is not None and settings.oauth_tool_scopes:
        with bound(hidden_tools_var, scopes.hidden(settings, principal.scopes)):
            return await _as_caller(request, handler, caller, principal)
    return await _as_caller(request, handler, caller, principal)


async def _as_caller(
    request: web.Request, handler: Handler, caller: str, principal: Principal | None
) -> web.StreamResponse:
    with bound(caller_var, caller), bound(client_var, principal.client_id if principal is not None else None):
        if request.app[SETTINGS].baw_identity == "user" and is_protected(request.path):
            with _as_user(request, principal, await _subject_token(request, principal)):
                return await handler(request)
        return await handler(request)


async def _admitted(request: web.Request, address_caller: str) -> str:
    """The caller, once authenticated and within its limit; raises Unauthorized or RateLimited otherwise.

    Failures stay with the caller that fails. A valid credential is admitted under its own rate limit only,
    whatever other requests from its address presented: an address stands for many callers (a company's NAT, an
    ingress, a host's cloud egress that all its users share), and one of them presenting an old key must not lock
    the others out. A credential that fails counts against its address, and past the budget such requests are
    answered 429 rather than 401. Checking stays cheap under a flood: a key is a local constant-time lookup; a
    malformed credential is refused before anything else; a token's header (algorithm, key id) is read before
    any signature is checked; a refused token is remembered briefly (oauth/issuer.py)."""
    keys, issuer = request.app[API_KEYS], request.app.get(OAUTH_ISSUER)
    failures, limit = request.app[AUTH_FAILURES], request.app[RATE_LIMITER]
    if not keys.enabled and issuer is None:
        _admit(await limit.retry_after(address_caller), "Too many requests from this caller")
        return address_caller
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = presented.strip() if scheme.lower() == "bearer" else ""
    # Bytes that are not text (aiohttp keeps them as surrogates) are never a key or a token: refused below, before
    # any comparison or signature check, and counted as a failed authentication (they were a 500 every time).
    known = keys.caller(token) if token and keys.enabled and _well_formed(token) else None
    if known is not None:
        _admit(await limit.retry_after(known), "Too many requests from this caller")
        return known
    try:
        caller = await _authenticate(request, token)
    except Unauthorized as exc:
        if token and not isinstance(exc, ExpiredAccessToken):  # a guess, not a host refreshing late
            _admit(await failures.retry_after(address_caller), "Too many failed authentications from this address")
        raise
    limit = request.app[AGENT_LIMITS].get(caller, limit)  # an agent with a limit of its own
    _admit(await limit.retry_after(caller), "Too many requests from this caller")
    return caller


def _well_formed(token: str) -> bool:
    return len(token) <= MAX_CREDENTIAL and token.isascii() and token.isprintable()


def _admit(wait: int | None, refusal: str) -> None:
    if wait is not None:
        raise RateLimited(f"{refusal}: retry in {wait} s.", retry_after=wait)


async def _subject_token(request: web.Request, principal: Principal | None) -> str:
    """The token a user's BAW credential is exchanged from: behind the façade, the user's upstream (IM) token the
    façade keeps (oauth/upstream.py); otherwise, or for a user who never signed in upstream (an ID-JAG), the token
    they call with."""
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    facade = request.app.get(FACADE)
    if principal is not None and not principal.agent and facade is not None and principal.issuer == facade.issuer:
        return await facade.idp.access_token(principal.subject) or token.strip()
    return token.strip()


@contextmanager
def _as_user(request: web.Request, principal: Principal | None, subject_token: str) -> Iterator[None]:
    """GATEWAY_BAW_IDENTITY=user: BAW is called with the signed-in user's own credential; a key caller gets the
    service account only where GATEWAY_BAW_IDENTITY_KEYS=service allows it."""
    if principal is not None and principal.agent:
        facade = request.app.get(FACADE)  # the façade's agents; another issuer's app tokens have none here
        agent = facade.agents.get(principal.subject) if facade is not None else None
        if agent is None or not agent.service_view:
            raise UserRequired(
                "This gateway answers as the signed-in user, and this caller is an agent, not a user; the operator may "
                "give it the service account's view (service_view in GATEWAY_OAUTH_AGENTS_FILE)."
            )
        yield  # the service account, as the operator allowed
        return
    if principal is None:
        if request.app[SETTINGS].baw_identity_keys != "service":
            raise UserRequired(
                "This gateway answers as the signed-in user, and this caller is a key, not a user: sign in with OAuth."
            )
        yield  # the service account, keyed as such
        return
    if not principal.username:
        claim = request.app[SETTINGS].baw_user_claim
        raise UserRequired(f"Your sign-in does not say who you are in BAW (no `{claim}` claim): ask the operator.")
    subject = Subject(subject_token, principal.username)
    credential = request.app[USER_CREDENTIALS].for_user(principal.identity, subject)
    with (
        bound(baw_identity_var, principal.identity),
        bound(baw_credential_var, credential),
        bound(baw_user_var, principal.username),
    ):
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
