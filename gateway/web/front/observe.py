"""Metrics and the access log: one middleware, measuring what the host finally received."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from gateway import tracing
from gateway.logs import log_fields
from gateway.metrics import METRICS, RequestTally, current_tally
from gateway.web.front import Handler

access_log = logging.getLogger("gateway.access")

# Probes and scrapes come every few seconds: counted, but logged only at DEBUG.
QUIET_ROUTES = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})


def route_label(request: web.Request) -> str:
    """The route template (`/baw/process-status`), never the raw path: ids must not explode label cardinality."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not tracing.active():
        return await _observed(request, handler, route_label(request))
    # A server span per request, continuing the caller's W3C trace; the access line is logged inside it. Without
    # a `traceparent` there is nothing to continue, and the propagators' extraction is skipped.
    route = route_label(request)
    with tracing.span(
        f"{request.method} {route}",
        kind="server",
        carrier=request.headers if "traceparent" in request.headers else None,
        attributes={"http.request.method": request.method, "http.route": route},
    ):
        return await _observed(request, handler, route)


async def _observed(request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
    tally = RequestTally(surface="mcp" if request.path.startswith("/mcp") else "rest")
    token = current_tally.set(tally)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        tracing.annotate("http.response.status_code", status)
        current_tally.reset(token)
        elapsed = time.perf_counter() - started
        request.app[METRICS].http_request(route, request.method, status, elapsed)
        log_fields(
            access_log,
            logging.DEBUG if route in QUIET_ROUTES else logging.INFO,
            {
                "route": route,
                "method": request.method,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "cache": tally.cache,
                "baw_calls": tally.baw_calls,
            },
            "%s %s %d %.1f ms",
            request.method,
            request.path,
            status,
            elapsed * 1000,
        )
