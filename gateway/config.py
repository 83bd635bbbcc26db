"""Settings from the environment: parsed once, validated all at once, frozen.

The variable names are a contract operators script against (README: "Configuration"). Every secret can be
given as NAME or as NAME_FILE; a file is re-read whenever the credential is renewed, so a rotated
Kubernetes secret takes effect without a restart.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import logging
import os
import re
import ssl
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from yarl import URL

from gateway.secret import Secret
from gateway.tls import client_ssl_context

AUTH_MODES = ("oauth2", "zen", "zen_api_key", "basic")
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
MAX_WORKERS = 64
EXIT_CONFIG = 2  # the exit status of a configuration error (and of a port that cannot be listened on)
# Where a secret given inline is read from once the process has moved it into a memfd (__main__), a descriptor
# the GATEWAY_WORKERS supervisor passes on to its workers.
INHERITED_SECRET = "/proc/self/fd/"
LOG_FORMATS = ("json", "text")
SECRET_NAMES = (
    "BAW_CLIENT_SECRET",
    "BAW_PASSWORD",
    "BAW_API_KEY",
    "GATEWAY_API_KEYS",
    "PLUGIN_VERIFICATION_TOKEN",
    "GATEWAY_REDIS_PASSWORD",
    "GATEWAY_REDIS_URL",  # it may hold the password (redis://:password@host)
    "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_SECRET",
    "GATEWAY_OAUTH_INTROSPECTION_CLIENT_SECRET",
    "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_SECRET",
)
DEFAULT_CORS_ORIGINS = ("https://chat.openai.com", "https://chatgpt.com")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_]{1,50}$")

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Agent:
    """A confidential client of the façade that calls without a person (client_credentials): a scheduled job, an
    agent platform. From GATEWAY_OAUTH_AGENTS_FILE; its secret is a file, re-read at each token request."""

    client_id: str
    secret: Secret
    scopes: tuple[str, ...]
    rate_limit_rps: float | None = None  # its own limit; None: GATEWAY_RATE_LIMIT_*
    rate_limit_burst: int | None = None
    service_view: bool = False  # in user mode, whether it gets the service account's view (as keys may)


class ConfigError(Exception):
    """Every configuration problem found, so an operator fixes them in one round."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class PluginSettings:
    name_for_human: str = "BAW Gateway"
    name_for_model: str = "baw_gateway"
    description_for_human: str = "Look up IBM Business Automation Workflow process instances and their tasks."
    contact_email: str = "baw-gateway@example.com"
    legal_url: str | None = None  # None: ${GATEWAY_PUBLIC_URL}/legal
    verification_token: Secret | None = None  # what ChatGPT's service_http auth shows the operator


