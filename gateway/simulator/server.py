"""The simulator's aiohttp application."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.simulator.seed import FORBIDDEN, all_parts, header_part, seed_instances

_INT_MAX = 2**31 - 1  # BAW's database ids are INTEGER: larger ones fail with CWTBG0019E
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="BPMRESTAPI"'}
_VALID_PARTS = {
    "header",
    "summary",
    "data",
    "dataModel",
    "diagram",
    "executionTree",
    "actions",
    "relationships",
    "excludeTaskData",
    "excludeDocs",
    "all",
    "none",
}


@dataclass
class SimulatorConfig:
    client_id: str = "baw-gateway"
    client_secret: str = "simulator-client-secret"
    username: str = "svc-gateway"
    password: str = "simulator-password"
    api_key: str = "simulator-api-key"
    token_lifetime_s: float = 300.0
    prefix: str = "/bas"  # CP4BA-style path prefix: proves the gateway treats the base URL as opaque
    programmers_details: bool = True  # what a server with tracing enabled sends; the gateway must drop it


@dataclass
class Faults:
    """Switchable faults, for fault-injection tests and demos (`POST /_simulator/faults` sets them)."""

    delay_s: float = 0.0  # every process lookup answers this much later
    error_burst: int = 0  # the next N lookups answer `error_status` ...
    error_status: int = 503
    resets: int = 0  # the next N lookups drop the connection without an answer
    token_down: bool = False  # token endpoints answer 503
    body: str | None = None  # "malformed" (not JSON), "html" (wrong content type), "oversized", "wrong_shape"


@dataclass
class SimulatorState:
    config: SimulatorConfig
    faults: Faults = field(default_factory=Faults)
    instances: dict[str, dict[str, Any]] = field(default_factory=seed_instances)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.monotonic)
    calls: dict[str, int] = field(default_factory=lambda: {"token": 0, "iam": 0, "zen": 0, "process": 0})
    issued_tokens: deque[str] = field(default_factory=lambda: deque(maxlen=1000))  # for hygiene tests

    def issue(self, lifetime: float) -> str:
        token = secrets.token_urlsafe(24)
        self.issued_tokens.append(token)
        self.tokens[token] = time.monotonic() + lifetime
        now = time.monotonic()
        for stale in [t for t, expiry in self.tokens.items() if expiry < now]:
            del self.tokens[stale]
        return token


SIMULATOR = web.AppKey("simulator_state", SimulatorState)


def baw_error(
    status: int,
    number: str,
    message: str,
    exception_type: str,
    params: list[str],
    programmers_details: bool,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """BAW's classic error envelope, capital `Data` and all."""
    data: dict[str, Any] = {
        "status": "error",
        "exceptionType": exception_type,
        "errorNumber": number,
        "errorMessage": f"{number}: {message}",
        "errorMessageParameters": params,
        "responses": None,
        "errorData": None,
    }
    if programmers_details:
        data["programmersDetails"] = (
            f"{exception_type}: {message}\n\tat com.lombardisoftware.server.ejb.persistence.dao.BPDInstanceDAO"
            ".findByPrimaryKey(BPDInstanceDAO.java:412)\n"
            "\tat com.ibm.bpm.rest.ProcessResource.get(ProcessResource.java:88)"
        )
    return web.json_response({"status": "error", "Data": data}, status=status, headers=headers)


def _authenticated(request: web.Request, state: SimulatorState) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    config = state.config
    if scheme == "Bearer":
        expiry = state.tokens.get(credential)
        return expiry is not None and expiry > time.monotonic()
    if scheme == "Basic":
        return credential == base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
    if scheme == "ZenApiKey":
        return credential == base64.b64encode(f"{config.username}:{config.api_key}".encode()).decode()
    return False


def _token_endpoint_down(state: SimulatorState) -> web.Response | None:
    if state.faults.token_down:
        return web.json_response({"error": "temporarily_unavailable"}, status=503)
    return None


async def oauth2_token(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR]
    state.calls["token"] += 1
    if (down := _token_endpoint_down(state)) is not None:
        return down
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    if form.get("client_id") != state.config.client_id or form.get("client_secret") != state.config.client_secret:
        return web.json_response(
            {"error": "invalid_client", "error_description": "Client authentication failed"}, status=401
        )
    lifetime = state.config.token_lifetime_s
    return web.json_response(
        {"access_token": state.issue(lifetime), "token_type": "Bearer", "expires_in": lifetime},
        headers={"Cache-Control": "no-store"},
    )


async def iam_identity_token(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR]
    state.calls["iam"] += 1
    if (down := _token_endpoint_down(state)) is not None:
        return down
    form = await request.post()
    config = state.config
    if (
        form.get("grant_type") != "password"
        or form.get("username") != config.username
        or form.get("password") != config.password
    ):
        return web.json_response({"error": "invalid_grant"}, status=400)
    return web.json_response(
        {
            "access_token": state.issue(config.token_lifetime_s),
            "token_type": "Bearer",
            "expires_in": config.token_lifetime_s,
        }
    )


