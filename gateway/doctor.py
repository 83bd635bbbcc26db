"""`baw-gateway doctor URL`: what each LLM host does when it connects to a deployment, replayed, one line per check
with the fix. A failed connection between a host and a gateway is the commonest complaint after identity, and the
operator sees only "couldn't connect": this names the step that fails.

Checks, in the order a host meets them: TLS (a chain the public roots trust, not expiring within 14 days), port 443,
the protected-resource metadata (its `resource` is the URL given), the authorization server's metadata, a way for
the host to register (CIMD or DCR), PKCE S256, no `resource` parameter sent to an Entra upstream, `ping` in both
protocol eras, the tool count under the hosts' caps, the four annotations on every tool, and the largest answer
of the tools that need no argument under the hosts' limit. A URL on loopback over http (the demo) skips the TLS
and port checks. Exit status 1 when a check fails; `--json` for pipelines.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from yarl import URL

EXPIRY_MARGIN_DAYS = 14
TOOL_CAPS = {"VS Code": 128, "Gemini Enterprise": 100}
RESULT_LIMIT = 100_000  # characters: ChatGPT's limit on one tool result, the strictest of the hosts
HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "baw-gateway-doctor", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"{mark} {self.name}: {self.detail}" + (f"\n       fix: {self.fix}" if self.fix and not self.ok else "")


class Doctor:
    def __init__(self, url: str, *, credential: str | None, trust: ssl.SSLContext) -> None:
        given = URL(url.rstrip("/"))
        self.mcp = given if given.path.endswith("/mcp") else given / "mcp"
        self.base = self.mcp.parent
        self.credential, self.trust = credential, trust
        self.checks: list[Check] = []
        self.local = self.mcp.scheme == "http" and self.mcp.host in ("localhost", "127.0.0.1", "::1")

    def add(self, name: str, ok: bool | None, detail: str, fix: str = "") -> bool | None:
        self.checks.append(Check(name, ok, detail, fix))
        return ok

    async def run(self) -> list[Check]:
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:
            self.http = http
            if not await self.transport():
                return self.checks
            authorization = await self.discovery()
            if authorization is not None:
                await self.authorization_server(authorization)
            await self.mcp_checks()
        return self.checks

    # ------------------------------------------------------------------ TLS and port

    async def transport(self) -> bool:
        if self.local:
            self.add("tls", None, "a local http URL (the demo): hosts need https on 443 in front of it")
            return True
        if self.mcp.scheme != "https":
            self.add("tls", False, f"{self.mcp} is not https", "hosts connect over https only: put TLS in front")
            return False
        port = self.mcp.port or 443
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.mcp.host, port, ssl=self.trust, server_hostname=self.mcp.host), 10
            )
        except ssl.SSLCertVerificationError as exc:
            self.add(
                "tls",
                False,
                f"the certificate is not trusted: {exc.verify_message}",
                "serve a chain the public roots trust (the hosts' clouds use them), intermediates included",
            )
            return False
        except (OSError, TimeoutError) as exc:
            self.add("tls", False, f"cannot connect to {self.mcp.host}:{port}: {exc}", "check DNS, the port, firewalls")
            return False
        certificate = writer.get_extra_info("ssl_object").getpeercert()
        writer.close()
        expires = ssl.cert_time_to_seconds(certificate["notAfter"])
        days = (expires - time.time()) / 86400
        if days < EXPIRY_MARGIN_DAYS:
            self.add("tls", False, f"the certificate expires in {days:.0f} days", "renew it now")
        else:
            self.add("tls", True, f"trusted chain, expires in {days:.0f} days")
        self.add(
            "port",
            port == 443,
            f"port {port}",
            "serve on 443: several hosts refuse other ports for connectors",
        )
        return True

    # ------------------------------------------------------------------ OAuth discovery

    async def discovery(self) -> str | None:
        """The protected-resource metadata (RFC 9728); the authorization server it names."""
        url = self.base.with_path(self.base.path.rstrip("/") + "/.well-known/oauth-protected-resource/mcp")
        document = await self._json(url)
        if document is None:
            self.add(
                "protected-resource metadata",
                None,
                f"none at {url}: hosts that sign users in (ChatGPT, Claude connectors) need OAuth",
                "set GATEWAY_OAUTH_ISSUER or run the façade (GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER)",
            )
            return None
        resource = document.get("resource")
        self.add(
            "protected-resource metadata",
            resource == str(self.mcp),
            f"resource {resource!r}" + ("" if resource == str(self.mcp) else f", not {str(self.mcp)!r}"),
            "set GATEWAY_PUBLIC_URL to the URL hosts use (scheme, host, port and path prefix)",
        )
        servers = document.get("authorization_servers")
        return servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], str) else None

    async def authorization_server(self, issuer: str) -> None:
        parsed = URL(issuer)
        url = parsed.with_path("/.well-known/oauth-authorization-server" + parsed.path.rstrip("/"))
        metadata = await self._json(url) or await self._json(
            URL(issuer.rstrip("/") + "/.well-known/openid-configuration")
        )
        if metadata is None:
            self.add("authorization server", False, f"no metadata for {issuer}", "check GATEWAY_OAUTH_ISSUER")
            return
        endpoints = all(isinstance(metadata.get(key), str) for key in ("authorization_endpoint", "token_endpoint"))
        self.add(
            "authorization server",
            endpoints and metadata.get("issuer") == issuer,
            f"{issuer}: authorization and token endpoints {'present' if endpoints else 'missing'}",
            "the issuer's metadata must name its own issuer and both endpoints",
        )
        cimd, dcr = metadata.get("client_id_metadata_document_supported") is True, "registration_endpoint" in metadata
        self.add(
            "client registration",
            cimd or dcr,
            f"client ID metadata documents {'yes' if cimd else 'no'}, dynamic registration {'yes' if dcr else 'no'}",
            "hosts register themselves by CIMD or DCR: run the façade when the IdP offers neither",
        )
        methods = metadata.get("code_challenge_methods_supported") or []
        self.add("pkce", "S256" in methods, f"code_challenge_methods_supported {methods}", "the issuer must offer S256")
        entra = (parsed.host or "").endswith(("login.microsoftonline.com", "login.microsoftonline.us"))
        self.add(
            "resource parameter",
            not entra,
            "Entra ID refuses the `resource` parameter hosts send (AADSTS9010010)"
            if entra
            else "no Entra upstream asked directly",
            "run the façade in front of Entra: it keeps `resource` for itself and asks Entra for scopes only",
        )

    # ------------------------------------------------------------------ MCP

    async def mcp_checks(self) -> None:
        headers = {**_ACCEPT, **({"Authorization": f"Bearer {self.credential}"} if self.credential else {})}
        legacy = await self._rpc(
            headers,
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "baw-gateway-doctor", "version": "1"},
            },
        )
        if legacy is None:
            return
        status, body, session = legacy
        if status == 401:
            self.add("mcp", None, "401: past the front door needs a credential", "run again with --api-key or --token")
            return
        if status != 200 or "result" not in body:
            self.add("ping (2025-06-18)", False, f"initialize answered HTTP {status}", "check the gateway's log")
            return
        session_headers = {**headers, "MCP-Protocol-Version": "2025-06-18"}
        if session:
            session_headers["Mcp-Session-Id"] = session
        pinged = await self._rpc(session_headers, "ping", {})
        self.add("ping (2025-06-18)", pinged is not None and pinged[1].get("result") == {}, "initialize, then ping")
        modern = {**headers, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "ping"}
        pinged = await self._rpc(modern, "ping", {"_meta": _META})
        self.add("ping (2026-07-28)", pinged is not None and pinged[1].get("result") == {}, "stateless ping")
        listed = await self._rpc(session_headers, "tools/list", {})
        tools = listed[1].get("result", {}).get("tools", []) if listed else []
        for host, cap in TOOL_CAPS.items():
            self.add(f"tool count ({host})", len(tools) <= cap, f"{len(tools)} tools, cap {cap}", "offer fewer tools")
        missing = [tool["name"] for tool in tools if any(hint not in (tool.get("annotations") or {}) for hint in HINTS)]
        self.add(
            "annotations",
            bool(tools) and not missing,
            f"every tool states {', '.join(HINTS)}" if not missing else f"missing on {', '.join(missing)}",
            "OpenAI's review rejects tools that leave a hint unset",
        )
        largest = 0
        for tool in tools:
            if (tool.get("inputSchema") or {}).get("required"):
                continue
            called = await self._rpc(session_headers, "tools/call", {"name": tool["name"], "arguments": {}})
            if called is not None:
                largest = max(largest, len(json.dumps(called[1].get("result", {}))))
        self.add("largest result", largest <= RESULT_LIMIT, f"{largest} characters", "page or trim the answers")

    async def _rpc(
        self, headers: dict[str, str], method: str, params: dict[str, Any]
    ) -> tuple[int, dict, str | None] | None:
        message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            async with self.http.post(str(self.mcp), json=message, headers=headers, ssl=self.trust) as response:
                text = await response.text()
                session = response.headers.get("Mcp-Session-Id")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.add(f"mcp {method}", False, f"{type(exc).__name__}", "check that the URL reaches the gateway")
            return None
        if text.startswith(("event:", "data:")):
            text = next((line[5:] for line in text.splitlines() if line.startswith("data:")), "{}")
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {}
        return status, body if isinstance(body, dict) else {}, session

    async def _json(self, url: URL) -> dict[str, Any] | None:
        try:
            async with self.http.get(str(url), ssl=self.trust, allow_redirects=False) as response:
                if response.status != 200:
                    return None
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        return answer if isinstance(answer, dict) else None


def run(url: str, *, credential: str | None, ca_bundle: str | None, as_json: bool) -> int:
    trust = ssl.create_default_context(cafile=ca_bundle)
    checks = asyncio.run(Doctor(url, credential=credential, trust=trust).run())
    if as_json:
        print(json.dumps([asdict(check) for check in checks], indent=2))
    else:
        for check in checks:
            print(check.line())
    failed = [check for check in checks if check.ok is False]
    if not as_json:
        print(f"{len(checks) - len(failed)} of {len(checks)} checks passed or skipped", file=sys.stderr)
    return 1 if failed else 0
