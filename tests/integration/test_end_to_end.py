"""The whole path over real sockets and real TLS: host → gateway → (OAuth2 token, CA bundle) → simulated BAW."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trustme

from gateway.app import create_app
from gateway.config import load_settings
from tests.conftest import CLIENT_SECRET

EXPECTED_STATUS = {
    "23972": "active",
    "2001": "active",
    "881": "failed",
    "1500": "completed",
    "1600": "suspended",
    "1700": "terminated",
    "1800": "did_not_start",
}


@pytest.mark.parametrize(("piid", "status"), EXPECTED_STATUS.items())
async def test_every_seeded_instance_is_answered_with_its_normalised_status(gateway, piid, status) -> None:
    response = await gateway.get("/baw/process-status", params={"process_id": piid})
    assert response.status == 200
    body = await response.json()
    assert body["process_id"] == piid
    assert body["status"] == status
    assert body["summary"].startswith(body["name"])


async def test_the_answer_carries_open_tasks_only_and_no_task_variables(gateway, simulator) -> None:
    body = await (await gateway.get("/baw/process-status?process_id=2072.23972")).json()
    assert [task["task_id"] for task in body["open_tasks"]] == ["189489"]  # the Closed one is left out
    assert body["open_tasks"][0] | {"due_at": None} == {
        "task_id": "189489",
        "name": "Review credit report",
        "status": "Received",
        "assigned_to": "jsmith",
        "assigned_to_type": "user",
        "due_at": None,
        "at_risk": True,
    }
    assert "applicantSsn" not in str(body) and "diagram" not in str(body)
    assert body["process_app"] == "LOAN" and body["process_name"] == "Loan Application"


async def test_a_failed_instance_says_why(gateway) -> None:
    body = await (await gateway.get("/baw/process-status?process_id=881")).json()
    assert body["error_message"] == "Posting to ERP failed: supplier 4711 is blocked for payment in the ERP system."
    assert "supplier 4711 is blocked" in body["summary"]


@pytest.mark.parametrize(
    ("piid", "status", "code"),
    [("999999", 404, "not_found"), ("99999999999", 404, "not_found"), ("4242", 403, "baw_forbidden")],
)
async def test_baw_errors_reach_the_host_as_the_documented_envelope(gateway, piid, status, code) -> None:
    response = await gateway.get(f"/baw/process-status?process_id={piid}")
    assert response.status == status
    body = await response.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    assert "programmersDetails" not in str(body) and "BPDInstanceDAO" not in str(body)


async def test_a_revoked_token_is_renewed_once_and_the_lookup_still_answers(gateway, simulator) -> None:
    assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
    token_calls = simulator.state.calls["token"]
    simulator.state.tokens.clear()  # BAW forgets every token: the next call gets a bare 401
    assert (await gateway.get("/baw/process-status?process_id=2001")).status == 200
    assert simulator.state.calls["token"] == token_calls + 1


async def test_a_wrong_ca_bundle_gives_503_and_never_data(aiohttp_client, gateway_env, tmp_path: Path) -> None:
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    client = await aiohttp_client(create_app(load_settings({**gateway_env, "BAW_CA_BUNDLE": str(stranger)})))
    response = await client.get("/baw/process-status?process_id=23972")
    assert response.status == 503
    body = await response.json()
    assert body["error"]["code"] == "baw_unavailable"
    assert "cannot verify the TLS certificate" in body["error"]["message"]
    assert "BAW_CA_BUNDLE" not in body["error"]["message"] and "https://" not in body["error"]["message"]
    assert response.headers["Retry-After"]
    assert "Loan" not in await response.text()


async def test_no_secret_or_token_reaches_logs_or_answers(gateway, simulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    answers = []
    for piid in ("23972", "881", "4242", "999999", "abc"):
        answers.append(await (await gateway.get(f"/baw/process-status?process_id={piid}")).text())
    simulator.state.tokens.clear()
    answers.append(await (await gateway.get("/baw/process-status?process_id=23972")).text())
    answers.append(await (await gateway.get("/.well-known/ai-plugin.json")).text())
    issued = list(simulator.state.issued_tokens)
    assert issued
    seen = caplog.text + "".join(answers)
    for secret in [CLIENT_SECRET, *issued]:
        assert secret not in seen
