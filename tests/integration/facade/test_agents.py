"""Agents without a person (issue 28): operator-registered confidential clients get tokens of the façade by
client_credentials, call as `client:<id>` with their own rate limit and audit line."""

from __future__ import annotations

import base64
import json
import logging

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.app import create_app
from gateway.config import ConfigError, load_settings
from tests.integration.facade.signin import PUBLIC

SECRET = "agent-secret-5b1e0c9d"


@pytest.fixture
def gateway_env(gateway_env, tmp_path):
    secret = tmp_path / "agent-secret"
    secret.write_text(SECRET + "\n")
    agents = [
        {
            "client_id": "nightly-report",
            "secret_file": str(secret),
            "scopes": ["baw.read"],
            "rate_limit_burst": 3,
            "rate_limit_rps": 0.01,
        },
        {"client_id": "triage-bot", "secret_file": str(secret), "scopes": ["baw.read"]},
        {"client_id": "searcher", "secret_file": str(secret), "scopes": ["baw.read", "baw.search"]},
    ]
    path = tmp_path / "agents.json"
    path.write_text(json.dumps(agents))
    return {
        **gateway_env,
        "GATEWAY_OAUTH_AGENTS_FILE": str(path),
        "GATEWAY_OAUTH_TOOL_SCOPES": "baw.search=search_processes process_status_overview",
    }


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def _token(gateway, client_id: str, secret: str = SECRET, **form: str):
    answer = await gateway.post(
        "/oauth/token", data={"grant_type": "client_credentials", **form}, headers=_basic(client_id, secret)
    )
    return answer.status, await answer.json()


async def test_an_agent_gets_a_token_and_calls_a_tool_as_itself(gateway, caplog) -> None:
    status, tokens = await _token(gateway, "triage-bot")
    assert status == 200 and tokens["token_type"] == "Bearer" and "refresh_token" not in tokens
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        with caplog.at_level(logging.INFO, logger="gateway.audit"):
            async with Client(streamable_http_client(f"{PUBLIC}/mcp", http_client=http), mode="auto") as client:
                result = await client.call_tool("get_process_status", {"process_id": "23972"})
    assert result.is_error is False and result.structured_content["process_id"] == "23972"
    audit = next(record for record in caplog.records if record.name == "gateway.audit")
    assert audit.caller == "client:triage-bot" and audit.client_id == "triage-bot"


async def test_the_secret_can_come_in_the_form_too(gateway) -> None:
    answer = await gateway.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "triage-bot", "client_secret": SECRET},
    )
    assert answer.status == 200


@pytest.mark.parametrize(("client_id", "secret"), [("triage-bot", "wrong"), ("nobody", SECRET), ("", "")])
async def test_a_wrong_secret_or_an_unknown_agent_is_invalid_client(gateway, client_id, secret) -> None:
    status, answer = await _token(gateway, client_id, secret)
    assert status == 401 and answer["error"] == "invalid_client"


async def test_an_agent_asks_only_for_its_scopes_and_this_gateway(gateway) -> None:
    status, answer = await _token(gateway, "triage-bot", scope="baw.read admin")
    assert status == 400 and answer["error"] == "invalid_scope"
    status, answer = await _token(gateway, "triage-bot", resource="https://elsewhere.example")
    assert status == 400 and answer["error"] == "invalid_target"


async def test_an_agent_has_its_own_rate_limit(gateway) -> None:
    _, slow = await _token(gateway, "nightly-report")
    _, other = await _token(gateway, "triage-bot")

    async def lookup(token: str) -> int:
        answer = await gateway.get("/baw/process-status?process_id=23972", headers={"Authorization": f"Bearer {token}"})
        return answer.status

    assert [await lookup(slow["access_token"]) for _ in range(4)] == [200, 200, 200, 429]
    assert [await lookup(other["access_token"]) for _ in range(4)] == [200] * 4  # the gateway's default limit


async def test_the_metadata_advertises_client_credentials(gateway) -> None:
    metadata = await (await gateway.get("/.well-known/oauth-authorization-server")).json()
    assert "client_credentials" in metadata["grant_types_supported"]
    assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]


# ------------------------------------------------------------------ tools per caller


async def _tools(token: str, mode: str) -> tuple[set[str], object]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(f"{PUBLIC}/mcp", http_client=http), mode=mode) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            try:
                called = await client.call_tool("search_processes", {"app": "LOAN"})
            except Exception as exc:  # noqa: BLE001 - the refusal is what is looked at
                called = exc
    return listed, called


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_caller_sees_only_the_tools_its_scopes_reach(gateway, mode) -> None:
    """Issue 28: tools a caller may not use were listed and merely refused on call; a model plans with what it
    sees. Without baw.search, search_processes and process_status_overview are absent, and unknown when called."""
    _, narrow = await _token(gateway, "triage-bot")
    listed, called = await _tools(narrow["access_token"], mode)
    assert "get_process_status" in listed and not {"search_processes", "process_status_overview"} & listed
    assert "unknown tool: search_processes" in str(called)  # as for a name that does not exist
    _, wide = await _token(gateway, "searcher")
    listed, called = await _tools(wide["access_token"], mode)
    assert {"search_processes", "process_status_overview"} <= listed
    assert called.is_error is False


async def test_a_hidden_tool_is_404_on_the_rest_face_and_the_documents_name_the_scopes(gateway) -> None:
    _, narrow = await _token(gateway, "triage-bot")
    _, wide = await _token(gateway, "searcher")
    for token, status in ((narrow, 404), (wide, 200)):
        answer = await gateway.get(
            "/baw/processes?app=LOAN", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert answer.status == status
    resource = await (await gateway.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert resource["scopes_supported"] == ["baw.read", "baw.search"]
    document = await (await gateway.get("/openapi.json")).json()
    search = document["paths"]["/baw/processes"]["get"]["security"]
    assert {"oauth": ["baw.read", "baw.search"]} in search


def test_a_tool_scope_naming_no_tool_stops_the_start(gateway_env) -> None:
    with pytest.raises(ConfigError, match="do not exist: serch_processes"):
        create_app(load_settings({**gateway_env, "GATEWAY_OAUTH_TOOL_SCOPES": "baw.search=serch_processes"}))
