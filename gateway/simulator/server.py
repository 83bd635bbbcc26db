"""The simulator's aiohttp application: routes onto the identity and REST handlers, plus test controls."""

from __future__ import annotations

from aiohttp import web

from gateway.simulator import identity, idp, rest
from gateway.simulator.state import SIMULATOR, Faults, SimulatorConfig, SimulatorState

__all__ = ["SIMULATOR", "Faults", "SimulatorConfig", "SimulatorState", "create_simulator_app"]


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


def create_simulator_app(
    config: SimulatorConfig | None = None, provider: idp.IdentityProvider | None = None
) -> web.Application:
    config = config or SimulatorConfig()
    app = web.Application()
    app[SIMULATOR] = SimulatorState(config)
    idp.add_routes(app, provider or idp.IdentityProvider())
    prefix = config.prefix.rstrip("/")
    app.router.add_post(f"{prefix}/oauth2/token", identity.oauth2_token)
    app.router.add_post("/idprovider/v1/auth/identitytoken", identity.iam_identity_token)
    app.router.add_get("/v1/preauth/validateAuth", identity.zen_validate_auth)
    app.router.add_get(prefix + "/rest/bpm/wle/v1/process/{piid}", rest.process_details)
    app.router.add_get(
        prefix + "/rest/bpm/wle/v1/process/{piid}/taskSummary/{which:active|completed|all}", rest.task_summary
    )
    app.router.add_get(prefix + "/rest/bpm/wle/v1/task/{tkiid}", rest.task_details)
    app.router.add_put(prefix + "/rest/bpm/wle/v1/process/errors", rest.process_errors)
    app.router.add_post(prefix + "/rest/bpm/wle/v1/processes/search", rest.search_processes)
    app.router.add_get(prefix + "/rest/bpm/wle/v1/processes/status/overview", rest.status_overview)
    app.router.add_get(prefix + "/rest/bpm/wle/v1/processApps", rest.process_apps)
    app.router.add_get("/_simulator/stats", stats)
    app.router.add_post("/_simulator/faults", set_faults)
    return app
