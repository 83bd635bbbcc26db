"""Every BAW_AUTH mode against the simulator's real endpoints, over TLS."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from gateway.config import load_settings
from tests.conftest import API_KEY, PASSWORD


@pytest.mark.parametrize("mode", ["zen", "zen_api_key", "basic"])
async def test_each_mode_reaches_baw(aiohttp_client, gateway_env, simulator, mode: str) -> None:
    env = {key: value for key, value in gateway_env.items() if not key.startswith("BAW_CLIENT")}
    env.update({"BAW_AUTH": mode, "BAW_USERNAME": simulator.config.username})
    if mode == "zen":
        env.update(
            {
                "BAW_IAM_URL": f"{simulator.root}/idprovider/v1/auth/identitytoken",
                "BAW_ZEN_URL": simulator.root,
                "BAW_PASSWORD": PASSWORD,
            }
        )
    elif mode == "zen_api_key":
        env["BAW_API_KEY"] = API_KEY
    else:
        env["BAW_PASSWORD"] = PASSWORD
    client = await aiohttp_client(create_app(load_settings(env)))
    response = await client.get("/baw/process-status?process_id=1500")
    assert response.status == 200
    assert (await response.json())["status"] == "completed"
    assert simulator.state.calls["token"] == 0
    if mode == "zen":
        assert (simulator.state.calls["iam"], simulator.state.calls["zen"]) == (1, 1)


async def test_wrong_client_secret_gives_503_advice_and_the_log_names_the_problem(
    aiohttp_client, gateway_env, simulator, caplog
) -> None:
    """Callers get advice; the operator's log line with the same request id says what exactly is wrong."""
    env = {key: value for key, value in gateway_env.items() if key != "BAW_CLIENT_SECRET_FILE"}
    client = await aiohttp_client(create_app(load_settings({**env, "BAW_CLIENT_SECRET": "wrong"})))
    response = await client.get("/baw/process-status?process_id=1500")
    assert response.status == 503
    error = (await response.json())["error"]
    assert "did not accept the gateway's credentials" in error["message"] and "request id" in error["message"]
    for internal in ("https://", "BAW_", "/oauth2", "invalid_client"):
        assert internal not in error["message"]
    logged = [r.getMessage() for r in caplog.records if getattr(r, "request_id", None) == error["request_id"]]
    assert any("HTTP 401 (invalid_client)" in line and "BAW_CLIENT_SECRET" in line for line in logged), logged
