"""Running an application on a socket for months: inbound deadlines, a connection cap, and a bounded drain.

- Idle and half-sent connections are closed after GATEWAY_KEEPALIVE_TIMEOUT_S (aiohttp arms that timer when a
  connection opens, so a client that never completes its headers is closed too); bodies and whole requests have
  their own deadlines (web/front/deadline.py).
- At GATEWAY_MAX_CONNECTIONS a new connection takes the place of the oldest idle one (kept alive, or never used);
  when none is idle it gets a canned JSON 503 and is closed at once: load is shed with a clean refusal long
  before the process meets its open-file limit (where accept() fails and logs storms).
- SIGTERM: readiness turns 503 at once, answers carry `Connection: close`, requests are still served for
  GATEWAY_DRAIN_S; then the listener closes and in-flight requests get GATEWAY_SHUTDOWN_TIMEOUT_S; whatever is
  left is cancelled within CANCEL_GRACE_S. The whole is bounded by drain + shutdown + 2 × grace, which the
  manifests' terminationGracePeriodSeconds must exceed (tests/deploy checks it). A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import resource
import signal
import ssl
from typing import Callable, Iterable

from aiohttp import web

from gateway.config import Settings
from gateway.lifecycle import LIFECYCLE
from gateway.metrics import METRICS
from gateway.workers import WORKER_INDEX

log = logging.getLogger("gateway")

CANCEL_GRACE_S = 1.0
# Descriptors kept free beyond inbound connections: BAW's pool, token endpoints, log and secret files.
_RESERVED_FILES = 128

_REFUSAL_BODY = json.dumps(
    {
        "error": {
            "code": "overloaded",
            "message": "The gateway has too many open connections; retry in a moment.",
            "request_id": None,
        }
    }
).encode()
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY
)


class _Refusal(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(REFUSAL)  # type: ignore[attr-defined]
        transport.close()


class CappedSite(web.BaseSite):
    """A site on a listener bound before the application started, refusing connections beyond
    `max_connections` with a canned 503."""

    def __init__(
        self,
        runner: web.BaseRunner,
        listener: asyncio.Server,
        *,
        max_connections: int,
        on_refused: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(runner)
        self._server = listener
        self._max_connections = max_connections
        self._on_refused = on_refused  # (the gateway counts them: a refusal never reaches the app's metrics)

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def name(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def protocol(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None  # (the listener serves only once the site has started)
        if len(server.connections) >= self._max_connections and not _close_an_idle_one(server.connections):
            if self._on_refused is not None:
                self._on_refused()
            return _Refusal()
        return server()

    async def start(self) -> None:
        await super().start()
        await self._server.start_serving()


def _close_an_idle_one(connections: Iterable[asyncio.Protocol]) -> bool:
    """At the cap, the oldest connection waiting for a request (kept alive after one, or opened and never used)
    makes room for the new one: idle sockets held the cap, and /livez answered 503 for a minute. aiohttp has no
    public word for "idle": a handler waiting for its next message, with no request in progress, is."""
    for connection in connections:  # in the order they were opened
        waiter = getattr(connection, "_waiter", None)
        if waiter is not None and not waiter.done() and not getattr(connection, "_request_in_progress", True):
            connection.force_close()  # type: ignore[attr-defined]
            return True
    return False


def connection_cap(wanted: int) -> int:
    """`wanted`, or less when the open-file limit cannot hold it (the soft limit is raised to the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    possible = soft - _RESERVED_FILES if soft != resource.RLIM_INFINITY else wanted
    if possible < wanted:
        log.warning("open-file limit %d allows %d connections, not GATEWAY_MAX_CONNECTIONS=%d", soft, possible, wanted)
    return max(1, min(wanted, possible))


async def start(
    app: web.Application,
    host: str,
    port: int,
    *,
    max_connections: int = 1000,
    keepalive_timeout_s: float = 15.0,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
    on_refused: Callable[[], object] | None = None,
) -> tuple[web.AppRunner, CappedSite]:
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=keepalive_timeout_s,
        shutdown_timeout=CANCEL_GRACE_S,
    )
    # The port is bound first: a taken one fails before the application has started anything (the renewal's
    # first call to BAW, the Redis link) that would then be torn down mid-flight. Nothing is accepted until the
    # site starts serving.
    site: CappedSite | None = None
    listener = await asyncio.get_running_loop().create_server(
        lambda: site.protocol() if site is not None else _Refusal(),
        host,
        port,
        ssl=ssl_context,
        backlog=128,
        reuse_address=True,
        reuse_port=reuse_port,
        start_serving=False,
    )
    try:
        await runner.setup()
    except BaseException:
        listener.close()
        raise
    site = CappedSite(runner, listener, max_connections=connection_cap(max_connections), on_refused=on_refused)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()  # the app had started (renewal task, pools): stop it in order, not by teardown
        raise
    return runner, site


async def serve(app: web.Application, settings: Settings, started: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain within the budget described above."""
    runner, site = await start(
        app,
        settings.host,
        settings.port,
        max_connections=settings.max_connections,
        keepalive_timeout_s=settings.keepalive_timeout_s,
        reuse_port=settings.workers > 1,
        on_refused=app[METRICS].connections_refused.inc,
    )
    # What exists now (modules, the app, its schemas, registries and sessions) lives as long as the process: out of
    # the cyclic collector's sight, each full collection scans only what serving made. Full collections over a
    # full cache set the uncached p99 (three 10 s rounds on one process: 56/74/86 ms, frozen 29/33/51 ms).
    gc.collect()
    gc.freeze()
    loop_kind = type(asyncio.get_running_loop()).__module__.split(".")[0]  # uvloop or asyncio
    worker = f", worker {os.environ.get(WORKER_INDEX, '?')} of {settings.workers}" if settings.workers > 1 else ""
    log.info(
        "gateway listening on %s:%d (public URL %s, %s event loop%s)",
        settings.host,
        settings.port,
        settings.public_url,
        loop_kind,
        worker,
    )
    if started is not None:
        started()
    signalled = asyncio.Event()

    def on_signal(signum: int) -> None:
        if signalled.is_set():
            log.warning("second %s: exiting at once", signal.Signals(signum).name)
            os._exit(128 + signum)
        signalled.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await signalled.wait()
    lifecycle = app[LIFECYCLE]
    lifecycle.draining = True
    log.info("draining: not ready, still serving for %g s", settings.drain_s)
    await asyncio.sleep(settings.drain_s)
    await site.stop()
    log.info("listener closed; %d request(s) in flight have %g s", lifecycle.in_flight, settings.shutdown_timeout_s)
    if not await lifecycle.wait_idle(settings.shutdown_timeout_s):
        log.warning(
            "%d request(s) still in flight after %g s: cancelled", lifecycle.in_flight, settings.shutdown_timeout_s
        )
    await runner.cleanup()
    log.info("stopped")
