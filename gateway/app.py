"""create_app(settings): the one place where the gateway is wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, AsyncIterator, Callable, Coroutine

import aiohttp
from aiohttp import web

from gateway.baw.client import BAW_HEADERS, BawClient
from gateway.baw.credentials import CREDENTIALS, credential_provider
from gateway.baw.resilience import BawHealth, BreakerPolicy, FailureMemory, FairSlots
from gateway.baw.users import USER_CREDENTIALS, TokenExchange, UserCredentials, UserTokenSource, ZenUserExchange
from gateway.config import SETTINGS, Settings
from gateway.deadlines import REQUEST_DEADLINES, Deadlines
from gateway.errors import GatewayError
from gateway.keys import BACKGROUND_TASKS, BAW_SESSION, CLOCK, OPENAPI_DOCUMENT, PLUGIN_MANIFEST, WALL_CLOCK
from gateway.lifecycle import LIFECYCLE, Lifecycle
from gateway.metrics import METRICS, Metrics
from gateway.oauth.documents import ClientDocuments
from gateway.oauth.facade import FACADE, LOCAL_BOUNDS, Facade
from gateway.oauth.issuer import OAUTH_ISSUER, Introspection, Issuer
from gateway.oauth.signing import SigningKey
from gateway.service import PROCESS_SERVICE, ProcessService
from gateway.shared.cache import SharedCache
from gateway.shared.flows import FlowStore
from gateway.shared.limits import AGENT_LIMITS, AUTH_FAILURES, RATE_LIMITER, Limiter
from gateway.shared.link import SHARED_STATE, SharedState, redis_client
from gateway.shared.sessions import MCP_SESSIONS
from gateway.tls import BAW_TRUST, RotatingTrust, client_ssl_context
from gateway.web import ops, rest, signin
from gateway.web.documents import discovery, plugin
from gateway.web.documents.openapi import build_openapi
from gateway.web.front.access import API_KEYS, ApiKeys
from gateway.web.front.caller import caller_middleware
from gateway.web.front.cors import cors_middleware
from gateway.web.front.deadline import deadline_middleware
from gateway.web.front.errors import error_middleware
from gateway.web.front.observe import observe_middleware
from gateway.web.front.request_id import request_id_middleware
from gateway.web.front.stamp import stamp_response
from gateway.web.mcp import endpoint as mcp
from gateway.web.tools import scopes

# Inbound limits: hosts send short GET lines and a few headers; MCP bodies are small JSON-RPC messages.
MAX_REQUEST_LINE = 4096
MAX_HEADER_FIELD = 8190
MAX_BODY_BYTES = 64 * 1024

# Wrong keys from one address: a few typos pass, a guessing loop is slowed to one try every two seconds.
AUTH_FAILURE_BURST = 10
AUTH_FAILURE_RATE = 0.5

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> web.Application:
    """`clock` (monotonic seconds) times the cache, the failure memory and the breaker; `wall_clock` (Unix time)
    judges token expiry. Tests move them by hand instead of sleeping."""
    scopes.check(settings)
    app = web.Application(
        middlewares=[
            request_id_middleware,
            observe_middleware,
            cors_middleware,
            error_middleware,
            deadline_middleware,
            caller_middleware,
        ],
        client_max_size=MAX_BODY_BYTES,
        handler_args={"max_line_size": MAX_REQUEST_LINE, "max_field_size": MAX_HEADER_FIELD},
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[WALL_CLOCK] = wall_clock
    app[BACKGROUND_TASKS] = {}
    app[METRICS] = Metrics()
    app[LIFECYCLE] = Lifecycle()
    app[REQUEST_DEADLINES] = Deadlines(settings.request_timeout_s)
    app[API_KEYS] = ApiKeys(settings.api_keys)
    app[RATE_LIMITER] = Limiter("requests", settings.rate_limit_rps, settings.rate_limit_burst, clock=clock)
    app[AUTH_FAILURES] = Limiter("auth-failures", AUTH_FAILURE_RATE, AUTH_FAILURE_BURST, clock=clock)
    app[AGENT_LIMITS] = {
        f"client:{agent.client_id}": Limiter(
            f"client-{agent.client_id}",
            agent.rate_limit_rps or settings.rate_limit_rps,
            agent.rate_limit_burst or settings.rate_limit_burst,
            clock=clock,
        )
        for agent in settings.oauth_agents
        if agent.rate_limit_rps or agent.rate_limit_burst
    }
    app.on_response_prepare.append(stamp_response)
    app.cleanup_ctx.append(shared_state)
    app.cleanup_ctx.append(oauth_issuer)
    app.cleanup_ctx.append(baw_session)
    app.cleanup_ctx.append(baw_credentials)
    app.cleanup_ctx.append(user_credentials)
    app.cleanup_ctx.append(process_service)
    app.on_startup.append(describe_oauth)
    app.on_startup.append(warn_if_open)

    add_routes(app)
    app[OPENAPI_DOCUMENT] = plugin.encode(build_openapi(app.router, settings))
    app[PLUGIN_MANIFEST] = plugin.encode(plugin.plugin_manifest(settings))
    return app


def add_routes(app: web.Application) -> None:
    discovery.add_routes(app)
    signin.add_routes(app)
    rest.add_routes(app)
    mcp.add_routes(app, app[SETTINGS])
    plugin.add_routes(app)
    ops.add_routes(app)


async def shared_state(app: web.Application) -> AsyncIterator[None]:
    """Cluster mode (GATEWAY_REDIS_URL): the one Redis pool; limits and MCP sessions move onto it."""
    settings = app[SETTINGS]
    if settings.redis_url is None:
        yield
        return
    client = redis_client(settings)
    shared = app[SHARED_STATE] = SharedState(
        client, settings.redis_prefix, app[METRICS], settings.redis_timeout_s, clock=app[CLOCK]
    )
    app[RATE_LIMITER].attach(shared)
    app[AUTH_FAILURES].attach(shared)
    for limiter in app[AGENT_LIMITS].values():
        limiter.attach(shared)
    app[MCP_SESSIONS].attach(shared)
    log.info("cluster mode: limits, cache and MCP sessions shared through Redis (prefix %s)", settings.redis_prefix)
    yield
    await shared.close()


async def oauth_issuer(app: web.Application) -> AsyncIterator[None]:
    """With GATEWAY_OAUTH_ISSUER: the issuer's keys, fetched at start (bounded) and renewed in the background, over
    a session of its own (its own trust: GATEWAY_OAUTH_CA_BUNDLE, else the system store). With the façade the
    gateway is the issuer: its own key is trusted as is, and the upstream IdP's keys are the ones renewed."""
    settings = app[SETTINGS]
    if settings.oauth_issuer is None:
        yield
        return
    timeout = aiohttp.ClientTimeout(total=10, connect=5)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        introspection = (
            Introspection(
                settings.oauth_introspection_url,
                settings.oauth_introspection_client_id or "",
                settings.oauth_introspection_client_secret,
            )
            if settings.oauth_introspection_url
            else None
        )
        issuer = app[OAUTH_ISSUER] = Issuer(
            settings.oauth_issuer,
            settings.oauth_audiences,
            settings.oauth_scopes,
            session,
            ca_bundle=settings.oauth_ca_bundle,
            introspection=introspection,
            user_claim=settings.baw_user_claim,
        )
        renewed = issuer
        async with contextlib.AsyncExitStack() as stack:
            if settings.oauth_proxy_upstream_issuer is not None:
                renewed = Issuer(
                    settings.oauth_proxy_upstream_issuer,
                    (settings.oauth_proxy_client_id or "",),
                    (),
                    session,
                    ca_bundle=settings.oauth_ca_bundle,
                    user_claim=settings.baw_user_claim,
                )
                trust = client_ssl_context(settings.oauth_ca_bundle) if settings.oauth_ca_bundle else True
                documents = await stack.enter_async_context(
                    ClientDocuments(
                        trust,
                        timeout_s=settings.oauth_cimd_timeout_s,
                        private_hosts=frozenset(settings.oauth_cimd_private_hosts),
                        clock=app[CLOCK],
                    )
                )
                store = FlowStore(clock=app[CLOCK], bounds=LOCAL_BOUNDS)
                signing = SigningKey(settings.oauth_proxy_signing_key)
                enterprise = {
                    url: Issuer(url, (settings.oauth_issuer,), (), session, ca_bundle=settings.oauth_ca_bundle)
                    for url in settings.oauth_id_jag_issuers
                }
                front = app[FACADE] = Facade(
                    settings,
                    signing,
                    renewed,
                    store,
                    session,
                    trust,
                    documents,
                    id_jag_issuers=enterprise,
                    clock=app[WALL_CLOCK],
                )
                if SHARED_STATE in app:
                    front.attach(app[SHARED_STATE])
                issuer.trust(front.metadata(), [front.signing.jwk])
                for n, idp in enumerate(enterprise.values()):  # the keys their ID-JAGs are signed with, renewed
                    await _first_keys(idp)
                    await stack.enter_async_context(
                        _background(app, f"id_jag_key_renewal_{n}", idp.run(), task=f"id-jag-key-renewal-{n}")
                    )
            await _first_keys(renewed)
            async with _background(app, "oauth_key_renewal", renewed.run(), task="oauth-key-renewal"):
                yield


