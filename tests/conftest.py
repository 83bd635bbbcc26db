"""Shared fixtures: the embedded BAW simulator over real TLS, and the gateway pointed at it."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.config import load_settings
from gateway.simulator.server import SIMULATOR, SimulatorConfig, SimulatorState, create_simulator_app
from gateway.simulator.tls import SimulatorTls, generate_tls
from tests.cluster import redis_server as make_redis_server
from tests.ports import free_port

# Distinctive values, so a leak into a log line or an answer is unmistakable.
CLIENT_SECRET = "S3CRET-client-7f1c9a"
PASSWORD = "S3CRET-password-55d2e1"
API_KEY = "S3CRET-apikey-0b8e44"
# An inbound key of the gateway's (GATEWAY_API_KEYS), for the tests of protected gateways.
KEY = "gw-key-7c4e1f9a2b"


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()  # what the imports made stays put: the collection after each test scans only what tests made


@pytest.fixture(autouse=True)
def _collect_what_the_test_left() -> Iterator[None]:
    """A socket a test left open inside a reference cycle is reported (a ResourceWarning, an error here) by that
    test's teardown, not by whichever later test happens to set off a full collection."""
    yield
    gc.collect()


@dataclass
class Simulator:
    server: TestServer
    state: SimulatorState
    config: SimulatorConfig

    @property
    def root(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    @property
    def base_url(self) -> str:
        return self.root + self.config.prefix


@pytest.fixture(scope="session")
def simulator_tls(tmp_path_factory: pytest.TempPathFactory) -> SimulatorTls:
    return generate_tls(tmp_path_factory.mktemp("simulator-ca"))


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """Override in a test module (or parametrize indirectly) to change token lifetime and the like."""
    return SimulatorConfig(client_secret=CLIENT_SECRET, password=PASSWORD, api_key=API_KEY)


@pytest.fixture
async def simulator(aiohttp_server, simulator_tls: SimulatorTls, simulator_config: SimulatorConfig) -> Simulator:
    app = create_simulator_app(simulator_config)
    server = await aiohttp_server(app, ssl=simulator_tls.server_context)
    return Simulator(server=server, state=app[SIMULATOR], config=simulator_config)


@pytest.fixture
def redis_server(tmp_path: Path):
    """A real redis-server (with a password) for the cluster-mode tests."""
    server = make_redis_server(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def gateway_env(simulator: Simulator, simulator_tls: SimulatorTls, tmp_path: Path) -> dict[str, str]:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    return {
        "BAW_BASE_URL": simulator.base_url,
        "BAW_AUTH": "oauth2",
        "BAW_CLIENT_ID": simulator.config.client_id,
        "BAW_CLIENT_SECRET_FILE": str(secret_file),
        "BAW_CA_BUNDLE": str(simulator_tls.ca_bundle),
        "BAW_TIMEOUT_S": "5",
        "GATEWAY_PUBLIC_URL": "https://gateway.example.com",
        # Most tests drive many lookups from one address; the rate limit has tests of its own.
        "GATEWAY_RATE_LIMIT_RPS": "1000",
        "GATEWAY_RATE_LIMIT_BURST": "1000",
    }


@pytest.fixture
async def gateway(aiohttp_client, gateway_env: dict[str, str]) -> TestClient:
    """The gateway on a real loopback socket, talking TLS to the simulator."""
    return await aiohttp_client(create_app(load_settings(gateway_env)))


@pytest.fixture
async def protected(aiohttp_client, gateway_env: dict[str, str], tmp_path: Path) -> TestClient:
    """The gateway behind inbound bearer keys (KEY and a second one), with a plugin verification token."""
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY}\nsecond-key-0d9e\n")
    env = {**gateway_env, "GATEWAY_API_KEYS_FILE": str(keys), "PLUGIN_VERIFICATION_TOKEN": "openai-verif-123"}
    return await aiohttp_client(create_app(load_settings(env)))


@pytest.fixture
async def gateway_process(gateway_env: dict[str, str], tmp_path: Path):
    """Start the gateway process against the in-test simulator; yields (process, base URL, log path)."""
    processes = []

    async def start(**extra: str):
        port = free_port()
        env = {
            "PATH": os.environ["PATH"],
            **gateway_env,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_LOG_FORMAT": "text",
            **extra,
        }
        log = tmp_path / f"gateway-{port}.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "serve", env=env, stdout=sink, stderr=sink
            )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"{base}/readyz") as response:
                        if response.status == 200:
                            return process, base, log
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway did not become ready:\n{log.read_text()}")

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()
