"""The renewal machinery every background renewal shares (the BAW token, the OAuth issuer's keys): when to renew,
how to back off while failing, and a sleep that a request for an early renewal cuts short."""

from __future__ import annotations

import asyncio


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