async def _first_keys(issuer: Issuer) -> None:
    """An issuer's keys at start, within 10 s; the renewal task goes on trying when they are not there yet."""
    try:
        await asyncio.wait_for(issuer.refresh(), 10)
    except (GatewayError, TimeoutError) as exc:
        log.warning("keys of %s not loaded at start (renewal goes on in the background): %s", issuer.issuer, exc)


async def baw_session(app: web.Application) -> AsyncIterator[None]:
    """The one ClientSession towards BAW and its token endpoints, for the application's lifetime."""
    settings = app[SETTINGS]
    trust = app[BAW_TRUST] = RotatingTrust(settings.baw_ca_bundle, clock=app[CLOCK])
    connector = aiohttp.TCPConnector(
        ssl=trust.context(),
        limit=settings.baw_max_connections,
        limit_per_host=settings.baw_max_connections,
    )
    timeout = aiohttp.ClientTimeout(total=settings.baw_timeout_s, connect=min(5.0, settings.baw_timeout_s))
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=BAW_HEADERS, raise_for_status=False, trust_env=False
    ) as session:
        app[BAW_SESSION] = session
        yield


async def baw_credentials(app: web.Application) -> AsyncIterator[None]:
    """The credential provider and, for token modes, its renewal task (cancelled on shutdown)."""
    provider = credential_provider(
        app[SETTINGS], app[BAW_SESSION], app[BAW_TRUST], on_renewal=app[METRICS].token_renewal, clock=app[WALL_CLOCK]
    )
    app[CREDENTIALS] = provider
    if not provider.background:
        yield
        return
    async with _background(app, "credential_renewal", provider.run(), task="baw-credential-renewal"):
        yield


