"""ProcessService: what the REST handlers (and the MCP tools) call; caching and coalescing live here.

Successful lookups are kept for GATEWAY_CACHE_TTL_S, `not_found` for the shorter GATEWAY_CACHE_NOT_FOUND_TTL_S,
failures only as the BAW client's per-id failure memory. Concurrent lookups of one id share one BAW call, and its
failure. In cluster mode (Redis) the answers are shared by the replicas, with a short local L1 in front, and a
per-id lock makes a burst spread over every replica cost one BAW call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Callable

import orjson
from aiohttp import web
from cachetools import TLRUCache, TTLCache

from gateway import tracing
from gateway.baw.client import BawClient
from gateway.codec import decode_instance, encode_instance
from gateway.context import baw_identity_var
from gateway.errors import GatewayError, NotFound, error_from
from gateway.metrics import Metrics
from gateway.model import (
    Failure,
    ProcessApp,
    ProcessInstance,
    ProcessStatus,
    ProcessSummary,
    RuntimeFailure,
    TaskDetails,
    TaskPage,
)
from gateway.shared.cache import Found, SharedCache

L1_TTL_S = 1.0
# A failure is shared at least this long, so replicas waiting on the lock holder see it rather than all asking BAW.
_SHARED_FAILURE_S = 1.0


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
        shared: SharedCache | None = None,
        failure_ttl_s: float = 0.0,
        lock_s: float = 10.0,
        instance_url: str = "{id}",
    ) -> None:
        """`instance_url`: where a person opens an instance in BAW's own UI, `{id}` standing for its id."""
        self._client, self._metrics = client, metrics
        self._ttl_s, self._not_found_ttl_s, self._failure_ttl_s = ttl_s, not_found_ttl_s, failure_ttl_s
        self._shared, self._lock_s = shared, lock_s
        # In cluster mode the local cache is a small L1 in front of the shared one: short enough that replicas
        # agree, long enough that a hot id costs no Redis round trip.
        self._local_ttl_s = min(ttl_s, L1_TTL_S) if shared is not None else ttl_s
        self._local_not_found_ttl_s = min(not_found_ttl_s, L1_TTL_S) if shared is not None else not_found_ttl_s
        self._cache: TLRUCache[str, _Entry | NotFound] | None = (
            TLRUCache(maxsize=max_entries, ttu=self._expires, timer=clock) if ttl_s > 0 else None
        )
        self._in_flight: dict[str, asyncio.Task[tuple[_Entry, CacheResult]]] = {}
        # Searches and the app list, by BAW identity and filters, for as long as a lookup is kept: a host's
        # company-knowledge search asks the same words again as a conversation goes on.
        self._listings: TTLCache[tuple[Any, ...], Any] | None = (
            TTLCache(maxsize=1_000, ttl=ttl_s, timer=clock) if ttl_s > 0 else None
        )
        self._instance_url = instance_url

    def instance_url(self, process_id: str) -> str:
        return self._instance_url.replace("{id}", process_id)

    def _expires(self, key: str, value: _Entry | NotFound, now: float) -> float:
        return now + (self._local_not_found_ttl_s if isinstance(value, NotFound) else self._local_ttl_s)

    async def lookup(self, process_id: str) -> Lookup:
        """The status of one process instance, by its numeric BAW id, as the current BAW identity sees it."""
        if not tracing.recording():
            return await self._lookup(process_id)
        with tracing.span("lookup process instance", attributes={"baw.process_id": process_id}) as span:
            found = await self._lookup(process_id)
            if span is not None:
                span.set_attribute("gateway.cache.result", str(found.cache))  # hit, miss or coalesced
            return found

    async def _lookup(self, process_id: str) -> Lookup:
        identity = baw_identity_var.get()
        # In user mode answers are kept per user: one user never receives what another's credential fetched.
        key = process_id if identity == "service" else f"{identity}|{process_id}"
        cached = self._cache.get(key) if self._cache is not None else None
        if cached is not None:
            self._metrics.cache_result(CacheResult.HIT)
            if isinstance(cached, NotFound):
                raise cached.detached()
            return Lookup(cached.instance, CacheResult.HIT, cached.memo)
        call = self._in_flight.get(key)
        joined = call is not None
        if call is None:
            # Its own task: the call goes on (and fills the cache) even if the request that started it is
            # cancelled, and everyone waiting on it gets its outcome.
            call = asyncio.create_task(self._resolve(key, process_id), name=f"baw-lookup-{process_id}")
            call.add_done_callback(_retrieve)
            self._in_flight[key] = call
        try:
            entry, origin = await asyncio.shield(call)
        except GatewayError as exc:
            self._metrics.cache_result(CacheResult.COALESCED if joined else CacheResult.MISS)
            # A copy per waiter: re-raising the one shared instance would pile every waiter's traceback onto it.
            raise exc.detached() from None
        result = CacheResult.COALESCED if joined else origin
        self._metrics.cache_result(result)
        return Lookup(entry.instance, result, entry.memo)

    async def _resolve(self, key: str, process_id: str) -> tuple[_Entry, CacheResult]:
        try:
            if self._shared is not None:
                instance, origin = await self._from_shared(self._shared, key, process_id)
            else:
                instance, origin = await self._client.process_details(process_id), CacheResult.MISS
        except NotFound as exc:
            # Detached: the cached error keeps no traceback, frames, BAW response or Authorization header alive.
            self._remember(key, exc.detached())
            raise
        else:
            entry = _Entry(instance, {})
            self._remember(key, entry)
            return entry, origin
        finally:
            del self._in_flight[key]

    async def _from_shared(self, shared: SharedCache, key: str, process_id: str) -> tuple[ProcessInstance, CacheResult]:
        """Cluster mode: another replica's answer when there is one (or one is being fetched), else BAW's, shared."""
        found = await shared.find(key, self._lock_s)
        if found.found is Found.ENTRY and (instance := _unpack(found.entry)) is not None:
            return instance, CacheResult.HIT
        if found.found is Found.BUSY:  # another replica is asking BAW: wait for its answer
            waited = await shared.wait(key, self._lock_s)
            if waited is not None and (instance := _unpack(waited)) is not None:
                return instance, CacheResult.COALESCED
        entry: dict[str, Any] | None = None
        ttl_s = 0.0
        try:
            instance = await self._client.process_details(process_id)
        except NotFound as exc:
            entry, ttl_s = _failure(exc), self._not_found_ttl_s or _SHARED_FAILURE_S
            raise
        except GatewayError as exc:
            entry, ttl_s = _failure(exc), max(_SHARED_FAILURE_S, self._failure_ttl_s)
            raise
        else:
            # (a Fragment: the instance's JSON goes into the entry as written, not parsed and written again)
            entry, ttl_s = {"ok": orjson.Fragment(encode_instance(instance))}, self._ttl_s
            return instance, CacheResult.MISS
        finally:
            if found.found is not Found.DOWN:
                await shared.store(key, entry, ttl_s, found.token)

    async def close(self) -> None:
        """At shutdown, end the lookups that outlived their requests while BAW and Redis are still open: left
        running they would call BAW over a closed session and store through a closed Redis link (reopening it).
        Cancelled, a lookup in cluster mode still releases its cross-replica lock on the way out."""
        calls = list(self._in_flight.values())
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

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
        key = ("search", baw_identity_var.get(), tuple(sorted(filters.items())))
        hits = self._listings.get(key) if self._listings is not None else None
        if hits is None:
            hits = await self._client.search_processes(filters)
            if self._listings is not None:
                self._listings[key] = hits
        if name_contains:
            needle = name_contains.casefold()
            hits = tuple(hit for hit in hits if needle in (hit.name or "").casefold())
        return tuple(sorted(hits, key=lambda hit: (hit.last_updated is not None, hit.last_updated), reverse=True))

    async def process_apps(self) -> tuple[ProcessApp, ...]:
        key = ("apps", baw_identity_var.get())
        apps = self._listings.get(key) if self._listings is not None else None
        if apps is None:
            apps = await self._client.process_apps()
            if self._listings is not None:
                self._listings[key] = apps
        return apps

    async def overview(self, app: str | None) -> dict[ProcessStatus, int]:
        return await self._client.status_overview(app)

    def _remember(self, process_id: str, value: _Entry | NotFound) -> None:
        if self._cache is not None and (self._local_not_found_ttl_s > 0 or not isinstance(value, NotFound)):
            self._cache[process_id] = value


def _failure(error: GatewayError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message, "retry_after": error.retry_after}}


def _unpack(entry: dict[str, Any] | None) -> ProcessInstance | None:
    """An instance from a shared entry; a shared failure is raised; None for an entry this release cannot read."""
    if entry is None:
        return None
    failure = entry.get("error")
    if isinstance(failure, dict):
        raise error_from(str(failure.get("code")), str(failure.get("message")), failure.get("retry_after"))
    ok = entry.get("ok")
    return decode_instance(ok) if isinstance(ok, dict) else None


def _retrieve(call: asyncio.Task[Any]) -> None:
    """Mark the outcome as seen, so a failure whose waiters all went away is not reported as unhandled."""
    if not call.cancelled():
        call.exception()


PROCESS_SERVICE: web.AppKey[ProcessService] = web.AppKey("process_service")
