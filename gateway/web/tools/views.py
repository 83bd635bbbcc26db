"""MCP Apps views (the `io.modelcontextprotocol/ui` extension): an answer a person can look at, in the host's window.

Three views in one bundle (`views/views.html`, built by `make views` with the official MCP Apps SDK; no CDN, no
other origin): the instance card (get_process_status, explain_process_failure), the task list (list_process_tasks;
a task's details through the host, as a `get_task` call) and the instance table (search_processes,
process_status_overview). Each is a `ui://` resource of type `text/html;profile=mcp-app`, served with the view's
name and its CSP (no domain at all) in `_meta.ui`; a tool names its view in `_meta.ui.resourceUri`. ChatGPT still
reads the Apps SDK's alias, `_meta["openai/outputTemplate"]`, for a `text/html+skybridge` resource: the same HTML
is served under a second URI for it. Hosts without views read the tools' text content, complete as ever.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from aiohttp_tiny_mcp import Registry
from aiohttp_tiny_mcp.protocol.models import TextResourceContents
from pydantic import BaseModel

BUNDLE = Path(__file__).parents[1] / "views" / "views.html"
MCP_APP = "text/html;profile=mcp-app"
SKYBRIDGE = "text/html+skybridge"
# view resource name → (its name in the bundle, a title, the tools it shows)
VIEWS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "instance-card": ("card", "A BAW process instance", ("get_process_status", "explain_process_failure")),
    "task-list": ("tasks", "The tasks of a BAW process instance", ("list_process_tasks",)),
    "instance-table": ("table", "BAW process instances", ("search_processes", "process_status_overview")),
}
# Nothing is fetched from anywhere: everything arrives through the host.
_RESOURCE_META = {
    "ui": {"csp": {"connectDomains": [], "resourceDomains": []}, "prefersBorder": True},
    "openai/widgetCSP": {"connect_domains": [], "resource_domains": []},
    "openai/widgetPrefersBorder": True,
}


def uri(view: str) -> str:
    return f"ui://baw-gateway/{view}.html"


def skybridge_uri(view: str) -> str:
    return f"ui://baw-gateway/openai/{view}.html"


@cache
def html(view: str) -> str:
    """The bundle with the view named (read once)."""
    name = VIEWS[view][0]
    return BUNDLE.read_text(encoding="utf-8").replace('<main id="view"', f'<main id="view" data-view="{name}"', 1)


@cache
def tool_meta(tool: str) -> dict[str, Any] | None:
    """The `_meta` a tool is listed with: its view, in both spellings; None for a tool without one."""
    for view, (_, _, tools) in VIEWS.items():
        if tool in tools:
            return {
                "ui": {"resourceUri": uri(view)},
                "ui/resourceUri": uri(view),  # the extension's first spelling, which early hosts read
                "openai/outputTemplate": skybridge_uri(view),
                "openai/toolInvocation/invoking": "Looking it up in BAW…",
                "openai/toolInvocation/invoked": "Found in BAW",
            }
    return None


def register(registry: Registry) -> None:
    for view, (_, title, _) in VIEWS.items():
        for address, mime in ((uri(view), MCP_APP), (skybridge_uri(view), SKYBRIDGE)):
            registry.resource(
                address,
                _reader(view, address, mime),
                name=view,
                title=title,
                description=f"The view of {title.lower()} (MCP Apps).",
                mime_type=mime,
            )


class _NoVariables(BaseModel):
    """A fixed URI has no variables (the library binds them as a model)."""


def _reader(view: str, address: str, mime: str):  # type: ignore[no-untyped-def]
    async def read(variables: _NoVariables) -> TextResourceContents:
        return TextResourceContents.model_validate(
            {"uri": address, "text": html(view), "mimeType": mime, "_meta": _RESOURCE_META}
        )

    read.__name__ = view.replace("-", "_")
    return read
