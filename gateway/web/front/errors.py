"""The one place where errors become HTTP: the JSON envelope of DESIGN.md."""

from __future__ import annotations

import logging

from aiohttp import web

from gateway.errors import GatewayError, Unauthorized
from gateway.keys import REQUEST_ID
from gateway.web.front import Handler

log = logging.getLogger(__name__)

CLIENT_CLOSED = 499
# aiohttp's own HTTP exceptions (unknown route, wrong method, body too large) in the same envelope.
_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
}


def error_response(
    request_id: str, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request[REQUEST_ID]
    try:
        return await handler(request)
    except GatewayError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = exc.challenge
        level = logging.WARNING if exc.status >= 500 else logging.INFO
        log.log(level, "%s: %s", exc.code, exc.for_log, extra={"request_id": request_id})
        response = error_response(request_id, exc.status, exc.code, exc.message, headers)
        if exc.status == 408:
            response.force_close()  # the rest of the body may still trickle in: the connection is done
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "invalid_request" if exc.status < 500 else "internal_error")
        message = (
            f"{exc.reason}: {request.method} {request.rel_url.path[:200]}" if exc.status in (404, 405) else exc.reason
        )
        headers = {k: v for k, v in exc.headers.items() if k == "Allow"}
        return error_response(request_id, exc.status, code, message, headers)
    except ConnectionResetError:
        # The client hung up (mid-body, or before its answer): nobody reads this answer, and it is not our
        # failure: 499 (nginx's "client closed request") keeps it out of 5xx metrics and error logs.
        log.info("client closed the connection before its answer")
        return web.Response(status=CLIENT_CLOSED, reason="Client Closed Request")
    except Exception:
        # The traceback goes to the log (with the request id), never to the caller.
        log.exception("unhandled error")
        return error_response(
            request_id, 500, "internal_error", "The gateway failed unexpectedly. Quote the request id to the operator."
        )
