"""Operational endpoints: liveness for now (readiness, metrics come with operations work)."""

from __future__ import annotations

from aiohttp import web


async def livez(request: web.Request) -> web.Response:
    """200 while the event loop serves; no dependency is checked (a BAW outage must not restart us)."""
    return web.json_response({"status": "ok"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/livez", livez)
    app.router.add_get("/healthz", livez)
