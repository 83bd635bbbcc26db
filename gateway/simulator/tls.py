"""A throw-away CA and a server certificate for localhost, made at start (needs the `simulator` extra)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SimulatorTls:
    server_context: ssl.SSLContext
    ca_bundle: Path  # what the gateway's BAW_CA_BUNDLE points at


def generate_tls(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")) -> SimulatorTls:
    try:
        import trustme  # noqa: PLC0415 - only the simulator needs it
    except ImportError:  # pragma: no cover - depends on how the package was installed
        raise SystemExit(
            "the BAW simulator needs the 'simulator' extra: pip install 'baw-gateway[simulator]'"
        ) from None
    ca = trustme.CA(organization_name="baw-gateway simulator CA")
    server_cert = ca.issue_cert(*hosts)
    directory.mkdir(parents=True, exist_ok=True)
    ca_bundle = directory / "simulator-ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    return SimulatorTls(server_context=context, ca_bundle=ca_bundle)
