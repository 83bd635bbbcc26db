"""Our own JSON form of a looked-up instance, for the shared cache: never BAW's spelling, never tokens or headers.

A version number travels with every entry, so replicas of different releases ignore each other's entries instead
of misreading them during a rolling update.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

import orjson

from gateway.model import ProcessInstance, ProcessStatus, Task

VERSION = 1
_FIELDS = tuple(field.name for field in fields(ProcessInstance))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def encode_instance(instance: ProcessInstance) -> bytes:
    """The instance as a JSON object: the version first, then its fields by their names, times in ISO-8601 with
    their offset, the status as its value, the tasks as objects (orjson writes the Task dataclasses as they are).
    Not `dataclasses.asdict`: it deep-copies every value, 65 µs an instance against 4."""
    return orjson.dumps({"v": VERSION, **{name: getattr(instance, name) for name in _FIELDS}})


def decode_instance(raw: dict[str, Any]) -> ProcessInstance | None:
    """The instance, or None for an entry this release cannot read (the caller asks BAW instead)."""
    if raw.get("v") != VERSION:
        return None
    try:
        tasks = tuple(Task(**{**task, "due_at": _time(task["due_at"])}) for task in raw["tasks"])
        fields = {k: v for k, v in raw.items() if k not in ("v", "tasks")}
        return ProcessInstance(
            **{
                **fields,
                "status": ProcessStatus(fields["status"]),
                "created_at": _time(fields["created_at"]),
                "last_updated": _time(fields["last_updated"]),
                "due_at": _time(fields["due_at"]),
                "tasks": tasks,
            }
        )
    except (KeyError, TypeError, ValueError):
        return None
