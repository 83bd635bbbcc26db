"""BawClient: typed lookups against BAW's classic REST API, with BAW's errors mapped to domain errors."""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any, Callable

import aiohttp
from yarl import URL

from gateway import tracing
from gateway.baw.credentials import CredentialProvider
from gateway.baw.http import read_json, upstream_errors
from gateway.baw.models import (
    parse_process_apps,
    parse_process_details,
    parse_process_search,
    parse_runtime_failures,
    parse_status_overview,
    parse_task_details,
    parse_task_page,
)
from gateway.baw.resilience import (
    RETRY_ATTEMPTS,
    RETRY_DEADLINE_S,
    BawHealth,
    FailureMemory,
    FairSlots,
    backoff_delay,
)
from gateway.context import baw_credential_var, baw_identity_var, caller_var
from gateway.errors import BawError, BawForbidden, BawUnavailable, GatewayError, InvalidRequest, NotFound
from gateway.metrics import Metrics
from gateway.model import (
    ProcessApp,
    ProcessInstance,
    ProcessStatus,
    ProcessSummary,
    RuntimeFailure,
    TaskDetails,
    TaskPage,
)
from gateway.tls import RotatingTrust

# Headers every BAW call carries. Accept-Language: en because BAW localises error messages and task
# status words otherwise (Portuguese and Spanish have been seen).
BAW_HEADERS = {"Accept": "application/json", "Accept-Language": "en"}

# The path templates of the BAW calls, for span names and attributes (never the ids themselves).
_TEMPLATES = {
    "process_details": "/rest/bpm/wle/v1/process/{piid}",
    "task_summary": "/rest/bpm/wle/v1/process/{piid}/taskSummary/{which}",
    "task_details": "/rest/bpm/wle/v1/task/{tkiid}",
    "process_errors": "/rest/bpm/wle/v1/process/errors",
    "process_search": "/rest/bpm/wle/v1/processes/search",
    "status_overview": "/rest/bpm/wle/v1/processes/status/overview",
    "process_apps": "/rest/bpm/wle/v1/processApps",
}
_ERROR_NUMBER = re.compile(r"^CW[A-Z]{3}\d{4}[EWI]$")
_PIID = re.compile(r"^[0-9]{1,12}$")
_REDIRECTS = {301, 302, 303, 307, 308}


class BawClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: URL,
        credentials: CredentialProvider,
        *,
        timeout_s: float,
        metrics: Metrics,
        health: BawHealth,
        slots: FairSlots,
        failures: FailureMemory,
        max_response_bytes: int = 2 * 1024 * 1024,
        jitter: Callable[[], float] = random.random,
        trust: RotatingTrust | None = None,
    ) -> None:
        self._trust = trust
        self._session = session
        self._metrics = metrics
        self._health, self._slots, self._failures, self._jitter = health, slots, failures, jitter
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._max_response_bytes = max_response_bytes
        # Built once; the base URL is opaque (CP4BA and BAW on Cloud put a path prefix in front).
        self._rest = base_url.joinpath("rest", "bpm", "wle", "v1")

    async def process_details(self, piid: str) -> ProcessInstance:
        """The instance header and its tasks (`parts=header`: no diagram, no execution tree, no task data)."""
        body = await self._call(
            "GET",
            "process_details",
            self._rest / "process" / _id(piid),
            {"parts": "header"},
            subject=f"process instance {piid}",
        )
        return parse_process_details(body)

    async def task_page(self, piid: str, which: str, *, limit: int, offset: int) -> TaskPage:
        """One page of an instance's tasks; `which` is BAW's `active`, `completed` or `all`."""
        url = self._rest / "process" / _id(piid) / "taskSummary" / which
        body = await self._call(
            "GET",
            "task_summary",
            url,
            {"limit": str(limit), "offset": str(offset)},
            subject=f"process instance {piid}",
        )
        return parse_task_page(body)

    async def task_details(self, tkiid: str, *, with_variables: bool) -> TaskDetails:
        """One task; its variables only when asked for (`parts=data`), otherwise none are fetched."""
        body = await self._call(
            "GET",
            "task_details",
            self._rest / "task" / _id(tkiid, "task"),
            {"parts": "data" if with_variables else "none"},
            subject=f"task {tkiid}",
        )
        return parse_task_details(body, with_variables=with_variables)

    async def runtime_failures(self, piid: str) -> tuple[RuntimeFailure, ...]:
        """Why an instance failed (`PUT /process/errors`: a read despite the verb)."""
        body = await self._call(
            "PUT",
            "process_errors",
            self._rest / "process" / "errors",
            {"instanceIds": _id(piid)},
            subject=f"process instance {piid}",
        )
        return parse_runtime_failures(body)

    async def search_processes(self, filters: dict[str, str]) -> tuple[ProcessSummary, ...]:
        """`POST /processes/search` with BAW's own filters (projectFilter, statusFilter, modifiedAfter/Before)."""
        body = await self._call(
            "POST", "process_search", self._rest / "processes" / "search", filters, subject="process search"
        )
        return parse_process_search(body)

    async def status_overview(self, app: str | None) -> dict[ProcessStatus, int]:
        params = {"projectFilter": app} if app else {}
        url = self._rest / "processes" / "status" / "overview"
        body = await self._call("GET", "status_overview", url, params, subject="status overview")
        return parse_status_overview(body)

    async def process_apps(self) -> tuple[ProcessApp, ...]:
        """The installed process apps the gateway's account may read: their names and the acronyms BAW filters by."""
        body = await self._call("GET", "process_apps", self._rest / "processApps", {}, subject="process app list")
        return parse_process_apps(body)

    async def _call(self, method: str, operation: str, url: URL, params: dict[str, str], *, subject: str) -> Any:
        """One logical read: answered from the failure memory when this subject failed moments ago; otherwise
        retried on transient failures and recorded by the breaker once, whatever its attempts."""
        key = (baw_identity_var.get(), method, url, tuple(sorted(params.items())))
        remembered = self._failures.recall(key)
        if remembered is not None:
            raise remembered
        self._health.before_call()
        started = time.monotonic()
        try:
            if tracing.recording():
                body = await self._traced(method, operation, url, params, subject)
            else:
                body = await self._with_retries(method, operation, url, params, subject)
        except GatewayError as exc:
            self._health.record_error(subject, exc, time.monotonic() - started, caller_var.get())
            self._failures.remember(key, exc)
            raise
        except BaseException:
            self._health.abandon()
            raise
        self._health.record(subject, failed=False, seconds=time.monotonic() - started, caller=caller_var.get())
        return body

    async def _traced(self, method: str, operation: str, url: URL, params: dict[str, str], subject: str) -> Any:
        """The call in a client span named by its operation, attributed with the path template (never the ids)."""
        attributes = {"http.request.method": method, "url.template": _TEMPLATES.get(operation, operation)}
        with tracing.span(f"BAW {operation}", kind="client", attributes=attributes) as span:
            try:
                return await self._with_retries(method, operation, url, params, subject, span)
            except GatewayError as exc:
                if span is not None:
                    span.set_attribute("error.type", exc.code)
                raise

    async def _with_retries(
        self, method: str, operation: str, url: URL, params: dict[str, str], subject: str, span: Any = None
    ) -> Any:
        """Idempotent reads: transient failures (connection errors, BAW 502/503/504) are retried with
        full-jitter backoff, a bounded number of times, and never started after a deadline; timeouts and 4xx
        never are. Each attempt holds a BAW slot only while it runs, not while it waits to retry."""
        deadline = time.monotonic() + RETRY_DEADLINE_S
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            if span is not None:
                span.set_attribute("gateway.baw.attempts", attempt)
            try:
                async with self._slots.slot(caller_var.get()):
                    return await self._authorized_call(method, operation, url, params, subject)
            except GatewayError as exc:
                delay = backoff_delay(attempt, jitter=self._jitter())
                if not exc.transient or attempt == RETRY_ATTEMPTS or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _authorized_call(
        self, method: str, operation: str, url: URL, params: dict[str, str], subject: str
    ) -> Any:
        credentials = baw_credential_var.get() or self._credentials  # the signed-in user's, in user mode
        for attempt in (1, 2):
            authorization = await credentials.authorization()
            started = time.perf_counter()
            outcome = "success"
            try:
                with upstream_errors("BAW", self._timeout_s):
                    headers = {"Authorization": authorization}
                    tracing.inject(headers)  # BAW's own tracing, where it has any, continues the trace
                    async with self._session.request(
                        method,
                        url,
                        params=params,
                        headers=headers,
                        allow_redirects=False,
                        ssl=self._trust.context() if self._trust is not None else True,
                    ) as response:
                        tracing.annotate("http.response.status_code", response.status)
                        if response.status == 200:
                            _require_json(response)
                            return await read_json(response, self._max_response_bytes, "BAW")
                        error = await _baw_error_body(response, self._max_response_bytes)
                if _unauthenticated(response.status, error):
                    outcome = "unauthenticated"
                    if attempt == 1:
                        # The token was revoked or expired early: one renewal, one retry.
                        credentials.reject(authorization)
                        continue
                    raise BawUnavailable(
                        "BAW rejected the gateway's credential. The operator must check the gateway's BAW account; "
                        "quote the request id.",
                        detail="BAW rejected the credential twice in a row: check the BAW service account and "
                        "BAW_AUTH settings",
                    )
                raise baw_error(response.status, error, subject)
            except GatewayError as exc:
                outcome = exc.code if outcome == "success" else outcome
                raise
            finally:
                self._metrics.baw_call(operation, outcome, started)
        raise AssertionError("unreachable")


