"""ProcessService: what the REST handlers (and the MCP tools) call; caching and coalescing live here.

Successful lookups are kept for GATEWAY_CACHE_TTL_S, `not_found` for the shorter GATEWAY_CACHE_NOT_FOUND_TTL_S,
failures never. Concurrent lookups of one id share one BAW call, and its failure.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Callable

from cachetools import TLRUCache

from gateway.baw.client import BawClient
from gateway.baw.models import (
    Failure,
    ProcessInstance,
    ProcessStatus,
    ProcessSummary,
    RuntimeFailure,
    TaskDetails,
    TaskPage,
)
from gateway.errors import GatewayError, NotFound
from gateway.metrics import Metrics


class CacheResult(StrEnum):
    HIT = "hit"
    MISS = "miss"
    COALESCED = "coalesced"  # joined a BAW call already in flight for the same id


@dataclass(frozen=True, slots=True)
class Lookup:
    instance: ProcessInstance
    cache: CacheResult
    # Shared by every hit on the same cache entry: callers keep what they derive from the instance (the
    # rendered answer) here, so a hot id is rendered once per TTL rather than once per request.
    memo: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Entry:
    instance: ProcessInstance
    memo: dict[str, Any]


class ProcessService:
    def __init__(
        self,
        client: BawClient,
        metrics: Metrics,
        *,
        ttl_s: float,
        not_found_ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._metrics = client, metrics
        self._ttl_s, self._not_found_ttl_s = ttl_s, not_found_ttl_s
        self._cache: TLRUCache[str, _Entry | NotFound] | None = (
            TLRUCache(maxsize=max_entries, ttu=self._expires, timer=clock) if ttl_s > 0 else None
        )
        self._in_flight: dict[str, asyncio.Task[_Entry]] = {}

    def _expires(self, key: str, value: _Entry | NotFound, now: float) -> float:
        return now + (self._not_found_ttl_s if isinstance(value, NotFound) else self._ttl_s)

    async def lookup(self, process_id: str) -> Lookup:
        """The status of one process instance, by its numeric BAW id."""
        cached = self._cache.get(process_id) if self._cache is not None else None
        if cached is not None:
            self._metrics.cache_result(CacheResult.HIT)
            if isinstance(cached, NotFound):
                raise cached.detached()
            return Lookup(cached.instance, CacheResult.HIT, cached.memo)
        call = self._in_flight.get(process_id)
        result = CacheResult.COALESCED
        if call is None:
            result = CacheResult.MISS
            # Its own task: the call goes on (and fills the cache) even if the request that started it is
            # cancelled, and everyone waiting on it gets its outcome.
            call = asyncio.create_task(self._call_baw(process_id), name=f"baw-lookup-{process_id}")
            call.add_done_callback(_retrieve)
            self._in_flight[process_id] = call
        self._metrics.cache_result(result)
        try:
            entry = await asyncio.shield(call)
        except GatewayError as exc:
            # A copy per waiter: re-raising the one shared instance would pile every waiter's traceback onto it.
            raise exc.detached() from None
        return Lookup(entry.instance, result, entry.memo)

    async def _call_baw(self, process_id: str) -> _Entry:
        try:
            entry = _Entry(await self._client.process_details(process_id), {})
        except NotFound as exc:
            # Detached: the cached error keeps no traceback, frames, BAW response or Authorization header alive.
            self._remember(process_id, exc.detached())
            raise
        else:
            self._remember(process_id, entry)
            return entry
        finally:
            del self._in_flight[process_id]

    async def tasks(self, process_id: str, which: str, *, limit: int, offset: int) -> TaskPage:
        return await self._client.task_page(process_id, which, limit=limit, offset=offset)

    async def task(self, task_id: str, *, with_variables: bool) -> TaskDetails:
        return await self._client.task_details(task_id, with_variables=with_variables)

    async def failure(self, process_id: str) -> Failure:
        """Why an instance failed: its status (from the cache when fresh) and, if failed, BAW's runtime errors."""
        lookup = await self.lookup(process_id)
        failures: tuple[RuntimeFailure, ...] = ()
        if lookup.instance.status is ProcessStatus.FAILED:
            failures = await self._client.runtime_failures(process_id)
        return Failure(lookup.instance, failures)

    async def search(self, filters: dict[str, str], name_contains: str | None) -> tuple[ProcessSummary, ...]:
        """BAW filters what it can; the text in the name is matched here, case-insensitively."""
        hits = await self._client.search_processes(filters)
        if name_contains:
            needle = name_contains.casefold()
            hits = tuple(hit for hit in hits if needle in (hit.name or "").casefold())
        return tuple(sorted(hits, key=lambda hit: (hit.last_updated is not None, hit.last_updated), reverse=True))

    async def overview(self, app: str | None) -> dict[ProcessStatus, int]:
        return await self._client.status_overview(app)

    def _remember(self, process_id: str, value: _Entry | NotFound) -> None:
        if self._cache is not None and (self._not_found_ttl_s > 0 or not isinstance(value, NotFound)):
            self._cache[process_id] = value


def _retrieve(call: asyncio.Task[_Entry]) -> None:
    """Mark the outcome as seen, so a failure whose waiters all went away is not reported as unhandled."""
    if not call.cancelled():
        call.exception()