async def user_credentials(app: web.Application) -> AsyncIterator[None]:
    """GATEWAY_BAW_IDENTITY=user: the table of active users' BAW credentials and the task that renews them."""
    settings = app[SETTINGS]
    if settings.baw_identity != "user":
        yield
        return
    source: UserTokenSource
    if settings.baw_token_exchange_url is not None:
        source = TokenExchange(
            app[BAW_SESSION],
            settings.baw_token_exchange_url,
            settings.baw_token_exchange_client_id or "",
            settings.baw_token_exchange_client_secret,  # type: ignore[arg-type]
            settings.baw_token_exchange_audience,
            settings.baw_timeout_s,
            app[BAW_TRUST].context,
            clock=app[WALL_CLOCK],
        )
    else:
        assert settings.baw_zen_url is not None
        zen_url = settings.baw_zen_url
        source = ZenUserExchange(
            app[BAW_SESSION], zen_url, settings.baw_timeout_s, app[BAW_TRUST].context, app[WALL_CLOCK]
        )
    table = app[USER_CREDENTIALS] = UserCredentials(
        source, max_users=settings.user_credentials_max, idle_s=settings.user_idle_s, clock=app[WALL_CLOCK]
    )
    async with _background(app, "user_credential_renewal", table.run(), task="baw-user-credential-renewal"):
        yield


