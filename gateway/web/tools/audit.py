"""The audit trail: one line per tool call, REST or MCP, on the `gateway.audit` logger.

Who asked (the caller identity and, for a signed-in user, the OAuth client), which tool, which ids, the outcome and
the request id. Never a token, never business data: only the id fields of the arguments are kept.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from gateway.context import baw_user_var, caller_var, client_var
from gateway.errors import GatewayError
from gateway.logs import log_fields

log = logging.getLogger("gateway.audit")

ID_FIELDS = ("process_id", "task_id", "app")


class audited:  # (lower case: it is used as `async with audited(...)`, like the function it replaced)
    """Log the call when it ends; the body may set `outcome` in the record it is given (MCP turns errors into
    results). A class, not an @asynccontextmanager generator: it runs once per request on both faces, and the
    generator's entry and exit cost about as much as writing the line."""

    __slots__ = ("_tool", "_surface", "_ids", "_record")

    def __init__(self, tool: str, surface: str, arguments: Mapping[str, Any]) -> None:
        self._tool, self._surface = tool, surface
        self._ids = {name: str(arguments[name])[:64] for name in ID_FIELDS if name in arguments}
        self._record = {"outcome": "ok"}

    async def __aenter__(self) -> dict[str, str]:
        return self._record

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, _: Any) -> None:
        record = self._record
        if error is not None:
            record["outcome"] = error.code if isinstance(error, GatewayError) else "internal_error"
        caller = caller_var.get()
        fields = {
            "audit": True,
            "caller": caller,
            "client_id": client_var.get(),
            "tool": self._tool,
            "surface": self._surface,
            "ids": self._ids,
            "outcome": record["outcome"],
        }
        baw_user = baw_user_var.get()
        if baw_user is not None:  # user mode: the name BAW saw, beside the subject in `caller`
            fields["baw_user"] = baw_user
        log_fields(log, logging.INFO, fields, "%s %s %s", self._tool, record["outcome"], caller)
