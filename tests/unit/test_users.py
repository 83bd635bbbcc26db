from __future__ import annotations

import asyncio

from gateway.baw.tokens import Token
from gateway.baw.users import Subject, UserCredentials
from tests.clock import ManualClock


class CountingSource:
    target = "the test exchange"

    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.calls = clock, 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self, subject: Subject) -> Token:
        self.calls += 1
        await self.gate.wait()
        return Token(f"Bearer {subject.username}-{self.calls}", self.clock.now + 300, 300)


def test_the_table_holds_at_most_its_bound_of_users_whatever_their_number() -> None:
    clock = ManualClock()
    table = UserCredentials(CountingSource(clock), max_users=1000, idle_s=900, clock=clock)
    for n in range(5000):
        table.for_user(f"user:https://idp#{n}", Subject("token", f"u{n}"))
    assert len(table) == 1000
    assert "user:https://idp#4999" in table._users and "user:https://idp#0" not in table._users


async def test_one_renewal_per_user_however_many_requests_wait() -> None:
    clock = ManualClock()
    source = CountingSource(clock)
    source.gate.clear()
    table = UserCredentials(source, max_users=10, idle_s=900, clock=clock)
    credential = table.for_user("user:https://idp#alice", Subject("token", "alice"))
    waiting = [asyncio.create_task(credential.authorization()) for _ in range(50)]
    await asyncio.sleep(0)
    source.gate.set()
    assert set(await asyncio.gather(*waiting)) == {"Bearer alice-1"} and source.calls == 1
