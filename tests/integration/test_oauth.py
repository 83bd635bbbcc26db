"""Hosts sign their users in: the gateway as an OAuth 2.1 resource server, the simulator's identity provider as
the issuer. The official MCP SDK client with its OAuth client provider runs the whole flow (discovery, dynamic
registration, PKCE, token, tools) as ChatGPT's and Claude's connectors do."""

from __future__ import annotations

import logging
import ssl
import time
from urllib.parse import parse_qs, urlparse

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.config import load_settings
from gateway.simulator.idp import IDP
from tests.conftest import KEY
from tests.oauth_host import MemoryStorage, host_provider
from tests.ports import free_port

PORT = free_port()
PUBLIC = f"http://127.0.0.1:{PORT}"  # what hosts reach: the metadata and challenges point here


@pytest.fixture
def gateway_env(gateway_env, simulator, simulator_tls, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY}\n")
    return {
        **gateway_env,
        "GATEWAY_PUBLIC_URL": PUBLIC,
        "GATEWAY_OAUTH_ISSUER": simulator.root,
        "GATEWAY_OAUTH_CA_BUNDLE": str(simulator_tls.ca_bundle),
        "GATEWAY_API_KEYS_FILE": str(keys),
    }


@pytest.fixture
async def gateway(aiohttp_client, gateway_env):
    """On the port GATEWAY_PUBLIC_URL names, so that what the discovery documents say is reachable."""
    return await aiohttp_client(create_app(load_settings(gateway_env)), server_kwargs={"port": PORT})


@pytest.fixture
def idp(simulator):
    return simulator.server.app[IDP]


def _trust(simulator_tls) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(simulator_tls.ca_bundle))


def _oauth(gateway, simulator_tls, storage: MemoryStorage) -> OAuthClientProvider:
    """The SDK's provider; the 'browser' follows the authorization URL to the IdP, which signs the user in."""

    async def sign_in(url: str) -> dict[str, str]:
        async with httpx2.AsyncClient(verify=_trust(simulator_tls)) as browser:
            answer = await browser.get(url, follow_redirects=False)
        assert answer.status_code == 302, answer.text
        return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["location"]).query).items()}

    server = f"http://127.0.0.1:{gateway.port}/mcp"
    return host_provider(server, "http://127.0.0.1:33418/callback", storage, sign_in)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_official_sdk_signs_in_and_calls_tools(gateway, simulator, simulator_tls, idp, mode) -> None:
    idp.auto_login = "alice"
    storage = MemoryStorage()
    async with httpx2.AsyncClient(auth=_oauth(gateway, simulator_tls, storage), verify=_trust(simulator_tls)) as http:
        async with Client(
            streamable_http_client(f"http://127.0.0.1:{gateway.port}/mcp", http_client=http), mode=mode
        ) as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("get_process_status", {"process_id": "23972"})
    assert tools and result.is_error is False and result.structured_content["process_id"] == "23972"
    assert storage.client is not None and storage.client.client_id.startswith("client-")  # registered dynamically
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["aud"] == f"{PUBLIC}/mcp"  # RFC 8707: for this server only