async def zen_validate_auth(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR]
    state.calls["zen"] += 1
    iam_token = request.headers.get("iam-token", "")
    expiry = state.tokens.get(iam_token)
    if request.headers.get("username") != state.config.username or expiry is None or expiry < time.monotonic():
        return web.json_response({"_messageCode_": "401", "message": "Invalid token"}, status=401)
    lifetime = state.config.token_lifetime_s
    signature = state.issue(lifetime)
    claims = {"username": state.config.username, "iat": int(time.time()), "exp": int(time.time() + lifetime)}
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "RS256", "typ": "JWT"}, claims)
    ]
    jwt = ".".join(segments)
    # The "signature" is a token the simulator remembers, so it can check expiry on each call.
    state.tokens[f"{jwt}.{signature}"] = state.tokens.pop(signature)
    return web.json_response({"accessToken": f"{jwt}.{signature}"})


async def process_details(request: web.Request) -> web.StreamResponse:
    state = request.app[SIMULATOR]
    state.calls["process"] += 1
    faults = state.faults
    if faults.delay_s:
        await asyncio.sleep(faults.delay_s)
    if faults.resets:
        faults.resets -= 1
        request.transport.abort()  # the client sees the connection drop mid-request
        return web.Response()
    if faults.error_burst:
        faults.error_burst -= 1
        return web.Response(
            status=faults.error_status, text="<html>Service Unavailable</html>", content_type="text/html"
        )
    if faults.body is not None:
        return _faulty_body(faults.body, request.match_info["piid"])
    if not _authenticated(request, state):
        # Unauthenticated: the container's challenge, no BAW JSON.
        return web.Response(status=401, text="Unauthorized", headers=_CHALLENGE)
    piid = request.match_info["piid"]
    details = state.config.programmers_details
    if not piid.isdigit():
        return baw_error(
            400,
            "CWTBG0553E",
            f"The value '{piid}' is not a valid number.",
            "com.ibm.bpm.wle.api.InvalidParameterException",
            [piid],
            details,
        )
    if int(piid) > _INT_MAX:
        return baw_error(
            500,
            "CWTBG0019E",
            f"Unexpected exception during execution. Exception information: 'BPDInstance.{piid} not found'.",
            "com.lombardisoftware.core.TeamWorksException",
            [piid],
            details,
        )
    instance = state.instances.get(piid)
    if instance is None:
        return baw_error(
            404,
            "CWTBG0059E",
            f"The instance with the ID '{piid}' could not be found.",
            "com.ibm.bpm.wle.api.InstanceDoesNotExistException",
            [piid],
            details,
        )
    if piid in FORBIDDEN:
        return baw_error(
            401,
            "CWTBG0549E",
            f"The user '{state.config.username}' is not authorized to perform the "
            f"action 'ACTION_VIEW_INSTANCE' on BPDInstance.{piid}.",
            "com.ibm.bpm.wle.api.NotAuthorizedException",
            [state.config.username],
            details,
        )
    parts = set(request.query.get("parts", "all").split("|"))
    if not parts <= _VALID_PARTS:
        return baw_error(
            400,
            "CWTBG0018E",
            "The parts parameter is invalid.",
            "com.ibm.bpm.wle.api.InvalidParameterException",
            [],
            details,
        )
    data = all_parts(instance) if "all" in parts else header_part(instance)
    return web.json_response({"status": "200", "data": data})


def _faulty_body(kind: str, piid: str) -> web.Response:
    if kind == "malformed":
        return web.Response(text='{"status": "200", "data": {"piid": ', content_type="application/json")
    if kind == "html":
        return web.Response(text="<html><body>Log in</body></html>", content_type="text/html")
    if kind == "oversized":
        padding = [{"tkiid": str(n), "name": "x" * 200} for n in range(20_000)]  # about 5 MB
        return web.json_response({"status": "200", "data": {"piid": piid, "tasks": padding}})
    return web.json_response({"status": "200", "data": [piid]})  # wrong_shape


def _guard(request: web.Request) -> web.Response | None:
    """The checks every simulated REST call makes before its own work: faults, then authentication."""
    state = request.app[SIMULATOR]
    state.calls["process"] += 1
    if not _authenticated(request, state):
        return web.Response(status=401, text="Unauthorized", headers=_CHALLENGE)
    return None


def _not_found(kind: str, ident: str, details: bool) -> web.Response:
    return baw_error(
        404,
        "CWTBG0059E",
        f"The {kind} with the ID '{ident}' could not be found.",
        "com.ibm.bpm.wle.api.InstanceDoesNotExistException",
        [ident],
        details,
    )


