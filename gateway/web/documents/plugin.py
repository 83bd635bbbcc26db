"""The faces hosts discover the gateway by: plugin manifest, OpenAPI document, Swagger UI, logo, legal page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.config import SETTINGS, Settings
from gateway.keys import OPENAPI_DOCUMENT, PLUGIN_MANIFEST

STATIC = Path(__file__).parents[1] / "static"
# A current Swagger UI, vendored from npm's swagger-ui-dist (static/swagger-ui/VERSION); aiohttp-apispec's copy
# was a release with the `?url=` spoofing flaw.
SWAGGER_UI = STATIC / "swagger-ui"
SWAGGER_UI_PREFIX = "/docs/static"
# The page and its assets come from this origin only; Swagger UI sets inline styles.
_DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

DESCRIPTION_FOR_MODEL = (
    "Read-only access to IBM Business Automation Workflow (BAW). Use it when the user asks about a workflow "
    "case, process instance, loan or invoice application, approval or task by its number: where it is, "
    "whether it is active, completed or failed, who has the open tasks and when they are due, and why a "
    "failed instance failed. Pass the numeric process instance id (for example 23972). Quote the answer's "
    "summary; do not guess ids. The gateway cannot start, change or complete anything."
)


def plugin_manifest(settings: Settings) -> dict[str, Any]:
    """ai-plugin.json: every URL is built from GATEWAY_PUBLIC_URL so it is on the serving domain."""
    public = settings.public_url
    plugin = settings.plugin
    return {
        "schema_version": "v1",
        "name_for_human": plugin.name_for_human,
        "name_for_model": plugin.name_for_model,
        "description_for_human": plugin.description_for_human,
        "description_for_model": DESCRIPTION_FOR_MODEL,
        "auth": _manifest_auth(settings),
        "api": {"type": "openapi", "url": str(public / "openapi.json"), "is_user_authenticated": False},
        "logo_url": str(public / "logo.png"),
        "contact_email": plugin.contact_email,
        "legal_info_url": plugin.legal_url or str(public / "legal"),
    }


def _manifest_auth(settings: Settings) -> dict[str, Any]:
    """With inbound keys the host sends one service key on every call (`service_http`, bearer)."""
    if settings.api_keys is None:
        return {"type": "none"}
    token = settings.plugin.verification_token
    auth: dict[str, Any] = {"type": "service_http", "authorization_type": "bearer"}
    if token is not None:
        auth["verification_tokens"] = {"openai": token.read()}
    return auth


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=False).encode() + b"\n"


async def manifest(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    token = settings.plugin.verification_token
    # A verification token from a file may be rotated: the manifest (rarely fetched) is built anew each time.
    body = encode(plugin_manifest(settings)) if token is not None and token.path else request.app[PLUGIN_MANIFEST]
    return web.Response(body=body, content_type="application/json")


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type="application/json")


_SWAGGER_PAGE = (SWAGGER_UI / "index.html").read_bytes()


async def swagger_ui(request: web.Request) -> web.Response:
    return web.Response(body=_SWAGGER_PAGE, content_type="text/html", headers=_DOCS_HEADERS)


async def logo(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "logo.png", headers={"Cache-Control": "public, max-age=86400"})


async def legal(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    text = (
        f"{settings.plugin.name_for_human}\n\n"
        "This gateway gives read-only access to process data of an IBM Business Automation Workflow server, "
        "with the rights of the service account its operator configured. It stores nothing beyond a short-lived "
        "cache. Questions: " + settings.plugin.contact_email + "\n"
    )
    return web.Response(text=text, content_type="text/plain")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/.well-known/ai-plugin.json", manifest)
    app.router.add_get("/openapi.json", openapi)
    if app[SETTINGS].docs:
        app.router.add_get("/docs", swagger_ui)
        app.router.add_static(SWAGGER_UI_PREFIX, SWAGGER_UI)
    app.router.add_get("/logo.png", logo)
    app.router.add_get("/legal", legal)
