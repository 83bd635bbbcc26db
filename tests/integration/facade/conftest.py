"""The façade's set-up for its tests: the simulator's IdP as the upstream that cannot register hosts, the gateway
on a fixed port (its public URL is the issuer), a clock moved by hand."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.app import create_app
from gateway.config import load_settings
from gateway.simulator.idp import IDP
from tests.clock import ManualClock
from tests.integration.facade.signin import PORT, PUBLIC


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
def wall() -> ManualClock:
    """Unix time, moved by hand (what the kept upstream tokens expire by)."""
    return ManualClock(time.time())


@pytest.fixture
async def gateway(aiohttp_client, gateway_env, clock, wall):
    app = create_app(load_settings(gateway_env), clock=clock, wall_clock=wall)
    return await aiohttp_client(app, server_kwargs={"port": PORT})


@pytest.fixture
def cluster_env(gateway_env, redis_server, tmp_path, signing_key):
    """The façade in cluster mode: a real redis-server and the signing key every replica shares."""
    password = tmp_path / "redis-password"
    password.write_text(redis_server.password)
    return {
        **gateway_env,
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_REDIS_PASSWORD_FILE": str(password),
        "GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE": signing_key,
    }


@pytest.fixture
def signing_key(tmp_path):
    """The façade's key, as every replica of a cluster shares it (GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "signing-key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(path)
