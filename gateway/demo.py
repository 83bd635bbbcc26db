"""`baw-gateway demo` and `simulate`: the gateway against the embedded BAW simulator, in one process, with sample
lines that work as printed. Imported only by those commands (the simulator is an optional extra)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from gateway.config import EXIT_CONFIG, ConfigError, Settings, load_settings
from gateway.logs import configure_logging

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("gateway")


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def simulate(host: str, port: int, ca_dir: Path) -> None:
    from gateway.server import start  # noqa: PLC0415
    from gateway.simulator.server import create_simulator_app  # noqa: PLC0415 - optional extra
    from gateway.simulator.tls import generate_tls  # noqa: PLC0415

    configure_logging("INFO", "text")
    tls = generate_tls(ca_dir)
    runner, _ = await start(create_simulator_app(), host, port, ssl_context=tls.server_context)
    log.info("BAW simulator on https://%s:%d (CA bundle %s)", host, port, tls.ca_bundle)
    try:
        await _until_signalled()
    finally:
        await runner.cleanup()


DEMO_KEY = "demo-key-for-curl"


async def demo(simulator_port: int, replicas: int = 1, oauth: bool = False) -> None:
    from gateway.app import create_app  # noqa: PLC0415
    from gateway.server import serve, start  # noqa: PLC0415
    from gateway.simulator.idp import IdentityProvider  # noqa: PLC0415 - optional extra
    from gateway.simulator.seed import SAMPLES  # noqa: PLC0415
    from gateway.simulator.server import SimulatorConfig, create_simulator_app  # noqa: PLC0415
    from gateway.simulator.tls import generate_tls  # noqa: PLC0415

    sim = SimulatorConfig(token_lifetime_s=60)
    with tempfile.TemporaryDirectory(prefix="baw-gateway-demo-") as directory:
        tls = generate_tls(Path(directory))
        secret_file = Path(directory) / "client-secret"
        secret_file.write_text(sim.client_secret)
        env = {
            "BAW_BASE_URL": f"https://localhost:{simulator_port}{sim.prefix}",
            "BAW_AUTH": "oauth2",
            "BAW_CLIENT_ID": sim.client_id,
            "BAW_CLIENT_SECRET_FILE": str(secret_file),
            "BAW_CA_BUNDLE": str(tls.ca_bundle),
            "GATEWAY_LOG_FORMAT": "text",
            "GATEWAY_DRAIN_S": "0",  # nothing routes to a demo: Ctrl-C stops it at once
            **{k: v for k, v in os.environ.items() if k.startswith(("GATEWAY_", "PLUGIN_"))},
        }
        if oauth:  # /mcp and /baw need a signed-in user, and BAW answers each user as they may see it
            env |= {
                "GATEWAY_OAUTH_ISSUER": f"https://127.0.0.1:{simulator_port}",
                "GATEWAY_OAUTH_CA_BUNDLE": str(tls.ca_bundle),
                "GATEWAY_API_KEYS": DEMO_KEY,  # curl as the service account
                "GATEWAY_BAW_IDENTITY": "user",
                "GATEWAY_BAW_IDENTITY_KEYS": "service",
                "GATEWAY_BAW_TOKEN_EXCHANGE_URL": f"https://localhost:{simulator_port}{sim.prefix}/oauth2/token",
                "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_ID": sim.client_id,
                "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_SECRET": sim.client_secret,
            }
        try:
            settings = load_settings(env)
        except ConfigError as exc:
            print(f"baw-gateway: {exc}", file=sys.stderr)
            raise SystemExit(EXIT_CONFIG) from None
        configure_logging(settings.log_level, settings.log_format)
        provider = IdentityProvider(token_lifetime_s=3600)
        simulator, _ = await start(
            create_simulator_app(sim, provider), "127.0.0.1", simulator_port, ssl_context=tls.server_context
        )
        try:
            users = _demo_users(provider, settings, simulator_port) if oauth else {}
            ca = tls.ca_bundle if oauth else None
            printed = lambda: _print_demo(settings, SAMPLES, simulator_port, ca, users)  # noqa: E731
            if replicas > 1:
                await _cluster_demo(env, settings, replicas, Path(directory), printed)
            else:
                await serve(create_app(settings), settings, printed)
        finally:
            await simulator.cleanup()


async def _cluster_demo(
    env: Mapping[str, str], settings: Settings, replicas: int, directory: Path, started: Callable[[], None]
) -> None:
    """N gateways on loopback ports sharing a throw-away redis-server, a round-robin front on GATEWAY_PORT."""
    from gateway.app import create_app  # noqa: PLC0415
    from gateway.server import start  # noqa: PLC0415
    from gateway.simulator.cluster import RedisServer, redis_server_binary, round_robin_app  # noqa: PLC0415

    binary = redis_server_binary()
    if binary is None:
        print("baw-gateway: --replicas needs redis-server (Debian: apt-get install redis-server)", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    redis = RedisServer(binary, directory)
    redis.start()
    password = directory / "redis-password"
    password.write_text(redis.password)
    shared = {"GATEWAY_REDIS_URL": redis.url, "GATEWAY_REDIS_PASSWORD_FILE": str(password)}
    runners: list[web.AppRunner] = []
    try:
        backends = []
        for _ in range(replicas):
            replica = load_settings({**env, **shared})
            runner, site = await start(create_app(replica), "127.0.0.1", 0)
            runners.append(runner)
            backends.append(f"http://127.0.0.1:{site.port}")
        runners.append((await start(round_robin_app(backends), settings.host, settings.port))[0])
        log.info("%d gateways behind a round-robin front on port %d, sharing redis-server", replicas, settings.port)
        started()
        await _until_signalled()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        redis.kill()


_MCP_INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
    },
    separators=(",", ":"),
)


def _demo_users(provider: Any, settings: Settings, simulator_port: int) -> dict[str, str]:
    """Access tokens for alice and bob, as the simulator's IdP would issue them after a sign-in (an hour)."""
    issuer, audience = f"https://127.0.0.1:{simulator_port}", f"{settings.public_url}/mcp"
    return {user: provider.access_token(issuer, user, audience, "baw.read", "demo") for user in ("alice", "bob")}


