"""Typed keys for everything the application holds; create_app() is the only writer.

A leaf module: the value types are imported for type checkers only, so any layer may import its keys
without importing the layers the values come from.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from gateway.baw.credentials import CredentialProvider
    from gateway.baw.users import UserCredentials
    from gateway.config import Settings
    from gateway.deadlines import Deadlines
    from gateway.metrics import Metrics
    from gateway.oauth.issuer import Issuer, Principal
    from gateway.service import ProcessService
    from gateway.shared.limits import Limiter
    from gateway.shared.link import SharedState
    from gateway.shared.sessions import SessionTable
    from gateway.tls import RotatingTrust
    from gateway.web.access import ApiKeys
    from gateway.web.facade import Facade


@dataclass
class Lifecycle:
    """Where the process is in its life: draining (set on SIGTERM; /readyz turns 503) and the requests in flight
    (counted by the outermost middleware, so the drain can wait for them)."""

    draining: bool = False
    in_flight: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def begin(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def end(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once no request is in flight, False if some still are after `timeout_s`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Tasks that must run for the app's lifetime (credential renewal): /livez fails when one has died.
BACKGROUND_TASKS: web.AppKey[dict[str, asyncio.Task[None]]] = web.AppKey("background_tasks")
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")  # monotonic seconds
WALL_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("wall_clock")  # Unix time, for token expiry
LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle")
REQUEST_DEADLINES: web.AppKey[Deadlines] = web.AppKey("request_deadlines")  # GATEWAY_REQUEST_TIMEOUT_S
BAW_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("baw_session")
BAW_TRUST: web.AppKey[RotatingTrust] = web.AppKey("baw_trust")  # the CA bundle, re-read when it changes
CREDENTIALS: web.AppKey[CredentialProvider] = web.AppKey("credentials")
USER_CREDENTIALS: web.AppKey[UserCredentials] = web.AppKey("user_credentials")  # GATEWAY_BAW_IDENTITY=user
PROCESS_SERVICE: web.AppKey[ProcessService] = web.AppKey("process_service")
OPENAPI_DOCUMENT: web.AppKey[bytes] = web.AppKey("openapi_document")
PLUGIN_MANIFEST: web.AppKey[bytes] = web.AppKey("plugin_manifest")

MCP_SESSIONS: web.AppKey[SessionTable] = web.AppKey("mcp_sessions")
SHARED_STATE: web.AppKey[SharedState] = web.AppKey("shared_state")  # cluster mode only (GATEWAY_REDIS_URL)
OAUTH_ISSUER: web.AppKey[Issuer] = web.AppKey("oauth_issuer")  # only with GATEWAY_OAUTH_ISSUER
FACADE: web.AppKey[Facade] = web.AppKey("oauth_facade")  # only with GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER
API_KEYS: web.AppKey[ApiKeys] = web.AppKey("api_keys")
RATE_LIMITER: web.AppKey[Limiter] = web.AppKey("rate_limiter")
AUTH_FAILURES: web.AppKey[Limiter] = web.AppKey("auth_failures")  # failed authentications per address
# The agents with a rate limit of their own (GATEWAY_OAUTH_AGENTS_FILE), by caller (`client:<id>`).
AGENT_LIMITS: web.AppKey[dict[str, Limiter]] = web.AppKey("agent_limits")

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")  # a signed-in user (OAuth)
CLIENT_ADDRESS: web.RequestKey[str] = web.RequestKey("client_address")  # through trusted proxies only
