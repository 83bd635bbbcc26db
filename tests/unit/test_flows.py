"""The façade's local tables (one replica, or Redis down): bounded, never evicting, keys only as hashes."""

from __future__ import annotations

import pytest

from gateway.shared.flows import FlowStore, StoreFull, hashed
from tests.clock import ManualClock


async def test_a_full_table_refuses_rather_than_evicting_an_entry_under_way() -> None:
    clock = ManualClock()
    store = FlowStore(clock=clock, bounds={"flow": 3})
    for index in range(3):
        await store.put("flow", f"f{index}", {"n": index}, 600)
    with pytest.raises(StoreFull):
        await store.put("flow", "flood", {"n": 99}, 600)
    assert await store.get("flow", "f0") == {"n": 0}  # the oldest is still there
    clock.now += 601  # expired entries make room
    await store.put("flow", "later", {"n": 4}, 600)
    assert await store.get("flow", "later") == {"n": 4} and await store.get("flow", "f0") is None


async def test_keys_are_kept_as_hashes_only() -> None:
    store = FlowStore(clock=ManualClock())
    await store.put("code", "the-code-itself", {"subject": "alice"}, 60)
    table = store._table("code")
    assert "the-code-itself" not in table and hashed("the-code-itself") in table
    assert await store.take("code", "the-code-itself") == {"subject": "alice"}
    assert await store.take("code", "the-code-itself") is None


async def test_rotate_moves_a_family_on_and_a_stale_token_revokes_it() -> None:
    store = FlowStore(clock=ManualClock())
    await store.put("refresh", "fam", {"subject": "alice", "current": "h1"}, 600)
    assert (await store.rotate("refresh", "fam", "h1", "h2", 600))["subject"] == "alice"
    assert await store.rotate("refresh", "fam", "h1", "h3", 600) is None  # h1 is spent: the family goes
    assert await store.rotate("refresh", "fam", "h2", "h3", 600) is None
