"""Answers as the user sees BAW (GATEWAY_BAW_IDENTITY=user): alice sees the loans, bob the HR cases, each through
a BAW credential exchanged from their own sign-in; nobody ever receives what another's credential fetched."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import ssl
import time
from urllib.parse import parse_qs, urlparse

import httpx2
import pytest

from gateway.app import create_app
from gateway.baw.users import USER_CREDENTIALS
from gateway.config import load_settings
from gateway.simulator.idp import IDP
from tests.clock import ManualClock
from tests.conftest import CLIENT_SECRET, KEY

PUBLIC = "https://gateway.example.com"
LOAN, HR = "23972", "1800"  # alice may read the loan, bob the onboarding case


@pytest.fixture
def gateway_env(gateway_env, simulator, simulator_tls, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY}\n")
    return {
        **gateway_env,
        "GATEWAY_OAUTH_ISSUER": simulator.root,
        "GATEWAY_OAUTH_CA_BUNDLE": str(simulator_tls.ca_bundle),
        "GATEWAY_API_KEYS_FILE": str(keys),
        "GATEWAY_BAW_IDENTITY": "user",
        "GATEWAY_BAW_TOKEN_EXCHANGE_URL": f"{simulator.base_url}/oauth2/token",
        "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_ID": simulator.config.client_id,
        "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_SECRET": CLIENT_SECRET,
    }


@pytest.fixture
def idp(simulator):
    return simulator.server.app[IDP]


def _token(idp, simulator, user: str) -> str:
    return idp.access_token(simulator.root, user, f"{PUBLIC}/mcp", "baw.read", "client-x")


async def _status(gateway, token: str, piid: str) -> int:
    response = await gateway.get(f"/baw/process-status?process_id={piid}", headers={"Authorization": f"Bearer {token}"})
    await response.read()
    return response.status


async def test_each_user_sees_what_baw_lets_them_see(gateway, simulator, idp) -> None:
    alice, bob = _token(idp, simulator, "alice"), _token(idp, simulator, "bob")
    assert await _status(gateway, alice, LOAN) == 200
    assert await _status(gateway, bob, LOAN) == 403  # right after alice's answer was cached: not bob's to see
    assert await _status(gateway, bob, HR) == 200
    assert await _status(gateway, alice, HR) == 403
    search = await gateway.get("/baw/processes", headers={"Authorization": f"Bearer {alice}"})
    apps = {hit["process_app"] for hit in (await search.json())["processes"]}
    assert apps == {"LOAN"}


async def test_a_burst_costs_one_call_per_user(gateway, simulator, idp) -> None:
    simulator.state.faults.delay_s = 0.2
    alice, admin = _token(idp, simulator, "alice"), _token(idp, simulator, "admin")
    answers = await asyncio.gather(*(_status(gateway, alice, LOAN) for _ in range(300)))
    assert answers == [200] * 300 and simulator.state.calls["process"] == 1
    answers = await asyncio.gather(*(_status(gateway, admin, LOAN) for _ in range(300)))
    assert answers == [200] * 300 and simulator.state.calls["process"] == 2  # another user: another BAW call


async def test_key_callers_get_no_identity_unless_allowed(gateway, aiohttp_client, gateway_env) -> None:
    refused = await gateway.get(f"/baw/process-status?process_id={LOAN}", headers={"Authorization": f"Bearer {KEY}"})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "user_required"
    allowed = await aiohttp_client(create_app(load_settings({**gateway_env, "GATEWAY_BAW_IDENTITY_KEYS": "service"})))
    answer = await allowed.get("/baw/process-status?process_id=4242", headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status == 403  # the service account's own view: everything but 4242
    assert (
        await allowed.get(f"/baw/process-status?process_id={LOAN}", headers={"Authorization": f"Bearer {KEY}"})
    ).status == 200


async def test_user_credentials_are_renewed_ahead_of_expiry_and_idle_users_dropped(
    aiohttp_client, gateway_env, simulator, idp
) -> None:
    wall = ManualClock(time.time())
    gateway = await aiohttp_client(
        create_app(load_settings({**gateway_env, "GATEWAY_USER_IDLE_S": "600"}), wall_clock=wall)
    )
    alice = _token(idp, simulator, "alice")
    assert await _status(gateway, alice, LOAN) == 200
    table = gateway.app[USER_CREDENTIALS]
    credential = next(iter(table._users.values()))
    first = credential.token
    wall.now += 0.85 * first.lifetime  # past its renewal point, still valid
    await table.sweep()  # what the background sweep does every few seconds, on the wall clock given to the app
    assert credential.renewal is not None
    await credential.renewal  # renewed while alice is active, without a lookup of hers
    assert credential.token.expires_at > first.expires_at
    assert simulator.state.calls["process"] == 1
    wall.now += 601  # alice goes quiet
    await table.sweep()
    assert len(table) == 0


async def test_the_table_of_users_is_bounded(aiohttp_client, gateway_env, simulator, idp) -> None:
    gateway = await aiohttp_client(create_app(load_settings({**gateway_env, "GATEWAY_USER_CREDENTIALS_MAX": "50"})))
    for n in range(200):
        await _status(gateway, _token(idp, simulator, f"user{n}"), LOAN)  # nobody of these may read it: 403
    assert len(gateway.app[USER_CREDENTIALS]) == 50


async def test_an_idp_outage_degrades_to_a_clear_error_never_another_identity(gateway, simulator, idp) -> None:
    alice = _token(idp, simulator, "alice")
    simulator.state.faults.token_down = True  # the exchange endpoint is down before alice's first call
    answer = await gateway.get(f"/baw/process-status?process_id={LOAN}", headers={"Authorization": f"Bearer {alice}"})
    assert answer.status == 503 and (await answer.json())["error"]["code"] == "baw_unavailable"
    assert simulator.state.calls["process"] == 0  # BAW was never asked, with any credential


async def _signed_in(public: str, simulator, simulator_tls, idp, user: str) -> str:
    """The real OAuth flow at the simulator's IdP: registration, authorization code with PKCE, token."""
    trust = ssl.create_default_context(cafile=str(simulator_tls.ca_bundle))
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    idp.auto_login = user
    async with httpx2.AsyncClient(verify=trust) as http:
        registered = await http.post(
            f"{simulator.root}/oauth/register", json={"redirect_uris": ["http://127.0.0.1/cb"]}
        )
        client = registered.json()
        authorized = await http.get(
            f"{simulator.root}/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": "http://127.0.0.1/cb",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": f"{public}/mcp",
                "state": "s",
            },
        )
        code = parse_qs(urlparse(authorized.headers["location"]).query)["code"][0]
        tokens = await http.post(
            f"{simulator.root}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client["client_id"],
                "redirect_uri": "http://127.0.0.1/cb",
                "code_verifier": verifier,
            },
        )
    return tokens.json()["access_token"]


