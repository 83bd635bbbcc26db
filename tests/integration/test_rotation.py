"""Rotations without restarts (failures-stay-local row 10): a CA bundle rotated under a running gateway."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import trustme

from gateway.app import create_app
from gateway.config import load_settings
from tests.clock import ManualClock


async def test_a_rotated_ca_bundle_takes_effect_without_a_restart(aiohttp_client, gateway_env, simulator_tls, tmp_path):
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))  # a CA that did not sign the simulator's certificate
    clock = ManualClock(time.monotonic())
    gateway = await aiohttp_client(
        create_app(load_settings({**gateway_env, "BAW_CA_BUNDLE": str(bundle)}), clock=clock)
    )
    refused = await gateway.get("/baw/process-status?process_id=23972")
    assert refused.status == 503 and "TLS certificate" in (await refused.json())["error"]["message"]
    shutil.copyfile(simulator_tls.ca_bundle, bundle)  # the operator fixes the secret; the kubelet updates the file
    clock.now += 5
    deadline = time.monotonic() + 10  # the token renewal retries on its own backoff (1, 2, 4 s)
    while (fixed := await gateway.get("/baw/process-status?process_id=23972")).status != 200:
        assert time.monotonic() < deadline, await fixed.text()
        await asyncio.sleep(0.2)


async def test_a_broken_rotation_keeps_the_bundle_loaded_before(aiohttp_client, gateway_env, tmp_path: Path):
    bundle = tmp_path / "ca.pem"
    shutil.copyfile(gateway_env["BAW_CA_BUNDLE"], bundle)
    clock = ManualClock(time.monotonic())
    gateway = await aiohttp_client(
        create_app(load_settings({**gateway_env, "BAW_CA_BUNDLE": str(bundle)}), clock=clock)
    )
    bundle.write_text("not a certificate\n")
    clock.now += 5
    assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
