"""The command line: serve | settings | demo | simulate | check-config | openapi | doctor.

The application and the server are imported by the commands that run them: the supervisor of GATEWAY_WORKERS
runs for the pod's lifetime next to its workers and needs neither (half the memory of a worker).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping

from gateway import __version__, reference, tracing, workers
from gateway.config import (
    EXIT_CONFIG,
    GROUPS,
    INHERITED_SECRET,
    SECRET_NAMES,
    ConfigError,
    Settings,
    declarations,
    load_settings,
)
from gateway.logs import configure_logging

if TYPE_CHECKING:
    pass

log = logging.getLogger("gateway")


def _settings_by_group() -> str:
    lines = []
    for group in GROUPS:
        names = [var.env for var in declarations() if var.group == group]
        lines.append(f"{group}:\n" + textwrap.fill(", ".join(names), 116, initial_indent="  ", subsequent_indent="  "))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="baw-gateway",
        description="A gateway that lets LLM hosts (ChatGPT, Claude, Copilot, any MCP client) read IBM Business "
        "Automation Workflow safely. Configured by environment variables: `baw-gateway settings` lists them.",
    )
    parser.add_argument("--version", action="version", version=f"baw-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "serve",
        help="run the gateway (configured by environment variables)",
        description="Run the gateway. It reads these environment variables (`baw-gateway settings` says what each "
        "means and its default; a secret may be given as NAME_FILE):",
        epilog=_settings_by_group(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser(
        "settings", help="print every setting with its default and meaning (docs/configuration.md, as Markdown)"
    )
    demo = commands.add_parser("demo", help="run the gateway against the embedded BAW simulator")
    demo.add_argument("--simulator-port", type=_port, default=os.environ.get("SIMULATOR_PORT", "9443"))
    demo.add_argument(
        "--oauth",
        action="store_true",
        help="hosts sign users in: the simulator's identity provider is the OAuth issuer (users alice, bob)",
    )
    demo.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="run N gateways sharing state through a local redis-server, behind a round-robin front on GATEWAY_PORT",
    )
    simulate = commands.add_parser("simulate", help="run the embedded BAW simulator alone")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=_port, default=os.environ.get("SIMULATOR_PORT", "9443"))
    simulate.add_argument("--ca-dir", type=Path, default=Path(".demo"))
    check = commands.add_parser(
        "check-config", help="print the effective configuration (secrets masked) and validate it"
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="then get one BAW credential and make one lookup, as serve would: the connection tested before serving",
    )
    commands.add_parser("openapi", help="print the OpenAPI document")
    doctor = commands.add_parser("doctor", help="check a deployment the way LLM hosts connect to it, with fixes")
    doctor.add_argument("url", help="the MCP URL hosts are given, e.g. https://gateway.example.com/mcp")
    doctor.add_argument("--api-key", help="a bearer key, to check past the front door")
    doctor.add_argument("--token", help="an OAuth access token, to check past the front door")
    doctor.add_argument("--ca-bundle", help="trust this CA bundle instead of the public roots (a test set-up)")
    doctor.add_argument("--json", action="store_true", help="the checks as JSON, for pipelines")
    args = parser.parse_args(argv)

    if args.command == "settings":
        sys.stdout.write(reference.render())
        return 0
    if args.command == "doctor":
        from gateway import doctor as checks  # noqa: PLC0415 - a client of a deployment, not the gateway

        return checks.run(args.url, credential=args.api_key or args.token, ca_bundle=args.ca_bundle, as_json=args.json)
    if args.command == "simulate":
        from gateway import demo  # noqa: PLC0415 - the simulator is an optional extra

        return _run(demo.simulate(args.host, args.port, args.ca_dir))
    if args.command == "demo":
        from gateway import demo  # noqa: PLC0415 - the simulator is an optional extra

        return _run(demo.demo(args.simulator_port, args.replicas, args.oauth))
    try:
        settings = load_settings(_openapi_env() if args.command == "openapi" else None)
    except ConfigError as exc:
        print(f"baw-gateway: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        from gateway.web.tools import scopes  # noqa: PLC0415 - the catalogue, to check the tools it names

        try:
            scopes.check(settings)
        except ConfigError as exc:
            print(f"baw-gateway: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        for name, value in settings.describe():
            print(f"{name}={value}")
        print("configuration is valid", file=sys.stderr)
        return asyncio.run(_probe(settings)) if args.probe else 0
    if args.command == "openapi":
        from gateway.app import create_app  # noqa: PLC0415 - see the module's docstring
        from gateway.web.documents.openapi import build_openapi  # noqa: PLC0415
        from gateway.web.documents.plugin import encode  # noqa: PLC0415

        sys.stdout.write(encode(build_openapi(create_app(settings).router, settings)).decode())
        return 0
    _reexec_without_inline_secrets(["serve"])
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1:
        if not workers.is_worker():
            return workers.supervise(settings.workers)
        workers.follow_supervisor()
    try:
        if tracing.configure():
            log.info("tracing on: spans exported by OTLP (OTEL_* variables)")
        loop_factory = _loop_factory(settings.event_loop)
    except (tracing.TracingUnavailable, ConfigError) as exc:
        print(f"baw-gateway: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from gateway.app import create_app  # noqa: PLC0415
    from gateway.server import serve  # noqa: PLC0415

    try:
        app = create_app(settings)
    except ConfigError as exc:
        print(f"baw-gateway: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return _run(serve(app, settings), loop_factory)


def _openapi_env() -> Mapping[str, str]:
    """`openapi` documents the API, which does not depend on BAW: only the public URL and plugin settings count."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("GATEWAY_", "PLUGIN_"))}
    return {"BAW_BASE_URL": "https://baw.invalid", "BAW_AUTH": "basic", "BAW_USERNAME": "-", "BAW_PASSWORD": "-", **env}


