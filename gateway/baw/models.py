"""BAW's JSON, parsed once at the edge into our own dataclasses; nothing past this module sees BAW's spelling.

Real servers differ by version: any field may be missing or null and unknown fields appear. Missing fields
become None; only an answer without the envelope or the instance id is treated as the wrong shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from gateway.errors import BawError
from gateway.model import (
    ProcessApp,
    ProcessInstance,
    ProcessStatus,
    ProcessSummary,
    RuntimeFailure,
    Task,
    TaskDetails,
    TaskPage,
)

# executionState words (classic and v2 spellings), compared lower-case with "_" and spaces removed:
# "Did_not_Start", "did not start" and "DidNotStart" are one word.
_BY_EXECUTION_STATE = {
    "active": ProcessStatus.ACTIVE,
    "running": ProcessStatus.ACTIVE,
    "new": ProcessStatus.ACTIVE,
    "completed": ProcessStatus.COMPLETED,
    "finished": ProcessStatus.COMPLETED,
    "failed": ProcessStatus.FAILED,
    "terminated": ProcessStatus.TERMINATED,
    "suspended": ProcessStatus.SUSPENDED,
    "didnotstart": ProcessStatus.DID_NOT_START,
}
# The BPEL `state` enum, consulted only when executionState is missing or unfamiliar.
_BY_STATE = {
    "STATE_RUNNING": ProcessStatus.ACTIVE,
    "STATE_FINISHED": ProcessStatus.COMPLETED,
    "STATE_FAILED": ProcessStatus.FAILED,
    "STATE_TERMINATED": ProcessStatus.TERMINATED,
    "STATE_SUSPENDED": ProcessStatus.SUSPENDED,
}
_FOLD = re.compile(r"[\s_]+")


def normalise_status(execution_state: str | None, state: str | None) -> ProcessStatus:
    if execution_state:
        found = _BY_EXECUTION_STATE.get(_FOLD.sub("", execution_state).lower())
        if found is not None:
            return found
    return _BY_STATE.get((state or "").upper(), ProcessStatus.UNKNOWN)


def parse_process_details(body: Any) -> ProcessInstance:
    """`GET /rest/bpm/wle/v1/process/{piid}` → ProcessInstance; BawError when the envelope is not BAW's."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or _text(data.get("piid")) is None:
        raise BawError("BAW answered the process lookup with JSON of an unexpected shape (no data.piid).")
    execution_state = _text(data.get("executionState"))
    state = _text(data.get("state"))
    status = normalise_status(execution_state, state)
    tasks = data.get("tasks")
    return ProcessInstance(
        process_id=_text(data["piid"]),
        name=_text(data.get("name")),
        status=status,
        execution_state=execution_state,
        state=state,
        process_name=_text(data.get("processTemplateName")),
        process_app=_text(data.get("processAppAcronym")) or _text(data.get("processAppName")),
        snapshot=_text(data.get("snapshotName")),
        created_at=_time(data.get("creationTime")),
        last_updated=_time(data.get("lastModificationTime")),
        due_at=_time(data.get("dueDate")),
        error_message=_text(data.get("instanceError")) if status is ProcessStatus.FAILED else None,
        tasks=tuple(_task(t) for t in tasks if isinstance(t, dict) and _text(t.get("tkiid")))
        if isinstance(tasks, list)
        else (),
    )


def _task(raw: dict[str, Any]) -> Task:
    return Task(
        task_id=_text(raw["tkiid"]),
        name=_text(raw.get("displayName")) or _text(raw.get("name")),
        status=_text(raw.get("status")),
        state=_text(raw.get("state")),
        assigned_to=(
            _text(raw.get("assignedToDisplayName")) or _text(raw.get("assignedTo")) or _text(raw.get("teamName"))
        ),
        assigned_to_type=_text(raw.get("assignedToType")),
        due_at=_time(raw.get("dueTime")),
        at_risk=raw.get("isAtRisk") if isinstance(raw.get("isAtRisk"), bool) else None,
    )


