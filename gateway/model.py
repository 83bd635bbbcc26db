"""The gateway's own words for what BAW holds: instances, tasks, failures, process apps. Plain frozen dataclasses,
made from BAW's JSON in one place (baw/models.py) and read by everything above it; this module knows no JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

# A task in one of BAW's closed states is not open, whatever its status says.
_CLOSED_TASK_STATES = {"STATE_FINISHED", "STATE_TERMINATED"}


class ProcessStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    SUSPENDED = "suspended"
    DID_NOT_START = "did_not_start"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Task:
    task_id: str
    name: str | None
    status: str | None
    state: str | None
    assigned_to: str | None
    assigned_to_type: str | None
    due_at: datetime | None
    at_risk: bool | None

    @property
    def is_open(self) -> bool:
        return (self.status or "").lower() != "closed" and (self.state or "").upper() not in _CLOSED_TASK_STATES


@dataclass(frozen=True, slots=True)
class ProcessInstance:
    process_id: str
    name: str | None
    status: ProcessStatus
    execution_state: str | None
    state: str | None
    process_name: str | None
    process_app: str | None
    snapshot: str | None
    created_at: datetime | None
    last_updated: datetime | None
    due_at: datetime | None
    error_message: str | None
    tasks: tuple[Task, ...]

    @property
    def open_tasks(self) -> tuple[Task, ...]:
        return tuple(task for task in self.tasks if task.is_open)


@dataclass(frozen=True, slots=True)
class TaskPage:
    """`GET /process/{piid}/taskSummary/{active|completed|all}`: one page of an instance's tasks."""

    total: int
    tasks: tuple[Task, ...]


@dataclass(frozen=True, slots=True)
class TaskDetails:
    task: Task
    activated_at: datetime | None
    completed_at: datetime | None
    at_risk_at: datetime | None
    priority: str | None
    process_id: str | None
    process_name: str | None
    variables: dict[str, Any] | None  # only when asked for (parts=data)


@dataclass(frozen=True, slots=True)
class RuntimeFailure:
    """One entry of `PUT /process/errors`: the message, where and when. BAW's java/js traces are dropped here."""

    message: str | None
    task_id: str | None
    step: str | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Failure:
    """An instance and, when it failed, BAW's runtime errors for it: what explain_process_failure answers."""

    instance: ProcessInstance
    runtime_failures: tuple[RuntimeFailure, ...]


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    """One hit of `POST /processes/search`."""

    process_id: str
    name: str | None
    status: ProcessStatus
    execution_state: str | None
    process_name: str | None
    process_app: str | None
    created_at: datetime | None
    last_updated: datetime | None
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProcessApp:
    name: str
    acronym: str | None
    description: str | None
