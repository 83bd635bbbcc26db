"""MCP sessions of the handshake-era revisions, held in memory with bounds (the library's store has none).

An `initialize` creates a session that lives while its client talks. Unbounded, 3,000 initialize requests with
60 KB of client capabilities took a pod from 68 to 245 MB in two seconds. Here:
- at most `max_sessions` live sessions; past that the least recently used one is forgotten (its client meets
  404 and opens a new session, as the spec prescribes);
- at most `per_caller` sessions per caller (the identity that opened it), its own oldest forgotten first, so one
  caller cannot push everyone else's sessions out;
- an idle expiry (the registry's session TTL, renewed on every use);
- client capabilities kept only while small: what the gateway needs of them is which features the client has.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping

from aiohttp import web
from aiohttp_tiny_mcp import SessionRecord, SessionStore

from gateway.context import caller_var
from gateway.shared.link import Script, SharedState

MAX_CAPABILITIES_BYTES = 4096
_CAPABILITIES = "capabilities"


def _bounded(data: Mapping[str, Any]) -> dict[str, Any]:
    kept = dict(data)
    capabilities = kept.get(_CAPABILITIES)
    if isinstance(capabilities, Mapping):
        if len(json.dumps(capabilities, default=str)) > MAX_CAPABILITIES_BYTES:
            kept[_CAPABILITIES] = {str(name)[:64]: {} for name in list(capabilities)[:32]}
    return kept


class BoundedSessionStore(SessionStore):
    def __init__(self, max_sessions: int, per_caller: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max, self._per_caller, self._clock = max_sessions, per_caller, clock
        # session id -> (data, version, expiry, caller), least recently used first
        self._records: OrderedDict[str, tuple[dict[str, Any], int, float, str]] = OrderedDict()
        self._by_caller: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def _live(self, session_id: str) -> tuple[dict[str, Any], int, float, str] | None:
        entry = self._records.get(session_id)
        if entry is None:
            return None
        if entry[2] <= self._clock():
            self._forget(session_id)
            return None
        self._records.move_to_end(session_id)
        self._by_caller[entry[3]].move_to_end(session_id)
        return entry

    def _forget(self, session_id: str) -> None:
        entry = self._records.pop(session_id, None)
        if entry is None:
            return
        owned = self._by_caller[entry[3]]
        owned.pop(session_id, None)
        if not owned:
            del self._by_caller[entry[3]]

    def _make_room(self, caller: str) -> None:
        now = self._clock()
        while self._records:  # expired ones first, oldest first
            oldest, entry = next(iter(self._records.items()))
            if entry[2] > now:
                break
            self._forget(oldest)
        owned = self._by_caller.get(caller)
        while owned and len(owned) >= self._per_caller:
            self._forget(next(iter(owned)))
            owned = self._by_caller.get(caller)
        while len(self._records) >= self._max:
            self._forget(next(iter(self._records)))

    async def create(self, session_id: str, data: Mapping[str, Any], *, ttl_seconds: int) -> bool:
        if self._live(session_id) is not None:
            return False
        caller = caller_var.get()
        self._make_room(caller)
        self._records[session_id] = (_bounded(data), 1, self._clock() + ttl_seconds, caller)
        self._by_caller.setdefault(caller, OrderedDict())[session_id] = None
        return True

    async def get(self, session_id: str) -> SessionRecord | None:
        entry = self._live(session_id)
        return SessionRecord(data=entry[0], version=entry[1]) if entry is not None else None

    async def save(self, session_id: str, data: Mapping[str, Any], *, expected_version: int, ttl_seconds: int) -> bool:
        entry = self._live(session_id)
        if entry is None or entry[1] != expected_version:
            return False
        self._records[session_id] = (_bounded(data), expected_version + 1, self._clock() + ttl_seconds, entry[3])
        return True

    async def touch(self, session_id: str, *, ttl_seconds: int) -> bool:
        entry = self._live(session_id)
        if entry is None:
            return False
        self._records[session_id] = (entry[0], entry[1], self._clock() + ttl_seconds, entry[3])
        return True

    async def delete(self, session_id: str) -> None:
        self._forget(session_id)


# Sessions in Redis: one hash per session (data, version, caller), a sorted set of all sessions and one per
# caller, scored by last use (Redis's clock, in ms). Every write is one script, so the caps hold cluster-wide.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_FORGET = """
local function forget(id)
  local caller = redis.call('HGET', ARGV[1] .. id, 'caller')
  redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[2], id)
  if caller then redis.call('ZREM', ARGV[2] .. caller, id) end
