from __future__ import annotations

from aiohttp_tiny_mcp.storage.sessions import handshake_data

from gateway.context import caller_var
from gateway.shared.sessions import BoundedSessionStore
from tests.clock import ManualClock


async def _open(store: BoundedSessionStore, caller: str, session_id: str) -> None:
    token = caller_var.set(caller)
    try:
        assert await store.create(session_id, handshake_data("2025-06-18", {}), ttl_seconds=60)
    finally:
        caller_var.reset(token)


async def test_one_caller_pushes_out_only_its_own_oldest_sessions() -> None:
    store = BoundedSessionStore(max_sessions=100, per_caller=3, clock=ManualClock())
    await _open(store, "key:polite", "p1")
    for n in range(10):
        await _open(store, "key:greedy", f"g{n}")
    assert await store.get("p1") is not None
    assert [sid for sid in ("g6", "g7", "g8", "g9") if await store.get(sid)] == ["g7", "g8", "g9"]
    assert len(store) == 4


async def test_the_least_recently_used_session_goes_first_and_idle_ones_expire() -> None:
    clock = ManualClock()
    store = BoundedSessionStore(max_sessions=2, per_caller=10, clock=clock)
    await _open(store, "a", "s1")
    await _open(store, "b", "s2")
    assert await store.touch("s1", ttl_seconds=60)  # s1 used again: s2 is now the least recently used
    await _open(store, "c", "s3")
    assert await store.get("s2") is None and await store.get("s1") is not None
    clock.now += 61
    assert await store.get("s1") is None and await store.get("s3") is None
    assert len(store) == 0