def _print_demo(
    settings: Settings,
    samples: Mapping[str, str],
    simulator_port: int,
    oauth_ca: Path | None = None,
    users: Mapping[str, str] | None = None,
) -> None:
    base = str(settings.public_url)
    # The lines work as printed: with the key the gateway was given (the demo's own, or yours in GATEWAY_API_KEYS).
    keys = settings.api_keys.read().replace(",", "\n").split() if settings.api_keys is not None else []
    bearer = keys[0] if keys else None
    key = f"-H 'Authorization: Bearer {bearer}' " if bearer else ""
    lines = [
        "",
        f"baw-gateway demo: gateway {base}, BAW simulator https://localhost:{simulator_port}",
        "(OAuth2 client credentials renewed in the background; TLS verified against the simulator's own CA)",
        "",
        "Try:",
    ]
    for piid, what in samples.items():
        lines.append(f"  curl -s {key}'{base}/baw/process-status?process_id={piid}'   # {what}")
    lines += [
        f"  curl -s {key}'{base}/baw/process-status?process_id=999999'   # not found",
        f"  curl -s {key}'{base}/baw/process-status?process_id=abc'   # invalid id",
        f"  curl -s {key}'{base}/baw/process-tasks?process_id=23972&state=all'   # every task of an instance, paged",
        f"  curl -s {key}'{base}/baw/task?task_id=189489'   # one task (variables only with include_variables=true)",
        f"  curl -s {key}'{base}/baw/process-failure?process_id=881'   # why an instance failed",
        f"  curl -s {key}'{base}/baw/processes?status=active'   # search when the id is unknown",
        f"  curl -s {key}'{base}/baw/process-apps'   # the process apps and the acronyms search filters by",
        f"  curl -s {key}'{base}/baw/process-overview'   # counts per status",
        f"  curl -s -X POST {key}'{base}/mcp' -H 'Content-Type: application/json' "
        "-H 'Accept: application/json, text/event-stream' -d '" + _MCP_INITIALIZE + "'   # MCP handshake",
        f"  curl -s '{base}/.well-known/ai-plugin.json'",
        f"  curl -s '{base}/openapi.json'",
        f"  open {base}/docs in a browser (Swagger UI)",
        "",
    ]
    if users:
        lines += ["The same question as two users (BAW answers each as they may see it; alice has the loans, bob HR):"]
        for user, what in (("alice", "her loan application"), ("bob", "403: not his to see")):
            lines.append(
                f"  curl -s -H 'Authorization: Bearer {users[user]}' '{base}/baw/process-status?process_id=23972'"
                f"   # {user}: {what}"
            )
        lines.append("")
    if oauth_ca is not None:
        lines += [
            "Sign in with an MCP client (OAuth: discovery, registration, PKCE, against the simulator's IdP):",
            f"  NODE_EXTRA_CA_CERTS={oauth_ca} npx @modelcontextprotocol/inspector",
            f"  then connect to {base}/mcp (Streamable HTTP) and sign in as alice / alice-password (or bob).",
            "Check it the way hosts connect (discovery, registration, PKCE, ping, tools), as alice:",
            f"  .venv/bin/baw-gateway doctor {base}/mcp --ca-bundle {oauth_ca}"
            + (f" --token {users['alice']}" if users else ""),
            "",
        ]
    else:
        lines += ["Hosts signing users in with OAuth: .venv/bin/baw-gateway demo --oauth", ""]
    if bearer:
        lines += [
            "The MCP Inspector's command line, with the key (the Inspector needs Node 22.19 or later: on Node 20 npx",
            "resolves an older one, without --header):",
            f"  npx @modelcontextprotocol/inspector --cli {base}/mcp --transport http "
            f"--header 'Authorization: Bearer {bearer}' --method tools/list",
            "",
        ]
    lines += ["Stop with Ctrl-C.", ""]
    for handler in logging.getLogger().handlers:
        handler.flush()  # the log lines so far come first (they are written per loop turn)
    print("\n".join(lines), flush=True)
