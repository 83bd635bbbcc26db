"""Operational endpoints: liveness, readiness, metrics. Cheap: no BAW call per probe or scrape."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.keys import CREDENTIALS, LIFECYCLE, METRICS
from gateway.metrics import CONTENT_TYPE

LIVE = {"status": "ok", "checks": {"event_loop": {"ok": True}}}


async def livez(request: web.Request) -> web.Response:
    """200 while the event loop serves; no dependency is checked (a BAW outage must not restart us)."""
    return web.json_response(LIVE)


async def readyz(request: web.Request) -> web.Response:
    """200 only while a usable BAW credential is held and the process is not draining."""
    credentials = request.app[CREDENTIALS]
    expires_at = credentials.expires_at
    draining = request.app[LIFECYCLE].draining
    checks = {
        "credential": {
            "ok": credentials.ready,
            "expires_at": datetime.fromtimestamp(expires_at, UTC).isoformat() if expires_at else None,
        },
        "draining": {"ok": not draining, "draining": draining},
    }
    ready = all(check["ok"] for check in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/livez", livez, allow_head=False)
    app.router.add_get("/healthz", livez, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/metrics", metrics, allow_head=False)
