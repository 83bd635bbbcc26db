"""Headers every answer carries, added when the answer is prepared (aiohttp's on_response_prepare signal).

A middleware that sets headers after `await handler()` is too late for a streamed answer (an MCP SSE stream is
sent while the handler runs); the prepare signal sees every answer just before its headers go out, as
aiohttp-cors does it.
"""

from __future__ import annotations

from aiohttp import web

from gateway.keys import REQUEST_ID
from gateway.lifecycle import LIFECYCLE
from gateway.web.front.cors import EXPOSED_HEADERS, MANIFEST, allowed_origin


async def stamp_response(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers["X-Request-ID"] = request_id
    origin = allowed_origin(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.path == MANIFEST:
            response.headers["Access-Control-Allow-Private-Network"] = "true"
    if "Origin" not in response.headers.getall("Vary", ()):
        response.headers.add("Vary", "Origin")
    if request.app[LIFECYCLE].draining:
        # Clients move to another replica now rather than find their kept-alive connection reset later.
        response.force_close()
        response.headers["Connection"] = "close"
