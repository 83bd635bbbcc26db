"""The simulator's identity side: OAuth2 client credentials, the IAM + Zen pair, and who BAW lets in."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from aiohttp import web

from gateway.simulator.idp import signed_in_user
from gateway.simulator.state import BAW_USER, SIMULATOR, SimulatorState


def authenticated(request: web.Request, state: SimulatorState) -> bool:
    """Whether the credential is good; who it stands for is then request[BAW_USER]."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    config = state.config
    user: str | None = None
    if scheme == "Bearer":
        expiry = state.tokens.get(credential)
        if expiry is not None and expiry > time.monotonic():
            user = state.token_users.get(credential, config.username)
    elif scheme == "Basic":
        if credential == base64.b64encode(f"{config.username}:{config.password}".encode()).decode():
            user = config.username
    elif scheme == "ZenApiKey":
        if credential == base64.b64encode(f"{config.username}:{config.api_key}".encode()).decode():
            user = config.username
    if user is not None:
        request[BAW_USER] = user
    return user is not None


def _token_call(request: web.Request, endpoint: str) -> tuple[SimulatorState, web.Response | None]:
    """Count the call; the refusal to send instead when the token endpoints are switched down."""
    state = request.app[SIMULATOR]
    state.calls[endpoint] += 1
    if state.faults.token_down:
        return state, web.json_response({"error": "temporarily_unavailable"}, status=503)
    return state, None


async def oauth2_token(request: web.Request) -> web.Response:
    state, down = _token_call(request, "token")
    if down is not None:
        return down
    form = await request.post()
    if form.get("grant_type") == TOKEN_EXCHANGE:
        return _exchange(request, state, form)
    if form.get("grant_type") != "client_credentials":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    if form.get("client_id") != state.config.client_id or form.get("client_secret") != state.config.client_secret:
        return web.json_response(
            {"error": "invalid_client", "error_description": "Client authentication failed"}, status=401
        )
    lifetime = state.config.token_lifetime_s
    return web.json_response(
        {"access_token": state.issue(lifetime), "token_type": "Bearer", "expires_in": lifetime},
        headers={"Cache-Control": "no-store"},
    )


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _exchange(request: web.Request, state: SimulatorState, form: Any) -> web.Response:
    """RFC 8693: a signed-in user's IdP token in, a BAW token for that user out (the gateway's client only)."""
    header = request.headers.get("Authorization", "")
    expected = "Basic " + base64.b64encode(f"{state.config.client_id}:{state.config.client_secret}".encode()).decode()
    if header != expected:
        return web.json_response({"error": "invalid_client"}, status=401)
    user = signed_in_user(request, str(form.get("subject_token", "")))
    if user is None:
        return web.json_response(
            {"error": "invalid_grant", "error_description": "subject_token is not valid"}, status=400
        )
    lifetime = state.config.token_lifetime_s
    body = {
        "access_token": state.issue(lifetime, user),
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": lifetime,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def iam_identity_token(request: web.Request) -> web.Response:
    state, down = _token_call(request, "iam")
    if down is not None:
        return down
    form = await request.post()
    config = state.config
    if (
        form.get("grant_type") != "password"
        or form.get("username") != config.username
        or form.get("password") != config.password
    ):
        return web.json_response({"error": "invalid_grant"}, status=400)
    return web.json_response(
        {
            "access_token": state.issue(config.token_lifetime_s),
            "token_type": "Bearer",
            "expires_in": config.token_lifetime_s,
        }
    )


async def zen_validate_auth(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR]
    state.calls["zen"] += 1
    iam_token = request.headers.get("iam-token", "")
    username = request.headers.get("username")
    expiry = state.tokens.get(iam_token)
    user = state.config.username if expiry is not None and expiry > time.monotonic() else None
    if user is None:  # a user's own IM token (the IdP's), as CP4BA converts it for that user
        user = signed_in_user(request, iam_token)
    if user is None or username != user:
        return web.json_response({"_messageCode_": "401", "message": "Invalid token"}, status=401)
    lifetime = state.config.token_lifetime_s
    signature = state.issue(lifetime, None if user == state.config.username else user)
    claims = {"username": user, "iat": int(time.time()), "exp": int(time.time() + lifetime)}
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "RS256", "typ": "JWT"}, claims)
    ]
    jwt = ".".join(segments)
    # The "signature" is a token the simulator remembers, so it can check expiry on each call.
    state.tokens[f"{jwt}.{signature}"] = state.tokens.pop(signature)
    if signature in state.token_users:
        state.token_users[f"{jwt}.{signature}"] = state.token_users.pop(signature)
    return web.json_response({"accessToken": f"{jwt}.{signature}"})