def _text(value: Any) -> str | None:
    """Strings as they are; ids sent as numbers by some versions as their digits; anything else None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # BAW writes UTC with a trailing Z; a value without an offset is read as UTC too.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# ------------------------------------------------------------------ the other read endpoints


def _data(body: Any, what: str) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BawError(f"BAW answered the {what} with JSON of an unexpected shape (no data object).")
    return data


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = data.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def parse_task_page(body: Any) -> TaskPage:
    data = _data(body, "task summary")
    tasks = tuple(_task(t) for t in _items(data, "tasks") if _text(t.get("tkiid")))
    total = data.get("total")
    return TaskPage(total=total if isinstance(total, int) and total >= len(tasks) else len(tasks), tasks=tasks)


def parse_task_details(body: Any, *, with_variables: bool) -> TaskDetails:
    data = _data(body, "task lookup")
    if _text(data.get("tkiid")) is None:
        raise BawError("BAW answered the task lookup with JSON of an unexpected shape (no data.tkiid).")
    variables = data.get("data", {}).get("variables") if isinstance(data.get("data"), dict) else None
    return TaskDetails(
        task=_task(data),
        activated_at=_time(data.get("activationTime")),
        completed_at=_time(data.get("completionTime")),
        at_risk_at=_time(data.get("atRiskTime")),
        priority=_text(data.get("priorityName")),
        process_id=_text(data.get("piid")),
        process_name=_text(data.get("processInstanceName")) or _text(data.get("bpdName")),
        variables=variables if with_variables and isinstance(variables, dict) else None,
    )


def parse_runtime_failures(body: Any) -> tuple[RuntimeFailure, ...]:
    data = _data(body, "error lookup")
    return tuple(
        RuntimeFailure(
            message=_text(item.get("errorMessage")),
            task_id=_text(item.get("taskId")),
            step=_text(item.get("stepName")) or _text(item.get("taskName")),
            at=_time(item.get("timestamp")),
        )
        for item in _items(data, "runtimeErrors")
    )


def parse_process_search(body: Any) -> tuple[ProcessSummary, ...]:
    data = _data(body, "process search")
    hits = []
    for item in _items(data, "processes"):
        piid = _text(item.get("piid"))
        if piid is None:
            continue
        execution_state = _text(item.get("executionState"))
        hits.append(
            ProcessSummary(
                process_id=piid,
                name=_text(item.get("name")),
                status=normalise_status(execution_state, _text(item.get("state"))),
                execution_state=execution_state,
                process_name=_text(item.get("bpdName")),
                process_app=_text(item.get("processAppAcronym")) or _text(item.get("processAppName")),
                created_at=_time(item.get("creationDate")),
                last_updated=_time(item.get("lastModificationTime")),
                due_at=_time(item.get("dueDate")),
            )
        )
    return tuple(hits)


def parse_status_overview(body: Any) -> dict[ProcessStatus, int]:
    """Counts per status. Inferred shape: a mapping of BAW status words to counts, directly under `data` or in
    one nested object; the words are normalised (`Did_not_Start` → did_not_start) and unknown ones summed
    under `unknown`."""
    data = _data(body, "status overview")
    counts = (
        data
        if any(isinstance(v, int) for v in data.values())
        else next((v for v in data.values() if isinstance(v, dict)), {})
    )
    overview = {status: 0 for status in ProcessStatus}
    for word, count in counts.items():
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            overview[normalise_status(word, None)] += count
    return overview


def parse_process_apps(body: Any) -> tuple[ProcessApp, ...]:
    """`GET /processApps` → the apps (`processAppsList`: `shortName` is the acronym the search filters take)."""
    apps = []
    for raw in _items(_data(body, "process app list"), "processAppsList"):
        name = _text(raw.get("name")) or _text(raw.get("shortName"))
        if name is not None:
            apps.append(ProcessApp(name, _text(raw.get("shortName")), _text(raw.get("description"))))
    return tuple(sorted(apps, key=lambda app: app.name.casefold()))
