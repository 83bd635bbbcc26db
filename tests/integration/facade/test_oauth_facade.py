"""The authorization-server façade in front of an IdP that offers no dynamic registration (as Entra ID, IBM IM
with manual registration, many Keycloak and Okta setups): hosts register with the gateway (DCR or a client ID
metadata document), the user consents and signs in at the IdP, the gateway issues its own tokens."""

from __future__ import annotations

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client

from tests.integration.facade.signin import (
    CHALLENGE,
    PUBLIC,
    REDIRECT,
    authorize_url,
    redeem,
    register,
    sign_in,
    signed_in_code,
    trust,
)
from tests.oauth_host import MemoryStorage, host_provider


def _provider(simulator_tls, storage: MemoryStorage, client_metadata_url: str | None = None) -> OAuthClientProvider:
    async def browser(url: str) -> dict[str, str]:
        return await sign_in(simulator_tls, url)

    return host_provider(f"{PUBLIC}/mcp", REDIRECT, storage, browser, client_metadata_url)


async def _run_tools(simulator_tls, storage, mode: str, client_metadata_url: str | None = None):
    auth = _provider(simulator_tls, storage, client_metadata_url)
    async with httpx2.AsyncClient(auth=auth, verify=trust(simulator_tls)) as http:
        async with Client(streamable_http_client(f"{PUBLIC}/mcp", http_client=http), mode=mode) as client:
            return await client.call_tool("get_process_status", {"process_id": "23972"})


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_host_registers_dynamically_and_its_user_signs_in_upstream(gateway, simulator_tls, idp, mode) -> None:
    storage = MemoryStorage()
    result = await _run_tools(simulator_tls, storage, mode)
    assert result.is_error is False and result.structured_content["process_id"] == "23972"
    assert storage.client.client_id.startswith("mcp-")  # registered at the gateway, not at the IdP
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert (claims["iss"], claims["sub"], claims["aud"]) == (PUBLIC, "alice", f"{PUBLIC}/mcp")
    assert idp.calls["authorize"] >= 1  # the user signed in at the upstream IdP


async def test_a_host_identified_by_a_client_id_metadata_document(gateway, simulator, simulator_tls, idp) -> None:
    document_url = f"{simulator.root}/_simulator/clients/claude"
    idp.documents["claude"] = {"client_id": document_url, "client_name": "Claude", "redirect_uris": [REDIRECT]}
    storage = MemoryStorage()
    result = await _run_tools(simulator_tls, storage, "auto", client_metadata_url=document_url)
    assert result.is_error is False
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["client_id"] == document_url


async def test_a_redirect_uri_not_registered_is_refused_without_redirecting(gateway) -> None:
    client_id = await register(gateway)
    elsewhere = authorize_url(client_id, CHALLENGE, redirect_uri="https://evil.example.com/cb")
    answer = await gateway.get(elsewhere.removeprefix(PUBLIC), allow_redirects=False)
    assert answer.status == 400 and "Location" not in answer.headers


async def test_a_code_is_redeemed_once_and_only_with_its_verifier(gateway, simulator_tls) -> None:
    client_id, code = await signed_in_code(gateway, simulator_tls)
    assert (await redeem(gateway, client_id, code, verifier="w" * 50))[1]["error"] == "invalid_grant"
    assert (await redeem(gateway, client_id, code))[1]["error"] == "invalid_grant"  # spent by the failed try
    client_id, code = await signed_in_code(gateway, simulator_tls)
    status, tokens = await redeem(gateway, client_id, code)
    assert status == 200 and tokens["token_type"] == "Bearer"
    assert (await redeem(gateway, client_id, code))[1]["error"] == "invalid_grant"  # reuse refused
    lookup = await gateway.get(
        "/baw/process-status?process_id=23972", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert lookup.status == 200


async def test_a_code_older_than_its_minute_is_refused(gateway, simulator_tls, clock) -> None:
    client_id, code = await signed_in_code(gateway, simulator_tls)
    clock.now += 61
    assert (await redeem(gateway, client_id, code))[1]["error"] == "invalid_grant"


async def test_refresh_tokens_rotate_on_use(gateway, simulator_tls) -> None:
    client_id, code = await signed_in_code(gateway, simulator_tls)
    _, first = await redeem(gateway, client_id, code)
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": client_id}
    second = await gateway.post("/oauth/token", data=refresh)
    assert second.status == 200 and (await second.json())["refresh_token"] != first["refresh_token"]
    again = await gateway.post("/oauth/token", data=refresh)
    assert again.status == 400 and (await again.json())["error"] == "invalid_grant"


async def test_a_denied_consent_returns_access_denied(gateway, simulator_tls) -> None:
    client_id = await register(gateway)
    back = await sign_in(simulator_tls, authorize_url(client_id, CHALLENGE), decision="deny")
    assert back == {"error": "access_denied", "state": "st-1", "iss": PUBLIC}


async def test_metadata_says_what_hosts_need(gateway) -> None:
    metadata = await (await gateway.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == PUBLIC and metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["client_id_metadata_document_supported"] is True and "registration_endpoint" in metadata
    resource = await (await gateway.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert resource["authorization_servers"] == [PUBLIC]
