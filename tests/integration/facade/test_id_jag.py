"""Enterprise-managed authorization (issue 28): the user signed in once at the company IdP; the host redeems an
ID-JAG from it at the façade (RFC 7523 jwt-bearer) and calls tools as that user, with no consent screen."""

from __future__ import annotations

import logging
import time
import uuid

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.app import create_app
from gateway.config import load_settings
from tests.integration.facade.signin import PORT, PUBLIC, register

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def gateway_env(gateway_env, simulator):
    return {**gateway_env, "GATEWAY_OAUTH_ID_JAG_ISSUERS": simulator.root}


def _id_jag(idp, simulator, client_id: str, *, key=None, typ: str = "oauth-id-jag+jwt", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": simulator.root,
        "sub": "alice",
        "aud": PUBLIC,
        "client_id": client_id,
        "resource": f"{PUBLIC}/mcp",
        "scope": "baw.read",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
        "preferred_username": "alice",
        **overrides,
    }
    claims = {name: value for name, value in claims.items() if value is not None}  # an override of None drops it
    kid, own = idp.keys[0]
    return jwt.encode(claims, key or own, algorithm="RS256", headers={"kid": kid, "typ": typ})


async def _redeem(gateway, client_id: str, assertion: str):
    form = {"grant_type": JWT_BEARER, "assertion": assertion, "client_id": client_id}
    answer = await gateway.post("/oauth/token", data=form)
    return answer.status, await answer.json()


async def test_a_host_redeems_an_id_jag_and_calls_a_tool_as_the_user(gateway, simulator, idp, caplog) -> None:
    client_id = await register(gateway)
    status, tokens = await _redeem(gateway, client_id, _id_jag(idp, simulator, client_id))
    assert status == 200 and tokens["token_type"] == "Bearer" and tokens["scope"] == "baw.read"
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert (claims["iss"], claims["sub"], claims["client_id"]) == (PUBLIC, "alice", client_id)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        with caplog.at_level(logging.INFO, logger="gateway.audit"):
            async with Client(streamable_http_client(f"{PUBLIC}/mcp", http_client=http), mode="auto") as client:
                result = await client.call_tool("get_process_status", {"process_id": "23972"})
    assert result.is_error is False
    audit = next(record for record in caplog.records if record.name == "gateway.audit")
    assert audit.caller == f"user:{PUBLIC}#alice"


@pytest.mark.parametrize(
    "forge",
    [
        "replayed",
        "expired",
        "wrong_audience",
        "wrong_resource",
        "foreign_issuer",
        "other_client",
        "wrong_type",
        "no_jti",
    ],
)
async def test_a_bad_id_jag_is_invalid_grant(gateway, simulator, idp, forge) -> None:
    client_id = await register(gateway)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assertion = {
        "replayed": lambda: _id_jag(idp, simulator, client_id),
        "expired": lambda: _id_jag(idp, simulator, client_id, exp=int(time.time()) - 120),
        "wrong_audience": lambda: _id_jag(idp, simulator, client_id, aud="https://other-as.example.com"),
        "wrong_resource": lambda: _id_jag(idp, simulator, client_id, resource="https://other.example.com/mcp"),
        "foreign_issuer": lambda: _id_jag(idp, simulator, client_id, key=stranger, iss="https://evil.example.com"),
        "other_client": lambda: _id_jag(idp, simulator, "mcp-someone-else"),
        "wrong_type": lambda: _id_jag(idp, simulator, client_id, typ="jwt"),
        "no_jti": lambda: _id_jag(idp, simulator, client_id, jti=None),
    }[forge]()
    if forge == "replayed":
        assert (await _redeem(gateway, client_id, assertion))[0] == 200
    status, answer = await _redeem(gateway, client_id, assertion)
    assert status == 400 and answer["error"] == "invalid_grant", answer


async def test_a_key_of_the_idp_signs_nothing_it_did_not(gateway, simulator, idp) -> None:
    client_id = await register(gateway)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, answer = await _redeem(gateway, client_id, _id_jag(idp, simulator, client_id, key=stranger))
    assert status == 400 and answer["error"] == "invalid_grant"


async def test_the_metadata_advertises_the_jwt_bearer_grant(gateway) -> None:
    metadata = await (await gateway.get("/.well-known/oauth-authorization-server")).json()
    assert JWT_BEARER in metadata["grant_types_supported"]


async def test_an_id_jag_is_single_use_across_replicas(aiohttp_client, cluster_env, simulator, idp):
    first = await aiohttp_client(create_app(load_settings(cluster_env)), server_kwargs={"port": PORT})
    second = await aiohttp_client(create_app(load_settings(cluster_env)))
    client_id = await register(first)
    assertion = _id_jag(idp, simulator, client_id)
    assert (await _redeem(first, client_id, assertion))[0] == 200
    status, answer = await _redeem(second, client_id, assertion)
    assert status == 400 and answer["error"] == "invalid_grant" and "already used" in answer["error_description"]
