"""The OpenAPI 3.0.3 document, generated from the handlers' aiohttp-apispec annotations and marshmallow schemas.

aiohttp-apispec 3.0.0b2 (the release that imports with marshmallow 4) only emits Swagger 2.0, which GPT
Actions reject. We keep its decorators as the single place where an endpoint is described and build the
document here with apispec itself, as OpenAPI 3.0.3: GPT Actions and Copilot accept it, and the Swagger UI
that aiohttp-apispec ships (served at /docs) renders it, which it does not for 3.1.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway import __version__
from gateway.config import Settings
from gateway.web.tools import scopes
from gateway.web.tools.schemas import ErrorSchema

OPENAPI_VERSION = "3.0.3"
_ERROR_DESCRIPTIONS = {
    400: "The request is invalid; the message says what is expected.",
    401: "A bearer key is required.",
    403: "BAW refused the gateway's account access to this item.",
    404: "BAW has no such item.",
    429: "Too many requests; retry after the Retry-After header.",
    502: "BAW answered with an error or something unusable.",
    503: "BAW or its token endpoint is unavailable; retry after the Retry-After header.",
    504: "BAW did not answer in time.",
}


# In user mode BAW judges the signed-in user's own access, not the gateway's account.
USER_FORBIDDEN = "BAW refused the signed-in user access to this item (their own BAW account may not read it)."


def error_responses(*statuses: int) -> dict[int, dict[str, Any]]:
    """Documented error answers for @docs(responses=...): all share the one error envelope."""
    return {status: {"description": _ERROR_DESCRIPTIONS[status], "schema": "Error"} for status in statuses}


def _response(status: int | str, response: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": response.get("description") or "OK",
        "content": {"application/json": {"schema": response.get("schema", "Error")}},
    }


def _schema_name(schema: Any) -> str:
    name = (schema if isinstance(schema, type) else type(schema)).__name__
    return name.removesuffix("Schema") or name


def build_openapi(
    router: web.UrlDispatcher, settings: Settings, issuer_metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`issuer_metadata`: the OAuth issuer's (RFC 8414) metadata, when hosts sign users in; the document then
    declares its authorization-code flow beside the bearer keys, for GPT Actions and Copilot API plugins."""
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="BAW Gateway",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        servers=[{"url": str(settings.public_url)}],
        info={"description": "Read-only lookups of IBM Business Automation Workflow process instances and tasks."},
    )
    spec.components.schema("Error", schema=ErrorSchema)
    schemes: list[dict[str, list[str]]] = []
    if settings.api_keys is not None:
        spec.components.security_scheme(
            "bearerKey", {"type": "http", "scheme": "bearer", "description": "A key from GATEWAY_API_KEYS."}
        )
        schemes.append({"bearerKey": []})
    flow = _authorization_code(issuer_metadata, settings) if issuer_metadata else None
    if flow is not None:
        spec.components.security_scheme(
            "oauth",
            {"type": "oauth2", "description": "Sign in at the gateway's OAuth issuer.", "flows": flow},
        )
        schemes.append({"oauth": list(settings.oauth_scopes)})  # (per operation below: its tool's scopes)
    protected = bool(schemes)
    for route in router.routes():
        annotations = getattr(route.handler, "__apispec__", None)
        if annotations is None or route.method == "HEAD":
            continue
        operation = _operation(annotations, plugin)
        if settings.baw_identity == "user" and "403" in operation["responses"]:
            operation["responses"]["403"]["description"] = USER_FORBIDDEN
        if protected:
            needed = list(scopes.needed(settings, route.handler.__name__))
            operation["security"] = [{"oauth": needed} if "oauth" in scheme else scheme for scheme in schemes]
            operation["responses"].setdefault("401", _response(401, {"description": _ERROR_DESCRIPTIONS[401]}))
            operation["responses"].setdefault("429", _response(429, {"description": _ERROR_DESCRIPTIONS[429]}))
        spec.path(path=route.resource.canonical, operations={route.method.lower(): operation})
    return spec.to_dict()


def _authorization_code(metadata: dict[str, Any], settings: Settings) -> dict[str, Any] | None:
    authorize, token = metadata.get("authorization_endpoint"), metadata.get("token_endpoint")
    if not isinstance(authorize, str) or not isinstance(token, str):
        return None
    flow: dict[str, Any] = {
        "authorizationUrl": authorize,
        "tokenUrl": token,
        "scopes": {
            **{scope: "Read BAW process instances and tasks." for scope in settings.oauth_scopes},
            **{
                scope: f"Use the tools {', '.join(names)}."
                for scope, names in settings.oauth_tool_scopes
                if scope not in settings.oauth_scopes
            },
        },
    }
    if isinstance(metadata.get("token_endpoint"), str):
        flow["refreshUrl"] = token
    return {"authorizationCode": flow}


def _operation(annotations: dict[str, Any], plugin: MarshmallowPlugin) -> dict[str, Any]:
    operation = {
        key: annotations[key] for key in ("operationId", "summary", "description", "tags") if key in annotations
    }
    parameters = list(annotations.get("parameters", []))
    for entry in annotations.get("schemas", []):
        location = {"querystring": "query", "match_info": "path"}.get(entry["location"], entry["location"])
        parameters += plugin.converter.schema2parameters(entry["schema"], location=location)
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = {
        str(status): _response(status, response)
        for status, response in sorted(annotations.get("responses", {}).items(), key=lambda item: int(item[0]))
    }
    # Every operation of this gateway only reads: hosts may let users "always allow" them.
    operation["x-openai-isConsequential"] = False
    return operation


def json_schema(schema: Any) -> dict[str, Any]:
    """A marshmallow schema as a self-contained JSON Schema (2020-12 style nullability, nested schemas inlined):
    what MCP's inputSchema/outputSchema want, from the same schemas the OpenAPI document is built from."""
    spec = APISpec(title="-", version="-", openapi_version="3.1.0", plugins=[MarshmallowPlugin(_schema_name)])
    name = _schema_name(schema)
    spec.components.schema(name, schema=schema)
    components = spec.to_dict()["components"]["schemas"]

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(components[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(components[name])
