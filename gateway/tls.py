"""The one SSLContext for BAW and its token endpoints. Verification is always on: there is no switch."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Trust the company's CA bundle when given, else the system trust store.

    Raises ssl.SSLError / OSError when the bundle is unreadable or holds no certificate; config.py turns
    that into a configuration problem at start-up rather than a failure on the first lookup.
    """
    context = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
    if ca_bundle is not None:
        # create_default_context(cafile=...) would also load the system store; a company bundle should be
        # the only trust anchor for BAW, so nothing else can vouch for it.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cafile=str(ca_bundle))
        if not context.get_ca_certs():
            raise ssl.SSLError(f"no CA certificate found in {ca_bundle}")
    return context
