"""marshmallow schemas: what the REST API accepts and answers; the OpenAPI document is generated from them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

PROCESS_ID_HELP = "a BAW process instance id: 1 to 12 digits such as 23972 (a '2072.' prefix is accepted)"
_PROCESS_ID = re.compile(r"^(?:2072\.)?([0-9]{1,12})$", re.ASCII)


class ProcessId(fields.String):
    """Digits only, so that no input can change the path of the upstream URL; the v2 `2072.` prefix is dropped."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        match = _PROCESS_ID.match(super()._deserialize(value, attr, data, **kwargs).strip())
        if match is None:
            raise ValidationError(f"expected {PROCESS_ID_HELP}")
        return match.group(1)


class UtcDateTime(fields.DateTime):
    """ISO-8601 in UTC with a trailing Z, the way BAW writes dates."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ProcessStatusQuery(Schema):
    class Meta:
        unknown = RAISE

    process_id = ProcessId(
        required=True,
        metadata={
            "description": f"The instance to look up: {PROCESS_ID_HELP}.",
            "example": "23972",
            "pattern": _PROCESS_ID.pattern,
        },
    )

    @pre_load
    def single_values(self, data: Any, **kwargs: Any) -> Any:
        """A query string may repeat a parameter; an ambiguous lookup is refused rather than guessed."""
        if hasattr(data, "getall"):
            repeated = sorted({key for key in data.keys() if len(data.getall(key)) > 1})
            if repeated:
                raise ValidationError({key: ["give this parameter once"] for key in repeated})
            return dict(data)
        return data


class OpenTaskSchema(Schema):
    task_id = fields.String(required=True, metadata={"description": "BAW task id (tkiid)."})
    name = fields.String(allow_none=True, metadata={"description": "Task title as shown to its users."})
    status = fields.String(allow_none=True, metadata={"description": "BAW task status, e.g. Received."})
    assigned_to = fields.String(allow_none=True, metadata={"description": "User or team the task is assigned to."})
    assigned_to_type = fields.String(allow_none=True, metadata={"description": "user or group."})
    due_at = UtcDateTime(allow_none=True, metadata={"description": "When the task is due (UTC)."})
    at_risk = fields.Boolean(allow_none=True, metadata={"description": "BAW flags the task as at risk of being late."})


class ProcessStatusSchema(Schema):
    process_id = fields.String(required=True, metadata={"description": "BAW process instance id (piid)."})
    name = fields.String(allow_none=True, metadata={"description": "Instance name, e.g. 'Loan Application:23972'."})
    status = fields.String(
        required=True,
        metadata={
            "description": "Normalised status.",
            "enum": ["active", "completed", "failed", "terminated", "suspended", "did_not_start", "unknown"],
        },
    )
    baw_execution_state = fields.String(
        attribute="execution_state", allow_none=True, metadata={"description": "BAW's executionState, as sent."}
    )
    baw_state = fields.String(attribute="state", allow_none=True, metadata={"description": "BAW's state, as sent."})
    process_name = fields.String(allow_none=True, metadata={"description": "The process (BPD) name."})
    process_app = fields.String(allow_none=True, metadata={"description": "Process app acronym (else its name)."})
    snapshot = fields.String(allow_none=True, metadata={"description": "Snapshot name; null for the tip."})
    created_at = UtcDateTime(allow_none=True, metadata={"description": "When the instance started (UTC)."})
    last_updated = UtcDateTime(allow_none=True, metadata={"description": "Last change (UTC)."})
    due_at = UtcDateTime(allow_none=True, metadata={"description": "When the instance is due (UTC)."})
    error_message = fields.String(
        allow_none=True, metadata={"description": "Why a failed instance failed; null otherwise."}
    )
    open_tasks = fields.List(
        fields.Nested(OpenTaskSchema),
        required=True,
        metadata={"description": "Tasks not yet closed, with their assignees."},
    )
    summary = fields.String(required=True, metadata={"description": "One plain sentence describing the instance."})


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "Stable error code, e.g. not_found."})
    message = fields.String(required=True, metadata={"description": "What was wrong and what to do."})
    request_id = fields.String(required=True, metadata={"description": "Quote it to the operator."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