end
"""
# KEYS: session hash, all-sessions zset. ARGV: session key prefix, caller zset prefix, id, caller, data, ttl (s),
# max sessions, max per caller.
CREATE = Script(
    "session_create",
    _NOW
    + _FORGET
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 1000)
local mine = ARGV[2] .. ARGV[4]
redis.call('ZREMRANGEBYSCORE', mine, '-inf', now - ttl * 1000)
while redis.call('ZCARD', mine) >= tonumber(ARGV[8]) do
  forget(redis.call('ZRANGE', mine, 0, 0)[1])
end
while redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[7]) do
  forget(redis.call('ZRANGE', KEYS[2], 0, 0)[1])
end
redis.call('HSET', KEYS[1], 'data', ARGV[5], 'version', 1, 'caller', ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('ZADD', mine, now, ARGV[3])
redis.call('EXPIRE', mine, ttl)
return 1
""",
)
# KEYS: session hash, all-sessions zset. ARGV: caller zset prefix, id, ttl (s), [data, expected version].
TOUCH = Script(
    "session_touch",
    _NOW
    + """
local caller = redis.call('HGET', KEYS[1], 'caller')
if not caller then return 0 end
if ARGV[4] then
  if tonumber(redis.call('HGET', KEYS[1], 'version')) ~= tonumber(ARGV[5]) then return 0 end
  redis.call('HSET', KEYS[1], 'data', ARGV[4], 'version', tonumber(ARGV[5]) + 1)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('ZADD', ARGV[1] .. caller, now, ARGV[2])
redis.call('EXPIRE', ARGV[1] .. caller, tonumber(ARGV[3]))
return 1
""",
)
DELETE = Script("session_delete", _FORGET + "forget(ARGV[3])\nreturn 1\n")
# KEYS: session hash. {data, version}, or {} when there is none.
GET = Script("session_get", "return redis.call('HMGET', KEYS[1], 'data', 'version')")


class SessionTable(SessionStore):
    """The MCP library's session store: in Redis once `attach`ed (cluster mode), so a client's requests may land
    on any replica; the replica's own bounded table while Redis is down or not configured. The bounds are the
    same in both (a session cap, a per-caller cap, an idle expiry, small capabilities)."""

    def __init__(self, max_sessions: int, per_caller: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.local = BoundedSessionStore(max_sessions, per_caller, clock)
        self._max, self._per_caller = max_sessions, per_caller
        self._shared: SharedState | None = None

    def __len__(self) -> int:
        return len(self.local)

    def attach(self, shared: SharedState) -> None:
        self._shared = shared

    def _keys(self, session_id: str) -> tuple[str, str, str, str]:
        shared = self._shared
        assert shared is not None
        sessions, callers = shared.key("mcp", "session", ""), shared.key("mcp", "caller", "")
        return sessions + session_id, shared.key("mcp", "sessions"), sessions, callers

    async def create(self, session_id: str, data: Mapping[str, Any], *, ttl_seconds: int) -> bool:
        if self._shared is None:
            return await self.local.create(session_id, data, ttl_seconds=ttl_seconds)
        key, everyone, sessions, callers = self._keys(session_id)
        args = [sessions, callers, session_id, caller_var.get(), json.dumps(_bounded(data)), ttl_seconds]
        created = await self._shared.script(CREATE, [key, everyone], [*args, self._max, self._per_caller])
        if created is None:
            return await self.local.create(session_id, data, ttl_seconds=ttl_seconds)
        return bool(created)

    async def get(self, session_id: str) -> SessionRecord | None:
        if self._shared is None:
            return await self.local.get(session_id)
        held = await self._shared.script(GET, self._keys(session_id)[:1], [])
        if held is None:
            return await self.local.get(session_id)
        data, version = held
        if data is None or version is None:
            return await self.local.get(session_id)  # made here while Redis was down
        return SessionRecord(data=json.loads(data), version=int(version))

    async def save(self, session_id: str, data: Mapping[str, Any], *, expected_version: int, ttl_seconds: int) -> bool:
        return await self._touch(session_id, ttl_seconds, [json.dumps(_bounded(data)), expected_version]) or (
            await self.local.save(session_id, data, expected_version=expected_version, ttl_seconds=ttl_seconds)
        )

    async def touch(self, session_id: str, *, ttl_seconds: int) -> bool:
        return await self._touch(session_id, ttl_seconds, []) or await self.local.touch(
            session_id, ttl_seconds=ttl_seconds
        )

    async def _touch(self, session_id: str, ttl_seconds: int, write: list[Any]) -> bool:
        if self._shared is None:
            return False
        key, everyone, _, callers = self._keys(session_id)
        touched = await self._shared.script(TOUCH, [key, everyone], [callers, session_id, ttl_seconds, *write])
        return bool(touched)

    async def delete(self, session_id: str) -> None:
        await self.local.delete(session_id)
        if self._shared is not None:
            key, everyone, sessions, callers = self._keys(session_id)
            await self._shared.script(DELETE, [key, everyone], [sessions, callers, session_id])


MCP_SESSIONS: web.AppKey[SessionTable] = web.AppKey("mcp_sessions")
