"""Answers dumped by a plan made once per schema from marshmallow's own fields.

Why: `Schema.dump` asks every field to find its value through two layers of accessors and a dozen checks, for
every field of every answer; for a process status with its open tasks that was 24 µs, the largest single cost an
uncached lookup adds after BAW's own call. The schema does not change, so where to find each value and what to
do when it is missing is worked out once. Each value is still formatted by its field's own `_serialize` (what
`Field.serialize` calls once it has the value), and a nested schema by its own plan. A schema the plan cannot
follow exactly (dump hooks, its own attribute access, dotted attributes, fields that read no attribute) is dumped
by marshmallow, so the output is `Schema.dump`'s, which tests/unit/test_planned_dump.py checks answer for answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, missing

Dump = Callable[[Any], dict[str, Any]]


def planned(schema: Schema) -> Dump:
    """A function that returns what `schema.dump(obj)` returns (a single object, not many)."""
    # (marshmallow's own markers, read defensively: a release without them gets marshmallow's dump)
    hooks = getattr(schema, "_hooks", None)
    if schema.many or hooks is None or any(hooks.values()) or type(schema).get_attribute is not Schema.get_attribute:
        return schema.dump
    steps = []
    for name, field in schema.dump_fields.items():
        attribute = field.attribute or name
        reads_attribute = getattr(field, "_CHECK_ATTRIBUTE", False)
        if not reads_attribute or "." in attribute or type(field).get_value is not fields.Field.get_value:
            return schema.dump
        steps.append((field.data_key or name, attribute, name, field, _formatter(field, name)))

    def dump(obj: Any) -> dict[str, Any]:
        keyed = hasattr(obj, "__getitem__")  # (marshmallow's rule: x[key] first, then x.key)
        answer = {}
        for key, attribute, name, field, formatted in steps:
            value = _value_for_key(obj, attribute) if keyed else getattr(obj, attribute, missing)
            if value is missing:
                default = field.dump_default
                value = default() if callable(default) else default
                if value is missing:
                    continue
            answer[key] = formatted(value, name, obj)
        return answer

    return dump


def _formatter(field: fields.Field, name: str) -> Callable[[Any, str, Any], Any]:
    """How a value found for `field` is written: a nested schema (or a list of one) by its plan, anything else by
    the field's own `_serialize`."""
    if type(field) is fields.Nested and not field.many and not field.schema.many:
        nested = planned(field.schema)
        return lambda value, _name, _obj: None if value is None else nested(value)
    if type(field) is fields.List and type(field.inner) is fields.Nested:
        inner = field.inner
        if not inner.many and not inner.schema.many:
            each = planned(inner.schema)
            return lambda value, _name, _obj: (
                None if value is None else [None if item is None else each(item) for item in value]
            )
    return field._serialize


def _value_for_key(obj: Any, key: str) -> Any:
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, missing)
