"""`baw-gateway serve` as a process: SIGTERM drains without losing a request."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp


async def test_sigterm_lets_every_in_flight_lookup_finish_and_exits_0(gateway_process, simulator) -> None:
    process, base, log = await gateway_process(GATEWAY_DRAIN_S="1", GATEWAY_SHUTDOWN_TIMEOUT_S="10")
    simulator.state.faults.delay_s = 2.0  # slow BAW: lookups are still running when SIGTERM arrives
    async with aiohttp.ClientSession() as http:

        async def lookup() -> int:
            async with http.get(f"{base}/baw/process-status?process_id=23972") as response:
                await response.read()
                return response.status

        in_flight = [asyncio.create_task(lookup()) for _ in range(10)]
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with http.get(f"{base}/readyz") as response:  # still serving while draining, but not ready
            assert response.status == 503
            assert (await response.json())["checks"]["draining"]["draining"] is True
        assert await asyncio.gather(*in_flight) == [200] * 10
    assert await asyncio.wait_for(process.wait(), 20) == 0, log.read_text()
    assert "draining" in log.read_text() and "stopped" in log.read_text()


async def test_a_second_signal_ends_the_process_at_once(gateway_process) -> None:
    process, _, log = await gateway_process(GATEWAY_DRAIN_S="60")
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    returncode = await asyncio.wait_for(process.wait(), 5)
    assert time.monotonic() - started < 5
    assert returncode == 128 + signal.SIGINT, log.read_text()