async def task_summary(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    state = request.app[SIMULATOR]
    instance = state.instances.get(request.match_info["piid"])
    if instance is None:
        return _not_found("instance", request.match_info["piid"], state.config.programmers_details)
    which = request.match_info["which"]
    tasks = [{k: v for k, v in t.items() if k != "data"} for t in instance["tasks"]]
    if which == "active":
        tasks = [
            t for t in tasks if t["status"] != "Closed" and t["state"] not in ("STATE_FINISHED", "STATE_TERMINATED")
        ]
    elif which == "completed":
        tasks = [t for t in tasks if t["status"] == "Closed" or t["state"] == "STATE_FINISHED"]
    limit, offset = int(request.query.get("limit", "25")), int(request.query.get("offset", "0"))
    return web.json_response({"status": "200", "data": {"total": len(tasks), "tasks": tasks[offset : offset + limit]}})


async def task_details(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    state = request.app[SIMULATOR]
    tkiid = request.match_info["tkiid"]
    for instance in state.instances.values():
        for task in instance["tasks"]:
            if task["tkiid"] == tkiid:
                body = {
                    **task,
                    "piid": instance["piid"],
                    "processInstanceName": instance["name"],
                    "bpdName": instance["processTemplateName"],
                }
                if not {"data", "all"} & set(request.query.get("parts", "all").split("|")):
                    body.pop("data")  # parts=none: no task variables
                return web.json_response({"status": "200", "data": body})
    return _not_found("task", tkiid, state.config.programmers_details)


async def process_errors(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    state = request.app[SIMULATOR]
    errors = []
    for piid in request.query.get("instanceIds", "").split(","):
        instance = state.instances.get(piid)
        if instance is not None and instance.get("instanceError"):
            errors.append(
                {
                    "instanceId": piid,
                    "errorMessage": instance["instanceError"],
                    "taskId": instance["tasks"][0]["tkiid"],
                    "stepName": instance["tasks"][0]["name"],
                    "timestamp": instance["lastModificationTime"],
                    "javaTrace": "com.ibm.bpm.ErpAdapter.post(ErpAdapter.java:77)\n\tat ...",
                    "jsTrace": "at line 12 of service 'Post invoice'",
                }
            )
    return web.json_response({"status": "200", "data": {"runtimeErrors": errors}})


def _summary(instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "piid": instance["piid"],
        "name": instance["name"],
        "executionState": instance["executionState"],
        "bpdName": instance["processTemplateName"],
        "processAppAcronym": instance["processAppAcronym"],
        "dueDate": instance["dueDate"],
        "creationDate": instance["creationTime"],
        "lastModificationTime": instance["lastModificationTime"],
    }


def _selected(state: SimulatorState, query: Any) -> list[dict[str, Any]]:
    app = query.get("projectFilter")
    statuses = {word.strip().lower() for word in query.get("statusFilter", "").split(",") if word.strip()}
    after, before = query.get("modifiedAfter"), query.get("modifiedBefore")
    return [  # like BAW, searches and counts show only what the caller may read
        instance
        for instance in state.instances.values()
        if instance["piid"] not in FORBIDDEN
        and (not app or instance["processAppAcronym"] == app)
        and (not statuses or instance["executionState"].lower() in statuses)
        and (not after or instance["lastModificationTime"] >= after)
        and (not before or instance["lastModificationTime"] <= before)
    ]


async def search_processes(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    found = _selected(request.app[SIMULATOR], request.query)
    return web.json_response({"status": "200", "data": {"processes": [_summary(i) for i in found]}})


async def status_overview(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    counts: dict[str, int] = {}
    for instance in _selected(request.app[SIMULATOR], request.query):
        counts[instance["executionState"]] = counts.get(instance["executionState"], 0) + 1
    return web.json_response({"status": "200", "data": counts})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].calls)


async def set_faults(request: web.Request) -> web.Response:
    """Replace the faults wholesale: `{}` clears them."""
    state = request.app[SIMULATOR]
    try:
        state.faults = Faults(**await request.json())
    except (TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(vars(state.faults))


def create_simulator_app(config: SimulatorConfig | None = None) -> web.Application:
    config = config or SimulatorConfig()
    app = web.Application()
    app[SIMULATOR] = SimulatorState(config)
    prefix = config.prefix.rstrip("/")
    app.router.add_post(f"{prefix}/oauth2/token", oauth2_token)
    app.router.add_post("/idprovider/v1/auth/identitytoken", iam_identity_token)
    app.router.add_get("/v1/preauth/validateAuth", zen_validate_auth)
    app.router.add_get(prefix + "/rest/bpm/wle/v1/process/{piid}", process_details)
    app.router.add_get(
        prefix + "/rest/bpm/wle/v1/process/{piid}/taskSummary/{which:active|completed|all}", task_summary
    )
    app.router.add_get(prefix + "/rest/bpm/wle/v1/task/{tkiid}", task_details)
    app.router.add_put(prefix + "/rest/bpm/wle/v1/process/errors", process_errors)
    app.router.add_post(prefix + "/rest/bpm/wle/v1/processes/search", search_processes)
    app.router.add_get(prefix + "/rest/bpm/wle/v1/processes/status/overview", status_overview)
    app.router.add_get("/_simulator/stats", stats)
    app.router.add_post("/_simulator/faults", set_faults)
    return app
