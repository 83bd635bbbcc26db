"""Typed keys for everything the application holds; create_app() is the only writer."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from gateway.baw.credentials import CredentialProvider
from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.service import ProcessService
from gateway.web.access import ApiKeys, RateLimiter


@dataclass
class Lifecycle:
    """Set by the server loop on SIGTERM; /readyz turns 503 while draining."""

    draining: bool = False


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
BAW_SESSION = web.AppKey("baw_session", aiohttp.ClientSession)
CREDENTIALS = web.AppKey("credentials", CredentialProvider)
PROCESS_SERVICE = web.AppKey("process_service", ProcessService)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
PLUGIN_MANIFEST = web.AppKey("plugin_manifest", bytes)

API_KEYS = web.AppKey("api_keys", ApiKeys)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)

REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", str)  # "key:<fingerprint>" or "ip:<address>": who rate limits count against
