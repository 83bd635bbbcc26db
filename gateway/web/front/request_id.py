"""Every request's id: the first middleware, so every log line about the request and every answer carries it."""

from __future__ import annotations

import random
import re

from aiohttp import web

from gateway.context import bound, request_id_var
from gateway.keys import REQUEST_ID
from gateway.web.front import Handler

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep a sane incoming X-Request-ID (a proxy's or the host's), else make one (web/front/stamp.py echoes it)."""
    incoming = request.headers.get("X-Request-ID", "")
    # 128 random bits as hex: unique enough to correlate logs, without uuid4's object and syscall per request.
    request_id = incoming if _SANE_REQUEST_ID.match(incoming) else f"{random.getrandbits(128):032x}"
    request[REQUEST_ID] = request_id
    with bound(request_id_var, request_id):
        return await handler(request)
