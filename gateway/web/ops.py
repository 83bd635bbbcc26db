"""Operational endpoints: liveness, readiness, metrics. Cheap: no BAW call per probe or scrape."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.baw.credentials import CREDENTIALS
from gateway.keys import BACKGROUND_TASKS
from gateway.lifecycle import LIFECYCLE
from gateway.metrics import CONTENT_TYPE, METRICS


async def livez(request: web.Request) -> web.Response:
    """200 while the event loop serves and every background task (credential renewal) is alive; a dead one
    would leave the process serving 503s until shutdown, so liveness fails and Kubernetes restarts it. No
    dependency is checked: a BAW outage must not restart us."""
    tasks = {name: {"ok": not task.done()} for name, task in request.app[BACKGROUND_TASKS].items()}
    checks = {"event_loop": {"ok": True}, **tasks}
    live = all(check["ok"] for check in checks.values())
    return web.json_response({"status": "ok" if live else "failing", "checks": checks}, status=200 if live else 503)


async def readyz(request: web.Request) -> web.Response:
    """200 once a BAW credential was obtained since start, until the process drains.

    A credential that lapses later (the token endpoint is down) does not make the replica unready: every replica
    would turn unready at once and hosts would meet the ingress's bare 503 instead of the gateway's JSON 503
    that says what is wrong. Until the first credential, a new replica takes no traffic (a rollout with a
    broken secret stalls instead of replacing working replicas)."""
    credentials = request.app[CREDENTIALS]
    expires_at = credentials.expires_at
    draining = request.app[LIFECYCLE].draining
    checks = {
        "credential": {
            "ok": credentials.established,
            "usable_now": credentials.ready,
            "expires_at": datetime.fromtimestamp(expires_at, UTC).isoformat() if expires_at else None,
        },
        "draining": {"ok": not draining, "draining": draining},
    }
    ready = all(check["ok"] for check in checks.values())
    request.app[METRICS].ready.set(1 if ready else 0)
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
