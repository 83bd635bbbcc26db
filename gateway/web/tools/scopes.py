"""Tools per caller (GATEWAY_OAUTH_TOOL_SCOPES): a tool may need a scope beyond the gateway's own, and a signed-in
caller whose token lacks it does not see that tool: not in `tools/list` (a model plans with what it sees), and a
call of it is refused as an unknown tool's is (MCP: unknown tool; REST: 404). Key callers and an open gateway see
every tool: scopes are what a sign-in grants."""

from __future__ import annotations

from gateway.config import ConfigError, Settings
from gateway.web.tools.catalogue import TOOLS


def check(settings: Settings) -> None:
    """Every tool named exists: a misspelt one would stay visible to everyone, so it stops the start."""
    known = {tool.name for tool in TOOLS}
    unknown = sorted({name for _, names in settings.oauth_tool_scopes for name in names} - known)
    if unknown:
        raise ConfigError([f"GATEWAY_OAUTH_TOOL_SCOPES names tools that do not exist: {', '.join(unknown)}"])


def needed(settings: Settings, tool: str) -> tuple[str, ...]:
    """The scopes `tool` needs: the gateway's own and its family's."""
    return (*settings.oauth_scopes, *(scope for scope, names in settings.oauth_tool_scopes if tool in names))


def hidden(settings: Settings, granted: frozenset[str]) -> frozenset[str]:
    """The tools a caller with `granted` scopes may not use."""
    return frozenset(name for scope, names in settings.oauth_tool_scopes if scope not in granted for name in names)
