"""Typed keys for what the application holds that belongs to no module of ours: clocks, the background tasks, the
BAW session, the documents built at start, and the request's id and address. create_app() is the only writer.

A leaf: every other key is declared beside the type of its value (SETTINGS in config, PROCESS_SERVICE in service,
FACADE in oauth.facade …), so no key names a type from a layer above its own.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import aiohttp
from aiohttp import web

# Tasks that must run for the app's lifetime (credential renewal): /livez fails when one has died.
BACKGROUND_TASKS: web.AppKey[dict[str, asyncio.Task[None]]] = web.AppKey("background_tasks")
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")  # monotonic seconds
WALL_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("wall_clock")  # Unix time, for token expiry
BAW_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("baw_session")
OPENAPI_DOCUMENT: web.AppKey[bytes] = web.AppKey("openapi_document")
PLUGIN_MANIFEST: web.AppKey[bytes] = web.AppKey("plugin_manifest")

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
CLIENT_ADDRESS: web.RequestKey[str] = web.RequestKey("client_address")  # through trusted proxies only
