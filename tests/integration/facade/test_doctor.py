"""`baw-gateway doctor` (issue 27): the checks a host makes, replayed against a deployment; passes on a healthy
façade set-up and names the right fix for each broken one the tests make."""

from __future__ import annotations

import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from aiohttp import web

from gateway.app import create_app
from gateway.config import load_settings
from gateway.doctor import Doctor
from gateway.simulator.idp import IDP
from tests.integration.facade.signin import PUBLIC

KEY = "doctor-key-0123456789"


@pytest.fixture
def gateway_env(gateway_env):
    return {**gateway_env, "GATEWAY_API_KEYS": KEY}


def _by_name(checks) -> dict:
    return {check.name: check for check in checks}


async def test_a_healthy_facade_set_up_passes_every_check(gateway) -> None:
    checks = await Doctor(f"{PUBLIC}/mcp", credential=KEY, trust=ssl.create_default_context()).run()
    failed = [check.line() for check in checks if check.ok is False]
    assert not failed, failed
    names = _by_name(checks)
    for name in (
        "protected-resource metadata",
        "client registration",
        "pkce",
        "ping (2025-06-18)",
        "ping (2026-07-28)",
    ):
        assert names[name].ok is True, names[name].line()
    assert names["annotations"].ok and names["tool count (Gemini Enterprise)"].ok
    assert names["tls"].ok is None  # a local http URL: the demo's case


async def test_without_a_credential_the_front_door_is_named(gateway) -> None:
    checks = _by_name(await Doctor(f"{PUBLIC}/mcp", credential=None, trust=ssl.create_default_context()).run())
    assert checks["mcp"].ok is None and "--api-key" in checks["mcp"].fix


async def test_a_wrong_public_url_is_named_with_its_setting(aiohttp_client, gateway_env) -> None:
    env = {**gateway_env, "GATEWAY_PUBLIC_URL": "https://gateway.example.com"}
    wrong = await aiohttp_client(create_app(load_settings(env)))
    checks = await Doctor(
        f"http://127.0.0.1:{wrong.port}/mcp", credential=KEY, trust=ssl.create_default_context()
    ).run()
    check = _by_name(checks)["protected-resource metadata"]
    assert check.ok is False and "GATEWAY_PUBLIC_URL" in check.fix


async def test_an_untrusted_certificate_and_a_port_other_than_443(aiohttp_server, gateway_env, simulator_tls) -> None:
    server = await aiohttp_server(create_app(load_settings(gateway_env)), ssl=simulator_tls.server_context)
    url = f"https://localhost:{server.port}/mcp"
    checks = _by_name(await Doctor(url, credential=KEY, trust=ssl.create_default_context()).run())
    assert checks["tls"].ok is False and "public roots" in checks["tls"].fix
    trusted = ssl.create_default_context(cafile=str(simulator_tls.ca_bundle))
    checks = _by_name(await Doctor(url, credential=KEY, trust=trusted).run())
    assert checks["tls"].ok is True and checks["port"].ok is False and "443" in checks["port"].fix


async def test_an_issuer_without_cimd_or_dcr_is_named(aiohttp_client, gateway_env, simulator) -> None:
    simulator.server.app[IDP].dynamic_registration = False
    env = {k: v for k, v in gateway_env.items() if not k.startswith("GATEWAY_OAUTH_PROXY")}
    env = {**env, "GATEWAY_OAUTH_ISSUER": simulator.root}
    client = await aiohttp_client(create_app(load_settings(env)))
    trust = ssl.create_default_context(cafile=env["GATEWAY_OAUTH_CA_BUNDLE"])  # the issuer is the simulator's
    checks = _by_name(await Doctor(f"http://127.0.0.1:{client.port}/mcp", credential=KEY, trust=trust).run())
    assert checks["client registration"].ok is False and "façade" in checks["client registration"].fix


def _fake_mcp(tools: list[dict]) -> web.Application:
    """An MCP server that answers what the doctor asks, with the tool list a test wants."""

    async def mcp(request: web.Request) -> web.Response:
        message = await request.json()
        result = {"tools": tools} if message["method"] == "tools/list" else {}
        if message["method"] == "initialize":
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "f"}}
        return web.json_response({"jsonrpc": "2.0", "id": message["id"], "result": result})

    app = web.Application()
    app.router.add_post("/mcp", mcp)
    return app


async def test_a_missing_annotation_and_a_tool_list_over_a_cap(aiohttp_server) -> None:
    hints = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}
    tools = [
        {"name": f"t{n}", "inputSchema": {"type": "object", "required": ["x"]}, "annotations": hints}
        for n in range(110)
    ]
    tools.append(
        {"name": "sloppy", "inputSchema": {"type": "object", "required": ["x"]}, "annotations": {"readOnlyHint": True}}
    )
    server = await aiohttp_server(_fake_mcp(tools))
    checks = _by_name(
        await Doctor(f"http://127.0.0.1:{server.port}/mcp", credential=None, trust=ssl.create_default_context()).run()
    )
    assert checks["annotations"].ok is False and "sloppy" in checks["annotations"].detail
    assert checks["tool count (Gemini Enterprise)"].ok is False and checks["tool count (VS Code)"].ok is True


def test_the_command_exits_non_zero_on_a_failure_and_speaks_json(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "doctor", "http://example.invalid/mcp", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and '"ok": false' in done.stdout and "https" in done.stdout


async def test_a_certificate_expiring_within_two_weeks_is_named(aiohttp_server) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", not_after=datetime.now(UTC) + timedelta(days=5))
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(served)
    server = await aiohttp_server(_fake_mcp([]), ssl=served)
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    checks = _by_name(await Doctor(f"https://localhost:{server.port}/mcp", credential=None, trust=trust).run())
    assert checks["tls"].ok is False and "expires in" in checks["tls"].detail and "renew" in checks["tls"].fix
