"""Typed keys for everything the application holds; create_app() is the only writer.

A leaf module: the value types are imported for type checkers only, so any layer may import its keys
without importing the layers the values come from.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from gateway.baw.credentials import CredentialProvider
    from gateway.config import Settings
    from gateway.metrics import Metrics
    from gateway.service import ProcessService
    from gateway.web.access import ApiKeys, RateLimiter


@dataclass
class Lifecycle:
    """Set by the server loop on SIGTERM; /readyz turns 503 while draining."""

    draining: bool = False


SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Tasks that must run for the app's lifetime (credential renewal): /livez fails when one has died.
BACKGROUND_TASKS: web.AppKey[dict[str, asyncio.Task[None]]] = web.AppKey("background_tasks")
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")  # monotonic seconds
LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle")
BAW_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("baw_session")
CREDENTIALS: web.AppKey[CredentialProvider] = web.AppKey("credentials")
PROCESS_SERVICE: web.AppKey[ProcessService] = web.AppKey("process_service")
OPENAPI_DOCUMENT: web.AppKey[bytes] = web.AppKey("openapi_document")
PLUGIN_MANIFEST: web.AppKey[bytes] = web.AppKey("plugin_manifest")

API_KEYS: web.AppKey[ApiKeys] = web.AppKey("api_keys")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
AUTH_FAILURES: web.AppKey[RateLimiter] = web.AppKey("auth_failures")  # failed authentications per address

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
CALLER: web.RequestKey[str] = web.RequestKey("caller")  # "key:<fingerprint>" or "ip:<address>"
CLIENT_ADDRESS: web.RequestKey[str] = web.RequestKey("client_address")  # through trusted proxies only
