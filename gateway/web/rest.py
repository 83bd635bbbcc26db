"""The REST face of the tool catalogue: one GET endpoint per tool, described for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema
from marshmallow import Schema, ValidationError

from gateway.context import hidden_tools_var
from gateway.errors import InvalidRequest
from gateway.keys import PROCESS_SERVICE
from gateway.web.audit import audited
from gateway.web.errors import Handler
from gateway.web.openapi import error_responses
from gateway.web.tools import TOOLS, Tool

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


# Query strings longer than this are validated every time, never kept (Tool.load): the table stays small
# whatever callers send.
_MEMO_QUERY_CHARS = 256


def rest_handler(tool: Tool) -> Handler:
    def valid_query(request: web.Request) -> dict[str, Any]:
        raw = request.query_string
        try:
            return tool.load(request.query, raw if len(raw) <= _MEMO_QUERY_CHARS else None)
        except ValidationError as exc:
            raise InvalidRequest(validation_message(exc, tool.query)) from None

    async def handler(request: web.Request) -> web.Response:
        if tool.name in hidden_tools_var.get():
            raise web.HTTPNotFound()  # as for a path that does not exist (GATEWAY_OAUTH_TOOL_SCOPES)
        async with audited(tool.name, "rest", request.query):
            query = valid_query(request)
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
