"""The one Redis connection pool and its health.

Every call goes through `SharedState.run`: an explicit timeout, errors counted per operation, and a switch
between *up* and *down*. While down, callers get None at once (no timeout paid per request) and fall back to
their local state; after `RETRY_S` one call tries Redis again, and success switches back. One warning per
transition, and `gateway_shared_state_up` says which state a replica is in.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any, Awaitable, Callable, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.tls import client_ssl_context

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_S = 2.0


def redis_client(settings: Settings) -> Redis:
    """A client with its own bounded pool, explicit timeouts, TLS verified for rediss://."""
    assert settings.redis_url is not None
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": max(settings.redis_timeout_s, 1.0),
        "max_connections": 64,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }
    if settings.redis_password is not None:
        options["password"] = settings.redis_password.read()
    url = settings.redis_url.read()
    if url.startswith("rediss://"):
        options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        options["ssl_check_hostname"] = True
        if settings.redis_ca_bundle is not None:
            options["ssl_ca_certs"] = str(settings.redis_ca_bundle)
            client_ssl_context(settings.redis_ca_bundle)  # refuse a bundle without a certificate early
    return Redis.from_url(url, **options)


class SharedState:
    def __init__(
        self,
        client: Redis,
        prefix: str,
        metrics: Metrics,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.prefix = client, prefix
        self._up_gauge, self._errors = metrics.shared_state()
        self._timeout_s, self._clock = timeout_s, clock
        self.up = True
        self._retry_at = 0.0
        self._up_gauge.set(1)

    def key(self, *parts: str) -> str:
        """Every key under the prefix, so two gateways can share one Redis."""
        return ":".join((self.prefix, *parts))

    async def run(self, op: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """The call's result, or None when Redis is down or fails now (the caller uses its local state)."""
        if not self.up and self._clock() < self._retry_at:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await call()
        except (RedisError, OSError, TimeoutError) as exc:
            self._errors.labels(op).inc()
            self._retry_at = self._clock() + RETRY_S
            if self.up:
                self.up = False
                self._up_gauge.set(0)
                log.warning("shared state (Redis) unavailable, going on with local state: %s", type(exc).__name__)
            return None
        if not self.up:
            self.up = True
            self._up_gauge.set(1)
            log.warning("shared state (Redis) available again: limits, cache and sessions are shared")
        return result
