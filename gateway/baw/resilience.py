"""Protecting BAW and our callers from each other, without letting one instance or one caller decide for all:

- `BawHealth`, the circuit breaker, judges BAW as a whole: it opens on a failure (or slow-call) *rate* over a
  sliding window, only with enough calls and only when the failures are spread over several distinct subjects
  asked by several distinct callers (resilience4j's model plus the distinct-subject and distinct-caller rules:
  one caller's broken ids never open it for everyone). One lookup is one outcome, whatever its retries.
- `FailureMemory` remembers, briefly, a failure that belongs to one subject (its 500, malformed answer or
  timeout) and answers it again, so a broken instance costs BAW one call per TTL and nobody else anything.
- `FairSlots` caps the calls in flight to BAW and gives each caller a bounded share of them, so one caller's
  slow ids cannot starve the others.
- Retries with full-jitter backoff, bounded in count and time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable, Hashable

from cachetools import TTLCache

from gateway.config import Settings
from gateway.deadlines import Deadlines
from gateway.errors import BawError, BawTimeout, BawUnavailable, GatewayError, NoCredential, Overloaded, RateLimited

RETRY_ATTEMPTS = 3
RETRY_BASE_S = 0.2
RETRY_CAP_S = 2.0
# Every attempt is bounded by BAW_TIMEOUT_S and timeouts are never retried; this bounds the retries of one
# lookup (a new attempt never starts after it), so the shutdown budget can count on it.
RETRY_DEADLINE_S = 15.0


def backoff_delay(attempt: int, *, jitter: float) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1-based): uniform in [0, min(cap, base·2ⁿ)]."""
    return jitter * min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt)


def says_nothing_about_baw(error: GatewayError) -> bool:
    """Errors raised before BAW was asked (no credential, our own capacity, the caller's share)."""
    return isinstance(error, (NoCredential, Overloaded, RateLimited))


def belongs_to_subject(error: GatewayError) -> bool:
    """An error about one instance or task: its 500 or unusable answer, or its timeout. A 503 or an unreachable
    BAW is about BAW as a whole and is not remembered per subject."""
    return isinstance(error, (BawError, BawTimeout))


@dataclass(frozen=True)
class BreakerPolicy:
    """The breaker's thresholds; the defaults are the settings' (declared once, in config.py)."""

    window_s: float = Settings.breaker_window_s
    min_calls: int = Settings.breaker_min_calls
    failure_rate: float = Settings.breaker_failure_rate
    slow_call_s: float = Settings.breaker_slow_call_s
    slow_rate: float = 0.8
    min_subjects: int = Settings.breaker_min_ids
    min_callers: int = Settings.breaker_min_callers
    cooldown_s: float = Settings.breaker_cooldown_s


# (at, subject, caller, failed, slow): a plain tuple of plain values, which the garbage collector stops tracking (a
# NamedTuple or dataclass stays tracked). The window holds up to 10,000, as many objects for every full collection
# to scan as a cache of 10,000 answers.
_Outcome = tuple[float, str, str, bool, bool]


class BawHealth:
    """The circuit breaker. Closed: every call goes through and its outcome is recorded. Open: calls fail fast
    for `cooldown_s`. Then one probe call decides: success closes (and forgets the window), failure reopens."""

    _MAX_OUTCOMES = 10_000  # bounds memory whatever the traffic; the window is pruned by time as well

    def __init__(
        self,
        policy: BreakerPolicy,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] = lambda is_open: None,
    ) -> None:
        self._policy, self._clock, self._on_change = policy, clock, on_change
        self._outcomes: deque[_Outcome] = deque()
        # Running tallies of the window, so judging it costs O(1) per call instead of a scan of up to
        # _MAX_OUTCOMES outcomes (the scan was 30 % of the CPU of an uncached lookup under load).
        self._failed: Counter[str] = Counter()  # failed outcomes in the window, by subject
        self._slow: Counter[str] = Counter()
        self._failed_callers: Counter[str] = Counter()  # and by caller
        self._slow_callers: Counter[str] = Counter()
        self._failed_total = self._slow_total = 0
        self.__opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    @property
    def _opened_at(self) -> float | None:
        return self.__opened_at

    @_opened_at.setter
    def _opened_at(self, value: float | None) -> None:
        if (value is None) != (self.__opened_at is None):
            self._on_change(value is not None)  # the gauge operators alert on
        self.__opened_at = value

    def before_call(self) -> None:
        if self._opened_at is None:
            return
        remaining = self._opened_at + self._policy.cooldown_s - self._clock()
        if remaining > 0 or self._probing:
            raise BawUnavailable(
                "BAW is failing for many different requests; the gateway gives it time to recover before calling "
                "it again.",
                retry_after=max(1, math.ceil(remaining)),
            )
        self._probing = True  # this call is the probe; the others keep failing fast until it returns

    def record(self, subject: str, *, failed: bool, seconds: float, caller: str = "-") -> None:
        now = self._clock()
        if self._probing:
            self._probing = False
            if failed:
                self._opened_at = now
            else:
                self._opened_at = None
                self._forget()
            return
        if len(self._outcomes) >= self._MAX_OUTCOMES:
            self._drop_oldest()
        slow = seconds >= self._policy.slow_call_s
        self._outcomes.append((now, subject, caller, failed, slow))
        if failed:
            self._failed[subject] += 1
            self._failed_callers[caller] += 1
            self._failed_total += 1
        if slow:
            self._slow[subject] += 1
            self._slow_callers[caller] += 1
            self._slow_total += 1
        if self._opened_at is None and self._tripped(now):
            self._opened_at = now

    def record_error(self, subject: str, error: GatewayError, seconds: float, caller: str = "-") -> None:
        """BAW failing (5xx, unusable answers, timeouts, unreachable) counts against it; a 4xx answer shows BAW
        is up; an error raised before BAW was asked decides nothing."""
        if says_nothing_about_baw(error):
            self.abandon()
        else:
            self.record(subject, failed=error.status >= 502, seconds=seconds, caller=caller)

    def abandon(self) -> None:
        """The call was cancelled (the caller went away) or never reached BAW: it decided nothing."""
        self._probing = False

    def _drop_oldest(self) -> None:
        _, subject, caller, failed, slow = self._outcomes.popleft()
        for happened, tally, key in (
            (failed, self._failed, subject),
            (slow, self._slow, subject),
            (failed, self._failed_callers, caller),
            (slow, self._slow_callers, caller),
        ):
            if happened:
                tally[key] -= 1
                if not tally[key]:
                    del tally[key]
        self._failed_total -= failed
        self._slow_total -= slow

    def _forget(self) -> None:
        self._outcomes.clear()
        self._failed.clear()
        self._slow.clear()
        self._failed_callers.clear()
        self._slow_callers.clear()
        self._failed_total = self._slow_total = 0

    def _tripped(self, now: float) -> bool:
        policy = self._policy
        outcomes = self._outcomes
        while outcomes and outcomes[0][0] < now - policy.window_s:  # the oldest's time
            self._drop_oldest()
        calls = len(outcomes)
        if calls < policy.min_calls:
            return False
        for bad, subjects, callers, rate in (
            (self._failed_total, self._failed, self._failed_callers, policy.failure_rate),
            (self._slow_total, self._slow, self._slow_callers, policy.slow_rate),
        ):
            if (
                bad
                and bad >= rate * calls
                and len(subjects) >= policy.min_subjects
                and len(callers) >= policy.min_callers
            ):
                return True
        return False


