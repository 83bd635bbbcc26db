"""Where the process is in its life: serving, or draining with requests still in flight."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Lifecycle:
    """Where the process is in its life: draining (set on SIGTERM; /readyz turns 503) and the requests in flight
    (counted by the outermost middleware, so the drain can wait for them)."""

    draining: bool = False
    in_flight: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def begin(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def end(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once no request is in flight, False if some still are after `timeout_s`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle")
