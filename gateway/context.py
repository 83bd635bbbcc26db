"""Who and which request the code below the web layer is working for, without passing it through every call.

Set by the web layer per request (contextvars follow tasks created meanwhile, such as a single-flight lookup);
read by logging (the request id on every line) and by the BAW client (the caller's fair share of BAW slots).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Generic, TypeVar

T = TypeVar("T")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# "key:<fingerprint>", "user:<issuer>#<sub>" or "ip:<address>"; "-" for work no caller asked for.
caller_var: ContextVar[str] = ContextVar("caller", default="-")
# Whose BAW credential serves this request (GATEWAY_BAW_IDENTITY=user): "service" for the gateway's own account,
# else the signed-in user's identity; caches and single-flight are keyed by it, so no user gets another's answer.
baw_identity_var: ContextVar[str] = ContextVar("baw_identity", default="service")
# That user's CredentialProvider (gateway.baw.users.UserCredential); None: the service account's.
baw_credential_var: ContextVar[Any] = ContextVar("baw_credential", default=None)
# The BAW user name a signed-in user is known by (GATEWAY_BAW_USER_CLAIM), in user mode, for the audit trail.
baw_user_var: ContextVar[str | None] = ContextVar("baw_user", default=None)
# The tools this caller may not use (GATEWAY_OAUTH_TOOL_SCOPES, web/tools/scopes.py): absent from tools/list, unknown
# when called.
hidden_tools_var: ContextVar[frozenset[str]] = ContextVar("hidden_tools", default=frozenset())
# The OAuth client a signed-in user came through (ChatGPT, Claude, …), for the audit trail; None otherwise.
client_var: ContextVar[str | None] = ContextVar("client", default=None)


class bound(Generic[T]):  # noqa: N801 - used as a function: `with bound(var, value):`
    """`var` is `value` inside the block (and in tasks created there), its previous value after.

    A class rather than a generator-based context manager: each request binds three or four of these, and the
    generator's machinery cost about half a microsecond each."""

    __slots__ = ("_var", "_value", "_token")

    def __init__(self, var: ContextVar[T], value: T) -> None:
        self._var, self._value = var, value

    def __enter__(self) -> None:
        self._token = self._var.set(self._value)

    def __exit__(self, *exc_info: object) -> None:
        self._var.reset(self._token)