def _reexec_without_inline_secrets(argv: list[str]) -> None:
    """Secrets given inline (BAW_CLIENT_SECRET=...) stay readable in /proc/<pid>/environ for the process's
    lifetime, whatever os.environ says afterwards. So the process replaces itself: each inline secret moves into
    an anonymous in-memory file (memfd) that the new process inherits and reads as NAME_FILE=/proc/self/fd/N,
    and the new process's environment holds no secret. Where memfd is missing (not Linux), the README's advice
    stands: give secrets as files."""
    inline = [name for name in SECRET_NAMES if os.environ.get(name, "").strip()]
    if not inline or not hasattr(os, "memfd_create"):
        return
    env = dict(os.environ)
    for name in inline:
        descriptor = os.memfd_create(f"baw-gateway-{name.lower()}", 0)
        os.write(descriptor, env.pop(name).encode())
        os.set_inheritable(descriptor, True)
        env[f"{name}_FILE"] = f"{INHERITED_SECRET}{descriptor}"
    os.execve(sys.executable, [sys.executable, "-m", "gateway", *argv], env)


def _port(raw: str) -> int:
    """A TCP port from --port/--simulator-port or SIMULATOR_PORT (argparse applies it to string defaults too)."""
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"expected a TCP port (1-65535) here or in SIMULATOR_PORT, not {raw!r}")
    return port


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when asked for, or (auto) when installed: its event loop and transports are C, which takes a
    large share of the per-request cost out of Python. None: asyncio's own loop."""
    if choice == "asyncio":
        return None
    try:
        import uvloop  # noqa: PLC0415 - an optional extra
    except ImportError:
        if choice == "uvloop":
            missing = "GATEWAY_EVENT_LOOP=uvloop, but uvloop is not installed: pip install 'baw-gateway[uvloop]'"
            raise ConfigError(missing) from None
        return None
    return uvloop.new_event_loop


def _run(main_coroutine: Awaitable[None], loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> int:
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main_coroutine)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        # One line a newcomer can act on, instead of a traceback from deep inside asyncio.
        hint = "stop what uses it or choose another port (GATEWAY_PORT, SIMULATOR_PORT)"
        print(f"baw-gateway: cannot listen: {exc.strerror}; {hint}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


async def _probe(settings: Settings) -> int:
    """One credential and one lookup (the process apps the service account sees), over the gateway's own wiring:
    0 when BAW answered, 1 with BAW's or the sign-in's own advice when it did not."""
    from aiohttp import web  # noqa: PLC0415 - the probe runs the application's resources, nothing else does here

    from gateway.app import create_app  # noqa: PLC0415
    from gateway.errors import GatewayError  # noqa: PLC0415
    from gateway.service import PROCESS_SERVICE  # noqa: PLC0415

    runner = web.AppRunner(create_app(settings), handle_signals=False)
    await runner.setup()
    try:
        apps = await runner.app[PROCESS_SERVICE].process_apps()
    except GatewayError as exc:
        print(f"probe failed: {exc.for_log}", file=sys.stderr)  # the advice, then [what the gateway saw]
        return 1
    finally:
        await runner.cleanup()
    print(f"probe: a BAW credential, and BAW answered ({len(apps)} process app(s) visible)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
