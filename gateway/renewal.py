"""The one renewal loop, which every background renewal runs (the BAW credential, the OAuth issuers' keys, the
sweep of the users' credentials): when to renew, how to back off while failing, and a wait that a request for an
early renewal cuts short."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


def renewal_delay(lifetime: float, *, jitter: float) -> float:
    """Seconds until renewal: 80 % of the lifetime or 60 s before the end, whichever comes first.

    The 60-second rule applies only when it leaves at least half the lifetime (tokens of 2 minutes and
    more); for shorter tokens it would renew almost at once and hammer the token endpoint. `jitter` in
    [0, 1) shortens the delay by up to 10 % so that replicas do not renew in step.
    """
    delay = 0.8 * lifetime
    if lifetime - 60 >= 0.5 * lifetime:
        delay = min(delay, lifetime - 60)
    return delay * (1 - 0.1 * jitter)


def retry_delay(failures: int, *, jitter: float, cap: float) -> float:
    """Capped exponential backoff with jitter after `failures` failed renewals in a row (1, 2, 4 … cap s)."""
    return min(cap, 2.0 ** (failures - 1)) * (0.5 + 0.5 * jitter)


async def sleep_or_wake(delay: float, wake: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(wake.wait(), delay)
    except TimeoutError:
        pass


class Renewal:
    """`attempt()` renews and answers the seconds until the next attempt; an exception is a failed attempt, after
    which the loop backs off (1, 2, 4 … `cap_s` seconds, jittered), logs it, and tries again; `wake()` ends the wait
    at once (a credential BAW refused). The loop outlives any one failure."""

    def __init__(
        self,
        what: str,
        attempt: Callable[[], Awaitable[float]],
        *,
        cap_s: float = 30.0,
        jitter: Callable[[], float] = random.random,
        sleep: Callable[[float, asyncio.Event], Awaitable[None]] = sleep_or_wake,
    ) -> None:
        self.what, self._attempt, self._cap_s, self._jitter, self._sleep = what, attempt, cap_s, jitter, sleep
        self.failures = 0  # failed attempts in a row
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                delay = await self._attempt()
            except Exception as exc:  # noqa: BLE001 - the renewal must outlive any one failure
                self.failures += 1
                delay = retry_delay(self.failures, jitter=self._jitter(), cap=self._cap_s)
                detail = getattr(exc, "for_log", None)  # a GatewayError's, which names no secret
                if detail is None:
                    log.error("%s failed unexpectedly, next try in %.1f s", self.what, delay, exc_info=exc)
                else:
                    log.warning(
                        "%s failed (%d in a row), next try in %.1f s: %s", self.what, self.failures, delay, detail
                    )
            else:
                self.failures = 0
            self._wake.clear()
            await self._sleep(delay, self._wake)
