"""OAuth discovery for hosts (RFC 9728 protected-resource metadata) and the challenges that point at it.

A host that meets a 401 on /mcp reads `resource_metadata` from the challenge, fetches the document, learns which
authorization server signs users in and which scopes to ask for, and runs the OAuth flow there.
"""

from __future__ import annotations

from aiohttp import web

from gateway.config import SETTINGS, Settings

MCP_METADATA = "/.well-known/oauth-protected-resource/mcp"
ROOT_METADATA = "/.well-known/oauth-protected-resource"


def resource_for(settings: Settings, path: str) -> tuple[str, str]:
    """(resource identifier, its metadata URL) for a protected path: the MCP endpoint, or the REST face."""
    public = settings.public_url
    if path.startswith("/mcp"):
        return str(public / "mcp"), str(public.with_path(public.path.rstrip("/") + MCP_METADATA))
    return str(public), str(public.with_path(public.path.rstrip("/") + ROOT_METADATA))


def challenge(settings: Settings, path: str, error: str | None = None) -> str:
    _, metadata = resource_for(settings, path)
    parts = [f'resource_metadata="{metadata}"', f'scope="{" ".join(settings.oauth_scopes)}"']
    if error:
        parts.insert(0, f'error="{error}"')
    return "Bearer " + ", ".join(parts)


def _document(settings: Settings, resource: str) -> dict[str, object]:
    return {
        "resource": resource,
        "authorization_servers": [settings.oauth_issuer],
        "scopes_supported": list(settings.supported_scopes),
        "bearer_methods_supported": ["header"],
        "resource_name": settings.plugin.name_for_human,
    }


async def mcp_metadata(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response(
        _document(settings, resource_for(settings, "/mcp")[0]), headers={"Cache-Control": "public, max-age=3600"}
    )


async def root_metadata(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response(
        _document(settings, resource_for(settings, "/")[0]), headers={"Cache-Control": "public, max-age=3600"}
    )


def add_routes(app: web.Application) -> None:
    if app[SETTINGS].oauth_issuer is not None:
        app.router.add_get(MCP_METADATA, mcp_metadata, allow_head=False)
        app.router.add_get(ROOT_METADATA, root_metadata, allow_head=False)