def _id(value: str, kind: str = "process instance") -> str:
    """Ids are digits: validated again here so no caller can steer the upstream path."""
    if not _PIID.match(value):
        raise InvalidRequest(f"A BAW {kind} id is 1 to 12 digits, such as 23972.")
    return value


def _require_json(response: aiohttp.ClientResponse) -> None:
    if "json" not in response.content_type:
        raise BawError(f"BAW answered with content type {response.content_type!r} instead of JSON.")


async def _baw_error_body(response: aiohttp.ClientResponse, limit: int) -> dict[str, Any] | None:
    """BAW's error object (`Data`, capital D, in the classic API), or None when the body is not BAW's JSON."""
    if "json" not in response.content_type:
        return None
    try:
        body = await read_json(response, limit, "BAW")
    except GatewayError:
        return None
    if not isinstance(body, dict):
        return None
    data = body.get("Data", body.get("data"))
    return data if isinstance(data, dict) else None


def _unauthenticated(status: int, error: dict[str, Any] | None) -> bool:
    # 401 without BAW's JSON is the container's authentication challenge; CP4BA may redirect to a login page.
    # A 401 *with* BAW's error JSON (CWTBG0549E) is an authorization decision: retrying will not help.
    return (status == 401 and not _error_number(error)) or status in _REDIRECTS


def _error_number(error: dict[str, Any] | None) -> str | None:
    number = error.get("errorNumber") if error else None
    return number if isinstance(number, str) and _ERROR_NUMBER.match(number) else None


def _says_not_found(error: dict[str, Any] | None) -> bool:
    if not error:
        return False
    exception_type = error.get("exceptionType")
    message = error.get("errorMessage")
    return (
        isinstance(exception_type, str) and exception_type.endswith(("DoesNotExistException", "NotFoundException"))
    ) or (isinstance(message, str) and ("not found" in message.lower() or "could not be found" in message.lower()))


def baw_error(status: int, error: dict[str, Any] | None, subject: str) -> GatewayError:
    """BAW's HTTP status and errorNumber → the domain error. Keyed on numbers, never on localised text,
    except that a 500 whose (English, we ask for English) message says "not found" is a missing instance."""
    number = _error_number(error)
    ref = f" ({number})" if number else ""
    as_user = baw_identity_var.get() != "service"  # whose access BAW judged: the signed-in user's, or ours
    if status == 404 or number == "CWTBG0059E" or (status == 500 and _says_not_found(error)):
        whose = "your BAW account" if as_user else "the gateway's BAW account"
        return NotFound(f"BAW has no {subject}, or {whose} cannot see it. Check the id; ids are numbers such as 23972.")
    if status == 403 or number == "CWTBG0549E":
        if as_user:
            return BawForbidden(
                f"BAW refused you access to {subject}{ref}: your BAW account may not read it. Ask a BAW "
                "administrator if you need it, or check that the id is the one you meant."
            )
        return BawForbidden(
            f"BAW refused the gateway's account access to {subject}{ref}. Ask a BAW administrator to grant the "
            "service account read access, or check that the id is the one you meant."
        )
    if status == 400 and number == "CWTBG0553E":
        return InvalidRequest("BAW says the id is not a number. A BAW process instance id is digits, such as 23972.")
    if status == 503:
        return BawUnavailable(
            f"BAW says it is unavailable (HTTP 503{ref}). Try again in a little while.", transient=True
        )
    return BawError(
        f"BAW could not answer the lookup of {subject}: HTTP {status}{ref}.", transient=status in (502, 504)
    )
