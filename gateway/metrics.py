"""Prometheus metrics (names from DESIGN.md) and the per-request tally the access log reports.

Each application gets its own CollectorRegistry, so several apps in one process (tests, the demo) never
share or double-register collectors.

Under GATEWAY_WORKERS=N each worker is a process, and the supervisor gives them one PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, chosen when the library is imported): every worker writes its values to
files there, and whichever worker a scrape reaches answers for all of them. Gauges say how workers combine: the
earliest token expiry, a breaker open in any worker, ready while a worker answers probes (each probe reaches
one), Redis as the worst worker has it. The process, platform and GC collectors describe one process only and
are left out in that mode.
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

# prometheus_client's own variable: set (by the GATEWAY_WORKERS supervisor), metrics are every worker's files.
WORKERS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# A proxy's latencies: a cache hit takes a millisecond, BAW may take tens of seconds (hosts give up at 45 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Any other method is labelled OTHER, so a client inventing methods cannot grow the label set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


@dataclass
class RequestTally:
    """What one inbound request cost upstream; filled in below the web layer, read by the access log."""

    surface: str = "rest"  # rest or mcp: which face of the same tools the request came through
    baw_calls: int = 0
    cache: str | None = None


current_tally: ContextVar[RequestTally | None] = ContextVar("current_tally", default=None)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._exposed = self.registry  # what a scrape renders: this worker's registry, or every worker's files
        workers_directory = os.environ.get(WORKERS_DIRECTORY)
        if workers_directory:
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=workers_directory)
        else:
            for collector in (ProcessCollector, PlatformCollector, GCCollector):
                collector(registry=self.registry)
        r = self.registry
        self.http_requests = Counter(
            "gateway_http_requests", "Inbound requests.", ["route", "method", "status"], registry=r
        )
        self.http_duration = Histogram(
            "gateway_http_request_duration_seconds",
            "Inbound request latency.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.baw_requests = Counter(
            "gateway_baw_requests", "Calls to BAW.", ["operation", "outcome", "surface"], registry=r
        )
        self.baw_duration = Histogram(
            "gateway_baw_request_duration_seconds",
            "BAW call latency.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.token_refreshes = Counter("gateway_token_refreshes", "Credential renewals.", ["outcome"], registry=r)
        self.token_expiry = Gauge(
            "gateway_token_expiry_timestamp_seconds",
            "Unix time at which the held BAW token expires.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.cache_lookups = Counter(
            "gateway_cache_lookups", "Lookup cache results.", ["result", "surface"], registry=r
        )

        self.breaker_open = Gauge(
            "gateway_baw_breaker_open",
            "1 while the circuit breaker towards BAW is open (calls fail fast).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.ready = Gauge(
            "gateway_ready",
            "1 while /readyz answers 200, as of its last probe.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.connections_refused = Counter(
            "gateway_connections_refused",
            "Connections answered with the canned 503 because GATEWAY_MAX_CONNECTIONS were open.",
            registry=r,
        )
        self._shared: tuple[Gauge, Counter] | None = None

        self._http_request = _Children(self.http_requests)
        self._http_duration = _Children(self.http_duration)
        self._cache_lookup = _Children(self.cache_lookups)
        self._baw_request = _Children(self.baw_requests)
        self._baw_duration = _Children(self.baw_duration)

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count and time one inbound request (route templates, known methods and status codes: bounded)."""
        method = method if method in _METHODS else "OTHER"
        self._http_request(route, method, str(status)).inc()
        self._http_duration(route, method).observe(seconds)

    def shared_state(self) -> tuple[Gauge, Counter]:
        """`gateway_shared_state_up` and `gateway_redis_errors_total{op}`: registered in cluster mode only, so a
        single replica without Redis is never reported as degraded."""
        if self._shared is None:
            self._shared = (
                Gauge(
                    "gateway_shared_state_up",
                    "1 while Redis (cluster mode) is used, 0 while local state stands in.",
                    registry=self.registry,
                    multiprocess_mode="livemin",
                ),
                Counter("gateway_redis_errors", "Failed Redis calls.", ["op"], registry=self.registry),
            )
        return self._shared

    def render(self) -> bytes:
        return generate_latest(self._exposed)

    def baw_call(self, operation: str, outcome: str, started: float) -> None:
        tally = current_tally.get() or RequestTally()
        self._baw_request(operation, outcome, tally.surface).inc()
        self._baw_duration(operation).observe(time.perf_counter() - started)
        tally.baw_calls += 1

    def cache_result(self, result: str) -> None:
        tally = current_tally.get() or RequestTally()
        self._cache_lookup(result, tally.surface).inc()
        tally.cache = result

    def token_renewal(self, outcome: str, expires_at: float | None) -> None:
        self.token_refreshes.labels(outcome).inc()
        if expires_at is not None:
            self.token_expiry.set(expires_at)


class _Children:
    """One metric's label children, each looked up once (`labels` builds a tuple and takes a lock per call). For
    label sets that are bounded: cache results, surfaces, BAW operations and outcomes."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
