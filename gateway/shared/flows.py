"""Short-lived OAuth state of the façade (registered clients, sign-ins under way, codes, refresh tokens): in Redis
in cluster mode, so a sign-in may start on one replica and finish on another; in a bounded in-process table
otherwise. `take` is atomic: a code or a refresh token can be redeemed once, whichever replica is asked."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from cachetools import TTLCache

from gateway.shared.link import Script, SharedState

PUT = Script("oauth_put", "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1")
GET = Script("oauth_get", "return redis.call('GET', KEYS[1]) or ''")
TAKE = Script("oauth_take", "local v = redis.call('GET', KEYS[1]) or '' redis.call('DEL', KEYS[1]) return v")
_LOCAL_BOUND = 20_000


class FlowStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._local: dict[str, TTLCache[str, tuple[float, str]]] = {}
        self._shared: SharedState | None = None

    def attach(self, shared: SharedState) -> None:
        self._shared = shared

    def _table(self, kind: str) -> TTLCache[str, tuple[float, str]]:
        table = self._local.get(kind)
        if table is None:
            # The TTL bounds the table's lifetime per entry; each entry carries its own expiry too.
            table = self._local[kind] = TTLCache(maxsize=_LOCAL_BOUND, ttl=30 * 86400, timer=self._clock)
        return table

    async def put(self, kind: str, key: str, value: dict[str, Any], ttl_s: float) -> None:
        text = json.dumps(value, separators=(",", ":"))
        if self._shared is not None:
            stored = await self._shared.script(PUT, [self._shared.key("oauth", kind, key)], [text, round(ttl_s * 1000)])
            if stored is not None:
                return
        self._table(kind)[key] = (self._clock() + ttl_s, text)

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return await self._read(kind, key, GET, take=False)

    async def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """The value, removed in the same step: a second take finds nothing."""
        return await self._read(kind, key, TAKE, take=True)

    async def _read(self, kind: str, key: str, script: Script, *, take: bool) -> dict[str, Any] | None:
        if self._shared is not None:
            raw = await self._shared.script(script, [self._shared.key("oauth", kind, key)], [])
            if raw:
                return json.loads(raw)
        table = self._table(kind)
        entry = table.pop(key, None) if take else table.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return json.loads(entry[1])