@contextlib.asynccontextmanager
async def _background(
    app: web.Application, check: str, work: Coroutine[Any, Any, None], *, task: str
) -> AsyncIterator[None]:
    """Run `work` as the background task `task` (its name in logs) for the block: a /livez check named `check`,
    reported at once if it ever ends on its own, cancelled when the block ends."""
    running = asyncio.create_task(work, name=task)
    running.add_done_callback(_report_death)
    app[BACKGROUND_TASKS][check] = running
    try:
        yield
    finally:
        running.remove_done_callback(_report_death)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def _report_death(task: asyncio.Task[None]) -> None:
    """A background task must never end on its own; if it does, say so now (and /livez fails)."""
    if task.cancelled():
        log.critical("background task %s was cancelled: restart the gateway", task.get_name())
    else:
        log.critical("background task %s ended: restart the gateway", task.get_name(), exc_info=task.exception())


async def process_service(app: web.Application) -> AsyncIterator[None]:
    """The lookups over BAW; wired last, so it is closed first, while the resources its lookups use are open."""
    settings = app[SETTINGS]
    client = BawClient(
        app[BAW_SESSION],
        settings.baw_base_url,
        app[CREDENTIALS],
        timeout_s=settings.baw_timeout_s,
        metrics=app[METRICS],
        health=BawHealth(
            BreakerPolicy(
                window_s=settings.breaker_window_s,
                min_calls=settings.breaker_min_calls,
                failure_rate=settings.breaker_failure_rate,
                slow_call_s=settings.breaker_slow_call_s,
                min_subjects=settings.breaker_min_ids,
                min_callers=settings.breaker_min_callers,
                cooldown_s=settings.breaker_cooldown_s,
            ),
            clock=app[CLOCK],
            on_change=app[METRICS].breaker_open.set,
        ),
        slots=FairSlots(settings.baw_concurrency, settings.baw_concurrency_per_caller, settings.baw_queue_wait_s),
        failures=FailureMemory(settings.cache_failure_ttl_s, settings.cache_max_entries, clock=app[CLOCK]),
        max_response_bytes=settings.max_baw_response_bytes,
        trust=app[BAW_TRUST],
    )
    service = app[PROCESS_SERVICE] = ProcessService(
        client,
        app[METRICS],
        ttl_s=settings.cache_ttl_s,
        not_found_ttl_s=settings.cache_not_found_ttl_s,
        max_entries=settings.cache_max_entries,
        clock=app[CLOCK],
        shared=SharedCache(app[SHARED_STATE], "process") if SHARED_STATE in app else None,
        failure_ttl_s=settings.cache_failure_ttl_s,
        lock_s=settings.baw_timeout_s + 1,
        instance_url=settings.baw_portal_url or f"{settings.public_url}/baw/process-status?process_id={{id}}",
    )
    yield
    await service.close()


async def describe_oauth(app: web.Application) -> None:
    """Once the issuer's metadata is known (at start), the OpenAPI document declares its sign-in flow too."""
    issuer = app.get(OAUTH_ISSUER)
    if issuer is not None and issuer.metadata:
        app[OPENAPI_DOCUMENT] = plugin.encode(build_openapi(app.router, app[SETTINGS], issuer.metadata))
    elif issuer is not None:
        log.warning("the issuer's metadata is not known yet: the OpenAPI document declares no OAuth flow")


async def warn_if_open(app: web.Application) -> None:
    settings = app[SETTINGS]
    if settings.request_timeout_s > settings.shutdown_timeout_s:
        log.warning(
            "GATEWAY_REQUEST_TIMEOUT_S (%g) exceeds GATEWAY_SHUTDOWN_TIMEOUT_S (%g): a drain may cut requests short",
            settings.request_timeout_s,
            settings.shutdown_timeout_s,
        )
    if not app[API_KEYS].enabled and settings.oauth_issuer is None:
        log.warning("GATEWAY_API_KEYS is not set: /baw/ and /mcp are open to anyone who can reach this port")
