"""Rate limits that hold across replicas: one GCRA check per request, atomic in Redis, one round trip.

GCRA (the generic cell rate algorithm) keeps one number per caller, the theoretical arrival time; Redis's own
clock (TIME) is the clock, so replicas with skewed clocks agree. When Redis is down the replica's local token
bucket answers instead: the limit is then per replica until Redis is back. Without Redis (one replica), the local
token bucket is the limiter.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from cachetools import LRUCache

from gateway.shared.link import Script, SharedState

# One GCRA check: key, emission interval (µs), burst, take (1) or only look (0), Redis's clock (µs). Returns 0
# when allowed, else the microseconds until the next request would be.
_GCRA_FUNCTION = """
local function gcra(key, interval, burst, take, now)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  if now < allow_at then return allow_at - now end
  if take then
    redis.call('SET', key, string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
  end
  return 0
end
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
"""
# KEYS[1]: the caller's key. ARGV: emission interval (µs), burst, take (1) or only look (0).
GCRA = Script(
    "rate_limit",
    _GCRA_FUNCTION + "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', now)\n",
)
# Look at KEYS[1] (ARGV 1-2) and, when it allows, take from KEYS[2] (ARGV 3-4): {0, 0} when allowed, else
# {1 or 2 for the limit that refused, microseconds until it would allow}.
GCRA_LOOK_THEN_TAKE = Script(
    "rate_limit",
    _GCRA_FUNCTION
    + """
local wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), false, now)
if wait > 0 then return {1, wait} end
wait = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), true, now)
if wait > 0 then return {2, wait} end
return {0, 0}
""",
)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class LocalRateLimiter:
    """A token bucket per caller; the table of callers is an LRU of bounded size, so memory is bounded too."""

    def __init__(
        self, rate: float, burst: int, max_callers: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._buckets: LRUCache[str, _Bucket] = LRUCache(maxsize=max_callers)

    def retry_after(self, caller: str, *, take: bool = True) -> int | None:
        """Take one token (or with take=False only look); None when allowed, else whole seconds until the next."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = _Bucket(tokens=self._burst, updated=now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= take
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self._rate))


class Limiter:
    """A named limit (requests per second and a burst) per caller: across replicas once `attach`ed to Redis, with
    the local token bucket answering while Redis is down (or not configured)."""

    def __init__(self, name: str, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._name = name
        self._local = LocalRateLimiter(rate, burst, clock=clock)
        self._interval_us, self._burst = max(1, round(1_000_000 / rate)), burst
        self._shared: SharedState | None = None

    def attach(self, shared: SharedState) -> None:
        self._shared = shared

    async def retry_after(self, caller: str, *, take: bool = True) -> int | None:
        """None when allowed, else whole seconds until the next request would be (take=False: only look)."""
        shared = self._shared
        if shared is None:
            return self._local.retry_after(caller, take=take)
        key = shared.key("limit", self._name, caller)
        wait_us = await shared.script(GCRA, [key], [self._interval_us, self._burst, int(take)])
        if wait_us is None:
            return self._local.retry_after(caller, take=take)
        return _seconds(int(wait_us))

    async def look_then_take(self, caller: str, then: Limiter, then_caller: str) -> tuple[Limiter, int] | None:
        """Look at this limit for `caller` and, when it allows, take from `then` for `then_caller`, in one Redis
        round trip where there were two (both limits are attached to the same Redis, as the app does). None when
        both allow, else the limit that refused and whole seconds until it would allow."""
        shared = self._shared
        if shared is not None:
            keys = [shared.key("limit", self._name, caller), shared.key("limit", then._name, then_caller)]
            args = [self._interval_us, self._burst, then._interval_us, then._burst]
            answer = await shared.script(GCRA_LOOK_THEN_TAKE, keys, args)
            if answer is not None:
                refused, wait_us = int(answer[0]), int(answer[1])
                return None if refused == 0 else ((self, then)[refused - 1], _seconds(wait_us) or 1)
        wait = self._local.retry_after(caller, take=False)
        if wait is not None:
            return self, wait
        wait = then._local.retry_after(then_caller)
        return None if wait is None else (then, wait)


def _seconds(wait_us: int) -> int | None:
    return None if wait_us == 0 else max(1, math.ceil(wait_us / 1_000_000))
