"""Settings from the environment: each declared once below (its variable, default, how it is read, what it means),
parsed once, validated all at once, frozen.

The declarations are the one source: `load_settings` reads them, `check-config` shows them, and `make docs` writes
docs/configuration.md from them. The variable names are a contract operators script against. Every secret can be
given as NAME or as NAME_FILE; a file is re-read whenever the credential is renewed, so a rotated Kubernetes secret
takes effect without a restart.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from aiohttp import web
from yarl import URL

from gateway import variables as v
from gateway.secret import Secret
from gateway.variables import Agent, IPNetwork, Kind

__all__ = ["Agent", "ConfigError", "PluginSettings", "Settings", "load_settings"]

AUTH_MODES = ("oauth2", "zen", "zen_api_key", "basic")
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
LOG_FORMATS = ("json", "text")
_LOG_LEVELS = tuple(logging.getLevelName(level) for level in (10, 20, 30, 40, 50))
MAX_WORKERS = 64
EXIT_CONFIG = 2  # the exit status of a configuration error (and of a port that cannot be listened on)
# Where a secret given inline is read from once the process has moved it into a memfd (__main__), a descriptor
# the GATEWAY_WORKERS supervisor passes on to its workers.
INHERITED_SECRET = "/proc/self/fd/"
DEFAULT_CORS_ORIGINS = ("https://chat.openai.com", "https://chatgpt.com")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_]{1,50}$")
_OUR_PREFIXES = ("GATEWAY_", "BAW_", "PLUGIN_")
# Our prefixes' variables that are not settings: the workers' own, set by the supervisor (workers.py).
SET_BY_THE_GATEWAY = ("GATEWAY_WORKER", "GATEWAY_SUPERVISOR_PID")
# Settings that are gone, and what replaced them: named at start rather than ignored.
GONE = {
    "GATEWAY_BREAKER_FAILURES": "the breaker opens on a failure rate over distinct ids "
    "(GATEWAY_BREAKER_FAILURE_RATE, GATEWAY_BREAKER_MIN_CALLS, GATEWAY_BREAKER_MIN_IDS)",
}

# Which part of the gateway a setting belongs to: the sections of docs/configuration.md, in order, each with when
# it is used.
BAW = "BAW: where it is and how the gateway signs in"
SERVER = "Serving: listener, logs, shutdown"
CALLERS = "Callers: keys, browsers, proxies, limits"
CAPACITY = "Capacity towards BAW: slots, cache, breaker"
MCP = "MCP sessions"
SIGN_IN = "Signing users in: the gateway as an OAuth resource server"
FACADE = "The OAuth façade: the gateway as the hosts' authorization server"
USER = "Answers as the user sees BAW: per-user identity"
CLUSTER = "Cluster mode: Redis"
PLUGIN = "The ChatGPT plugin manifest"
GROUPS = (BAW, SERVER, CALLERS, CAPACITY, MCP, SIGN_IN, FACADE, USER, CLUSTER, PLUGIN)


@dataclass(frozen=True)
class Var:
    """One setting's declaration, beside its field."""

    env: str
    kind: Kind
    meaning: str
    group: str
    used: str  # when the gateway uses it: "always", "BAW_AUTH=zen", "the façade", ...
    derived: Callable[[Mapping[str, Any]], Any] | None  # a default computed from the settings read before it
    shown_default: str | None  # how the reference shows the default, when its value does not say it


def setting(
    env: str,
    default: Any,
    kind: Kind,
    meaning: str,
    group: str,
    *,
    used: str = "always",
    derived: Callable[[Mapping[str, Any]], Any] | None = None,
    shown: str | None = None,
) -> Any:
    """A dataclass field carrying its variable's declaration; `default` is the field's default (MISSING: required)."""
    var = Var(env, kind, meaning, group, used, derived, shown)
    return field(metadata={"var": var}) if default is MISSING else field(default=default, metadata={"var": var})


def declared(cls: type) -> Iterator[tuple[Field[Any], Var]]:
    for f in fields(cls):
        if "var" in f.metadata:
            yield f, f.metadata["var"]


def declarations() -> list[Var]:
    """Every setting, in the order of the reference."""
    return [var for cls in (Settings, PluginSettings) for _, var in declared(cls)]


def known_variables() -> frozenset[str]:
    """Every variable in our prefixes the gateway reads (a secret's _FILE too)."""
    names = {var.env for var in declarations()} | set(SET_BY_THE_GATEWAY) | set(GONE)
    names |= {f"{var.env}_FILE" for var in declarations() if var.kind.secret}
    return frozenset(names)