@dataclass(frozen=True)
class Settings:
    baw_base_url: URL
    baw_auth: str = "oauth2"
    baw_token_url: URL | None = None
    baw_client_id: str | None = None
    baw_client_secret: Secret | None = None
    baw_scope: str | None = None
    baw_iam_url: URL | None = None
    baw_zen_url: URL | None = None
    baw_username: str | None = None
    baw_password: Secret | None = None
    baw_api_key: Secret | None = None
    baw_ca_bundle: Path | None = None
    baw_timeout_s: float = 10.0
    baw_max_connections: int = 64
    host: str = "0.0.0.0"
    port: int = 8080
    public_url: URL = URL("http://localhost:8080")
    log_level: str = "INFO"
    log_format: str = "json"
    event_loop: str = "auto"  # auto: uvloop when installed (the image has it), else asyncio's own
    drain_s: float = 5.0
    shutdown_timeout_s: float = 30.0
    request_timeout_s: float = 30.0
    body_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0
    max_connections: int = 1000
    workers: int = 1  # processes sharing the port (SO_REUSEPORT) under one supervisor
    mcp_max_sessions: int = 1000
    mcp_sessions_per_caller: int = 50
    mcp_session_idle_s: int = 600
    api_keys: Secret | None = None
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    trusted_proxies: tuple[IPNetwork, ...] = ()
    trusted_proxy_header: str = "x-forwarded-for"  # the one header the trusted proxies set ("forwarded": RFC 7239)
    rate_limit_rps: float = 10.0
    rate_limit_burst: int = 100
    baw_concurrency: int = 32
    baw_queue_wait_s: float = 2.0
    cache_ttl_s: float = 5.0
    cache_not_found_ttl_s: float = 1.0
    cache_max_entries: int = 10_000
    cache_failure_ttl_s: float = 5.0
    baw_concurrency_per_caller: int = 8
    breaker_window_s: float = 30.0
    breaker_min_calls: int = 20
    breaker_failure_rate: float = 0.5
    breaker_min_ids: int = 3
    breaker_min_callers: int = 2
    breaker_slow_call_s: float = 5.0
    breaker_cooldown_s: float = 15.0
    max_baw_response_bytes: int = 2 * 1024 * 1024
    docs: bool = True
    oauth_issuer: str | None = None  # exactly as the issuer writes `iss` (a trailing slash matters)
    oauth_audiences: tuple[str, ...] = ()  # default: the canonical MCP URL and the public URL (REST face)
    oauth_scopes: tuple[str, ...] = ("baw.read",)
    oauth_ca_bundle: Path | None = None
    oauth_introspection_url: str | None = None  # RFC 7662, for opaque access tokens
    oauth_introspection_client_id: str | None = None
    oauth_introspection_client_secret: Secret | None = None
    # The authorization-server façade, for IdPs without dynamic registration (Entra ID, IBM IM, …)
    oauth_proxy_upstream_issuer: str | None = None
    oauth_proxy_client_id: str | None = None
    oauth_proxy_client_secret: Secret | None = None
    oauth_proxy_scopes: tuple[str, ...] = ("openid",)
    oauth_proxy_signing_key: Path | None = None
    oauth_proxy_clients: tuple[tuple[str, tuple[str, ...]], ...] = ()
    oauth_token_lifetime_s: float = 600.0
    oauth_agents: tuple[Agent, ...] = ()
    oauth_id_jag_issuers: tuple[str, ...] = ()  # enterprise IdPs whose ID-JAGs the façade redeems (jwt-bearer)
    # Scopes a tool needs beyond GATEWAY_OAUTH_SCOPES: ((scope, (tool, ...)), ...); a caller without one does not
    # see those tools (web/scopes.py).
    oauth_tool_scopes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    oauth_cimd_private_hosts: tuple[str, ...] = ()  # hosts whose client documents may be at a private address
    oauth_cimd_timeout_s: float = 2.0
    baw_identity: str = "service"  # or "user": BAW is called with the signed-in user's own credential
    baw_portal_url: str | None = None  # an instance in BAW's own UI, `{id}` for its id (the hosts' `url`)
    baw_user_claim: str | None = None  # the claim naming the BAW user; None: preferred_username, username, sub
    baw_identity_keys: str = "deny"  # in user mode, what a bearer-key caller gets: "deny" (403) or "service"
    baw_token_exchange_url: URL | None = None
    baw_token_exchange_client_id: str | None = None
    baw_token_exchange_client_secret: Secret | None = None
    baw_token_exchange_audience: str | None = None
    user_credentials_max: int = 1000
    user_idle_s: float = 900.0
    redis_url: Secret | None = None  # the URL may hold a password: shown masked
    redis_password: Secret | None = None
    redis_ca_bundle: Path | None = None
    redis_prefix: str = "baw-gateway"
    redis_timeout_s: float = 0.25
    plugin: PluginSettings = PluginSettings()

    @property
    def supported_scopes(self) -> tuple[str, ...]:
        """Every scope a token of this gateway may carry: the required ones, then the tools' own."""
        extra = [scope for scope, _ in self.oauth_tool_scopes if scope not in self.oauth_scopes]
        return (*self.oauth_scopes, *dict.fromkeys(extra))

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) pairs for `check-config`, secrets masked."""
        rows: list[tuple[str, str]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, PluginSettings):
                for pf in fields(value):
                    rows.append((f"PLUGIN_{pf.name.upper()}", _show(getattr(value, pf.name))))
                continue
            rows.append((_ENV_NAMES.get(f.name, f.name.upper()), _show(value)))
        return rows


_ENV_NAMES = {
    "host": "GATEWAY_HOST",
    "port": "GATEWAY_PORT",
    "public_url": "GATEWAY_PUBLIC_URL",
    "log_level": "GATEWAY_LOG_LEVEL",
    "log_format": "GATEWAY_LOG_FORMAT",
    "event_loop": "GATEWAY_EVENT_LOOP",
    "drain_s": "GATEWAY_DRAIN_S",
    "shutdown_timeout_s": "GATEWAY_SHUTDOWN_TIMEOUT_S",
    "request_timeout_s": "GATEWAY_REQUEST_TIMEOUT_S",
    "body_timeout_s": "GATEWAY_BODY_TIMEOUT_S",
    "keepalive_timeout_s": "GATEWAY_KEEPALIVE_TIMEOUT_S",
    "max_connections": "GATEWAY_MAX_CONNECTIONS",
    "workers": "GATEWAY_WORKERS",
    "mcp_max_sessions": "GATEWAY_MCP_MAX_SESSIONS",
    "mcp_sessions_per_caller": "GATEWAY_MCP_SESSIONS_PER_CALLER",
    "mcp_session_idle_s": "GATEWAY_MCP_SESSION_IDLE_S",
    "api_keys": "GATEWAY_API_KEYS",
    "cors_origins": "GATEWAY_CORS_ORIGINS",
    "trusted_proxies": "GATEWAY_TRUSTED_PROXIES",
    "trusted_proxy_header": "GATEWAY_TRUSTED_PROXY_HEADER",
    "rate_limit_rps": "GATEWAY_RATE_LIMIT_RPS",
    "rate_limit_burst": "GATEWAY_RATE_LIMIT_BURST",
    "baw_concurrency": "GATEWAY_BAW_CONCURRENCY",
    "baw_queue_wait_s": "GATEWAY_BAW_QUEUE_WAIT_S",
    "cache_ttl_s": "GATEWAY_CACHE_TTL_S",
    "cache_not_found_ttl_s": "GATEWAY_CACHE_NOT_FOUND_TTL_S",
    "cache_max_entries": "GATEWAY_CACHE_MAX_ENTRIES",
    "cache_failure_ttl_s": "GATEWAY_CACHE_FAILURE_TTL_S",
    "baw_concurrency_per_caller": "GATEWAY_BAW_CONCURRENCY_PER_CALLER",
    "breaker_window_s": "GATEWAY_BREAKER_WINDOW_S",
    "breaker_min_calls": "GATEWAY_BREAKER_MIN_CALLS",
    "breaker_failure_rate": "GATEWAY_BREAKER_FAILURE_RATE",
    "breaker_min_ids": "GATEWAY_BREAKER_MIN_IDS",
    "breaker_min_callers": "GATEWAY_BREAKER_MIN_CALLERS",
    "breaker_slow_call_s": "GATEWAY_BREAKER_SLOW_CALL_S",
    "breaker_cooldown_s": "GATEWAY_BREAKER_COOLDOWN_S",
    "max_baw_response_bytes": "GATEWAY_MAX_BAW_RESPONSE_BYTES",
    "docs": "GATEWAY_DOCS",
    "oauth_issuer": "GATEWAY_OAUTH_ISSUER",
    "oauth_audiences": "GATEWAY_OAUTH_AUDIENCE",
    "oauth_scopes": "GATEWAY_OAUTH_SCOPES",
    "oauth_ca_bundle": "GATEWAY_OAUTH_CA_BUNDLE",
    "oauth_introspection_url": "GATEWAY_OAUTH_INTROSPECTION_URL",
    "oauth_introspection_client_id": "GATEWAY_OAUTH_INTROSPECTION_CLIENT_ID",
    "oauth_introspection_client_secret": "GATEWAY_OAUTH_INTROSPECTION_CLIENT_SECRET",
    "oauth_proxy_upstream_issuer": "GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER",
    "oauth_proxy_client_id": "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID",
    "oauth_proxy_client_secret": "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_SECRET",
    "oauth_proxy_scopes": "GATEWAY_OAUTH_PROXY_UPSTREAM_SCOPES",
    "oauth_proxy_signing_key": "GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE",
    "oauth_proxy_clients": "GATEWAY_OAUTH_PROXY_CLIENTS",
    "oauth_token_lifetime_s": "GATEWAY_OAUTH_TOKEN_LIFETIME_S",
    "oauth_agents": "GATEWAY_OAUTH_AGENTS_FILE",
    "oauth_id_jag_issuers": "GATEWAY_OAUTH_ID_JAG_ISSUERS",
    "oauth_tool_scopes": "GATEWAY_OAUTH_TOOL_SCOPES",
    "oauth_cimd_private_hosts": "GATEWAY_OAUTH_CIMD_PRIVATE_HOSTS",
    "oauth_cimd_timeout_s": "GATEWAY_OAUTH_CIMD_TIMEOUT_S",
    "baw_identity": "GATEWAY_BAW_IDENTITY",
    "baw_user_claim": "GATEWAY_BAW_USER_CLAIM",
    "baw_portal_url": "BAW_PORTAL_URL",
    "baw_identity_keys": "GATEWAY_BAW_IDENTITY_KEYS",
    "baw_token_exchange_url": "GATEWAY_BAW_TOKEN_EXCHANGE_URL",
    "baw_token_exchange_client_id": "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_ID",
    "baw_token_exchange_client_secret": "GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_SECRET",
    "baw_token_exchange_audience": "GATEWAY_BAW_TOKEN_EXCHANGE_AUDIENCE",
    "user_credentials_max": "GATEWAY_USER_CREDENTIALS_MAX",
    "user_idle_s": "GATEWAY_USER_IDLE_S",
    "redis_url": "GATEWAY_REDIS_URL",
    "redis_password": "GATEWAY_REDIS_PASSWORD",
    "redis_ca_bundle": "GATEWAY_REDIS_CA_BUNDLE",
    "redis_prefix": "GATEWAY_REDIS_PREFIX",
    "redis_timeout_s": "GATEWAY_REDIS_TIMEOUT_S",
}


def _show(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, Secret):
        return value.describe()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


# Our prefixes' variables read outside this module: the workers' own (set by the supervisor), and one that is gone
# but reported by name below.
_READ_ELSEWHERE = ("GATEWAY_WORKER", "GATEWAY_SUPERVISOR_PID", "GATEWAY_BREAKER_FAILURES")
_OUR_PREFIXES = ("GATEWAY_", "BAW_", "PLUGIN_")


def _unknown_variables(r: _Reader) -> None:
    """A misspelt variable was ignored (`GATEWAY_API_KEY=…` left the gateway open): each one set in our prefixes
    that nothing reads is a problem, with the likeliest meant name."""
    for name in sorted(key for key in r.env if key.startswith(_OUR_PREFIXES) and key not in r.known):
        close = difflib.get_close_matches(name, sorted(r.known), n=1, cutoff=0.75)
        hint = f": did you mean {close[0]}?" if close else ""
        r.problems.append(f"{name} is not a setting of the gateway{hint}")


class _Reader:
    """Reads variables and collects problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.known: set[str] = set(_READ_ELSEWHERE)  # every variable asked for: the ones the gateway knows

    def text(self, name: str, default: str | None = None) -> str | None:
        self.known.add(name)
        value = self.env.get(name, "").strip()
        return value if value else default

    def parsed(self, name: str, default: T, parse: Callable[[str], T], expect: str, invalid: T | None = None) -> T:
        """`invalid` is what an unparseable value stands for (default: `default`), so that later checks
        do not report problems that only follow from this one."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            # The raw value is shown: none of the parsed variables is a secret.
            self.problems.append(f"{name}={raw!r} is not valid: expected {expect}")
            return default if invalid is None else invalid

    def url(self, name: str, default: URL | None = None, *, https: bool) -> URL | None:
        raw = self.text(name)
        if raw is None:
            return default
        url = URL(raw.rstrip("/"))
        schemes = ("https",) if https else ("http", "https")
        if url.scheme not in schemes or not url.host or url.query_string or url.fragment:
            need = "an https:// URL" if https else "an http(s):// URL"
            self.problems.append(f"{name}={raw!r} is not valid: expected {need} without query or fragment")
            return default
        return url

    def secret(self, name: str) -> Secret | None:
        self.known.add(f"{name}_FILE")
        inline = self.text(name)
        file_name = f"{name}_FILE"
        path = self.text(file_name)
        if inline and path:
            self.problems.append(f"set {name} or {file_name}, not both")
            return None
        if path:
            try:
                Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.problems.append(f"{file_name}={path!r} cannot be read: {exc.strerror or 'not UTF-8 text'}")
                return None
            return Secret(name, path=Path(path))
        return Secret(name, value=inline) if inline else None

    def require(self, mode: str, **values: object) -> None:
        for name, value in values.items():
            if value in (None, ""):
                self.problems.append(f"BAW_AUTH={mode} needs {name}")


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = kind(raw)
        if value <= 0:  # type: ignore[operator]
            raise ValueError(raw)
        return value

    return parse


def _between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def _non_negative(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in raw.split(",") if cidr.strip())


def _words(separators: str) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        for separator in separators[1:]:
            raw = raw.replace(separator, separators[0])
        words = tuple(word.strip() for word in raw.split(separators[0]) if word.strip())
        if not words:
            raise ValueError(raw)
        return words

    return parse


def _oauth_issuer(r: _Reader, public_url: URL) -> str | None:
    """The issuer whose tokens are accepted: GATEWAY_OAUTH_ISSUER, or the gateway itself when it runs the façade."""
    facade = r.text("GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER") is not None
    issuer = r.text("GATEWAY_OAUTH_ISSUER") if r.url("GATEWAY_OAUTH_ISSUER", https=True) else None
    if facade:
        if issuer is not None and issuer != str(public_url):
            r.problems.append(
                "with GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER the gateway is the issuer: unset GATEWAY_OAUTH_ISSUER"
            )
        for name in ("GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID",):
            if r.text(name) is None:
                r.problems.append(f"GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER needs {name}")
        return str(public_url)
    return issuer


def _exact_https(r: _Reader, name: str) -> str | None:
    """An https URL kept exactly as written (an issuer identifier: a trailing slash matters)."""
    return r.text(name) if r.url(name, https=True) else None


def _readable(r: _Reader, name: str) -> Path | None:
    raw = r.text(name)
    if raw is None:
        return None
    try:
        Path(raw).read_bytes()
    except OSError as exc:
        r.problems.append(f"{name}={raw!r} cannot be read: {exc.strerror}")
        return None
    return Path(raw)


def _clients(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`id=https://a/cb https://b/cb;id2=...`: clients registered by the operator, with their exact redirect URIs."""
    clients = []
    for entry in (part.strip() for part in raw.split(";") if part.strip()):
        client_id, _, uris = entry.partition("=")
        redirects = tuple(uris.split())
        if not client_id.strip() or not redirects or not all(URL(uri).scheme in ("https", "http") for uri in redirects):
            raise ValueError(raw)
        clients.append((client_id.strip(), redirects))
    return tuple(clients)


