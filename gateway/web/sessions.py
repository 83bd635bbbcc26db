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

from aiohttp_tiny_mcp import SessionRecord, SessionStore

from gateway.context import caller_var

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
