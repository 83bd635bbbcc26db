"""Short-lived OAuth state of the façade (registered clients, sign-ins under way, codes, refresh-token families): in
Redis in cluster mode, so a sign-in may start on one replica and finish on another; in bounded in-process tables
otherwise. `take` is atomic: a code can be redeemed once, whichever replica is asked; `rotate` is atomic too: one
refresh token of a family is current at a time.

Keys are stored as SHA-256 hashes, never as given: a code, a refresh token or a sign-in's state read from Redis
(`--scan`, a backup, a replica's memory) cannot be redeemed. A local table never evicts a live entry to make room
(a flood would push out a sign-in under way or a registered client): when it is full, `put` refuses with
StoreFull; what fills it is bounded by the façade's limits before it gets here."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Callable

from cachetools import TLRUCache

from gateway.shared.link import Script, SharedState

PUT = Script("oauth_put", "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1")
GET = Script("oauth_get", "return redis.call('GET', KEYS[1]) or ''")
TAKE = Script("oauth_take", "local v = redis.call('GET', KEYS[1]) or '' redis.call('DEL', KEYS[1]) return v")
# KEYS[1]: a family; ARGV: the hash it must hold now, the next one, TTL (ms). The entry as it was when rotated; ''
# when the family is gone or holds another hash (then it is deleted: a spent token came back, RFC 9700 §4.14.2).
ROTATE = Script(
    "oauth_rotate",
    """
local v = redis.call('GET', KEYS[1])
if not v then return '' end
local entry = cjson.decode(v)
if entry['current'] ~= ARGV[1] then redis.call('DEL', KEYS[1]) return '' end
entry['current'] = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(entry), 'PX', ARGV[3])
return v
""",
)
ONCE = Script("oauth_once", "return redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) and 1 or 0")
DEFAULT_BOUND = 10_000


class StoreFull(Exception):
    """A local table is at its bound: nothing is evicted to make room."""


def hashed(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class FlowStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic, bounds: dict[str, int] | None = None) -> None:
        self._clock = clock
        self._bounds = bounds or {}
        self._local: dict[str, TLRUCache[str, tuple[float, str]]] = {}
        self._shared: SharedState | None = None

    def attach(self, shared: SharedState) -> None:
        self._shared = shared

    def _table(self, kind: str) -> TLRUCache[str, tuple[float, str]]:
        table = self._local.get(kind)
        if table is None:
            table = self._local[kind] = TLRUCache(
                maxsize=self._bounds.get(kind, DEFAULT_BOUND), ttu=lambda _k, value, _now: value[0], timer=self._clock
            )
        return table

    def _key(self, kind: str, key: str) -> str:
        assert self._shared is not None
        return self._shared.key("oauth", kind, hashed(key))

    async def put(self, kind: str, key: str, value: dict[str, Any], ttl_s: float) -> None:
        text = json.dumps(value, separators=(",", ":"))
        if self._shared is not None:
            stored = await self._shared.script(PUT, [self._key(kind, key)], [text, round(ttl_s * 1000)])
            if stored is not None:
                return
        self._local_put(kind, hashed(key), text, ttl_s)

    def _local_put(self, kind: str, name: str, text: str, ttl_s: float) -> None:
        table = self._table(kind)
        if name not in table and len(table) >= table.maxsize:
            table.expire()
            if len(table) >= table.maxsize:
                raise StoreFull(kind)
        table[name] = (self._clock() + ttl_s, text)

    async def first_time(self, kind: str, key: str, ttl_s: float) -> bool:
        """True the first time `key` is seen within `ttl_s`, whichever replica sees it (a single-use `jti`)."""
        if self._shared is not None:
            answer = await self._shared.script(ONCE, [self._key(kind, key)], [max(1, round(ttl_s * 1000))])
            if answer is not None:
                return int(answer) == 1
        table, name = self._table(kind), hashed(key)
        entry = table.get(name)
        if entry is not None and entry[0] > self._clock():
            return False
        self._local_put(kind, name, "1", ttl_s)
        return True

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return await self._read(kind, key, GET, take=False)

    async def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """The value, removed in the same step: a second take finds nothing."""
        return await self._read(kind, key, TAKE, take=True)

    async def _read(self, kind: str, key: str, script: Script, *, take: bool) -> dict[str, Any] | None:
        if self._shared is not None:
            raw = await self._shared.script(script, [self._key(kind, key)], [])
            if raw:
                return json.loads(raw)
        table, name = self._table(kind), hashed(key)
        entry = table.pop(name, None) if take else table.get(name)
        if entry is None or entry[0] <= self._clock():
            return None
        return json.loads(entry[1])

    async def rotate(self, kind: str, key: str, current: str, following: str, ttl_s: float) -> dict[str, Any] | None:
        """Move the entry's "current" field from `current` to `following`, in one step: the entry as it was, or
        None. An entry that holds another "current" is deleted: a spent refresh token came back, so its whole
        family is revoked."""
        if self._shared is not None:
            raw = await self._shared.script(ROTATE, [self._key(kind, key)], [current, following, round(ttl_s * 1000)])
            if raw is not None:
                return json.loads(raw) if raw else None
        table, name = self._table(kind), hashed(key)
        entry = table.get(name)
        if entry is None or entry[0] <= self._clock():
            return None
        old = json.loads(entry[1])
        if old.get("current") != current:
            del table[name]
            return None
        table[name] = (self._clock() + ttl_s, json.dumps({**old, "current": following}, separators=(",", ":")))
        return old