def _instance_url(raw: str) -> str:
    url = URL(raw.replace("{id}", "0"))
    if "{id}" not in raw or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(raw)
    return raw


def _https_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not urls or not all(URL(url).scheme == "https" and URL(url).host for url in urls):
        raise ValueError(raw)
    return urls


def _tool_scopes(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`baw.search=search_processes process_status_overview;baw.tasks=get_task`: scopes and the tools needing them."""
    pairs = []
    for entry in (part.strip() for part in raw.split(";") if part.strip()):
        scope, _, tools = entry.partition("=")
        names = tuple(tools.replace(",", " ").split())
        if not scope.strip() or " " in scope.strip() or not names:
            raise ValueError(raw)
        pairs.append((scope.strip(), names))
    return tuple(pairs)


def _agents(r: _Reader) -> tuple[Agent, ...]:
    """GATEWAY_OAUTH_AGENTS_FILE: a JSON list of {client_id, secret_file, scopes, rate_limit_rps?, rate_limit_burst?,
    service_view?}. Every problem is named; a secret file must be readable."""
    path = r.text("GATEWAY_OAUTH_AGENTS_FILE")
    if path is None:
        return ()
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        r.problems.append(f"GATEWAY_OAUTH_AGENTS_FILE={path!r} cannot be read as JSON: {type(exc).__name__}")
        return ()
    agents, where = [], f"GATEWAY_OAUTH_AGENTS_FILE ({path})"
    for index, entry in enumerate(entries if isinstance(entries, list) else [None]):
        try:
            agent = _agent(entry)
            Path(agent.secret.path or "").read_text(encoding="utf-8")
        except (KeyError, TypeError, ValueError, OSError):
            r.problems.append(
                f"{where}: entry {index + 1} must be an object with client_id, a readable secret_file, scopes (a "
                "list), and optionally rate_limit_rps > 0, rate_limit_burst > 0, service_view true or false"
            )
            continue
        agents.append(agent)
    if len({agent.client_id for agent in agents}) < len(agents):
        r.problems.append(f"{where}: a client_id appears twice")
    return tuple(agents)


def _agent(entry: Any) -> Agent:
    client_id, secret_file, scopes = entry["client_id"], entry["secret_file"], entry["scopes"]
    rps, burst, service_view = (
        entry.get("rate_limit_rps"),
        entry.get("rate_limit_burst"),
        entry.get("service_view", False),
    )
    if not isinstance(client_id, str) or not client_id.strip() or not client_id.isprintable() or ":" in client_id:
        raise ValueError(client_id)
    if not isinstance(scopes, list) or not scopes or not all(isinstance(scope, str) and scope for scope in scopes):
        raise ValueError(scopes)
    if (rps is not None and not (isinstance(rps, (int, float)) and rps > 0)) or (
        burst is not None and not (isinstance(burst, int) and burst > 0)
    ):
        raise ValueError(rps)
    if not isinstance(secret_file, str) or not isinstance(service_view, bool):
        raise ValueError(secret_file)
    secret = Secret(f"the secret of agent {client_id}", path=Path(secret_file))
    return Agent(client_id, secret, tuple(scopes), float(rps) if rps else None, burst, service_view)


def _redis_url(r: _Reader) -> Secret | None:
    """redis:// or rediss:// (TLS, verified), inline or as GATEWAY_REDIS_URL_FILE; a password may be in the URL,
    so the URL is a secret (moved out of the environment at start like the others)."""
    secret = r.secret("GATEWAY_REDIS_URL")
    if secret is None:
        return None
    try:
        url = URL(secret.read())
    except (OSError, ValueError):
        url = URL()
    if url.scheme not in ("redis", "rediss") or not url.host:
        r.problems.append("GATEWAY_REDIS_URL is not valid: expected redis://host:6379/0 or rediss://host:6380/0")
        return None
    return secret


def _ca_bundle(r: _Reader, name: str) -> Path | None:
    raw = r.text(name)
    if raw is None:
        return None
    try:
        client_ssl_context(Path(raw))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it holds no PEM CA certificate"
        r.problems.append(f"{name}={raw!r} cannot be used: {reason}")
        return None
    return Path(raw)


def _prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", raw):
        raise ValueError(raw)
    return raw


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError(raw)
    return value in ("on", "true", "1")


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError(raw)
    return value


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        url = URL(origin)
        if origin == "*" or url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/"):
            raise ValueError(raw)  # no wildcard: the gateway answers with credentials (bearer keys)
    return origins


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 < port < 65536:
        raise ValueError(raw)
    return port


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, or raise ConfigError naming every problem."""
    r = _Reader(os.environ if env is None else env)

    base_url = r.url("BAW_BASE_URL", https=True)
    if r.text("BAW_BASE_URL") is None:
        r.problems.append("BAW_BASE_URL is required (e.g. https://baw.example.com:9443 or https://cpd-ns.apps.x/bas)")
    auth = r.parsed("BAW_AUTH", "oauth2", _choice(AUTH_MODES), " or ".join(AUTH_MODES), invalid="")
    default_token_url = base_url / "oauth2" / "token" if base_url is not None else None
    token_url = r.url("BAW_TOKEN_URL", default_token_url, https=True)
    client_id = r.text("BAW_CLIENT_ID")
    client_secret = r.secret("BAW_CLIENT_SECRET")
    iam_url = r.url("BAW_IAM_URL", https=True)
    zen_url = r.url("BAW_ZEN_URL", https=True)
    username = r.text("BAW_USERNAME")
    password = r.secret("BAW_PASSWORD")
    api_key = r.secret("BAW_API_KEY")

    if auth == "oauth2":
        r.require(auth, BAW_CLIENT_ID=client_id, BAW_CLIENT_SECRET=client_secret)
    elif auth == "zen":
        r.require(auth, BAW_IAM_URL=iam_url, BAW_ZEN_URL=zen_url, BAW_USERNAME=username, BAW_PASSWORD=password)
    elif auth == "zen_api_key":
        r.require(auth, BAW_USERNAME=username, BAW_API_KEY=api_key)
    elif auth == "basic":
        r.require(auth, BAW_USERNAME=username, BAW_PASSWORD=password)

    ca_bundle = _ca_bundle(r, "BAW_CA_BUNDLE")

    port = r.parsed("GATEWAY_PORT", 8080, _port, "a TCP port (1-65535)")
    public_url = r.url("GATEWAY_PUBLIC_URL", URL(f"http://localhost:{port}"), https=False)

    plugin = PluginSettings(
        name_for_human=r.text("PLUGIN_NAME_FOR_HUMAN", PluginSettings.name_for_human),
        name_for_model=r.text("PLUGIN_NAME_FOR_MODEL", PluginSettings.name_for_model),
        description_for_human=r.text("PLUGIN_DESCRIPTION_FOR_HUMAN", PluginSettings.description_for_human),
        contact_email=r.text("PLUGIN_CONTACT_EMAIL", PluginSettings.contact_email),
        legal_url=r.text("PLUGIN_LEGAL_URL"),
        verification_token=r.secret("PLUGIN_VERIFICATION_TOKEN"),
    )
    _check_plugin(plugin, r.problems)

    settings = Settings(
        baw_base_url=base_url or URL("https://invalid"),
        baw_auth=auth,
        baw_token_url=token_url,
        baw_client_id=client_id,
        baw_client_secret=client_secret,
        baw_scope=r.text("BAW_SCOPE"),
        baw_iam_url=iam_url,
        baw_zen_url=zen_url,
        baw_username=username,
        baw_password=password,
        baw_api_key=api_key,
        baw_ca_bundle=ca_bundle,
        baw_timeout_s=r.parsed("BAW_TIMEOUT_S", 10.0, _positive(float), "a number of seconds > 0"),
        baw_max_connections=r.parsed("BAW_MAX_CONNECTIONS", 64, _positive(int), "a whole number > 0"),
        host=r.text("GATEWAY_HOST", "0.0.0.0"),
        port=port,
        public_url=public_url,
        log_level=r.parsed("GATEWAY_LOG_LEVEL", "INFO", _choice(_LOG_LEVELS, upper=True), "|".join(_LOG_LEVELS)),
        log_format=r.parsed("GATEWAY_LOG_FORMAT", "json", _choice(LOG_FORMATS), " or ".join(LOG_FORMATS)),
        event_loop=r.parsed("GATEWAY_EVENT_LOOP", "auto", _choice(EVENT_LOOPS), " or ".join(EVENT_LOOPS)),
        drain_s=r.parsed("GATEWAY_DRAIN_S", 5.0, _non_negative, "a number of seconds >= 0"),
        shutdown_timeout_s=r.parsed("GATEWAY_SHUTDOWN_TIMEOUT_S", 30.0, _positive(float), "a number of seconds > 0"),
        request_timeout_s=r.parsed("GATEWAY_REQUEST_TIMEOUT_S", 30.0, _positive(float), "a number of seconds > 0"),
        body_timeout_s=r.parsed("GATEWAY_BODY_TIMEOUT_S", 10.0, _positive(float), "a number of seconds > 0"),
        keepalive_timeout_s=r.parsed("GATEWAY_KEEPALIVE_TIMEOUT_S", 15.0, _positive(float), "seconds > 0"),
        max_connections=r.parsed("GATEWAY_MAX_CONNECTIONS", 1000, _positive(int), "a whole number > 0"),
        workers=r.parsed("GATEWAY_WORKERS", 1, _between(1, MAX_WORKERS), f"a whole number from 1 to {MAX_WORKERS}"),
        mcp_max_sessions=r.parsed("GATEWAY_MCP_MAX_SESSIONS", 1000, _positive(int), "a whole number > 0"),
        mcp_sessions_per_caller=r.parsed("GATEWAY_MCP_SESSIONS_PER_CALLER", 50, _positive(int), "a whole number > 0"),
        mcp_session_idle_s=r.parsed("GATEWAY_MCP_SESSION_IDLE_S", 600, _positive(int), "whole seconds > 0"),
        api_keys=r.secret("GATEWAY_API_KEYS"),
        cors_origins=r.parsed(
            "GATEWAY_CORS_ORIGINS", DEFAULT_CORS_ORIGINS, _origins, "comma-separated http(s) origins"
        ),
        trusted_proxies=r.parsed("GATEWAY_TRUSTED_PROXIES", (), _networks, "comma-separated CIDRs, e.g. 10.0.0.0/8"),
        trusted_proxy_header=r.parsed(
            "GATEWAY_TRUSTED_PROXY_HEADER",
            "x-forwarded-for",
            _choice(("x-forwarded-for", "forwarded")),
            "x-forwarded-for or forwarded",
        ),
        # Sized for an LLM host behind one key: a conversation's burst of tool calls never meets the limit.
        rate_limit_rps=r.parsed("GATEWAY_RATE_LIMIT_RPS", 10.0, _positive(float), "requests per second > 0"),
        rate_limit_burst=r.parsed("GATEWAY_RATE_LIMIT_BURST", 100, _positive(int), "a whole number > 0"),
        baw_concurrency=r.parsed("GATEWAY_BAW_CONCURRENCY", 32, _positive(int), "a whole number > 0"),
        baw_queue_wait_s=r.parsed("GATEWAY_BAW_QUEUE_WAIT_S", 2.0, _non_negative, "a number of seconds >= 0"),
        cache_ttl_s=r.parsed("GATEWAY_CACHE_TTL_S", 5.0, _non_negative, "a number of seconds >= 0 (0: no cache)"),
        cache_not_found_ttl_s=r.parsed("GATEWAY_CACHE_NOT_FOUND_TTL_S", 1.0, _non_negative, "seconds >= 0"),
        cache_max_entries=r.parsed("GATEWAY_CACHE_MAX_ENTRIES", 10_000, _positive(int), "a whole number > 0"),
        cache_failure_ttl_s=r.parsed("GATEWAY_CACHE_FAILURE_TTL_S", 5.0, _non_negative, "seconds >= 0 (0: off)"),
        baw_concurrency_per_caller=r.parsed(
            "GATEWAY_BAW_CONCURRENCY_PER_CALLER", 8, _positive(int), "a whole number > 0"
        ),
        breaker_window_s=r.parsed("GATEWAY_BREAKER_WINDOW_S", 30.0, _positive(float), "seconds > 0"),
        breaker_min_calls=r.parsed("GATEWAY_BREAKER_MIN_CALLS", 20, _positive(int), "a whole number > 0"),
        breaker_failure_rate=r.parsed("GATEWAY_BREAKER_FAILURE_RATE", 0.5, _fraction, "a fraction in (0, 1]"),
        breaker_min_ids=r.parsed("GATEWAY_BREAKER_MIN_IDS", 3, _positive(int), "a whole number > 0"),
        breaker_min_callers=r.parsed("GATEWAY_BREAKER_MIN_CALLERS", 2, _positive(int), "a whole number > 0"),
        breaker_slow_call_s=r.parsed("GATEWAY_BREAKER_SLOW_CALL_S", 5.0, _positive(float), "seconds > 0"),
        breaker_cooldown_s=r.parsed("GATEWAY_BREAKER_COOLDOWN_S", 15.0, _positive(float), "seconds > 0"),
        max_baw_response_bytes=r.parsed(
            "GATEWAY_MAX_BAW_RESPONSE_BYTES", 2 * 1024 * 1024, _positive(int), "a number of bytes > 0"
        ),
        docs=r.parsed("GATEWAY_DOCS", True, _switch, "on or off"),
        oauth_issuer=_oauth_issuer(r, public_url),
        oauth_audiences=r.parsed(
            "GATEWAY_OAUTH_AUDIENCE",
            (f"{public_url}/mcp", str(public_url)),
            _words(","),
            "comma-separated audiences",
        ),
        oauth_scopes=r.parsed("GATEWAY_OAUTH_SCOPES", ("baw.read",), _words(" ,"), "scope names"),
        oauth_ca_bundle=_ca_bundle(r, "GATEWAY_OAUTH_CA_BUNDLE"),
        oauth_introspection_url=_exact_https(r, "GATEWAY_OAUTH_INTROSPECTION_URL"),
        oauth_introspection_client_id=r.text("GATEWAY_OAUTH_INTROSPECTION_CLIENT_ID"),
        oauth_introspection_client_secret=r.secret("GATEWAY_OAUTH_INTROSPECTION_CLIENT_SECRET"),
        oauth_proxy_upstream_issuer=_exact_https(r, "GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER"),
        oauth_proxy_client_id=r.text("GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID"),
        oauth_proxy_client_secret=r.secret("GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_SECRET"),
        oauth_proxy_scopes=r.parsed("GATEWAY_OAUTH_PROXY_UPSTREAM_SCOPES", ("openid",), _words(" ,"), "scope names"),
        oauth_proxy_signing_key=_readable(r, "GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE"),
        oauth_proxy_clients=r.parsed("GATEWAY_OAUTH_PROXY_CLIENTS", (), _clients, "id=https://redirect ...;id2=..."),
        oauth_token_lifetime_s=r.parsed("GATEWAY_OAUTH_TOKEN_LIFETIME_S", 600.0, _positive(float), "seconds > 0"),
        oauth_agents=_agents(r),
        oauth_id_jag_issuers=r.parsed(
            "GATEWAY_OAUTH_ID_JAG_ISSUERS", (), _https_urls, "comma-separated https:// issuers"
        ),
        oauth_tool_scopes=r.parsed(
            "GATEWAY_OAUTH_TOOL_SCOPES",
            (),
            _tool_scopes,
            "scope=tool tool;scope2=tool (e.g. baw.search=search_processes)",
        ),
        oauth_cimd_private_hosts=r.parsed("GATEWAY_OAUTH_CIMD_PRIVATE_HOSTS", (), _words(","), "host names, commas"),
        oauth_cimd_timeout_s=r.parsed("GATEWAY_OAUTH_CIMD_TIMEOUT_S", 2.0, _positive(float), "a number of seconds > 0"),
        baw_identity=r.parsed("GATEWAY_BAW_IDENTITY", "service", _choice(("service", "user")), "service or user"),
        baw_user_claim=r.text("GATEWAY_BAW_USER_CLAIM"),
        baw_portal_url=r.parsed(
            "BAW_PORTAL_URL", None, _instance_url, "an http(s):// URL with {id} where the instance id goes"
        ),
        baw_identity_keys=r.parsed(
            "GATEWAY_BAW_IDENTITY_KEYS", "deny", _choice(("deny", "service")), "deny or service"
        ),
        baw_token_exchange_url=r.url("GATEWAY_BAW_TOKEN_EXCHANGE_URL", https=True),
        baw_token_exchange_client_id=r.text("GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_ID"),
        baw_token_exchange_client_secret=r.secret("GATEWAY_BAW_TOKEN_EXCHANGE_CLIENT_SECRET"),
        baw_token_exchange_audience=r.text("GATEWAY_BAW_TOKEN_EXCHANGE_AUDIENCE"),
        user_credentials_max=r.parsed("GATEWAY_USER_CREDENTIALS_MAX", 1000, _positive(int), "a whole number > 0"),
        user_idle_s=r.parsed("GATEWAY_USER_IDLE_S", 900.0, _positive(float), "seconds > 0"),
        redis_url=_redis_url(r),
        redis_password=r.secret("GATEWAY_REDIS_PASSWORD"),
        redis_ca_bundle=_ca_bundle(r, "GATEWAY_REDIS_CA_BUNDLE"),
        redis_prefix=r.parsed("GATEWAY_REDIS_PREFIX", "baw-gateway", _prefix, "letters, digits, '-', '_', '.' or ':'"),
        redis_timeout_s=r.parsed("GATEWAY_REDIS_TIMEOUT_S", 0.25, _positive(float), "a number of seconds > 0"),
        plugin=plugin,
    )
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
    if r.env.get("GATEWAY_BREAKER_FAILURES"):
        r.problems.append(
            "GATEWAY_BREAKER_FAILURES is gone: the breaker opens on a failure rate over distinct ids "
            "(GATEWAY_BREAKER_FAILURE_RATE, GATEWAY_BREAKER_MIN_CALLS, GATEWAY_BREAKER_MIN_IDS)"
        )
    _unknown_variables(r)
    if r.problems:
        raise ConfigError(r.problems)
    return settings


_LOG_LEVELS = tuple(logging.getLevelName(level) for level in (10, 20, 30, 40, 50))


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