class ConfigError(Exception):
    """Every configuration problem found, so an operator fixes them in one round."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


_SECONDS = v.parsed(v.positive(float), "a number of seconds > 0")
_SECONDS_OR_ZERO = v.parsed(v.non_negative, "a number of seconds >= 0")
_COUNT = v.parsed(v.positive(int), "a whole number > 0")
_SCOPES = v.parsed(v.words(" ,"), "scope names, space or comma separated")


@dataclass(frozen=True)
class PluginSettings:
    name_for_human: str = setting(
        "PLUGIN_NAME_FOR_HUMAN", "BAW Gateway", v.TEXT, "the name a person sees (at most 20 characters)", PLUGIN
    )
    name_for_model: str = setting(
        "PLUGIN_NAME_FOR_MODEL", "baw_gateway", v.TEXT, "the name the model sees (1-50 letters, digits, _)", PLUGIN
    )
    description_for_human: str = setting(
        "PLUGIN_DESCRIPTION_FOR_HUMAN",
        "Look up IBM Business Automation Workflow process instances and their tasks.",
        v.TEXT,
        "the manifest's description (at most 100 characters)",
        PLUGIN,
    )
    contact_email: str = setting(
        "PLUGIN_CONTACT_EMAIL", "baw-gateway@example.com", v.TEXT, "the manifest's contact", PLUGIN
    )
    legal_url: str | None = setting(
        "PLUGIN_LEGAL_URL", None, v.TEXT, "the manifest's legal link", PLUGIN, shown="`${GATEWAY_PUBLIC_URL}/legal`"
    )
    verification_token: Secret | None = setting(
        "PLUGIN_VERIFICATION_TOKEN",
        None,
        v.SECRET,
        "with keys: the token ChatGPT gave for `service_http` auth, shown in the manifest",
        PLUGIN,
    )


@dataclass(frozen=True)
class Settings:
    # BAW
    baw_base_url: URL = setting(
        "BAW_BASE_URL",
        MISSING,
        v.url(https=True),
        "BAW's root, path prefix included: `https://baw.example.com:9443`, `https://cpd-ns.apps.x/bas`",
        BAW,
        shown="(required)",
    )
    baw_auth: str = setting(
        "BAW_AUTH",
        "oauth2",
        v.parsed(v.choice(AUTH_MODES), " or ".join(AUTH_MODES), invalid=""),
        "how the gateway signs in: `oauth2` (client credentials), `zen` (IAM, then a Zen JWT), `zen_api_key`, `basic`",
        BAW,
    )
    baw_token_url: URL | None = setting(
        "BAW_TOKEN_URL",
        None,
        v.url(https=True),
        "the OAuth2 token endpoint",
        BAW,
        used="BAW_AUTH=oauth2",
        derived=lambda values: values["baw_base_url"] / "oauth2" / "token" if values["baw_base_url"] else None,
        shown="`${BAW_BASE_URL}/oauth2/token`",
    )
    baw_client_id: str | None = setting("BAW_CLIENT_ID", None, v.TEXT, "the OAuth2 client", BAW, used="BAW_AUTH=oauth2")
    baw_client_secret: Secret | None = setting(
        "BAW_CLIENT_SECRET", None, v.SECRET, "the OAuth2 client's secret", BAW, used="BAW_AUTH=oauth2"
    )
    baw_scope: str | None = setting(
        "BAW_SCOPE", None, v.TEXT, "the scope asked for, if any", BAW, used="BAW_AUTH=oauth2"
    )
    baw_iam_url: URL | None = setting(
        "BAW_IAM_URL",
        None,
        v.url(https=True),
        "IAM's token endpoint: `https://cp-console-ns…/idprovider/v1/auth/identitytoken`",
        BAW,
        used="BAW_AUTH=zen",
    )
    baw_zen_url: URL | None = setting(
        "BAW_ZEN_URL",
        None,
        v.url(https=True),
        "the Zen base (`https://cpd-ns…`); in user mode, the exchange of a user's IM token",
        BAW,
        used="BAW_AUTH=zen; GATEWAY_BAW_IDENTITY=user with IM",
    )
    baw_username: str | None = setting(
        "BAW_USERNAME", None, v.TEXT, "the service account", BAW, used="BAW_AUTH=zen, zen_api_key, basic"
    )
    baw_password: Secret | None = setting(
        "BAW_PASSWORD", None, v.SECRET, "the service account's password", BAW, used="BAW_AUTH=zen, basic"
    )
    baw_api_key: Secret | None = setting(
        "BAW_API_KEY", None, v.SECRET, "the service account's Zen API key", BAW, used="BAW_AUTH=zen_api_key"
    )
    baw_ca_bundle: Path | None = setting(
        "BAW_CA_BUNDLE",
        None,
        Kind(v.ca_bundle, "a PEM file of CA certificates"),
        "the CAs to trust for BAW and its token endpoints; when set, the only trust anchors; re-read when it changes",
        BAW,
        shown="the system trust store",
    )
    baw_timeout_s: float = setting("BAW_TIMEOUT_S", 10.0, _SECONDS, "per call to BAW and its token endpoints", BAW)
    baw_max_connections: int = setting(
        "BAW_MAX_CONNECTIONS", 64, _COUNT, "the shared pool's connections (at least GATEWAY_BAW_CONCURRENCY)", BAW
    )
    baw_portal_url: str | None = setting(
        "BAW_PORTAL_URL",
        None,
        v.parsed(v.instance_url, "an http(s):// URL with {id} where the instance id goes"),
        "an instance in BAW's own UI, `{id}` for its id: the `url` of `search` and `fetch` answers",
        BAW,
        shown="the gateway's own lookup",
    )
    # Serving
    host: str = setting("GATEWAY_HOST", "0.0.0.0", v.TEXT, "the address to listen on", SERVER)
    port: int = setting("GATEWAY_PORT", 8080, v.parsed(v.port, "a TCP port (1-65535)"), "the port to listen on", SERVER)
    public_url: URL = setting(
        "GATEWAY_PUBLIC_URL",
        URL("http://localhost:8080"),
        v.url(https=False),
        "the URL hosts reach the gateway at; the manifest's, OpenAPI's and OAuth metadata's URLs are built from it",
        SERVER,
        derived=lambda values: URL(f"http://localhost:{values['port']}"),
        shown="`http://localhost:${GATEWAY_PORT}`",
    )
    log_level: str = setting(
        "GATEWAY_LOG_LEVEL",
        "INFO",
        v.parsed(v.choice(_LOG_LEVELS, upper=True), "|".join(_LOG_LEVELS)),
        "the least severe level logged",
        SERVER,
    )
    log_format: str = setting(
        "GATEWAY_LOG_FORMAT",
        "json",
        v.parsed(v.choice(LOG_FORMATS), " or ".join(LOG_FORMATS)),
        "`json`: one object per line; `text` for a terminal",
        SERVER,
    )
    event_loop: str = setting(
        "GATEWAY_EVENT_LOOP",
        "auto",
        v.parsed(v.choice(EVENT_LOOPS), " or ".join(EVENT_LOOPS)),
        "`auto`: uvloop when installed (the image has it), `uvloop` requires it, `asyncio` the standard loop",
        SERVER,
    )
    drain_s: float = setting(
        "GATEWAY_DRAIN_S",
        5.0,
        _SECONDS_OR_ZERO,
        "after SIGTERM: seconds of serving while not ready (answers say `Connection: close`) before closing",
        SERVER,
    )
    shutdown_timeout_s: float = setting(
        "GATEWAY_SHUTDOWN_TIMEOUT_S",
        30.0,
        _SECONDS,
        "then: seconds in-flight requests get to finish; what is left is cancelled within 2 s",
        SERVER,
    )
    request_timeout_s: float = setting(
        "GATEWAY_REQUEST_TIMEOUT_S",
        30.0,
        _SECONDS,
        "a lookup's whole deadline, retries included; keep it at most GATEWAY_SHUTDOWN_TIMEOUT_S",
        SERVER,
    )
    body_timeout_s: float = setting(
        "GATEWAY_BODY_TIMEOUT_S", 10.0, _SECONDS, "a request body must arrive within this (408)", SERVER
    )
    keepalive_timeout_s: float = setting(
        "GATEWAY_KEEPALIVE_TIMEOUT_S",
        15.0,
        v.parsed(v.positive(float), "seconds > 0"),
        "an idle connection, or one that has not sent its headers, is closed after this",
        SERVER,
    )
    max_connections: int = setting(
        "GATEWAY_MAX_CONNECTIONS",
        1000,
        _COUNT,
        "open inbound connections; at the cap the oldest idle one makes room, else a new one gets a canned 503",
        SERVER,
    )
    workers: int = setting(
        "GATEWAY_WORKERS",
        1,
        v.parsed(v.between(1, MAX_WORKERS), f"a whole number from 1 to {MAX_WORKERS}"),
        "processes serving the port (SO_REUSEPORT) under one supervisor; more than one needs GATEWAY_REDIS_URL",
        SERVER,
    )
    docs: bool = setting(
        "GATEWAY_DOCS", True, v.parsed(v.switch, "on or off"), "`off`: no Swagger UI at `/docs`", SERVER
    )
    # Callers
    api_keys: Secret | None = setting(
        "GATEWAY_API_KEYS",
        None,
        v.SECRET,
        "inbound bearer keys, comma or newline separated; the file is re-read when it changes",
        CALLERS,
        shown="(unset: open, with a warning at start)",
    )
    cors_origins: tuple[str, ...] = setting(
        "GATEWAY_CORS_ORIGINS",
        DEFAULT_CORS_ORIGINS,
        v.parsed(v.origins, "comma-separated http(s) origins"),
        "browser origins allowed to call; no `*`",
        CALLERS,
    )
    trusted_proxies: tuple[IPNetwork, ...] = setting(
        "GATEWAY_TRUSTED_PROXIES",
        (),
        v.parsed(v.networks, "comma-separated CIDRs, e.g. 10.0.0.0/8"),
        "the proxies (the ingress) whose forwarded header names the client; without them it is ignored",
        CALLERS,
    )
    trusted_proxy_header: str = setting(
        "GATEWAY_TRUSTED_PROXY_HEADER",
        "x-forwarded-for",
        v.parsed(v.choice(("x-forwarded-for", "forwarded")), "x-forwarded-for or forwarded"),
        "the one header those proxies set (`forwarded`: RFC 7239); the other is never read",
        CALLERS,
    )
    # Sized for an LLM host behind one key: a conversation's burst of tool calls never meets the limit.
    rate_limit_rps: float = setting(
        "GATEWAY_RATE_LIMIT_RPS",
        10.0,
        v.parsed(v.positive(float), "requests per second > 0"),
        "the token bucket per caller (its key or token, else its address)",
        CALLERS,
    )
    rate_limit_burst: int = setting("GATEWAY_RATE_LIMIT_BURST", 100, _COUNT, "that bucket's size", CALLERS)
    # Capacity
    baw_concurrency: int = setting("GATEWAY_BAW_CONCURRENCY", 32, _COUNT, "calls to BAW in flight at most", CAPACITY)
    baw_queue_wait_s: float = setting(
        "GATEWAY_BAW_QUEUE_WAIT_S", 2.0, _SECONDS_OR_ZERO, "how long a call may wait for a slot before 503", CAPACITY
    )
    baw_concurrency_per_caller: int = setting(
        "GATEWAY_BAW_CONCURRENCY_PER_CALLER", 8, _COUNT, "of those, at most this many for one caller (429)", CAPACITY
    )
    cache_ttl_s: float = setting(
        "GATEWAY_CACHE_TTL_S",
        5.0,
        v.parsed(v.non_negative, "a number of seconds >= 0 (0: no cache)"),
        "how long a lookup's answer is kept (0: no cache)",
        CAPACITY,
    )
    cache_not_found_ttl_s: float = setting(
        "GATEWAY_CACHE_NOT_FOUND_TTL_S",
        1.0,
        v.parsed(v.non_negative, "seconds >= 0"),
        "how long a 404 is kept",
        CAPACITY,
    )
    cache_max_entries: int = setting("GATEWAY_CACHE_MAX_ENTRIES", 10_000, _COUNT, "answers kept at most", CAPACITY)
    cache_failure_ttl_s: float = setting(
        "GATEWAY_CACHE_FAILURE_TTL_S",
        5.0,
        v.parsed(v.non_negative, "seconds >= 0 (0: off)"),
        "a failure that belongs to one id (its 500, unusable answer, timeout) is answered again this long",
        CAPACITY,
    )
    breaker_window_s: float = setting(
        "GATEWAY_BREAKER_WINDOW_S", 30.0, v.parsed(v.positive(float), "seconds > 0"), "the breaker's window", CAPACITY
    )
    breaker_min_calls: int = setting(
        "GATEWAY_BREAKER_MIN_CALLS", 20, _COUNT, "lookups ended in the window before the breaker may open", CAPACITY
    )
    breaker_failure_rate: float = setting(
        "GATEWAY_BREAKER_FAILURE_RATE",
        0.5,
        v.parsed(v.fraction, "a fraction in (0, 1]"),
        "the failure rate that opens it (credential failures never count)",
        CAPACITY,
    )
    breaker_min_ids: int = setting(
        "GATEWAY_BREAKER_MIN_IDS",
        3,
        _COUNT,
        "distinct ids the failures must span (one broken id never opens it)",
        CAPACITY,
    )
    breaker_min_callers: int = setting(
        "GATEWAY_BREAKER_MIN_CALLERS",
        2,
        _COUNT,
        "distinct callers the failures must come from (a gateway with a single key may set 1)",
        CAPACITY,
    )
    breaker_slow_call_s: float = setting(
        "GATEWAY_BREAKER_SLOW_CALL_S",
        5.0,
        v.parsed(v.positive(float), "seconds > 0"),
        "a slower call counts as slow; 80 % slow over distinct ids opens it too",
        CAPACITY,
    )
    breaker_cooldown_s: float = setting(
        "GATEWAY_BREAKER_COOLDOWN_S",
        15.0,
        v.parsed(v.positive(float), "seconds > 0"),
        "how long it stays open before one probe call decides",
        CAPACITY,
    )
    max_baw_response_bytes: int = setting(
        "GATEWAY_MAX_BAW_RESPONSE_BYTES",
        2 * 1024 * 1024,
        v.parsed(v.positive(int), "a number of bytes > 0"),
        "a larger BAW answer (counted decoded) is refused (502) without being read whole",
        CAPACITY,
    )
    # MCP
    mcp_max_sessions: int = setting("GATEWAY_MCP_MAX_SESSIONS", 1000, _COUNT, "sessions kept at most", MCP)
    mcp_sessions_per_caller: int = setting(
        "GATEWAY_MCP_SESSIONS_PER_CALLER", 50, _COUNT, "sessions one caller may hold; its oldest go first", MCP
    )
    mcp_session_idle_s: int = setting(
        "GATEWAY_MCP_SESSION_IDLE_S",
        600,
        v.parsed(v.positive(int), "whole seconds > 0"),
        "an idle session is forgotten after this",
        MCP,
    )
    # Signing users in
    oauth_issuer: str | None = setting(
        "GATEWAY_OAUTH_ISSUER",
        None,
        Kind(v.oauth_issuer, "an https:// issuer, exactly as it writes `iss` (a trailing slash matters)"),
        "the issuer whose access tokens are accepted; metadata by RFC 8414 or OIDC discovery",
        SIGN_IN,
        shown="(unset: keys only; with the façade, the gateway itself)",
    )
    oauth_audiences: tuple[str, ...] = setting(
        "GATEWAY_OAUTH_AUDIENCE",
        (),
        v.parsed(v.words(","), "comma-separated audiences"),
        "the `aud` values accepted",
        SIGN_IN,
        used="an issuer or the façade",
        derived=lambda values: (f"{values['public_url']}/mcp", str(values["public_url"])),
        shown="`${GATEWAY_PUBLIC_URL}/mcp,${GATEWAY_PUBLIC_URL}`",
    )
    oauth_scopes: tuple[str, ...] = setting(
        "GATEWAY_OAUTH_SCOPES",
        ("baw.read",),
        _SCOPES,
        "scopes every token must carry",
        SIGN_IN,
        used="an issuer or the façade",
    )
    oauth_ca_bundle: Path | None = setting(
        "GATEWAY_OAUTH_CA_BUNDLE",
        None,
        Kind(v.ca_bundle, "a PEM file of CA certificates"),
        "the CAs for the issuer, the upstream IdP and client metadata documents",
        SIGN_IN,
        used="an issuer or the façade",
        shown="the system trust store",
    )
    oauth_introspection_url: str | None = setting(
        "GATEWAY_OAUTH_INTROSPECTION_URL",
        None,
        Kind(v.exact_https, "an https:// URL"),
        "RFC 7662 introspection, for opaque access tokens",
        SIGN_IN,
        used="an issuer of opaque tokens",
    )
    oauth_introspection_client_id: str | None = setting(
        "GATEWAY_OAUTH_INTROSPECTION_CLIENT_ID",
        None,
        v.TEXT,
        "the gateway's client at the introspection endpoint",
        SIGN_IN,
        used="introspection",
    )
    oauth_introspection_client_secret: Secret | None = setting(
        "GATEWAY_OAUTH_INTROSPECTION_CLIENT_SECRET", None, v.SECRET, "its secret", SIGN_IN, used="introspection"
    )
    oauth_tool_scopes: tuple[tuple[str, tuple[str, ...]], ...] = setting(
        "GATEWAY_OAUTH_TOOL_SCOPES",
        (),
        v.parsed(v.tool_scopes, "scope=tool tool;scope2=tool (e.g. baw.search=search_processes)"),
        "tools that need a scope beyond GATEWAY_OAUTH_SCOPES; a signed-in caller without it does not see them",
        SIGN_IN,
        used="an issuer or the façade",
    )
    # The façade
    oauth_proxy_upstream_issuer: str | None = setting(
        "GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER",
        None,
        Kind(v.exact_https, "an https:// issuer"),
        "turns the façade on: the IdP users sign in at (Entra ID, IBM IM, …), for hosts that register dynamically",
        FACADE,
        used="the façade",
    )
    oauth_proxy_client_id: str | None = setting(
        "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID",
        None,
        v.TEXT,
        "the gateway's registration at that IdP",
        FACADE,
        used="the façade",
    )
    oauth_proxy_client_secret: Secret | None = setting(
        "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_SECRET", None, v.SECRET, "its secret", FACADE, used="the façade"
    )
    oauth_proxy_scopes: tuple[str, ...] = setting(
        "GATEWAY_OAUTH_PROXY_UPSTREAM_SCOPES",
        ("openid",),
        _SCOPES,
        "the scopes asked of that IdP",
        FACADE,
        used="the façade",
    )
    oauth_proxy_signing_key: Path | None = setting(
        "GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE",
        None,
        Kind(v.readable, "a PEM file (EC P-256 private key)"),
        "the façade's signing key; the same on every replica and worker (required with Redis or workers)",
        FACADE,
        used="the façade",
        shown="(a key per process)",
    )
    oauth_proxy_clients: tuple[tuple[str, tuple[str, ...]], ...] = setting(
        "GATEWAY_OAUTH_PROXY_CLIENTS",
        (),
        v.parsed(v.clients, "id=https://redirect ...;id2=..."),
        "clients the operator registers, with their exact redirect URIs",
        FACADE,
        used="the façade",
    )
    oauth_token_lifetime_s: float = setting(
        "GATEWAY_OAUTH_TOKEN_LIFETIME_S",
        600.0,
        v.parsed(v.positive(float), "seconds > 0"),
        "the lifetime of the façade's access tokens",
        FACADE,
        used="the façade",
    )
    oauth_agents: tuple[Agent, ...] = setting(
        "GATEWAY_OAUTH_AGENTS_FILE",
        (),
        Kind(v.agents, "a JSON file"),
        "agents (`client_credentials`): a JSON list of `client_id`, `secret_file`, `scopes`, and optionally "
        "`rate_limit_rps`, `rate_limit_burst`, `service_view`",
        FACADE,
        used="the façade",
    )
    oauth_id_jag_issuers: tuple[str, ...] = setting(
        "GATEWAY_OAUTH_ID_JAG_ISSUERS",
        (),
        v.parsed(v.https_urls, "comma-separated https:// issuers"),
        "enterprise IdPs whose ID-JAGs the façade redeems (the `jwt-bearer` grant)",
        FACADE,
        used="the façade",
    )
    oauth_cimd_private_hosts: tuple[str, ...] = setting(
        "GATEWAY_OAUTH_CIMD_PRIVATE_HOSTS",
        (),
        v.parsed(v.words(","), "host names, commas"),
        "hosts whose client ID metadata documents may be at a private address",
        FACADE,
        used="the façade",
    )
    oauth_cimd_timeout_s: float = setting(
        "GATEWAY_OAUTH_CIMD_TIMEOUT_S",
        2.0,
        _SECONDS,
        "the deadline of a client ID metadata document's fetch; every failure is answered after it",
        FACADE,
        used="the façade",
    )
    # Per-user identity
    baw_identity: str = setting(
        "GATEWAY_BAW_IDENTITY",
        "service",
        v.parsed(v.choice(("service", "user")), "service or user"),
        "`user`: BAW is called with the signed-in user's own credential, and answers as that user",
        USER,
    )
    baw_identity_keys: str = setting(
        "GATEWAY_BAW_IDENTITY_KEYS",
        "deny",
        v.parsed(v.choice(("deny", "service")), "deny or service"),
        "what a bearer-key caller gets in user mode: `deny` (403) or `service` (the service account)",
        USER,
        used="GATEWAY_BAW_IDENTITY=user",
    )
    baw_user_claim: str | None = setting(
        "GATEWAY_BAW_USER_CLAIM",
        None,
        v.TEXT,
        "the sign-in's claim that is the user's BAW name (what Zen is sent; the audit line's `baw_user`)",
        USER,
        shown="`preferred_username`, else `username`, else `sub`",
    )
    baw_token_exchange_url: URL | None = setting(
        "GATEWAY_BAW_TOKEN_EXCHANGE_URL",
        None,
        v.url(https=True),
        "RFC 8693 exchange of a user's token for their BAW credential",
        USER,
        used="GATEWAY_BAW_IDENTITY=user without IM",
    )
    baw_token_exchange_client_id: str | None = setting(
        "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_ID", None, v.TEXT, "the gateway's client there", USER, used="the exchange"
    )
    baw_token_exchange_client_secret: Secret | None = setting(
        "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_SECRET", None, v.SECRET, "its secret", USER, used="the exchange"
    )
    baw_token_exchange_audience: str | None = setting(
        "GATEWAY_BAW_TOKEN_EXCHANGE_AUDIENCE",
        None,
        v.TEXT,
        "BAW's audience, where the IdP wants one",
        USER,
        used="the exchange",
    )
    user_credentials_max: int = setting(
        "GATEWAY_USER_CREDENTIALS_MAX",
        1000,
        _COUNT,
        "active users' credentials kept at most",
        USER,
        used="GATEWAY_BAW_IDENTITY=user",
    )
    user_idle_s: float = setting(
        "GATEWAY_USER_IDLE_S",
        900.0,
        v.parsed(v.positive(float), "seconds > 0"),
        "a user's credential unused this long is dropped",
        USER,
        used="GATEWAY_BAW_IDENTITY=user",
    )
    # Cluster mode
    redis_url: Secret | None = setting(
        "GATEWAY_REDIS_URL",
        None,
        Kind(v.redis_url, "`redis://host:6379/0`, or `rediss://` (TLS, verified)", secret=True),
        "cluster mode: rate limits, sessions, cache and sign-ins shared by every replica; a secret (it may hold the "
        "password), shown masked",
        CLUSTER,
        shown="(unset: one process's own state)",
    )
    redis_password: Secret | None = setting(
        "GATEWAY_REDIS_PASSWORD",
        None,
        v.SECRET,
        "the password, when it is not in the URL",
        CLUSTER,
        used="cluster mode",
    )
    redis_ca_bundle: Path | None = setting(
        "GATEWAY_REDIS_CA_BUNDLE",
        None,
        Kind(v.ca_bundle, "a PEM file of CA certificates"),
        "the CA for `rediss://`",
        CLUSTER,
        used="cluster mode",
        shown="the system trust store",
    )
    redis_prefix: str = setting(
        "GATEWAY_REDIS_PREFIX",
        "baw-gateway",
        v.parsed(v.prefix, "letters, digits, '-', '_', '.' or ':'"),
        "every key starts with it: two gateways can share one Redis",
        CLUSTER,
        used="cluster mode",
    )
    redis_timeout_s: float = setting(
        "GATEWAY_REDIS_TIMEOUT_S",
        0.25,
        _SECONDS,
        "per Redis call; slower counts as Redis down",
        CLUSTER,
        used="cluster mode",
    )
    plugin: PluginSettings = field(default=PluginSettings())

    @property
    def supported_scopes(self) -> tuple[str, ...]:
        """Every scope a token of this gateway may carry: the required ones, then the tools' own."""
        extra = [scope for scope, _ in self.oauth_tool_scopes if scope not in self.oauth_scopes]
        return (*self.oauth_scopes, *dict.fromkeys(extra))

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) pairs for `check-config`, secrets masked."""
        rows = [(var.env, _show(getattr(self, f.name))) for f, var in declared(Settings)]
        return rows + [(var.env, _show(getattr(self.plugin, f.name))) for f, var in declared(PluginSettings)]


# What a secret given inline is moved out of the environment for (__main__, workers).
SECRET_NAMES = tuple(var.env for var in declarations() if var.kind.secret)


def _show(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, Secret):
        return value.describe()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _read(cls: type, r: v.Reader) -> dict[str, Any]:
    """Every declared setting of `cls`, in order: a derived default sees the settings read before it."""
    values: dict[str, Any] = {}
    for f, var in declared(cls):
        default = var.derived(values) if var.derived else (None if f.default is MISSING else f.default)
        values[f.name] = var.kind.read(r, var.env, default, values)
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, or raise ConfigError naming every problem."""
    r = v.Reader(os.environ if env is None else env)
    values = _read(Settings, r)
    if values["baw_base_url"] is None:
        if r.text("BAW_BASE_URL") is None:
            r.problems.append(
                "BAW_BASE_URL is required (e.g. https://baw.example.com:9443 or https://cpd-ns.apps.x/bas)"
            )
        values["baw_base_url"] = URL("https://invalid")
    plugin = PluginSettings(**_read(PluginSettings, r))
    _check_plugin(plugin, r.problems)
    settings = Settings(**values, plugin=plugin)
    _check_auth(settings, r)
    if settings.baw_concurrency > settings.baw_max_connections:
        # More calls in flight than connections would make calls wait for the pool inside their BAW timeout and
        # surface as timeouts that are not BAW's.
        r.problems.append(
            f"GATEWAY_BAW_CONCURRENCY={settings.baw_concurrency} is more than BAW_MAX_CONNECTIONS="
            f"{settings.baw_max_connections}: lower the first or raise the second"
        )
    if settings.workers > 1:
        _check_workers(settings, r.problems)
    elif settings.redis_url is not None and settings.oauth_proxy_upstream_issuer is not None:
        if settings.oauth_proxy_signing_key is None:
            r.problems.append(
                "the OAuth façade in cluster mode (GATEWAY_REDIS_URL) needs GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE, the "
                "same on every replica: a token signed by one replica must verify at every other"
            )
    if settings.baw_identity == "user":
        if settings.oauth_issuer is None:
            r.problems.append(
                "GATEWAY_BAW_IDENTITY=user needs hosts to sign users in: GATEWAY_OAUTH_ISSUER, or the façade "
                "(GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER, which keeps each user's upstream token for the exchange)"
            )
        if settings.baw_token_exchange_url is None and settings.baw_zen_url is None:
            r.problems.append(
                "GATEWAY_BAW_IDENTITY=user needs GATEWAY_BAW_TOKEN_EXCHANGE_URL (RFC 8693) or BAW_ZEN_URL (IM + Zen)"
            )
        if settings.baw_token_exchange_url is not None and not (
            settings.baw_token_exchange_client_id and settings.baw_token_exchange_client_secret
        ):
            r.problems.append("GATEWAY_BAW_TOKEN_EXCHANGE_URL needs GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_ID and _SECRET")
    if settings.oauth_id_jag_issuers and settings.oauth_proxy_upstream_issuer is None:
        r.problems.append(
            "GATEWAY_OAUTH_ID_JAG_ISSUERS needs the façade (GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER): it redeems ID-JAGs"
        )
    if settings.oauth_agents and settings.oauth_proxy_upstream_issuer is None:
        r.problems.append(
            "GATEWAY_OAUTH_AGENTS_FILE needs the façade (GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER): it issues their tokens"
        )
    for agent in settings.oauth_agents:
        unknown = [scope for scope in agent.scopes if scope not in settings.supported_scopes]
        if unknown:
            r.problems.append(
                f"agent {agent.client_id}: scopes {unknown} are neither in GATEWAY_OAUTH_SCOPES nor "
                "GATEWAY_OAUTH_TOOL_SCOPES"
            )
    for name, instead in GONE.items():
        if r.env.get(name):
            r.problems.append(f"{name} is gone: {instead}")
    _unknown_variables(r)
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _check_auth(settings: Settings, r: v.Reader) -> None:
    """What each BAW_AUTH needs."""
    needs = {
        "oauth2": ("BAW_CLIENT_ID", "BAW_CLIENT_SECRET"),
        "zen": ("BAW_IAM_URL", "BAW_ZEN_URL", "BAW_USERNAME", "BAW_PASSWORD"),
        "zen_api_key": ("BAW_USERNAME", "BAW_API_KEY"),
        "basic": ("BAW_USERNAME", "BAW_PASSWORD"),
    }
    field_of = {var.env: f.name for f, var in declared(Settings)}
    for name in needs.get(settings.baw_auth, ()):
        if getattr(settings, field_of[name]) in (None, ""):
            r.problems.append(f"BAW_AUTH={settings.baw_auth} needs {name}")


