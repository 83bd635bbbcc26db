"""Protecting BAW and our callers from each other: a concurrency cap, retries with backoff, a circuit breaker."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

from gateway.errors import BawUnavailable, GatewayError, NoCredential

RETRY_ATTEMPTS = 3
RETRY_BASE_S = 0.2
RETRY_CAP_S = 2.0
# Every attempt is bounded by BAW_TIMEOUT_S and timeouts are never retried; this bounds the whole lookup
# under the 45 s after which hosts give up.
RETRY_DEADLINE_S = 40.0


def backoff_delay(attempt: int, *, jitter: float) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1-based): uniform in [0, min(cap, base·2ⁿ)]."""
    return jitter * min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt)


class CircuitBreaker:
    """After `threshold` consecutive failures BAW is left alone for `cooldown_s`; then one probe call decides."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold, self._cooldown_s, self._clock = threshold, cooldown_s, clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def before_call(self) -> None:
        if self._opened_at is None:
            return
        remaining = self._opened_at + self._cooldown_s - self._clock()
        if remaining > 0 or self._probing:
            raise BawUnavailable(
                f"BAW failed {self._threshold} times in a row; the gateway gives it time to recover before "
                "calling it again.",
                retry_after=max(1, math.ceil(remaining)),
            )
        self._probing = True  # this call is the probe; the others keep failing fast until it returns

    def record(self, *, baw_failed: bool) -> None:
        self._probing = False
        if not baw_failed:
            self._failures, self._opened_at = 0, None
            return
        self._failures += 1
        if self._failures >= self._threshold or self._opened_at is not None:
            self._opened_at = self._clock()

    def record_error(self, error: GatewayError) -> None:
        """BAW failing (5xx, unusable answers, timeouts, unreachable) counts against it; a 4xx answer shows BAW
        is up; a missing credential never reached BAW and decides nothing."""
        if isinstance(error, NoCredential):
            self.abandon()
        else:
            self.record(baw_failed=error.status >= 502)

    def abandon(self) -> None:
        """The call was cancelled (the caller went away) or never reached BAW: it decided nothing."""
        self._probing = False


class ConcurrencyCap:
    """At most `limit` calls to BAW in flight; a call that cannot get a slot within `wait_s` is refused."""

    def __init__(self, limit: int, wait_s: float) -> None:
        self._limit, self._wait_s = limit, wait_s
        self._slots = asyncio.Semaphore(limit)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            if self._slots.locked():  # only a call that has to queue pays for wait_for's timer task
                await asyncio.wait_for(self._slots.acquire(), self._wait_s)
            else:
                await self._slots.acquire()
        except TimeoutError:
            raise BawUnavailable(
                f"The gateway already has {self._limit} calls to BAW in flight; try again shortly.", retry_after=1
            ) from None
        try:
            yield
        finally:
            self._slots.release()
