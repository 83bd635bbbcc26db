"""Answers shared by the replicas: JSON entries with a TTL, and a short lock per key, so a burst on one cold id
spread over every replica costs BAW one call (cross-replica single-flight).

`find` reads the entry or, when there is none, takes the lock, in one script: the lock holder asks BAW and
`store`s the answer (releasing the lock in the same script); the others `wait`, polling every POLL_S until the
answer is there, or the lock is gone without one, or the lock's life is over; then they ask BAW themselves (a
holder that died costs one extra call, never a hang). An answer is kept at least WAITERS_S, even with the cache off
(TTL 0): long enough for the replicas waiting on it, so what was fetched while they waited is shared, as a
replica's own lookups in flight together are. When Redis cannot be used the caller is told so and goes on with its
local state.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from gateway.shared.link import Script, SharedState

POLL_S = 0.02
WAITERS_S = 5 * POLL_S

# KEYS: entry, lock. ARGV: token, hold (ms). {1, entry} found, {2} lock taken by us, {3} held by another.
FIND = Script(
    "cache_find",
    """
local entry = redis.call('GET', KEYS[1])
if entry then return {1, entry} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {3}
""",
)
# KEYS: entry, lock. ARGV: entry, ttl (ms; 0: nothing to keep), token ('' when the lock is not ours).
STORE = Script(
    "cache_store",
    """
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
""",
)
# KEYS: entry, lock. The entry; '' while the lock is held without one; RELEASED when neither is there.
RELEASED = b"released"
PEEK = Script(
    "cache_peek",
    """
local entry = redis.call('GET', KEYS[1])
if entry then return entry end
if redis.call('EXISTS', KEYS[2]) == 1 then return '' end
return 'released'
""",
)


class Found(Enum):
    ENTRY = 1  # another replica's answer
    CLAIMED = 2  # ours to fetch: the token releases the lock
    BUSY = 3  # another replica is fetching it: wait
    DOWN = 4  # Redis cannot say: use local state


@dataclass(frozen=True, slots=True)
class Lookup:
    found: Found
    entry: dict[str, Any] | None = None
    token: str = ""


def _decode(raw: Any) -> dict[str, Any] | None:
    try:
        entry = orjson.loads(raw)
    except (TypeError, ValueError):  # (orjson.JSONDecodeError is a ValueError)
        return None
    return entry if isinstance(entry, dict) else None


class SharedCache:
    def __init__(self, shared: SharedState, namespace: str) -> None:
        self._shared, self._namespace = shared, namespace

    def _keys(self, key: str) -> list[str]:
        return [self._shared.key("cache", self._namespace, key), self._shared.key("lock", self._namespace, key)]

    async def find(self, key: str, hold_s: float) -> Lookup:
        token = secrets.token_hex(8)
        answer = await self._shared.script(FIND, self._keys(key), [token, max(1, round(hold_s * 1000))])
        if not answer:
            return Lookup(Found.DOWN)
        if answer[0] == 1:
            entry = _decode(answer[1])
            return Lookup(Found.ENTRY, entry) if entry is not None else Lookup(Found.BUSY)
        return Lookup(Found.CLAIMED, token=token) if answer[0] == 2 else Lookup(Found.BUSY)

    async def store(self, key: str, entry: dict[str, Any] | None, ttl_s: float, token: str) -> None:
        """Keep `entry` for `ttl_s` (at least WAITERS_S; None: keep nothing) and release our lock."""
        value = orjson.dumps(entry) if entry is not None else b""
        ttl_ms = round(max(ttl_s, WAITERS_S) * 1000) if entry is not None else 0
        await self._shared.script(STORE, self._keys(key), [value, ttl_ms, token])

    async def wait(self, key: str, hold_s: float) -> dict[str, Any] | None:
        """The entry another replica is fetching, or None when it did not come within `hold_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold_s
        while loop.time() < deadline:
            await asyncio.sleep(POLL_S)
            raw = await self._shared.script(PEEK, self._keys(key), [])
            if raw is None or raw == RELEASED:
                return None  # Redis went away, or the holder is done and left nothing: the caller asks BAW
            if raw:
                return _decode(raw)
        return None