def _unknown_variables(r: v.Reader) -> None:
    """A misspelt variable was ignored (a misspelt key variable left the gateway open): each one set in our prefixes
    that nothing reads is a problem, with the likeliest meant name."""
    known = known_variables()
    for name in sorted(key for key in r.env if key.startswith(_OUR_PREFIXES) and key not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f": did you mean {close[0]}?" if close else ""
        r.problems.append(f"{name} is not a setting of the gateway{hint}")


def _check_workers(settings: Settings, problems: list[str]) -> None:
    """Workers are processes: what must agree between them (rate limits, MCP sessions, the façade's sign-ins) is
    in Redis, as between replicas; without it each worker would hold its own, and a caller's limit would be the
    rate × workers."""
    if settings.redis_url is None:
        problems.append(
            f"GATEWAY_WORKERS={settings.workers} needs GATEWAY_REDIS_URL: workers share rate limits, MCP sessions "
            "and sign-ins through Redis, as replicas do"
        )
    if settings.oauth_proxy_upstream_issuer is not None and settings.oauth_proxy_signing_key is None:
        problems.append(
            f"GATEWAY_WORKERS={settings.workers} with the OAuth façade needs GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE: "
            "a token signed by one worker must verify at every other"
        )


def _check_plugin(plugin: PluginSettings, problems: list[str]) -> None:
    """The hosts' manifest limits (reference/llm-hosts.md), checked at start rather than by a host later."""
    if len(plugin.name_for_human) > 20:
        problems.append("PLUGIN_NAME_FOR_HUMAN must be at most 20 characters")
    if not _MODEL_NAME.match(plugin.name_for_model):
        problems.append("PLUGIN_NAME_FOR_MODEL must be 1-50 letters, digits or underscores")
    if len(plugin.description_for_human) > 100:
        problems.append("PLUGIN_DESCRIPTION_FOR_HUMAN must be at most 100 characters")
    if "@" not in plugin.contact_email:
        problems.append("PLUGIN_CONTACT_EMAIL must be an e-mail address")
    if plugin.legal_url is not None and URL(plugin.legal_url).scheme not in ("http", "https"):
        problems.append("PLUGIN_LEGAL_URL must be an http(s):// URL")


SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
