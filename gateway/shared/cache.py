"""Answers shared by the replicas: JSON entries with a TTL, and a short lock per key, so a burst on one cold id
spread over every replica costs BAW one call (cross-replica single-flight).

The lock holder asks BAW and writes the answer; the others poll for it every POLL_S, for at most the lock's life,
then ask BAW themselves (a holder that died costs one extra call, never a hang). Every method answers `DOWN`
when Redis cannot be used, and the caller goes on with its local state.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any, Final

from gateway.shared.link import SharedState

POLL_S = 0.02


class _Down:
    pass


DOWN: Final = _Down()
_MISSING = b""

# Delete the lock only if it is still ours (it may have expired and been taken by another replica).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SharedCache:
    def __init__(self, shared: SharedState, namespace: str) -> None:
        self._shared, self._namespace = shared, namespace
        self._release = shared.client.register_script(_RELEASE)

    def _key(self, key: str, kind: str = "entry") -> str:
        return self._shared.key("cache", self._namespace, kind, key)

    async def get(self, key: str) -> dict[str, Any] | None | _Down:
        """The entry, None when there is none, DOWN when Redis cannot say."""
        client, name = self._shared.client, self._key(key)

        async def read() -> bytes:
            value = await client.get(name)
            return value if value is not None else _MISSING

        raw = await self._shared.run("cache_get", read)
        if raw is None:
            return DOWN
        if raw == _MISSING:
            return None
        try:
            entry = json.loads(raw)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None

    async def put(self, key: str, entry: dict[str, Any], ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        client, name, value = self._shared.client, self._key(key), json.dumps(entry, separators=(",", ":"))
        await self._shared.run("cache_put", lambda: client.set(name, value, px=max(1, round(ttl_s * 1000))))

    async def claim(self, key: str, hold_s: float) -> str | None | _Down:
        """A token when this replica may ask BAW for `key` (release it after), None when another one holds it."""
        client, name, token = self._shared.client, self._key(key, "lock"), secrets.token_hex(8)

        async def take() -> bool:
            return bool(await client.set(name, token, nx=True, px=max(1, round(hold_s * 1000))))

        won = await self._shared.run("cache_lock", take)
        if won is None:
            return DOWN
        return token if won else None

    async def release(self, key: str, token: str) -> None:
        name = self._key(key, "lock")
        await self._shared.run("cache_unlock", lambda: self._release(keys=[name], args=[token]))

    async def wait(self, key: str, hold_s: float) -> dict[str, Any] | None:
        """The entry another replica is fetching, or None when it did not come within `hold_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hold_s
        while loop.time() < deadline:
            await asyncio.sleep(POLL_S)
            entry = await self.get(key)
            if entry is DOWN:
                return None
            if entry is not None:
                return entry  # type: ignore[return-value]
        return None
