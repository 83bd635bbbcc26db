"""marshmallow schemas: what the REST API accepts and answers; the OpenAPI document is generated from them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, pre_load, validate

PROCESS_ID_HELP = "a BAW process instance id: 1 to 12 digits such as 23972 (a '2072.' prefix is accepted)"
TASK_ID_HELP = "a BAW task id (tkiid): 1 to 12 digits such as 189489 (a '2078.' prefix is accepted)"


class BawId(fields.String):
    """Digits only, so that no input can change the path of the upstream URL; the v2 API's type prefix
    (`2072.` for instances, `2078.` for tasks) is accepted and dropped."""

    def __init__(self, *, prefix: str, help_text: str, example: str, purpose: str, **kwargs: Any) -> None:
        self._pattern = re.compile(rf"^(?:{re.escape(prefix)}\.)?([0-9]{{1,12}})$", re.ASCII)
        self.match = self._pattern.match
        self._help_text = help_text
        metadata = {"description": f"{purpose}: {help_text}.", "example": example, "pattern": self._pattern.pattern}
        super().__init__(required=True, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # models and clients send ids as numbers: 23972 is as unambiguous as "23972"
        match = self._pattern.match(super()._deserialize(value, attr, data, **kwargs).strip())
        if match is None:
            raise ValidationError(f"expected {self._help_text}")
        return match.group(1)


def process_id_field(example: str = "23972", purpose: str = "The instance") -> BawId:
    return BawId(prefix="2072", help_text=PROCESS_ID_HELP, example=example, purpose=purpose)


class UtcDateTime(fields.DateTime):
    """ISO-8601 in UTC to the second with a trailing Z, the way BAW writes dates. Written by `isoformat` (0.84 µs
    against strftime's 1.48, and a year before 1000 keeps its four digits); BAW's times are UTC already."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.isoformat()[:19] + "Z"  # (YYYY-MM-DDTHH:MM:SS, whatever the microseconds)


class QueryTime(fields.String):
    """An ISO-8601 date or time, read generously (a model writes `2026-11-01` as often as a full timestamp): a
    time without an offset is UTC, a date is its midnight UTC. Returned as an aware UTC datetime."""

    _EXPECTED = "expected an ISO-8601 date or time such as 2026-11-01 or 2026-11-01T09:30:00Z"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(self._EXPECTED) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 lies before the first representable UTC time
            raise ValidationError("expected a time between the years 1 and 9999") from None


class Query(Schema):
    """Query strings: unknown parameters are refused (a model's typo gets a clear 400), repeated ones too."""

    class Meta:
        unknown = RAISE

    def quick_load(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """What `load` returns for the commonest query by far, one id given once as it should be
        (`process_id=23972`), worked out without marshmallow's machinery (0.4 µs against load's 6.6); None for
        anything else, which `load` judges, errors included."""
        plan = self._quick_plan
        if plan is None or len(data) != 1:  # (a MultiDict counts a repeated parameter twice)
            return None
        name, field, defaults = plan
        value = data.get(name)
        match = field.match(value) if type(value) is str else None
        return {name: match.group(1), **defaults} if match is not None else None

    @cached_property
    def _quick_plan(self) -> tuple[str, BawId, dict[str, Any]] | None:
        """For a query of one id whose other parameters are optional with plain defaults: its name, its field and
        the defaults `load` fills in."""
        ids = [(name, field) for name, field in self.load_fields.items() if isinstance(field, BawId)]
        if len(ids) != 1 or ids[0][1].data_key is not None or ids[0][1].attribute is not None:
            return None
        name, field = ids[0]
        others = [other for other in self.load_fields.values() if other is not field]
        if any(other.required or callable(other.load_default) for other in others):
            return None
        defaults = {other.attribute or other.name: other.load_default for other in others}
        return name, field, {key: value for key, value in defaults.items() if value is not missing}

    @pre_load
    def single_values(self, data: Any, **kwargs: Any) -> Any:
        """A query string may repeat a parameter; an ambiguous lookup is refused rather than guessed."""
        if hasattr(data, "getall"):
            repeated = sorted({key for key in data.keys() if len(data.getall(key)) > 1})
            if repeated:
                raise ValidationError({key: ["give this parameter once"] for key in repeated})
            return dict(data)
        return data


class ProcessStatusQuery(Query):
    process_id = process_id_field(purpose="The instance to look up")


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


# ------------------------------------------------------------------ the other tools

MAX_PAGE = 50
_DIGITS = re.compile(r"^[0-9]{1,12}$", re.ASCII)


class Cursor(fields.String):
    """An opaque page token from a previous answer's `next_cursor` (an offset, today)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _DIGITS.match(text):
            raise ValidationError("expected the next_cursor of a previous answer")
        return int(text)


_LIMIT = fields.Integer(
    load_default=20,
    validate=validate.Range(1, MAX_PAGE),
    metadata={"description": f"Page size, 1 to {MAX_PAGE}.", "example": 20},
)
_CURSOR = Cursor(load_default=0, metadata={"description": "next_cursor from the previous page; omit for the first."})


class ProcessTasksQuery(Query):
    process_id = process_id_field()
    state = fields.String(
        load_default="open",
        validate=validate.OneOf(["open", "closed", "all"]),
        metadata={"description": "open (not yet done), closed, or all.", "example": "open"},
    )
    limit = _LIMIT
    cursor = _CURSOR


class TaskQuery(Query):
    task_id = BawId(prefix="2078", help_text=TASK_ID_HELP, example="189489", purpose="The task")
    include_variables = fields.Boolean(
        load_default=False,
        metadata={"description": "Also return the task's business data (variables). Only when the user needs it."},
    )


class ProcessFailureQuery(Query):
    process_id = process_id_field(example="881")


STATUS_WORDS = ["active", "completed", "failed", "terminated", "suspended", "did_not_start"]


class SearchQuery(Query):
    app = fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"),
        metadata={"description": "Process app acronym, e.g. LOAN (list_process_apps lists them).", "example": "LOAN"},
    )
    status = fields.String(
        validate=validate.OneOf(STATUS_WORDS), metadata={"description": "Only instances in this status."}
    )
    modified_after = QueryTime(
        metadata={
            "description": "Only instances changed after this ISO-8601 date or time (UTC unless an offset is given).",
            "example": "2026-11-01",
        }
    )
    modified_before = QueryTime(
        metadata={"description": "Only instances changed before this ISO-8601 date or time.", "example": "2026-11-30"}
    )
    name_contains = fields.String(
        validate=validate.Length(1, 100),
        metadata={"description": "Text the instance name contains (case-insensitive)."},
    )
    limit = _LIMIT
    cursor = _CURSOR


class OverviewQuery(Query):
    app = fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"),
        metadata={
            "description": "Only this process app (its acronym, from list_process_apps); omit for all.",
            "example": "LOAN",
        },
    )


class TaskSchema(OpenTaskSchema):
    state = fields.String(allow_none=True, metadata={"description": "BAW task state, e.g. STATE_READY."})
    is_open = fields.Boolean(required=True, metadata={"description": "Not yet closed or finished."})


class TaskPageSchema(Schema):
    process_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "Which tasks: open, closed or all."})
    total = fields.Integer(required=True, metadata={"description": "How many such tasks the instance has."})
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    truncated = fields.Boolean(required=True, metadata={"description": "More tasks follow: ask with next_cursor."})
    next_cursor = fields.String(allow_none=True, metadata={"description": "Pass as `cursor` for the next page."})


class TaskDetailsSchema(TaskSchema):
    process_id = fields.String(allow_none=True, metadata={"description": "The instance the task belongs to."})
    process_name = fields.String(allow_none=True)
    priority = fields.String(allow_none=True, metadata={"description": "BAW priority name, e.g. High."})
    activated_at = UtcDateTime(allow_none=True)
    at_risk_at = UtcDateTime(allow_none=True, metadata={"description": "When BAW considers it at risk (UTC)."})
    completed_at = UtcDateTime(allow_none=True)
    variables = fields.Dict(allow_none=True, metadata={"description": "Business data; only when asked for."})
    summary = fields.String(required=True)


class RuntimeFailureSchema(Schema):
    message = fields.String(allow_none=True, metadata={"description": "BAW's error message."})
    task_id = fields.String(allow_none=True, metadata={"description": "The task that failed, when known."})
    step = fields.String(allow_none=True, metadata={"description": "The failing step's name, when known."})
    at = UtcDateTime(allow_none=True, metadata={"description": "When it failed (UTC)."})


class ProcessFailureSchema(Schema):
    process_id = fields.String(required=True)
    name = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": [*STATUS_WORDS, "unknown"]})
    failed = fields.Boolean(required=True, metadata={"description": "The instance is in the failed state."})
    errors = fields.List(fields.Nested(RuntimeFailureSchema), required=True)
    summary = fields.String(required=True)


class ProcessHitSchema(Schema):
    process_id = fields.String(required=True)
    name = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": [*STATUS_WORDS, "unknown"]})
    baw_execution_state = fields.String(attribute="execution_state", allow_none=True)
    process_name = fields.String(allow_none=True)
    process_app = fields.String(allow_none=True)
    created_at = UtcDateTime(allow_none=True)
    last_updated = UtcDateTime(allow_none=True)
    due_at = UtcDateTime(allow_none=True)


class SearchAnswerSchema(Schema):
    total = fields.Integer(required=True, metadata={"description": "How many instances matched."})
    processes = fields.List(fields.Nested(ProcessHitSchema), required=True)
    truncated = fields.Boolean(required=True, metadata={"description": "More follow: ask with next_cursor."})
    next_cursor = fields.String(allow_none=True)


class OverviewSchema(Schema):
    app = fields.String(allow_none=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Instances per normalised status."},
    )
    total = fields.Integer(required=True)


class ProcessAppsQuery(Query):
    pass


class ProcessAppSchema(Schema):
    name = fields.String(required=True, metadata={"description": "The process app's name, e.g. Procurement."})
    acronym = fields.String(
        allow_none=True, metadata={"description": "What search_processes and the overview take as `app`, e.g. PROC."}
    )
    description = fields.String(allow_none=True)


class ProcessAppsSchema(Schema):
    total = fields.Integer(required=True)
    apps = fields.List(fields.Nested(ProcessAppSchema), required=True)


# marshmallow's wording, said the way a model (and a person) acts on it.
_PLAIN = {
    "Missing data for required field.": "required",
    "Unknown field.": "not a parameter of this tool",
    "Not a valid integer.": "expected a whole number",
    "Not a valid boolean.": "expected true or false",
    "Not a valid string.": "expected text",
    "Field may not be null.": "may not be null",
}


def validation_message(exc: ValidationError, schema: Schema, what: str = "query") -> str:
    """Every problem in one sentence that says what is expected (and, for an unknown name, what is known)."""
    problems, unknown = [], False
    for field, messages in sorted(exc.normalized_messages().items()):
        texts = [str(text) for text in (messages if isinstance(messages, list) else [messages])]
        unknown = unknown or "Unknown field." in texts
        problems.append(f"{field}: " + "; ".join(_PLAIN.get(text, text).rstrip(".") for text in texts))
    message = f"Invalid {what}: {'; '.join(problems)}."
    if unknown:
        message += f" Known parameters: {', '.join(sorted(schema.fields))}."
    return message
