"""Deadlines for many concurrent tasks, served by one timer rather than one per task.

`asyncio.timeout` arms a timer on entry and cancels it on exit: 3.9 µs on uvloop, a twentieth of a cached answer,
paid by every request (its deadline) and every Redis batch (its timeout) although almost none ever expires. A
`Deadlines` book holds the deadlines of one fixed delay. Set in that order, they fall due in that order, so one
timer armed for the earliest serves them all: setting and clearing a deadline is a dict insert and delete, and the
timer moves once per delay while traffic lasts. The semantics are asyncio.timeout's: on expiry the task is
cancelled, and the block raises TimeoutError unless the task was also cancelled from elsewhere.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from aiohttp import web


class Deadlines:
    """`with deadlines.within():` bounds a block of the current task by `delay_s`."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._pending: dict[Deadline, None] = {}  # in the order set, which is the order due (one delay)
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def within(self) -> Deadline:
        return Deadline(self)

    def _set(self, deadline: Deadline, loop: asyncio.AbstractEventLoop) -> None:
        self._pending[deadline] = None
        # A timer already armed on this loop is due no later than this deadline: nothing to do.
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_at(deadline.when, self._expire_due)

    def _expire_due(self) -> None:
        """Expire what is due, then sleep until the earliest deadline still pending (cleared ones are gone)."""
        self._timer = None
        loop = self._loop
        assert loop is not None  # (armed only with a loop)
        now = loop.time()
        while self._pending:
            deadline = next(iter(self._pending))
            if deadline.when > now:
                self._timer = loop.call_at(deadline.when, self._expire_due)
                return
            del self._pending[deadline]
            deadline.expire()


class Deadline:
    __slots__ = ("_book", "_task", "_cancelling", "expired", "when")

    def __init__(self, book: Deadlines) -> None:
        self._book = book
        self.expired = False

    def __enter__(self) -> Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline bounds a block of a task")
        loop = task.get_loop()
        self._task, self._cancelling = task, task.cancelling()
        self.when = loop.time() + self._book.delay_s
        self._book._set(self, loop)
        return self

    def expire(self) -> None:
        self.expired = True
        self._task.cancel()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self.expired:
            del self._book._pending[self]
        elif self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from error


REQUEST_DEADLINES: web.AppKey[Deadlines] = web.AppKey("request_deadlines")  # GATEWAY_REQUEST_TIMEOUT_S
