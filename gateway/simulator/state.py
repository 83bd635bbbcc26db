"""The simulator's configuration, switchable faults and state (tokens issued, calls counted)."""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.simulator.seed import seed_instances


@dataclass
class SimulatorConfig:
    client_id: str = "baw-gateway"
    client_secret: str = "simulator-client-secret"
    username: str = "svc-gateway"
    password: str = "simulator-password"
    api_key: str = "simulator-api-key"
    token_lifetime_s: float = 300.0
    prefix: str = "/bas"  # CP4BA-style path prefix: proves the gateway treats the base URL as opaque
    programmers_details: bool = True  # what a server with tracing enabled sends; the gateway must drop it


@dataclass
class Faults:
    """Switchable faults, for fault-injection tests and demos (`POST /_simulator/faults` sets them)."""

    delay_s: float = 0.0  # every process lookup answers this much later
    error_burst: int = 0  # the next N lookups answer `error_status` ...
    error_status: int = 503
    resets: int = 0  # the next N lookups drop the connection without an answer
    token_down: bool = False  # token endpoints answer 503
    body: str | None = None  # "malformed" (not JSON), "html" (wrong content type), "oversized", "wrong_shape"
    # Faults of single instances, by id: "malformed", "500" (CWTBG0019E), "502", "503" or "slow" (`slow_s` late)
    broken: dict[str, str] = field(default_factory=dict)
    slow_s: float = 30.0


@dataclass
class SimulatorState:
    config: SimulatorConfig
    faults: Faults = field(default_factory=Faults)
    instances: dict[str, dict[str, Any]] = field(default_factory=seed_instances)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.monotonic)
    calls: dict[str, int] = field(default_factory=lambda: {"token": 0, "iam": 0, "zen": 0, "process": 0})
    issued_tokens: deque[str] = field(default_factory=lambda: deque(maxlen=1000))  # for hygiene tests
    token_users: dict[str, str] = field(default_factory=dict)  # tokens issued for a signed-in user, not the service
    traceparents: deque[str] = field(default_factory=lambda: deque(maxlen=100))  # what BAW received, for tests

    def issue(self, lifetime: float, user: str | None = None) -> str:
        token = secrets.token_urlsafe(24)
        self.issued_tokens.append(token)
        self.tokens[token] = time.monotonic() + lifetime
        if user is not None:
            self.token_users[token] = user
        now = time.monotonic()
        for stale in [t for t, expiry in self.tokens.items() if expiry < now]:
            del self.tokens[stale]
        return token


SIMULATOR = web.AppKey("simulator_state", SimulatorState)
BAW_USER = web.RequestKey("baw_user", str)  # who BAW serves this request as


# Who may read what, as BAW's team and instance security would decide: the service account everything but the
# instances listed in FORBIDDEN, `admin` everything, alice the loans, bob the HR cases, anyone else nothing.
USER_APPS = {"alice": {"LOAN"}, "bob": {"HR"}}


def may_read(user: str, instance: dict[str, Any], config: SimulatorConfig, forbidden: set[str]) -> bool:
    if user == "admin":
        return True
    if user == config.username:
        return instance["piid"] not in forbidden
    return instance["processAppAcronym"] in USER_APPS.get(user, set())