class FailureMemory:
    """Failures that belong to one subject, answered again for `ttl_s` without calling BAW.

    What is kept is a detached copy of the error (no traceback, frames, response or headers): a bounded table of
    small objects, whatever the failures were."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._errors: TTLCache[Hashable, GatewayError] | None = (
            TTLCache(maxsize=max_entries, ttl=ttl_s, timer=clock) if ttl_s > 0 else None
        )

    def recall(self, key: Hashable) -> GatewayError | None:
        if self._errors is None:
            return None
        error = self._errors.get(key)
        return error.detached() if error is not None else None

    def remember(self, key: Hashable, error: GatewayError) -> None:
        if self._errors is not None and belongs_to_subject(error):
            self._errors[key] = error.detached()


class FairSlots:
    """At most `limit` calls to BAW in flight, and at most `per_caller` of them for any one caller.

    A call that cannot get a slot within `wait_s` is refused: 429 when its caller already holds its share (the
    caller's own excess), 503 when the gateway as a whole is full."""

    def __init__(self, limit: int, per_caller: int, wait_s: float) -> None:
        self._limit, self._per_caller = limit, min(per_caller, limit)
        self._waits = Deadlines(wait_s)
        self._slots = asyncio.Semaphore(limit)
        self._callers: dict[str, asyncio.Semaphore] = {}  # only callers with calls in flight: bounded by `limit`
        self._holders: dict[str, int] = {}

    def slot(self, caller: str) -> _Slot:
        """A slot for one call of `caller`'s, held while the `async with` block runs."""
        return _Slot(self, caller)

    async def _enter(self, caller: str) -> asyncio.Semaphore:
        """Take the caller's share, then a gateway slot (leaving as it was when refused or cancelled)."""
        share = self._callers.get(caller)
        if share is None:
            share = self._callers[caller] = asyncio.Semaphore(self._per_caller)
        self._holders[caller] = self._holders.get(caller, 0) + 1
        try:
            await self._acquire(share, self._caller_full)
            try:
                await self._acquire(self._slots, self._gateway_full)
            except BaseException:
                share.release()
                raise
        except BaseException:
            self._leave(caller)
            raise
        return share

    def _exit(self, caller: str, share: asyncio.Semaphore) -> None:
        self._slots.release()
        share.release()
        self._leave(caller)

    def _leave(self, caller: str) -> None:
        self._holders[caller] -= 1
        if not self._holders[caller]:
            del self._holders[caller], self._callers[caller]

    async def _acquire(self, semaphore: asyncio.Semaphore, refusal: Callable[[], GatewayError]) -> None:
        if not semaphore.locked():  # only a call that has to queue pays for a timer
            await semaphore.acquire()
            return
        try:
            with self._waits.within():  # (one timer for all waits: one caller's burst can queue most calls)
                await semaphore.acquire()
        except TimeoutError:
            raise refusal() from None

    def _caller_full(self) -> GatewayError:
        return RateLimited(
            f"This caller already has {self._per_caller} calls to BAW in flight; wait for their answers.", retry_after=1
        )

    def _gateway_full(self) -> GatewayError:
        return Overloaded(f"The gateway already has {self._limit} calls to BAW in flight; try again shortly.")


class _Slot:
    """`FairSlots.slot` as a class rather than a generator-based context manager: it wraps every call to BAW, and
    the generator's machinery cost a microsecond a call."""

    __slots__ = ("_fair", "_caller", "_share")

    def __init__(self, fair: FairSlots, caller: str) -> None:
        self._fair, self._caller = fair, caller

    async def __aenter__(self) -> None:
        self._share = await self._fair._enter(self._caller)

    async def __aexit__(self, *exc_info: object) -> None:
        self._fair._exit(self._caller, self._share)
