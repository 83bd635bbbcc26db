"""Rate limits that hold across replicas: one GCRA check per request, atomic in Redis, one round trip.

GCRA (the generic cell rate algorithm) keeps one number per caller, the theoretical arrival time; Redis's own
clock (TIME) is the clock, so replicas with skewed clocks agree. When Redis is down the replica's local token
bucket answers instead: the limit is then per replica until Redis is back. Without Redis (one replica), the local
token bucket is the limiter.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web
from cachetools import LRUCache

from gateway.shared.link import Script, SharedState

# One GCRA take: key, emission interval (µs), burst, tokens wanted (0: only look), tokens given back (the unused
# rest of a lease, see Limiter), Redis's clock (µs). Takes as many as wanted that fit, at least one: returns {taken,
# 0}, or {0, microseconds until one would fit} when none does; what is given back counts either way.
_GCRA_FUNCTION = """
local function gcra(key, interval, burst, want, refund, now)
  local tat = tonumber(redis.call('GET', key) or '0') - refund * interval
  if tat < now then tat = now end
  local room = math.floor((now + burst * interval - tat) / interval)
  local taken = 0
  if room >= 1 then taken = math.min(want, room) end
  if taken > 0 or refund > 0 then
    local new_tat = tat + taken * interval
    redis.call('SET', key, string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
  end
  if room < 1 then return {0, tat + interval - burst * interval - now} end
  return {taken, 0}
end
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
"""
# KEYS[1]: the caller's key. ARGV: emission interval (µs), burst, tokens wanted, tokens given back.
# The answer: {refused (0 or 1), microseconds until it would allow, tokens taken}.
GCRA = Script(
    "rate_limit",
    _GCRA_FUNCTION
    + """
local took = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), now)
if took[2] > 0 then return {1, took[2], 0} end
return {0, 0, took[1]}
""",
)
# A caller whose rate allows it takes its tokens from Redis several at a time: LEASE_S of its rate (at most a
# quarter of its burst), spent locally for at most LEASE_S; below two tokens there is no lease.
LEASE_S = 0.05
_MAX_LEASES = 10_000
_ADMITTED_FROM_LEASE = (0, 0, 1)


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


class _Lease:
    __slots__ = ("left", "until")

    def __init__(self, left: int, until: float) -> None:
        self.left, self.until = left, until


Send = Callable[[int, int], Awaitable[Any]]  # (tokens wanted, tokens given back) -> a script's answer, or None


class Limiter:
    """A named limit (requests per second and a burst) per caller: across replicas once `attach`ed to Redis, with
    the local token bucket answering while Redis is down (or not configured).

    In cluster mode every request took its token in a Redis round trip: a fifth of a cached lookup's throughput. A
    caller allowed LEASE_S × rate ≥ 2 tokens now takes that many at once (a lease), spends them on this replica
    for at most LEASE_S, and gives back what it did not spend with its next take. Tokens are taken before they
    are spent, so no caller ever exceeds its limit across replicas; at worst each replica holds LEASE_S of a
    caller's rate that the others cannot use meanwhile (its burst is never taken by a lease more than a
    quarter at a time). One take per caller and replica is in flight at a time: a turn's concurrent requests
    wait for its tokens rather than each taking a lease. The default limit (10/s) makes no lease: every request
    is one take, as before."""

    def __init__(
        self, name: str, rate: float, burst: int, clock: Callable[[], float] = time.monotonic, lease_s: float = LEASE_S
    ) -> None:
        self._name = name
        self._local = LocalRateLimiter(rate, burst, clock=clock)
        self._interval_us, self._burst = max(1, round(1_000_000 / rate)), burst
        self._shared: SharedState | None = None
        self._clock, self._lease_s = clock, lease_s
        self._lease_size = min(int(rate * lease_s), burst // 4)
        self._leases: dict[str, _Lease] = {}
        self._leasing: dict[str, asyncio.Future[None]] = {}  # a caller's take in flight

    def attach(self, shared: SharedState) -> None:
        self._shared = shared

    async def retry_after(self, caller: str, *, take: bool = True) -> int | None:
        """None when allowed, else whole seconds until the next request would be (take=False: only look)."""
        shared = self._shared
        if shared is None:
            return self._local.retry_after(caller, take=take)
        key = shared.key("limit", self._name, caller)

        def send(want: int, refund: int) -> Awaitable[Any]:
            return shared.script(GCRA, [key], [self._interval_us, self._burst, want, refund])

        answer = await (self._leased_take(caller, send) if take and self._lease_size > 1 else send(int(take), 0))
        if answer is None:
            return self._local.retry_after(caller, take=take)
        return _seconds(int(answer[1]))

    async def _leased_take(self, caller: str, send: Send) -> Any:
        """A token from `caller`'s lease, or a new lease taken by `send` (what the last one did not spend given
        back); the answer as the script gives it, or None when Redis cannot be used."""
        while True:
            lease = self._leases.get(caller)
            if lease is not None and lease.left > 0 and self._clock() < lease.until:
                lease.left -= 1
                return _ADMITTED_FROM_LEASE
            pending = self._leasing.get(caller)
            if pending is None:
                break
            await asyncio.shield(pending)  # its tokens may be ours too
        refund = 0
        if lease is not None:  # given back once: a take that fails or is cancelled loses it, never doubles it
            refund, lease.left = lease.left, 0
        done = self._leasing[caller] = asyncio.get_running_loop().create_future()
        try:
            answer = await send(self._lease_size, refund)
            taken = int(answer[2]) if answer is not None else 0
            if taken > 1:
                if len(self._leases) >= _MAX_LEASES and caller not in self._leases:
                    self._leases.clear()  # bounded (the cleared rests are the limit's to refill)
                self._leases[caller] = _Lease(taken - 1, self._clock() + self._lease_s)
            else:
                self._leases.pop(caller, None)
            return answer
        finally:
            del self._leasing[caller]
            done.set_result(None)


def _seconds(wait_us: int) -> int | None:
    return None if wait_us == 0 else max(1, math.ceil(wait_us / 1_000_000))


RATE_LIMITER: web.AppKey[Limiter] = web.AppKey("rate_limiter")
AUTH_FAILURES: web.AppKey[Limiter] = web.AppKey("auth_failures")  # failed authentications per address
# The agents with a rate limit of their own (GATEWAY_OAUTH_AGENTS_FILE), by caller (`client:<id>`).
AGENT_LIMITS: web.AppKey[dict[str, Limiter]] = web.AppKey("agent_limits")
