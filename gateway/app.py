"""create_app(settings): the one place where the gateway is wired."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from gateway.baw.client import BAW_HEADERS, BawClient
from gateway.baw.credentials import credential_provider
from gateway.baw.tls import client_ssl_context
from gateway.config import Settings
from gateway.keys import (
    BAW_SESSION,
    CREDENTIALS,
    LIFECYCLE,
    METRICS,
    OPENAPI_DOCUMENT,
    PLUGIN_MANIFEST,
    PROCESS_SERVICE,
    SETTINGS,
    Lifecycle,
)
from gateway.metrics import Metrics
from gateway.service import ProcessService
from gateway.web import ops, plugin
from gateway.web.errors import error_middleware, request_id_middleware
from gateway.web.observe import observe_middleware
from gateway.web.openapi import build_openapi
from gateway.web.process import get_process_status


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_id_middleware, observe_middleware, error_middleware])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[LIFECYCLE] = Lifecycle()
    app.cleanup_ctx.append(baw_session)
    app.cleanup_ctx.append(baw_credentials)
    app.on_startup.append(wire_services)

    add_routes(app)
    app[OPENAPI_DOCUMENT] = plugin.encode(build_openapi(app.router, settings))
    app[PLUGIN_MANIFEST] = plugin.encode(plugin.plugin_manifest(settings))
    return app


def add_routes(app: web.Application) -> None:
    app.router.add_get("/baw/process-status", get_process_status, allow_head=False)
    plugin.add_routes(app)
    ops.add_routes(app)


async def baw_session(app: web.Application) -> AsyncIterator[None]:
    """The one ClientSession towards BAW and its token endpoints, for the application's lifetime."""
    settings = app[SETTINGS]
    connector = aiohttp.TCPConnector(
        ssl=client_ssl_context(settings.baw_ca_bundle),
        limit=settings.baw_max_connections,
        limit_per_host=settings.baw_max_connections,
    )
    timeout = aiohttp.ClientTimeout(total=settings.baw_timeout_s, connect=min(5.0, settings.baw_timeout_s))
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=BAW_HEADERS, raise_for_status=False, trust_env=False
    ) as session:
        app[BAW_SESSION] = session
        yield


async def baw_credentials(app: web.Application) -> AsyncIterator[None]:
    """The credential provider and, for token modes, its renewal task (cancelled on shutdown)."""
    provider = credential_provider(app[SETTINGS], app[BAW_SESSION], on_renewal=app[METRICS].token_renewal)
    app[CREDENTIALS] = provider
    renewal = asyncio.create_task(provider.run(), name="baw-credential-renewal")
    yield
    renewal.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await renewal


async def wire_services(app: web.Application) -> None:
    settings = app[SETTINGS]
    client = BawClient(
        app[BAW_SESSION],
        settings.baw_base_url,
        app[CREDENTIALS],
        timeout_s=settings.baw_timeout_s,
        metrics=app[METRICS],
    )
    app[PROCESS_SERVICE] = ProcessService(client)