async def test_alice_and_bob_signed_in_through_the_oauth_flow(gateway, simulator, simulator_tls, idp) -> None:
    alice = await _signed_in(PUBLIC, simulator, simulator_tls, idp, "alice")
    bob = await _signed_in(PUBLIC, simulator, simulator_tls, idp, "bob")
    assert (await _status(gateway, alice, LOAN), await _status(gateway, bob, LOAN)) == (200, 403)
    assert (await _status(gateway, alice, HR), await _status(gateway, bob, HR)) == (403, 200)


async def test_ibm_im_users_get_their_zen_token(aiohttp_client, gateway_env, simulator, idp) -> None:
    """CP4BA: the user's IM token converted at Zen (validateAuth with username and iam-token), per user."""
    env = {k: v for k, v in gateway_env.items() if not k.startswith("GATEWAY_BAW_TOKEN_EXCHANGE")}
    gateway = await aiohttp_client(create_app(load_settings({**env, "BAW_ZEN_URL": simulator.root})))
    alice, bob = _token(idp, simulator, "alice"), _token(idp, simulator, "bob")
    assert (await _status(gateway, alice, LOAN), await _status(gateway, bob, LOAN)) == (200, 403)
    assert simulator.state.calls["zen"] == 2


async def test_one_users_failing_exchange_backs_off_and_never_opens_the_breaker(
    aiohttp_client, gateway_env, simulator, idp
) -> None:
    """Issue 29 row 8: the IdP failing for one new user opened the BAW breaker for every user with a valid
    credential (alice 503 "BAW is failing" for 15 s), and the failing user's exchange was called 19 times."""
    env = {**gateway_env, "GATEWAY_CACHE_TTL_S": "0", "GATEWAY_BREAKER_MIN_CALLS": "5"}
    gateway = await aiohttp_client(create_app(load_settings(env)))
    alice, bob = _token(idp, simulator, "alice"), _token(idp, simulator, "bob")
    assert await _status(gateway, alice, LOAN) == 200  # her credential is held
    exchanges = simulator.state.calls["token"]
    simulator.state.faults.token_down = True  # the exchange now fails, for bob's first sign-in
    for piid in ("1800", "1801", "1802", "1803", "1804") * 6:
        answer = await gateway.get(f"/baw/process-status?process_id={piid}", headers={"Authorization": f"Bearer {bob}"})
        assert answer.status == 503 and "BAW is failing" not in (await answer.json())["error"]["message"]
        assert await _status(gateway, alice, LOAN) == 200  # alice is served throughout
    assert simulator.state.calls["token"] - exchanges <= 2  # backed off: not one exchange per request


async def test_the_baw_user_claim_is_what_reaches_zen_and_the_audit_line(
    aiohttp_client, gateway_env, simulator, idp, caplog
) -> None:
    """Issue 28: the claim sent to Zen as the BAW user name was neither documented nor configurable, and the audit
    line named `sub`. With GATEWAY_BAW_USER_CLAIM=upn, the `upn` claim is the name Zen sees and the audit says."""
    env = {k: v for k, v in gateway_env.items() if not k.startswith("GATEWAY_BAW_TOKEN_EXCHANGE")}
    env = {**env, "BAW_ZEN_URL": simulator.root}
    idp.user_claim = "upn"  # CP4BA set up to read the user from `upn`; `sub` is an opaque id
    token = idp.access_token(simulator.root, "u-7f3a", f"{PUBLIC}/mcp", "baw.read", "client-x", upn="alice")
    default = await aiohttp_client(create_app(load_settings(env)))
    assert await _status(default, token, LOAN) != 200  # preferred_username, username, sub: `u-7f3a`, not alice
    configured = await aiohttp_client(create_app(load_settings({**env, "GATEWAY_BAW_USER_CLAIM": "upn"})))
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        assert await _status(configured, token, LOAN) == 200
    audit = next(record for record in caplog.records if record.name == "gateway.audit")
    assert audit.baw_user == "alice" and "u-7f3a" in audit.caller
    refused = await configured.get(
        "/baw/process-status?process_id=1800", headers={"Authorization": f"Bearer {token}"}
    )  # not alice's to see: the message says whose access BAW refused
    message = (await refused.json())["error"]["message"]
    assert refused.status == 403 and "your BAW account" in message and "service account" not in message
    document = await (await configured.get("/openapi.json")).json()
    forbidden = document["paths"]["/baw/process-status"]["get"]["responses"]["403"]["description"]
    assert "signed-in user" in forbidden
