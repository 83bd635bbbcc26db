"""REST lookups of process instances."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, response_schema
from marshmallow import Schema, ValidationError

from gateway.errors import InvalidRequest
from gateway.keys import PROCESS_SERVICE
from gateway.service import CacheResult
from gateway.summary import describe_process
from gateway.web.openapi import error_responses
from gateway.web.schemas import ProcessStatusQuery, ProcessStatusSchema

_query = ProcessStatusQuery()
_answer = ProcessStatusSchema()


def load_query(schema: Schema, request: web.Request) -> dict[str, Any]:
    """Validate the query string; every problem in one 400 whose message says what is expected."""
    try:
        return schema.load(request.query)
    except ValidationError as exc:
        problems = "; ".join(
            f"{field}: {' '.join(messages) if isinstance(messages, list) else messages}"
            for field, messages in sorted(exc.normalized_messages().items())
        )
        raise InvalidRequest(f"Invalid query: {problems}.") from None


@docs(
    operationId="getProcessStatus",
    tags=["processes"],
    summary="Get the status of a BAW process instance",
    description=(
        "Use when someone asks where a workflow case (process instance) is, who has it, or why it failed. "
        "Returns its status, open tasks with assignees and due dates, the failure message of a failed "
        "instance, and a one-sentence summary."
    ),
    responses=error_responses(400, 403, 404, 502, 503, 504),
)
@querystring_schema(ProcessStatusQuery)
@response_schema(ProcessStatusSchema, 200, description="The instance and its open tasks.")
async def get_process_status(request: web.Request) -> web.Response:
    query = load_query(_query, request)
    lookup = await request.app[PROCESS_SERVICE].lookup(query["process_id"])
    answer = _answer.dump(lookup.instance)
    answer["summary"] = describe_process(lookup.instance)
    return web.json_response(answer, headers={"Cache-Status": cache_status(lookup.cache)})


def cache_status(result: CacheResult) -> str:
    """RFC 9211 Cache-Status: a hit, or forwarded to BAW because of a miss (collapsed: joined a call in flight)."""
    if result is CacheResult.HIT:
        return "baw-gateway; hit"
    return "baw-gateway; fwd=miss" + ("; collapsed" if result is CacheResult.COALESCED else "")
