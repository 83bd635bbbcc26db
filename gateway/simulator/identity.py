"""The simulator's identity side: OAuth2 client credentials, the IAM + Zen pair, and who BAW lets in."""

from __future__ import annotations

import base64
import json
import time

from aiohttp import web

from gateway.simulator.state import SIMULATOR, SimulatorState


def authenticated(request: web.Request, state: SimulatorState) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    config = state.config
    if scheme == "Bearer":
        expiry = state.tokens.get(credential)
        return expiry is not None and expiry > time.monotonic()
    if scheme == "Basic":
        return credential == base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
    if scheme == "ZenApiKey":
        return credential == base64.b64encode(f"{config.username}:{config.api_key}".encode()).decode()
    return False


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
    expiry = state.tokens.get(iam_token)
    if request.headers.get("username") != state.config.username or expiry is None or expiry < time.monotonic():
        return web.json_response({"_messageCode_": "401", "message": "Invalid token"}, status=401)
    lifetime = state.config.token_lifetime_s
    signature = state.issue(lifetime)
    claims = {"username": state.config.username, "iat": int(time.time()), "exp": int(time.time() + lifetime)}
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "RS256", "typ": "JWT"}, claims)
    ]
    jwt = ".".join(segments)
    # The "signature" is a token the simulator remembers, so it can check expiry on each call.
    state.tokens[f"{jwt}.{signature}"] = state.tokens.pop(signature)
    return web.json_response({"accessToken": f"{jwt}.{signature}"})
