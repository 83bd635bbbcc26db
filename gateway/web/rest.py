"""The REST face of the tool catalogue: one GET endpoint per tool, described for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema
from marshmallow import ValidationError

from gateway.context import hidden_tools_var
from gateway.errors import InvalidRequest
from gateway.service import PROCESS_SERVICE
from gateway.web.documents.openapi import error_responses
from gateway.web.front.errors import Handler
from gateway.web.tools.audit import audited
from gateway.web.tools.catalogue import TOOLS, Tool
from gateway.web.tools.schemas import validation_message

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