async def test_discovery_documents_and_the_challenge_point_at_the_issuer(gateway, simulator) -> None:
    refused = await gateway.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status == 401
    challenge = refused.headers["WWW-Authenticate"]
    assert (
        challenge.startswith("Bearer ")
        and f'resource_metadata="{PUBLIC}/.well-known/oauth-protected-resource/mcp"' in challenge
    )
    assert 'scope="baw.read"' in challenge
    metadata = await (await gateway.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert metadata == {
        "resource": f"{PUBLIC}/mcp",
        "authorization_servers": [simulator.root],
        "scopes_supported": ["baw.read"],
        "bearer_methods_supported": ["header"],
        "resource_name": "BAW Gateway",
    }
    root = await (await gateway.get("/.well-known/oauth-protected-resource")).json()
    assert root["resource"] == PUBLIC
    rest = await gateway.get("/baw/process-status?process_id=23972")
    assert rest.status == 401 and 'oauth-protected-resource"' in rest.headers["WWW-Authenticate"]


def _token(idp, simulator, scope: str = "baw.read", **overrides) -> str:
    return idp.access_token(simulator.root, "alice", f"{PUBLIC}/mcp", scope, "client-x", **overrides)


async def _lookup(gateway, token: str):
    return await gateway.get("/baw/process-status?process_id=23972", headers={"Authorization": f"Bearer {token}"})


async def test_a_valid_token_is_a_user_and_keys_still_work(gateway, simulator, idp) -> None:
    assert (await _lookup(gateway, _token(idp, simulator))).status == 200
    assert (await _lookup(gateway, KEY)).status == 200  # machine callers keep their keys


@pytest.mark.parametrize(
    "forge",
    [
        "other_audience",
        "expired",
        "unknown_key",
        "alg_none",
        "hs256",
        "wrong_issuer",
        "jku",
        "crit",
    ],
)
async def test_tokens_not_meant_for_this_server_are_401_with_the_challenge(gateway, simulator, idp, forge) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": simulator.root, "sub": "alice", "aud": f"{PUBLIC}/mcp", "exp": int(time.time()) + 60}
    token = {
        "other_audience": lambda: _token(idp, simulator, aud="https://other.example.com/mcp"),
        "expired": lambda: _token(idp, simulator, exp=int(time.time()) - 120),
        "unknown_key": lambda: jwt.encode(
            {
                "iss": simulator.root,
                "sub": "alice",
                "aud": f"{PUBLIC}/mcp",
                "exp": int(time.time()) + 60,
                "scope": "baw.read",
            },
            stranger,
            algorithm="RS256",
            headers={"kid": "forged"},
        ),
        "alg_none": lambda: jwt.encode(
            {"iss": simulator.root, "sub": "alice", "aud": f"{PUBLIC}/mcp", "exp": int(time.time()) + 60},
            None,
            algorithm="none",
        ),
        "hs256": lambda: jwt.encode(
            claims,
            "a-shared-secret-of-32-bytes-long!",
            algorithm="HS256",
            headers={"kid": idp.keys[0][0]},
        ),
        "wrong_issuer": lambda: _token(idp, simulator, iss="https://evil.example.com"),
        # a key of the attacker's named by URL: never fetched, the token signed with it refused
        "jku": lambda: jwt.encode(
            {**claims, "scope": "baw.read"},
            stranger,
            algorithm="RS256",
            headers={"kid": idp.keys[0][0], "jku": "https://evil.example.com/jwks"},
        ),
        # an extension the gateway does not understand, marked critical (RFC 7515 §4.1.11): refused
        "crit": lambda: jwt.encode(
            {**claims, "scope": "baw.read"},
            idp.keys[0][1],
            algorithm="RS256",
            headers={"kid": idp.keys[0][0], "crit": ["urn:example:unknown"], "urn:example:unknown": True},
        ),
    }[forge]()
    response = await _lookup(gateway, token)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_expired_tokens_of_the_trusted_issuer_never_lock_an_address_out(gateway, simulator, idp) -> None:
    """A host calls from a few egress addresses shared by all its users: their tokens expiring before the host
    refreshes them are 401 each, never counted as guesses; forged ones still are (10, then 429)."""
    expired = _token(idp, simulator, exp=int(time.time()) - 120)
    refused = [await _lookup(gateway, expired) for _ in range(15)]
    assert [response.status for response in refused] == [401] * 15
    assert refused[-1].headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert (await _lookup(gateway, _token(idp, simulator))).status == 200  # the next user from that address
    forged = _token(idp, simulator, iss="https://evil.example.com")
    assert [(await _lookup(gateway, forged)).status for _ in range(11)] == [401] * 10 + [429]


async def test_a_flood_of_bad_tokens_never_refuses_a_valid_one_from_the_same_address(gateway, simulator, idp) -> None:
    """Issue 28: 300 wrong credentials from one address, then a valid one from it: 429 for everyone behind that
    address (a host's cloud egress, a company NAT). The flood is braked; the valid token is served."""
    garbage = ["not-a-jwt", "a.b.c", _token(idp, simulator, iss="https://evil.example.com"), "x" * 5000]
    statuses = [(await _lookup(gateway, garbage[n % len(garbage)] + str(n // 4))).status for n in range(300)]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    assert (await _lookup(gateway, _token(idp, simulator))).status == 200
    assert (await _lookup(gateway, KEY)).status == 200
    assert idp.calls["jwks"] <= 2  # unknown key ids in the flood: one refresh, not one per token


async def test_a_token_without_the_scope_is_403_insufficient_scope(gateway, simulator, idp) -> None:
    response = await _lookup(gateway, _token(idp, simulator, scope="openid"))
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


async def test_a_rotated_key_is_picked_up_and_the_old_one_dropped(gateway, simulator, idp) -> None:
    old = _token(idp, simulator)
    assert (await _lookup(gateway, old)).status == 200
    idp.rotate()
    fetched = idp.calls["jwks"]
    assert (await _lookup(gateway, _token(idp, simulator))).status == 200  # unknown kid: one refresh
    assert idp.calls["jwks"] == fetched + 1
    assert (await _lookup(gateway, old)).status == 401  # the old key is gone from the issuer and from us


async def test_the_issuer_down_does_not_stop_verifiable_tokens(gateway, simulator, idp) -> None:
    token = _token(idp, simulator)
    idp.down = True
    started = time.monotonic()
    assert (await _lookup(gateway, token)).status == 200
    assert time.monotonic() - started < 1


async def test_the_rate_limiter_counts_per_user(aiohttp_client, gateway_env, simulator, idp) -> None:
    client = await aiohttp_client(
        create_app(load_settings({**gateway_env, "GATEWAY_RATE_LIMIT_RPS": "1", "GATEWAY_RATE_LIMIT_BURST": "3"}))
    )
    alice = idp.access_token(simulator.root, "alice", f"{PUBLIC}/mcp", "baw.read", "c")
    bob = idp.access_token(simulator.root, "bob", f"{PUBLIC}/mcp", "baw.read", "c")
    assert [(await _lookup(client, alice)).status for _ in range(4)] == [200, 200, 200, 429]
    assert (await _lookup(client, bob)).status == 200  # another user, another allowance


async def test_every_tool_call_leaves_one_audit_line_naming_the_user_never_a_token(gateway, simulator, idp, caplog):
    caplog.set_level(logging.INFO, "gateway.audit")
    token = _token(idp, simulator)
    assert (await _lookup(gateway, token)).status == 200
    missing = await gateway.get("/baw/task?task_id=424242", headers={"Authorization": f"Bearer {token}"})
    assert missing.status == 404
    lines = [record for record in caplog.records if record.name == "gateway.audit"]
    assert [(r.tool, r.outcome, r.ids) for r in lines] == [
        ("get_process_status", "ok", {"process_id": "23972"}),
        ("get_task", "not_found", {"task_id": "424242"}),
    ]
    assert {(r.caller, r.client_id, r.surface) for r in lines} == {(f"user:{simulator.root}#alice", "client-x", "rest")}
    assert token not in caplog.text


async def test_the_openapi_document_declares_the_oauth_flow_beside_the_keys(gateway, simulator) -> None:
    document = await (await gateway.get("/openapi.json")).json()
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert schemes["oauth"]["flows"]["authorizationCode"] == {
        "authorizationUrl": f"{simulator.root}/oauth/authorize",
        "tokenUrl": f"{simulator.root}/oauth/token",
        "refreshUrl": f"{simulator.root}/oauth/token",
        "scopes": {"baw.read": "Read BAW process instances and tasks."},
    }
    operation = document["paths"]["/baw/process-status"]["get"]
    assert operation["security"] == [{"bearerKey": []}, {"oauth": ["baw.read"]}]


async def test_opaque_tokens_are_introspected_and_the_answer_kept_briefly(
    aiohttp_client, gateway_env, simulator, idp
) -> None:
    env = {
        **gateway_env,
        "GATEWAY_OAUTH_INTROSPECTION_URL": f"{simulator.root}/oauth/introspect",
        "GATEWAY_OAUTH_INTROSPECTION_CLIENT_ID": "gateway-introspection",
        "GATEWAY_OAUTH_INTROSPECTION_CLIENT_SECRET": "introspection-secret",
    }
    client = await aiohttp_client(create_app(load_settings(env)))
    now = int(time.time())
    claims = {"iss": simulator.root, "sub": "bob", "aud": f"{PUBLIC}/mcp", "exp": now + 300, "scope": "baw.read"}
    idp.opaque["opaque-token-bob"] = claims
    idp.opaque["opaque-token-other"] = {**claims, "aud": "https://other.example.com"}
    idp.opaque["opaque-token-anyone"] = {key: value for key, value in claims.items() if key != "aud"}
    for _ in range(3):
        assert (await _lookup(client, "opaque-token-bob")).status == 200
    assert idp.calls["introspect"] == 1  # one call for three requests
    assert (await _lookup(client, "opaque-token-other")).status == 401
    assert (await _lookup(client, "opaque-token-unknown")).status == 401
    assert (await _lookup(client, "opaque-token-anyone")).status == 401  # issue 29 row 11: no `aud`, refused


async def test_an_issuer_outage_is_the_sign_ins_not_baws(aiohttp_client, gateway_env, simulator, idp) -> None:
    """Issue 30: the IdP being down read as `baw_unavailable`, a BAW failure; it is the sign-in's, said so."""
    env = {
        **gateway_env,
        "GATEWAY_OAUTH_INTROSPECTION_URL": f"{simulator.root}/oauth/introspect",
        "GATEWAY_OAUTH_INTROSPECTION_CLIENT_ID": "gateway-introspection",
        "GATEWAY_OAUTH_INTROSPECTION_CLIENT_SECRET": "introspection-secret",
    }
    client = await aiohttp_client(create_app(load_settings(env)))
    idp.down = True
    answer = await _lookup(client, "an-opaque-token-while-the-idp-is-down")
    body = await answer.json()
    assert answer.status == 503 and body["error"]["code"] == "sign_in_unavailable" and "Retry-After" in answer.headers
    assert simulator.state.calls["process"] == 0
