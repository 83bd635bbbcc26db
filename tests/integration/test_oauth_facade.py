"""The authorization-server façade in front of an IdP that offers no dynamic registration (as Entra ID, IBM IM
with manual registration, many Keycloak and Okta setups): hosts register with the gateway (DCR or a client ID
metadata document), the user consents and signs in at the IdP, the gateway issues its own tokens."""

from __future__ import annotations

import re
import ssl
import time
from urllib.parse import parse_qs, urlparse

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client

from gateway.app import create_app
from gateway.config import load_settings
from gateway.simulator.idp import IDP
from tests.clock import ManualClock
from tests.oauth_host import MemoryStorage, host_provider
from tests.ports import free_port

PORT = free_port()
PUBLIC = f"http://127.0.0.1:{PORT}"
REDIRECT = "http://127.0.0.1:33418/callback"


@pytest.fixture
def idp(simulator):
    provider = simulator.server.app[IDP]
    provider.dynamic_registration = False  # the upstream IdP cannot register hosts itself
    provider.clients["gateway-facade"] = {"client_id": "gateway-facade", "redirect_uris": [f"{PUBLIC}/oauth/callback"]}
    provider.auto_login = "alice"
    return provider


@pytest.fixture
def gateway_env(gateway_env, simulator, simulator_tls, tmp_path, idp):
    secret = tmp_path / "upstream-secret"
    secret.write_text("facade-secret\n")
    return {
        **gateway_env,
        "GATEWAY_PUBLIC_URL": PUBLIC,
        "GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER": simulator.root,
        "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID": "gateway-facade",
        "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_SECRET_FILE": str(secret),
        "GATEWAY_OAUTH_CA_BUNDLE": str(simulator_tls.ca_bundle),
        # The simulator publishes the client documents of these tests on loopback; an operator names such hosts.
        "GATEWAY_OAUTH_CIMD_PRIVATE_HOSTS": "127.0.0.1",
        "GATEWAY_OAUTH_CIMD_TIMEOUT_S": "0.5",
        # The attack tests (test_sign_in_under_attack.py) come from many addresses, named by X-Forwarded-For.
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.monotonic())


@pytest.fixture
async def gateway(aiohttp_client, gateway_env, clock):
    return await aiohttp_client(create_app(load_settings(gateway_env), clock=clock), server_kwargs={"port": PORT})


def _trust(simulator_tls) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(simulator_tls.ca_bundle))


async def _sign_in(simulator_tls, url: str, *, decision: str = "allow") -> dict[str, str]:
    """A browser: the gateway's consent page, the IdP's sign-in, back through the gateway to the host."""
    async with httpx2.AsyncClient(verify=_trust(simulator_tls)) as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "Allow" in page.text, page.text
        flow = re.search(r'name="flow" value="([^"]+)"', page.text).group(1)
        action = re.search(r'action="([^"]+)"', page.text).group(1)
        answer = await browser.post(action, data={"flow": flow, "decision": decision})
        while answer.status_code == 302 and not answer.headers["location"].startswith(REDIRECT):
            answer = await browser.get(answer.headers["location"])
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlparse(answer.headers["location"]).query).items()}


def _provider(simulator_tls, storage: MemoryStorage, client_metadata_url: str | None = None) -> OAuthClientProvider:
    async def sign_in(url: str) -> dict[str, str]:
        return await _sign_in(simulator_tls, url)

    return host_provider(f"{PUBLIC}/mcp", REDIRECT, storage, sign_in, client_metadata_url)


async def _run_tools(simulator_tls, storage, mode: str, client_metadata_url: str | None = None):
    auth = _provider(simulator_tls, storage, client_metadata_url)
    async with httpx2.AsyncClient(auth=auth, verify=_trust(simulator_tls)) as http:
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


async def _register(gateway) -> str:
    answer = await gateway.post("/oauth/register", json={"redirect_uris": [REDIRECT], "client_name": "t"})
    assert answer.status == 201
    return (await answer.json())["client_id"]


def _authorize_url(client_id: str, challenge: str, **overrides: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-1",
        "resource": f"{PUBLIC}/mcp",
        **overrides,
    }
    return str(httpx2.URL(f"{PUBLIC}/oauth/authorize", params=params))


VERIFIER = "v" * 50
CHALLENGE = "CrlVwe1WSHWuTQYh3iczmx3aS-faRx6C92k9_hNxl4A"  # S256 of VERIFIER


async def _code(gateway, simulator_tls) -> tuple[str, str]:
    client_id = await _register(gateway)
    back = await _sign_in(simulator_tls, _authorize_url(client_id, CHALLENGE))
    assert back["state"] == "st-1" and back["iss"] == PUBLIC
    return client_id, back["code"]


async def _redeem(gateway, client_id: str, code: str, verifier: str = VERIFIER):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    answer = await gateway.post("/oauth/token", data=form)
    return answer.status, await answer.json()


async def test_a_redirect_uri_not_registered_is_refused_without_redirecting(gateway) -> None:
    client_id = await _register(gateway)
    elsewhere = _authorize_url(client_id, CHALLENGE, redirect_uri="https://evil.example.com/cb")
    answer = await gateway.get(elsewhere.removeprefix(PUBLIC), allow_redirects=False)
    assert answer.status == 400 and "Location" not in answer.headers


async def test_a_code_is_redeemed_once_and_only_with_its_verifier(gateway, simulator_tls) -> None:
    client_id, code = await _code(gateway, simulator_tls)
    assert (await _redeem(gateway, client_id, code, verifier="w" * 50))[1]["error"] == "invalid_grant"
    assert (await _redeem(gateway, client_id, code))[1]["error"] == "invalid_grant"  # spent by the failed try
    client_id, code = await _code(gateway, simulator_tls)
    status, tokens = await _redeem(gateway, client_id, code)
    assert status == 200 and tokens["token_type"] == "Bearer"
    assert (await _redeem(gateway, client_id, code))[1]["error"] == "invalid_grant"  # reuse refused
    lookup = await gateway.get(
        "/baw/process-status?process_id=23972", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert lookup.status == 200


async def test_a_code_older_than_its_minute_is_refused(gateway, simulator_tls, clock) -> None:
    client_id, code = await _code(gateway, simulator_tls)
    clock.now += 61
    assert (await _redeem(gateway, client_id, code))[1]["error"] == "invalid_grant"


async def test_refresh_tokens_rotate_on_use(gateway, simulator_tls) -> None:
    client_id, code = await _code(gateway, simulator_tls)
    _, first = await _redeem(gateway, client_id, code)
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": client_id}
    second = await gateway.post("/oauth/token", data=refresh)
    assert second.status == 200 and (await second.json())["refresh_token"] != first["refresh_token"]
    again = await gateway.post("/oauth/token", data=refresh)
    assert again.status == 400 and (await again.json())["error"] == "invalid_grant"


async def test_a_denied_consent_returns_access_denied(gateway, simulator_tls) -> None:
    client_id = await _register(gateway)
    back = await _sign_in(simulator_tls, _authorize_url(client_id, CHALLENGE), decision="deny")
    assert back == {"error": "access_denied", "state": "st-1", "iss": PUBLIC}


async def test_metadata_says_what_hosts_need(gateway) -> None:
    metadata = await (await gateway.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == PUBLIC and metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["client_id_metadata_document_supported"] is True and "registration_endpoint" in metadata
    resource = await (await gateway.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert resource["authorization_servers"] == [PUBLIC]
