"""The shared cache's form of an instance: plain JSON in our own spelling, read back to the same instance."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone

from gateway.codec import VERSION, decode_instance, encode_instance
from gateway.model import ProcessInstance, ProcessStatus, Task

DUE = datetime(2026, 11, 25, 23, 16, 47, tzinfo=UTC)
INSTANCE = ProcessInstance(
    process_id="23972",
    name="Loan Application:23972",
    status=ProcessStatus.ACTIVE,
    execution_state="Active",
    state="STATE_RUNNING",
    process_name="Loan Application",
    process_app="LOAN",
    snapshot=None,
    created_at=datetime(2026, 11, 22, 3, 16, 47, tzinfo=UTC),
    last_updated=None,
    due_at=DUE,
    error_message=None,
    tasks=(
        Task("189489", "Review credit report", "Received", "STATE_CLAIMED", "jsmith", "user", DUE, True),
        Task("189490", None, "Closed", None, None, None, None, None),
    ),
)


def test_an_instance_survives_the_round_trip_through_json() -> None:
    assert decode_instance(json.loads(encode_instance(INSTANCE))) == INSTANCE


def test_the_entry_is_versioned_json_with_iso_times_and_no_python_objects() -> None:
    encoded = json.loads(encode_instance(INSTANCE))
    assert list(encoded)[0] == "v" and list(encoded)[1:] == [field.name for field in fields(ProcessInstance)]
    assert encoded["v"] == VERSION and encoded["status"] == "active" and type(encoded["status"]) is str
    assert encoded["created_at"] == "2026-11-22T03:16:47+00:00" and encoded["last_updated"] is None
    assert encoded["tasks"][0] == {
        "task_id": "189489",
        "name": "Review credit report",
        "status": "Received",
        "state": "STATE_CLAIMED",
        "assigned_to": "jsmith",
        "assigned_to_type": "user",
        "due_at": "2026-11-25T23:16:47+00:00",
        "at_risk": True,
    }
    assert encoded["tasks"][1]["due_at"] is None and encoded["tasks"][1]["at_risk"] is None


def test_microseconds_and_other_offsets_survive_the_round_trip() -> None:
    """orjson writes the times; the standard parser reads them back to the same instant and offset."""
    odd = datetime(2026, 11, 22, 3, 16, 47, 123_456, tzinfo=timezone(timedelta(hours=-9, minutes=-30)))
    instance = replace(INSTANCE, created_at=odd, tasks=())
    assert decode_instance(json.loads(encode_instance(instance))) == instance


def test_an_entry_of_another_release_is_not_read() -> None:
    assert decode_instance({**json.loads(encode_instance(INSTANCE)), "v": VERSION + 1}) is None
    assert decode_instance({"v": VERSION, "process_id": "1"}) is None
