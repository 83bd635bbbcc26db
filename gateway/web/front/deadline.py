"""Deadlines for the inbound phases aiohttp leaves open: every body, and the whole lookup.

(Headers: the server's keep-alive timer closes a connection that has not completed a request; gateway/server.py.)
A body has GATEWAY_BODY_TIMEOUT_S to arrive (a slow drip of bytes no longer holds a connection and a handler for ever);
a lookup has GATEWAY_REQUEST_TIMEOUT_S from its first byte to its answer, retries included, which also bounds what
a drain has to wait for.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.config import SETTINGS
from gateway.deadlines import REQUEST_DEADLINES
from gateway.errors import BawTimeout, RequestTimeout
from gateway.lifecycle import LIFECYCLE
from gateway.web.front import Handler
from gateway.web.front.access import is_protected


@web.middleware
async def deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    lifecycle = request.app[LIFECYCLE]
    lifecycle.begin()
    try:
        settings = request.app[SETTINGS]
        # A body that arrived whole with the headers (the usual MCP call) has nothing to wait for: the handler
        # reads it. One still arriving is read here, under its own deadline, whatever the route (the sign-in's
        # /oauth/token, /oauth/register and /oauth/consent were held open by slow bodies past a minute).
        if request.body_exists and not request.content.is_eof():
            try:
                async with asyncio.timeout(settings.body_timeout_s):
                    await request.read()  # kept by aiohttp: the handler's read() or post() uses it
            except TimeoutError:
                message = f"The request body did not arrive within {settings.body_timeout_s:g} s."
                raise RequestTimeout(message) from None
        if not is_protected(request.path):
            return await handler(request)
        try:
            with request.app[REQUEST_DEADLINES].within():
                return await handler(request)
        except TimeoutError:
            timeout_s = settings.request_timeout_s
            raise BawTimeout(
                f"The gateway stopped waiting for BAW after {timeout_s:g} s. Try again later or ask for less."
            ) from None
    finally:
        lifecycle.end()
