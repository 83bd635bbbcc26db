"""The simulator's classic REST API (`/rest/bpm/wle/v1/...`): lookups, searches and BAW's error envelopes."""

from __future__ import annotations

import asyncio
import functools
import json
import zlib
from typing import Any

from aiohttp import web

from gateway.simulator.identity import authenticated
from gateway.simulator.seed import FORBIDDEN, all_parts, header_part
from gateway.simulator.state import BAW_USER, SIMULATOR, SimulatorState, may_read

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


async def process_details(request: web.Request) -> web.StreamResponse:
    state = request.app[SIMULATOR]
    state.calls["process"] += 1
    if "traceparent" in request.headers:
        state.traceparents.append(request.headers["traceparent"])
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
    broken = faults.broken.get(request.match_info["piid"])
    if broken is not None:
        return await _broken_instance(broken, request.match_info["piid"], faults.slow_s)
    if not authenticated(request, state):
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
    if not may_read(request[BAW_USER], instance, state.config, FORBIDDEN):
        return _not_authorized(request[BAW_USER], piid, details)
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


async def _broken_instance(kind: str, piid: str, slow_s: float) -> web.Response:
    """One instance BAW cannot serve, while it serves the others."""
    if kind == "slow":
        await asyncio.sleep(slow_s)
    if kind in ("502", "503"):
        return web.Response(status=int(kind), text="<html>Bad Gateway</html>", content_type="text/html")
    if kind == "500":
        return baw_error(
            500,
            "CWTBG0019E",
            "Unexpected exception during execution. Exception information: 'java.lang.NullPointerException'.",
            "com.lombardisoftware.core.TeamWorksException",
            [],
            True,
        )
    return _faulty_body("malformed", piid)


@functools.cache
def _padding() -> bytes:
    """About 5 MB of tasks, encoded once (when first asked for): encoding them per answer took long enough on a
    busy machine to pass for a slow BAW (a timeout) rather than the oversized body the fault is about."""
    return b", ".join(b'{"tkiid": "%d", "name": "%s"}' % (n, b"x" * 200) for n in range(20_000))


def _faulty_body(kind: str, piid: str) -> web.Response:
    if kind == "malformed":
        return web.Response(text='{"status": "200", "data": {"piid": ', content_type="application/json")
    if kind == "html":
        return web.Response(text="<html><body>Log in</body></html>", content_type="text/html")
    if kind == "oversized":
        head = b'{"status": "200", "data": {"piid": %s, "tasks": [' % json.dumps(piid).encode()
        return web.Response(body=head + _padding() + b"]}}", content_type="application/json")
    return web.json_response({"status": "200", "data": [piid]})  # wrong_shape


def _guard(request: web.Request) -> web.Response | None:
    """The checks every simulated REST call makes before its own work: faults, then authentication."""
    state = request.app[SIMULATOR]
    state.calls["process"] += 1
    if not authenticated(request, state):
        return web.Response(status=401, text="Unauthorized", headers=_CHALLENGE)
    return None


def _not_authorized(user: str, piid: str, details: bool) -> web.Response:
    """BAW's answer for an instance the caller may not read (instance-level security)."""
    return baw_error(
        401,
        "CWTBG0549E",
        f"The user '{user}' is not authorized to perform the action 'ACTION_VIEW_INSTANCE' on BPDInstance.{piid}.",
        "com.ibm.bpm.wle.api.NotAuthorizedException",
        [user],
        details,
    )


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
    if not may_read(request[BAW_USER], instance, state.config, FORBIDDEN):
        return _not_authorized(request[BAW_USER], instance["piid"], state.config.programmers_details)
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


def _selected(state: SimulatorState, query: Any, user: str) -> list[dict[str, Any]]:
    app = query.get("projectFilter")
    statuses = {word.strip().lower() for word in query.get("statusFilter", "").split(",") if word.strip()}
    after, before = query.get("modifiedAfter"), query.get("modifiedBefore")
    return [  # like BAW, searches and counts show only what the caller may read
        instance
        for instance in state.instances.values()
        if may_read(user, instance, state.config, FORBIDDEN)
        and (not app or instance["processAppAcronym"] == app)
        and (not statuses or instance["executionState"].lower() in statuses)
        and (not after or instance["lastModificationTime"] >= after)
        and (not before or instance["lastModificationTime"] <= before)
    ]


async def search_processes(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    found = _selected(request.app[SIMULATOR], request.query, request[BAW_USER])
    return web.json_response({"status": "200", "data": {"processes": [_summary(i) for i in found]}})


async def status_overview(request: web.Request) -> web.Response:
    if (refused := _guard(request)) is not None:
        return refused
    counts: dict[str, int] = {}
    for instance in _selected(request.app[SIMULATOR], request.query, request[BAW_USER]):
        counts[instance["executionState"]] = counts.get(instance["executionState"], 0) + 1
    return web.json_response({"status": "200", "data": counts})


_APP_DESCRIPTIONS = {
    "LOAN": "Consumer and small-business loan applications.",
    "PROC": "Vendor onboarding and purchase orders.",
    "AP": "Supplier invoices from receipt to payment.",
    "FIN": "Employee expense claims.",
    "LEGAL": "Contract review and approval.",
    "HR": "Onboarding and payroll changes.",
}


async def process_apps(request: web.Request) -> web.Response:
    """`GET /processApps`: the installed process apps the caller may read, in BAW's `processAppsList` shape."""
    if (refused := _guard(request)) is not None:
        return refused
    apps: dict[str, dict[str, Any]] = {}
    for instance in request.app[SIMULATOR].instances.values():
        acronym = instance["processAppAcronym"]
        apps.setdefault(
            acronym,
            {
                "ID": f"2066.{zlib.crc32(acronym.encode()):010d}",
                "shortName": acronym,
                "name": instance["processAppName"],
                "description": _APP_DESCRIPTIONS.get(acronym, ""),
                "defaultVersion": None,
                "installedSnapshots": [{"ID": "2064.1", "name": "1.0.0", "acronym": "v100"}],
            },
        )
    return web.json_response(
        {"status": "200", "data": {"processAppsList": sorted(apps.values(), key=lambda a: a["shortName"])}}
    )
