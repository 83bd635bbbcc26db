"""The audit trail: one line per tool call, REST or MCP, on the `gateway.audit` logger.

Who asked (the caller identity and, for a signed-in user, the OAuth client), which tool, which ids, the outcome and
the request id. Never a token, never business data: only the id fields of the arguments are kept.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Mapping

from gateway.context import caller_var, client_var
from gateway.errors import GatewayError
from gateway.logs import log_fields

log = logging.getLogger("gateway.audit")

ID_FIELDS = ("process_id", "task_id", "app")


@asynccontextmanager
async def audited(tool: str, surface: str, arguments: Mapping[str, Any]) -> AsyncIterator[dict[str, str]]:
    """Log the call when it ends; the body may set `outcome` (MCP turns errors into results)."""
    ids = {name: str(arguments[name])[:64] for name in ID_FIELDS if name in arguments}
    record = {"outcome": "ok"}
    try:
        yield record
    except GatewayError as exc:
        record["outcome"] = exc.code
        raise
    except BaseException:
        record["outcome"] = "internal_error"
        raise
    finally:
        caller = caller_var.get()
        fields = {
            "audit": True,
            "caller": caller,
            "client_id": client_var.get(),
            "tool": tool,
            "surface": surface,
            "ids": ids,
            "outcome": record["outcome"],
        }
        log_fields(log, logging.INFO, fields, "%s %s %s", tool, record["outcome"], caller)
