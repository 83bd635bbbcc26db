"""A planned dump (tools/planned.py) answers exactly what marshmallow's `Schema.dump` answers: for the gateway's real
answers, and field kind by field kind for what a schema can say (names, data keys, attributes, missing values,
defaults, None, nesting), falling back to marshmallow where it cannot follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from marshmallow import Schema, fields, post_dump

from gateway.baw.models import parse_process_details
from gateway.simulator import seed
from gateway.web.tools import schemas as s
from gateway.web.tools.catalogue import TOOLS
from gateway.web.tools.planned import planned


def _instances():
    return [
        parse_process_details({"status": "200", "data": seed.header_part(instance)})
        for instance in seed.seed_instances().values()
    ]


def test_every_seeded_instance_is_dumped_as_marshmallow_dumps_it() -> None:
    schema = s.ProcessStatusSchema()
    dump = planned(schema)
    instances = _instances()
    assert len({instance.status for instance in instances}) > 3  # active, failed, completed, ... all seen
    for instance in instances:
        assert dump(instance) == schema.dump(instance)


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_every_tool_s_answer_schema_is_planned_not_left_to_marshmallow(tool) -> None:
    schema = type(tool.answer)()
    assert planned(schema) != schema.dump


@dataclass
class _Inner:
    code: str | None
    at: datetime | None


@dataclass
class _Outer:
    name: str | None
    count: int | None
    flag: object
    inner: _Inner | None
    items: list[_Inner | None] | None
    extra: dict[str, object] | None
    nick: str = "n"


class _InnerSchema(Schema):
    code = fields.String(data_key="Code")
    at = s.UtcDateTime(allow_none=True)


class _OuterSchema(Schema):
    name = fields.String(allow_none=True)
    renamed = fields.String(attribute="nick")
    count = fields.Integer(allow_none=True)
    flag = fields.Boolean(allow_none=True)
    inner = fields.Nested(_InnerSchema, allow_none=True)
    items = fields.List(fields.Nested(_InnerSchema, allow_none=True), allow_none=True)
    extra = fields.Dict(allow_none=True)
    absent = fields.String()  # no such attribute: left out
    defaulted = fields.String(dump_default="d")
    called = fields.Integer(dump_default=lambda: 7)
    loaded_only = fields.String(load_only=True)


_WHEN = datetime(2026, 11, 1, 9, 30, 12, 345, tzinfo=timezone(timedelta(hours=2)))
_OBJECTS = [
    _Outer("a", 3, True, _Inner("x", _WHEN), [_Inner("y", None), None], {"k": [1, 2]}),
    _Outer(None, None, None, None, None, None),
    _Outer("é", 0, "false", _Inner(None, _WHEN.astimezone(UTC)), [], {}),  # marshmallow's Boolean reads "false"
    _Outer("b", 2**70, 1, None, [None], {"n": None}),
]


@pytest.mark.parametrize("obj", _OBJECTS, ids=range(len(_OBJECTS)))
def test_each_field_kind_is_dumped_as_marshmallow_dumps_it(obj) -> None:
    schema = _OuterSchema()
    assert planned(schema)(obj) == schema.dump(obj)


@pytest.mark.parametrize("obj", _OBJECTS[:2], ids=range(2))
def test_a_dict_is_read_by_key_as_marshmallow_reads_it(obj) -> None:
    schema = _OuterSchema()
    data = {"name": obj.name, "nick": obj.nick, "count": obj.count, "flag": obj.flag, "inner": obj.inner}
    data["items"] = obj.items  # (absent, it would be found as dict.items, by marshmallow's rule and the plan's alike)
    assert planned(schema)(data) == schema.dump(data)


class _Hooked(Schema):
    name = fields.String()

    @post_dump
    def shout(self, data, **kwargs):  # type: ignore[no-untyped-def]
        return {key: value.upper() for key, value in data.items()}


class _Dotted(Schema):
    code = fields.String(attribute="inner.code")


class _Computed(Schema):
    length = fields.Function(lambda obj: len(obj.name))


@pytest.mark.parametrize("schema", [_Hooked(), _Dotted(), _Computed(), _OuterSchema(many=True)], ids=repr)
def test_what_the_plan_cannot_follow_is_dumped_as_marshmallow_dumps_it(schema) -> None:
    """A hook, a dotted attribute, a computed field, many objects: each would come out otherwise if planned."""
    obj = [_OBJECTS[0]] if schema.many else _OBJECTS[0]
    assert planned(schema)(obj) == schema.dump(obj)


@pytest.mark.parametrize(
    ("when", "written"),
    [
        (datetime.fromisoformat("2026-12-01T23:01:56Z"), "2026-12-01T23:01:56Z"),  # BAW's own, UTC already
        (datetime(2026, 11, 1, 9, 30, 12, 999_999, tzinfo=UTC), "2026-11-01T09:30:12Z"),  # to the second
        (datetime(2026, 11, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))), "2026-10-31T23:30:00Z"),
        (datetime(2026, 3, 29, 1, 30, tzinfo=timezone(-timedelta(hours=9, minutes=30))), "2026-03-29T11:00:00Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),  # ISO-8601's four digits (strftime wrote "1-")
        (None, None),
    ],
)
def test_times_are_written_in_utc_to_the_second(when, written) -> None:
    assert s.UtcDateTime()._serialize(when, "at", None) == written
