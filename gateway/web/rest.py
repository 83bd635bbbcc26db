"""The REST face of the tool catalogue: one GET endpoint per tool, described for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema
from marshmallow import Schema, ValidationError

from gateway.errors import InvalidRequest
from gateway.keys import PROCESS_SERVICE
from gateway.web.errors import Handler
from gateway.web.openapi import error_responses
from gateway.web.tools import TOOLS, Tool


def validation_message(exc: ValidationError, what: str = "query") -> str:
    """Every problem in one sentence that says what is expected."""
    problems = "; ".join(
        f"{field}: {' '.join(map(str, messages)) if isinstance(messages, list) else messages}"
        for field, messages in sorted(exc.normalized_messages().items())
    )
    return f"Invalid {what}: {problems}."


def load_query(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None


def rest_handler(tool: Tool) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        query = load_query(tool.query, request.query)
        rendered, headers = await tool.run(request.app[PROCESS_SERVICE], query)
        return web.Response(body=rendered.body, content_type="application/json", headers=headers)

    handler.__name__ = tool.name
    described = docs(
        operationId=tool.operation_id,
        tags=["baw"],
        summary=tool.title,
        description=tool.description,
        responses=error_responses(*tool.errors),
    )
    return described(querystring_schema(type(tool.query))(response_schema(type(tool.answer), 200)(handler)))


def add_routes(app: web.Application) -> None:
    for tool in TOOLS:
        app.router.add_get(tool.path, rest_handler(tool), allow_head=False)
