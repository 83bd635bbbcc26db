"""How one environment variable becomes a value: the reader that collects every problem instead of stopping at
the first, the parsers, and the readers of the settings that need more than a parser (a file, another setting).
`config.py` declares each setting once with one of these; this module knows no setting's meaning."""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from yarl import URL

from gateway.secret import Secret
from gateway.tls import client_ssl_context

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (reader, variable, default, the settings read before this one) -> value
Read = Callable[["Reader", str, Any, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Kind:
    """How a variable's text is read, and what the configuration reference says it accepts."""

    read: Read
    accepts: str
    secret: bool = False  # moved out of the environment at start, shown masked, and NAME_FILE is read too


def parsed(parse: Callable[[str], Any], accepts: str, invalid: Any = None) -> Kind:
    """`invalid` is what an unparseable value stands for (default: the default), so that later checks do not report
    problems that only follow from this one."""
    return Kind(lambda r, name, default, values: r.parsed(name, default, parse, accepts, invalid), accepts)


def url(*, https: bool) -> Kind:
    accepts = "an https:// URL" if https else "an http(s):// URL"
    return Kind(lambda r, name, default, values: r.url(name, default, https=https), accepts)


TEXT = Kind(lambda r, name, default, values: r.text(name, default), "text")
SECRET = Kind(lambda r, name, default, values: r.secret(name), "a secret", True)


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


class Reader:
    """Reads variables and collects problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
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


def positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = kind(raw)
        if value <= 0:  # type: ignore[operator]
            raise ValueError(raw)
        return value

    return parse


def between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


def non_negative(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def networks(raw: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in raw.split(",") if cidr.strip())


def words(separators: str) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        for separator in separators[1:]:
            raw = raw.replace(separator, separators[0])
        words = tuple(word.strip() for word in raw.split(separators[0]) if word.strip())
        if not words:
            raise ValueError(raw)
        return words

    return parse


def exact_https(r: Reader, name: str, default: Any, values: Mapping[str, Any]) -> str | None:
    """An https URL kept exactly as written (an issuer identifier: a trailing slash matters)."""
    return r.text(name) if r.url(name, https=True) else None


def clients(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`id=https://a/cb https://b/cb;id2=...`: clients registered by the operator, with their exact redirect URIs."""
    clients = []
    for entry in (part.strip() for part in raw.split(";") if part.strip()):
        client_id, _, uris = entry.partition("=")
        redirects = tuple(uris.split())
        if not client_id.strip() or not redirects or not all(URL(uri).scheme in ("https", "http") for uri in redirects):
            raise ValueError(raw)
        clients.append((client_id.strip(), redirects))
    return tuple(clients)


def instance_url(raw: str) -> str:
    url = URL(raw.replace("{id}", "0"))
    if "{id}" not in raw or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(raw)
    return raw


def https_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not urls or not all(URL(url).scheme == "https" and URL(url).host for url in urls):
        raise ValueError(raw)
    return urls


def tool_scopes(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`baw.search=search_processes process_status_overview;baw.tasks=get_task`: scopes and the tools needing them."""
    pairs = []
    for entry in (part.strip() for part in raw.split(";") if part.strip()):
        scope, _, tools = entry.partition("=")
        names = tuple(tools.replace(",", " ").split())
        if not scope.strip() or " " in scope.strip() or not names:
            raise ValueError(raw)
        pairs.append((scope.strip(), names))
    return tuple(pairs)


def agent_entry(entry: Any) -> Agent:
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


def prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", raw):
        raise ValueError(raw)
    return raw


def switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError(raw)
    return value in ("on", "true", "1")


def fraction(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError(raw)
    return value


def origins(raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        url = URL(origin)
        if origin == "*" or url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/"):
            raise ValueError(raw)  # no wildcard: the gateway answers with credentials (bearer keys)
    return origins


def port(raw: str) -> int:
    port = int(raw)
    if not 0 < port < 65536:
        raise ValueError(raw)
    return port


def choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def oauth_issuer(r: Reader, name: str, default: Any, values: Mapping[str, Any]) -> str | None:
    """The issuer whose tokens are accepted: GATEWAY_OAUTH_ISSUER, or the gateway itself when it runs the façade."""
    public_url = values["public_url"]
    facade = r.text("GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER") is not None
    issuer = r.text(name) if r.url(name, https=True) else None
    if facade:
        if issuer is not None and issuer != str(public_url):
            r.problems.append(
                "with GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER the gateway is the issuer: unset GATEWAY_OAUTH_ISSUER"
            )
        if r.text("GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID") is None:
            r.problems.append("GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER needs GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID")
        return str(public_url)
    return issuer


def agents(r: Reader, name: str, default: Any, values: Mapping[str, Any]) -> tuple[Agent, ...]:
    """GATEWAY_OAUTH_AGENTS_FILE: a JSON list of {client_id, secret_file, scopes, rate_limit_rps?, rate_limit_burst?,
    service_view?}. Every problem is named; a secret file must be readable."""
    path = r.text(name)
    if path is None:
        return ()
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        r.problems.append(f"{name}={path!r} cannot be read as JSON: {type(exc).__name__}")
        return ()
    agents, where = [], f"{name} ({path})"
    for index, entry in enumerate(entries if isinstance(entries, list) else [None]):
        try:
            agent = agent_entry(entry)
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


def redis_url(r: Reader, name: str, default: Any, values: Mapping[str, Any]) -> Secret | None:
    """redis:// or rediss:// (TLS, verified), inline or as GATEWAY_REDIS_URL_FILE; a password may be in the URL,
    so the URL is a secret (moved out of the environment at start like the others)."""
    secret = r.secret(name)
    if secret is None:
        return None
    try:
        address = URL(secret.read())
    except (OSError, ValueError):
        address = URL()
    if address.scheme not in ("redis", "rediss") or not address.host:
        r.problems.append(f"{name} is not valid: expected redis://host:6379/0 or rediss://host:6380/0")
        return None
    return secret


def ca_bundle(r: Reader, name: str, default: Any, values: Mapping[str, Any]) -> Path | None:
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


def readable(r: Reader, name: str, default: Any, values: Mapping[str, Any]) -> Path | None:
    raw = r.text(name)
    if raw is None:
        return None
    try:
        Path(raw).read_bytes()
    except OSError as exc:
        r.problems.append(f"{name}={raw!r} cannot be read: {exc.strerror}")
        return None
    return Path(raw)
