"""The catalogue of read-only tools: each is served as a REST endpoint (web/rest.py) and as an MCP tool
(web/mcp/endpoint.py) from this one definition, so both faces share validation, service calls, answers and limits."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Awaitable, Callable

from cachetools import LRUCache
from marshmallow import Schema
from pydantic_core import from_json, to_json

from gateway.model import ProcessStatus
from gateway.service import CacheResult, ProcessService
from gateway.summary import describe_failure, describe_process, describe_task
from gateway.web.tools import knowledge
from gateway.web.tools import schemas as s
from gateway.web.tools.planned import planned


class Rendered:
    """An answer, kept as its JSON bytes (reused for every request served the same answer), and the one other
    encoding a face wraps it in (the MCP result), made once.

    Bytes rather than the answer's dicts and lists: a cached answer is then one object the garbage collector
    scans, not one per nested value, and a full collection over a cache of 10,000 answers was what set the
    uncached p99 (80-100 ms pauses against 20 ms with the collector off)."""

    __slots__ = ("body", "_wrapped")

    def __init__(self, answer: dict[str, Any]) -> None:
        # (not orjson: its bytes keep the buffer they were shrunk from, about 4 KB an answer kept in the cache -
        # 39 MB against 6 MB for 10,000 answers)
        self.body = to_json(answer)
        self._wrapped: bytes | None = None

    @property
    def answer(self) -> Any:
        """The answer as data, decoded again (the MCP library's path wants it; the others write `body`)."""
        return from_json(self.body)

    def wrapped(self, wrap: Callable[[Rendered], bytes]) -> bytes:
        """This answer as `wrap` encodes it (the MCP result), encoded the first time only."""
        if self._wrapped is None:
            self._wrapped = wrap(self)
        return self._wrapped


Answer = tuple[Rendered, dict[str, str]]  # the answer, extra response headers

VALIDATED_ARGUMENTS = 1024  # per tool: the arguments it keeps validated (see Tool.load)


@dataclass(frozen=True)
class Tool:
    name: str  # MCP tool name
    operation_id: str  # OpenAPI operationId
    path: str  # REST path (GET)
    title: str
    description: str  # for the model: what it answers and when to use it (≤ 300 characters)
    query: s.Query
    answer: Schema
    run: Callable[[ProcessService, dict[str, Any]], Awaitable[Answer]]
    errors: tuple[int, ...] = (400, 403, 404, 502, 503, 504)
    validated: LRUCache[Hashable, dict[str, Any]] = field(
        default_factory=lambda: LRUCache(maxsize=VALIDATED_ARGUMENTS), repr=False, compare=False
    )

    def load(self, data: Mapping[str, Any], key: Hashable | None = None) -> dict[str, Any]:
        """`data` (a query, MCP arguments) loaded by the query schema; raises ValidationError when invalid.

        `key` stands for `data` exactly (the raw query string; the arguments as a tuple of their items): a valid
        one is kept, so a hot id is validated once, not per request (marshmallow's load was 6 % of a cached REST
        lookup and 14 % of an MCP call). Loading is pure and the tools only read what it returns."""
        loaded = self.validated.get(key) if key is not None else None
        if loaded is None:
            loaded = self.query.quick_load(data) or self.query.load(data)
            if key is not None:
                self.validated[key] = loaded
        return loaded


def cache_status(result: CacheResult) -> str:
    """RFC 9211 Cache-Status: a hit, or forwarded to BAW because of a miss (collapsed: joined a call in flight)."""
    if result is CacheResult.HIT:
        return "baw-gateway; hit"
    return "baw-gateway; fwd=miss" + ("; collapsed" if result is CacheResult.COALESCED else "")


def _page(offset: int, limit: int, total: int) -> dict[str, Any]:
    more = offset + limit < total
    return {"truncated": more, "next_cursor": str(offset + limit) if more else None}


_process_status = planned(s.ProcessStatusSchema())


async def _get_process_status(service: ProcessService, query: dict[str, Any]) -> Answer:
    lookup = await service.lookup(query["process_id"])
    rendered = lookup.memo.get("process_status")
    if rendered is None:
        answer = _process_status(lookup.instance)
        answer["summary"] = describe_process(lookup.instance)
        rendered = lookup.memo["process_status"] = Rendered(answer)
    return rendered, {"Cache-Status": cache_status(lookup.cache)}


_WHICH = {"open": "active", "closed": "completed", "all": "all"}
_task_page = planned(s.TaskPageSchema())


async def _list_process_tasks(service: ProcessService, query: dict[str, Any]) -> Answer:
    offset, limit = query["cursor"], query["limit"]
    page = await service.tasks(query["process_id"], _WHICH[query["state"]], limit=limit, offset=offset)
    answer = {"process_id": query["process_id"], "state": query["state"], "total": page.total, "tasks": page.tasks}
    return Rendered(_task_page(answer) | _page(offset, limit, page.total)), {}


_task_details = planned(s.TaskDetailsSchema())


async def _get_task(service: ProcessService, query: dict[str, Any]) -> Answer:
    details = await service.task(query["task_id"], with_variables=query["include_variables"])
    task = details.task
    answer = _task_details(
        {
            "task_id": task.task_id,
            "name": task.name,
            "status": task.status,
            "state": task.state,
            "is_open": task.is_open,
            "assigned_to": task.assigned_to,
            "assigned_to_type": task.assigned_to_type,
            "due_at": task.due_at,
            "at_risk": task.at_risk,
            "process_id": details.process_id,
            "process_name": details.process_name,
            "priority": details.priority,
            "activated_at": details.activated_at,
            "at_risk_at": details.at_risk_at,
            "completed_at": details.completed_at,
            "variables": details.variables,
            "summary": describe_task(details),
        }
    )
    return Rendered(answer), {}


_failure = planned(s.ProcessFailureSchema())


async def _explain_process_failure(service: ProcessService, query: dict[str, Any]) -> Answer:
    failure = await service.failure(query["process_id"])
    instance = failure.instance
    answer = _failure(
        {
            "process_id": instance.process_id,
            "name": instance.name,
            "status": instance.status,
            "failed": instance.status is ProcessStatus.FAILED,
            "errors": failure.runtime_failures,
            "summary": describe_failure(failure),
        }
    )
    return Rendered(answer), {}


_search = planned(s.SearchAnswerSchema())
_BAW_STATUS = {
    "active": "Active",
    "completed": "Completed",
    "failed": "Failed",
    "terminated": "Terminated",
    "suspended": "Suspended",
    "did_not_start": "Did_not_Start",
}


async def _search_processes(service: ProcessService, query: dict[str, Any]) -> Answer:
    filters = {}
    if "app" in query:
        filters["projectFilter"] = query["app"]
    if "status" in query:
        filters["statusFilter"] = _BAW_STATUS[query["status"]]
    for name, key in (("modified_after", "modifiedAfter"), ("modified_before", "modifiedBefore")):
        if name in query:
            filters[key] = query[name].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    hits = await service.search(filters, query.get("name_contains"))
    offset, limit = query["cursor"], query["limit"]
    answer = _search({"total": len(hits), "processes": hits[offset : offset + limit]})
    return Rendered(answer | _page(offset, limit, len(hits))), {}


_overview = planned(s.OverviewSchema())


async def _process_status_overview(service: ProcessService, query: dict[str, Any]) -> Answer:
    counts = await service.overview(query.get("app"))
    shown = {str(status): count for status, count in counts.items() if count or status is not ProcessStatus.UNKNOWN}
    return Rendered(_overview({"app": query.get("app"), "counts": shown, "total": sum(counts.values())})), {}


_apps = planned(s.ProcessAppsSchema())


async def _list_process_apps(service: ProcessService, query: dict[str, Any]) -> Answer:
    apps = await service.process_apps()
    return Rendered(_apps({"total": len(apps), "apps": apps})), {}


def _knowledge(answer: Callable[[ProcessService, dict[str, Any]], Awaitable[dict[str, Any]]]):  # type: ignore[no-untyped-def]
    async def run(service: ProcessService, query: dict[str, Any]) -> Answer:
        return Rendered(await answer(service, query)), {}

    return run


TOOLS: tuple[Tool, ...] = (
    Tool(
        "get_process_status",
        "getProcessStatus",
        "/baw/process-status",
        "Get the status of a BAW process instance",
        "Use first when someone asks about one workflow case (process instance) by its number: where it is, "
        "whether it is active, completed or failed, who has its open tasks and when they are due. Returns a "
        "one-sentence summary; for the details of a failure use explain_process_failure.",
        s.ProcessStatusQuery(),
        s.ProcessStatusSchema(),
        _get_process_status,
    ),
    Tool(
        "list_process_tasks",
        "listProcessTasks",
        "/baw/process-tasks",
        "List the tasks of a BAW process instance",
        "Use to see every task of one instance (open, closed or all) with assignee, status and due date, e.g. "
        "'who worked on loan 23972?'. Paged: at most 50 per page, follow next_cursor.",
        s.ProcessTasksQuery(),
        s.TaskPageSchema(),
        _list_process_tasks,
    ),
    Tool(
        "get_task",
        "getTask",
        "/baw/task",
        "Get one BAW task",
        "Use for one task by its id: assignee, status, due and at-risk times, its process instance. Task "
        "variables (business data) are returned only with include_variables=true; ask for them only when needed.",
        s.TaskQuery(),
        s.TaskDetailsSchema(),
        _get_task,
    ),
    Tool(
        "explain_process_failure",
        "explainProcessFailure",
        "/baw/process-failure",
        "Explain why a BAW process instance failed",
        "Use when an instance failed or someone asks why it is stuck in error: returns BAW's error messages with "
        "the failing step or task and the time. Never returns stack traces.",
        s.ProcessFailureQuery(),
        s.ProcessFailureSchema(),
        _explain_process_failure,
    ),
    Tool(
        "search_processes",
        "searchProcesses",
        "/baw/processes",
        "Search BAW process instances",
        "Use to find instances when the id is unknown: by process app (its acronym: ask list_process_apps), "
        "status, modification dates or text in the name. Newest first, at most 50 per page; follow next_cursor.",
        s.SearchQuery(),
        s.SearchAnswerSchema(),
        _search_processes,
        errors=(400, 403, 502, 503, 504),
    ),
    Tool(
        "process_status_overview",
        "getProcessStatusOverview",
        "/baw/process-overview",
        "Count BAW process instances per status",
        "Use for 'how many instances are failed/active?': counts per status, for all process apps or one.",
        s.OverviewQuery(),
        s.OverviewSchema(),
        _process_status_overview,
        errors=(400, 403, 502, 503, 504),
    ),
    Tool(
        "list_process_apps",
        "listProcessApps",
        "/baw/process-apps",
        "List the BAW process apps",
        "Use to learn which process apps exist and their acronyms (e.g. Procurement is PROC), before filtering "
        "search_processes or process_status_overview by app.",
        s.ProcessAppsQuery(),
        s.ProcessAppsSchema(),
        _list_process_apps,
        errors=(400, 403, 502, 503, 504),
    ),
    # ChatGPT's company knowledge and deep research take an app that offers these two, in this shape.
    Tool(
        "search",
        "searchKnowledge",
        "/baw/search",
        "Search BAW process instances by words",
        "Use to find instances from a few words: an id, a process app, a status or words of the name (e.g. "
        "'failed loan applications'). Returns ids, titles and links; read one with fetch.",
        knowledge.KnowledgeSearchQuery(),
        knowledge.KnowledgeSearchSchema(),
        _knowledge(knowledge.search),
        errors=(400, 403, 502, 503, 504),
    ),
    Tool(
        "fetch",
        "fetchKnowledge",
        "/baw/fetch",
        "Read one BAW process instance",
        "Use after search to read one instance by its id: a few sentences on where it is, who has it and its "
        "dates, with a link to it in BAW.",
        knowledge.KnowledgeFetchQuery(),
        knowledge.KnowledgeDocumentSchema(),
        _knowledge(knowledge.fetch),
    ),
)
