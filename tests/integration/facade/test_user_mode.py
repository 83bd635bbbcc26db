"""Per-user mode behind the façade (issue 28): the common CP4BA case, IBM IM with manual client registration. The
façade keeps each user's upstream (IM) token, sealed, renews it, and user mode exchanges it at Zen as it does an
inbound IM token; the host never holds it. Each user sees exactly their own BAW view."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.app import create_app
from gateway.config import load_settings
from gateway.oauth.facade import FACADE
from tests.integration.facade.signin import PORT, redeem, signed_in_code

LOAN, HR = "23972", "1800"  # alice may read the loan, bob the onboarding case


@pytest.fixture
def gateway_env(gateway_env, simulator):
    return {**gateway_env, "GATEWAY_BAW_IDENTITY": "user", "BAW_ZEN_URL": simulator.root}


async def _tokens_of(user: str, gateway, simulator_tls, idp) -> dict:
    idp.auto_login = user
    client_id, code = await signed_in_code(gateway, simulator_tls)
    status, tokens = await redeem(gateway, client_id, code)
    assert status == 200
    return tokens


async def _lookup(gateway, tokens: dict, piid: str):
    answer = await gateway.get(
        f"/baw/process-status?process_id={piid}", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    return answer.status, await answer.json()


async def test_two_users_behind_the_facade_each_see_their_own_baw(gateway, simulator, simulator_tls, idp) -> None:
    alice = await _tokens_of("alice", gateway, simulator_tls, idp)
    bob = await _tokens_of("bob", gateway, simulator_tls, idp)
    assert (await _lookup(gateway, alice, LOAN))[0] == 200
    status, refused = await _lookup(gateway, bob, LOAN)
    assert status == 403 and "your BAW account" in refused["error"]["message"]
    assert (await _lookup(gateway, bob, HR))[0] == 200
    assert (await _lookup(gateway, alice, HR))[0] == 403
    assert simulator.state.calls["zen"] == 2  # one exchange per user, of the IM token the façade kept
    # What the host holds is the façade's: no upstream token, no upstream refresh token.
    upstream_refresh = set(idp.refresh_tokens)
    assert not upstream_refresh & {alice["refresh_token"], bob["refresh_token"]}
    kept = gateway.server.app[FACADE].store._table("upstream-token")
    assert len(kept) == 2
    for _, text in kept.values():  # sealed at rest: neither token is readable in the store
        assert set(json.loads(text)) == {"sealed"} and not any(token in text for token in upstream_refresh)


async def test_the_kept_upstream_token_is_renewed_with_its_refresh_token(
    gateway, simulator, simulator_tls, idp, wall
) -> None:
    idp.token_lifetime_s = 1  # the IM token bob signed in with is about to expire
    bob = await _tokens_of("bob", gateway, simulator_tls, idp)
    idp.token_lifetime_s = 300
    wall.now += 1.1
    renewals = idp.calls["token"]
    assert (await _lookup(gateway, bob, HR))[0] == 200  # exchanged at Zen from a renewed IM token
    assert idp.calls["token"] == renewals + 1


async def test_an_agent_gets_the_service_view_only_where_the_operator_says(aiohttp_client, gateway_env, tmp_path):
    secret = tmp_path / "agent-secret"
    secret.write_text("agent-secret-1\n")
    agents = [
        {"client_id": "reporter", "secret_file": str(secret), "scopes": ["baw.read"], "service_view": True},
        {"client_id": "stranger", "secret_file": str(secret), "scopes": ["baw.read"]},
    ]
    path = tmp_path / "agents.json"
    path.write_text(json.dumps(agents))
    env = {**gateway_env, "GATEWAY_OAUTH_AGENTS_FILE": str(path)}
    gateway = await aiohttp_client(create_app(load_settings(env)), server_kwargs={"port": PORT})
    statuses = {}
    for agent in ("reporter", "stranger"):
        form = {"grant_type": "client_credentials", "client_id": agent, "client_secret": "agent-secret-1"}
        tokens = await (await gateway.post("/oauth/token", data=form)).json()
        status, body = await _lookup(gateway, tokens, LOAN)
        statuses[agent] = (status, body.get("error", {}).get("code"))
    assert statuses == {"reporter": (200, None), "stranger": (403, "user_required")}


async def test_the_baw_user_claim_reaches_zen_and_the_audit_line_through_the_facade(
    aiohttp_client, gateway_env, simulator, simulator_tls, idp, caplog
) -> None:
    idp.user_claim, idp.user_claims["u-7f3a"] = "upn", {"upn": "alice"}  # IM's subject is an opaque id
    env = {**gateway_env, "GATEWAY_BAW_USER_CLAIM": "upn"}
    gateway = await aiohttp_client(create_app(load_settings(env)), server_kwargs={"port": PORT})
    tokens = await _tokens_of("u-7f3a", gateway, simulator_tls, idp)
    with caplog.at_level(logging.INFO, logger="gateway.audit"):
        assert (await _lookup(gateway, tokens, LOAN))[0] == 200  # Zen was sent `alice`, the upn
    audit = next(record for record in caplog.records if record.name == "gateway.audit")
    assert audit.baw_user == "alice" and audit.caller.endswith("#u-7f3a")
