"""Deadlines served by one timer behave as asyncio.timeout does: the late block raises TimeoutError, the task is not
left cancelled, a cancellation from elsewhere stays a cancellation; and the timer is armed once per delay, not once
per use (what the module is for)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.deadlines import Deadline, Deadlines


async def test_a_block_that_outlives_its_deadline_raises_timeout_and_the_task_goes_on() -> None:
    deadlines = Deadlines(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        with deadlines.within():
            await asyncio.sleep(5)
    assert 0.04 <= loop.time() - started < 1
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # not cancelled again later


async def test_blocks_in_time_are_untouched_and_leave_nothing_pending() -> None:
    deadlines = Deadlines(0.05)
    for _ in range(3):
        with deadlines.within() as deadline:
            await asyncio.sleep(0)
        assert not deadline.expired
    assert not deadlines._pending
    await asyncio.sleep(0.1)  # the timer fires over an empty book
    assert deadlines._timer is None


async def test_of_many_concurrent_blocks_exactly_the_late_ones_time_out() -> None:
    deadlines = Deadlines(0.5)  # (far from the quick blocks' 10 ms: a slow machine does not make them late)

    async def block(seconds: float) -> str:
        try:
            with deadlines.within():
                await asyncio.sleep(seconds)
        except TimeoutError:
            return "late"
        return "in time"

    outcomes = await asyncio.gather(*(block(0.01 if n % 2 else 3) for n in range(100)))
    assert outcomes == ["in time" if n % 2 else "late" for n in range(100)]
    assert not deadlines._pending


async def test_sequential_uses_share_one_timer() -> None:
    deadlines = Deadlines(30)
    with deadlines.within():
        await asyncio.sleep(0)
    timer = deadlines._timer
    for _ in range(100):
        with deadlines.within():
            await asyncio.sleep(0)
    assert timer is not None and deadlines._timer is timer
    timer.cancel()


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(5)
    entered = asyncio.Event()

    async def block() -> None:
        with deadlines.within():
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(block())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._pending


async def test_a_cancellation_racing_the_deadline_is_not_swallowed() -> None:
    """Cancelled from elsewhere in the loop turn the deadline expires: the cancellation wins, as with
    asyncio.timeout (a drain cancelling requests must not see them turned into timeouts)."""
    deadlines = Deadlines(0.05)
    entered: asyncio.Future[Deadline] = asyncio.get_running_loop().create_future()

    async def block() -> None:
        with deadlines.within() as deadline:
            entered.set_result(deadline)
            await asyncio.sleep(10)

    task = asyncio.create_task(block())
    deadline = await entered
    asyncio.get_running_loop().call_at(deadline.when, task.cancel)  # due with the deadline: the same turn
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deadline.expired  # both happened; the deadline's own TimeoutError gave way


def test_a_deadline_outside_a_task_is_refused() -> None:
    with pytest.raises(RuntimeError):
        with Deadlines(1).within():
            pass
