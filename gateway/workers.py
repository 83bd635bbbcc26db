"""GATEWAY_WORKERS=N: N gateway processes on one port, under one supervisor (this module).

One process's event loop uses one core. Workers multiply what a pod answers per second where it has the cores;
what one request costs stays what it is. Each worker is `python -m gateway serve` with GATEWAY_WORKER set: a
fresh interpreter that binds the port with SO_REUSEPORT, so the kernel spreads new connections over the workers.
What they must agree on (rate limits, MCP sessions, the façade's sign-ins) is in Redis, as between replicas
(config.py requires GATEWAY_REDIS_URL). The supervisor:

- gives them one directory for Prometheus' multiprocess files, so a scrape reaching any worker reports all;
- relays their output in whole lines: two workers' JSON lines never interleave within a line;
- forwards SIGTERM and SIGINT (each worker drains as a single process does) and exits when all have;
- replaces a worker that dies, unless one exits with the configuration status (the port is taken, say: another
  would fail alike) or workers die faster than RESTARTS_PER_MINUTE; then it stops them all and exits non-zero,
  so Kubernetes restarts the pod instead of a supervisor restarting workers forever.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
import tempfile
import time
from collections import deque
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Iterator

from prometheus_client.multiprocess import mark_process_dead

from gateway.config import EXIT_CONFIG, INHERITED_SECRET, SECRET_NAMES
from gateway.metrics import WORKERS_DIRECTORY

log = logging.getLogger("gateway")

WORKER_INDEX = "GATEWAY_WORKER"  # set in each worker's environment: its index, from 0
SUPERVISOR = "GATEWAY_SUPERVISOR_PID"
RESTARTS_PER_MINUTE = 5
EXIT_CRASHING = 1
# A worker's output is relayed in whole lines; a "line" longer than this is passed on in pieces (bounded memory).
_LINE_LIMIT = 1 << 20
_PIPE_SIZE = 1 << 20
RELAY_PAUSE_S = 0.01
_PR_SET_PDEATHSIG = 1


def is_worker() -> bool:
    return WORKER_INDEX in os.environ


def follow_supervisor() -> None:
    """In a worker: end when the supervisor does, even when it is killed outright (SIGKILL, OOM) and cannot
    forward anything. Linux sends SIGTERM on its death (the worker then drains as usual); elsewhere, or if it
    died before this ran, the check below ends the worker at once."""
    try:
        import ctypes  # noqa: PLC0415 - Linux only, and only in workers

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.debug("no parent-death signal here: a killed supervisor leaves its workers to be stopped by hand")
    if str(os.getppid()) != os.environ.get(SUPERVISOR):
        raise SystemExit("baw-gateway: the worker's supervisor is gone")


def supervise(count: int) -> int:
    """Run `count` workers until signalled; the exit status is 0 after a clean stop."""
    with ExitStack() as stack:
        try:
            directory = stack.enter_context(_metrics_directory())
        except OSError as exc:  # the operator's PROMETHEUS_MULTIPROC_DIR: a file, or not writable
            print(f"baw-gateway: {WORKERS_DIRECTORY} cannot be used: {exc.strerror} ({exc.filename})", file=sys.stderr)
            return EXIT_CONFIG
        return asyncio.run(Supervisor(count, directory).run())


@contextmanager
def _metrics_directory() -> Iterator[str]:
    """PROMETHEUS_MULTIPROC_DIR when the operator gives one (made if missing, emptied: a previous run's values
    would count again), else a directory of our own, removed at exit."""
    given = os.environ.get(WORKERS_DIRECTORY)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="baw-gateway-metrics-") as directory:
        yield directory


WORKER_COMMAND = (sys.executable, "-m", "gateway", "serve")


class Supervisor:
    def __init__(self, count: int, metrics_directory: str, command: tuple[str, ...] = WORKER_COMMAND) -> None:
        self._count = count
        self._command = command
        self._metrics_directory = metrics_directory
        self._workers: dict[int, asyncio.subprocess.Process] = {}
        self._deaths: deque[float] = deque(maxlen=RESTARTS_PER_MINUTE)
        self._stopping = False
        self._status = 0

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._forward, sig)
        log.info("supervising %d gateway workers", self._count)
        await asyncio.gather(*(self._keep(index) for index in range(self._count)))
        log.info("every worker has stopped")
        return self._status

    def _forward(self, sig: int) -> None:
        """Pass the signal on; a second one reaches the workers too, and they exit at once."""
        self._stopping = True
        for worker in self._workers.values():
            _signal(worker, sig)

    def _give_up(self, status: int) -> None:
        if not self._stopping:
            self._status = status
            self._forward(signal.SIGTERM)

    async def _keep(self, index: int) -> None:
        """Run worker `index` until the supervisor stops, replacing it when it dies."""
        while not self._stopping:
            try:
                worker, relayed = await self._start(index)
            except OSError as exc:  # no process could be made (memory, process limits)
                log.error("worker %d could not be started (%s): stopping every worker", index, exc)
                self._give_up(EXIT_CRASHING)
                return
            self._workers[index] = worker
            if self._stopping:  # signalled while it was being started: it has not been told yet
                _signal(worker, signal.SIGTERM)
            status = await worker.wait()
            await relayed  # everything it wrote, passed on
            mark_process_dead(worker.pid, self._metrics_directory)  # its live gauges no longer count
            if self._stopping:
                return
            if status == EXIT_CONFIG:
                log.error("worker %d exited with the configuration status: stopping every worker", index)
                self._give_up(EXIT_CONFIG)
                return
            now = time.monotonic()
            if len(self._deaths) == self._deaths.maxlen and now - self._deaths[0] < 60:
                log.error("%d workers died within a minute: stopping every worker", len(self._deaths) + 1)
                self._give_up(EXIT_CRASHING)
                return
            self._deaths.append(now)
            log.warning("worker %d (pid %d) exited with status %s: starting another", index, worker.pid, status)

    async def _start(self, index: int) -> tuple[asyncio.subprocess.Process, asyncio.Future[list[None]]]:
        environment = {
            **os.environ,
            WORKER_INDEX: str(index),
            SUPERVISOR: str(os.getpid()),
            WORKERS_DIRECTORY: self._metrics_directory,
        }
        (out_read, out_write), (err_read, err_write) = _pipe(), _pipe()
        try:
            worker = await asyncio.create_subprocess_exec(
                *self._command,
                env=environment,
                stdout=out_write,
                stderr=err_write,
                pass_fds=_inherited_secrets(environment),
                start_new_session=True,  # a terminal's Ctrl-C reaches the supervisor alone, which forwards it once
            )
        except BaseException:
            for descriptor in (out_read, err_read):
                os.close(descriptor)
            raise
        finally:
            os.close(out_write)  # the worker holds them now: its exit is our end of file
            os.close(err_write)
        relayed = asyncio.gather(_relay(out_read, sys.stdout.buffer), _relay(err_read, sys.stderr.buffer))
        return worker, relayed


def _signal(worker: asyncio.subprocess.Process, sig: int) -> None:
    if worker.returncode is None:
        with suppress(ProcessLookupError):  # exited since; its wait() reports it
            worker.send_signal(sig)


def _inherited_secrets(environment: dict[str, str]) -> tuple[int, ...]:
    """The memfd descriptors holding secrets that were given inline (see __main__): workers read them too."""
    paths = (environment.get(f"{name}_FILE", "") for name in SECRET_NAMES)
    return tuple(int(path.removeprefix(INHERITED_SECRET)) for path in paths if path.startswith(INHERITED_SECRET))


def _pipe() -> tuple[int, int]:
    """A pipe for a worker's output: our end non-blocking, and as large as Linux lets us make it, so that a
    worker's write never waits for the supervisor's next look."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    with suppress(OSError, AttributeError):  # (F_SETPIPE_SZ: Linux only; the limit is /proc/sys/fs/pipe-max-size)
        fcntl.fcntl(read, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    return read, write


async def _relay(descriptor: int, out: BinaryIO) -> None:
    """Copy a worker's output to ours in whole lines: each write ends at a line's end, and nothing else writes
    between (one thread). The pipe is looked at every RELAY_PAUSE_S rather than whenever the worker writes: a
    worker writes once per event-loop turn, and relaying each write cost the supervisor 7 µs of CPU per request
    at 15,000 requests a second (a tenth of the pod's CPU); lines are at most that much later."""
    pending = b""
    try:
        while True:
            try:
                chunk = os.read(descriptor, _PIPE_SIZE)
            except BlockingIOError:  # nothing yet
                await asyncio.sleep(RELAY_PAUSE_S)
                continue
            if not chunk:  # the worker has exited (and every process it shared the pipe with)
                break
            pending += chunk
            end = pending.rfind(b"\n") + 1
            if end == 0:
                if len(pending) < _LINE_LIMIT:
                    continue
                end = len(pending)
            out.write(pending[:end])
            out.flush()
            pending = pending[end:]
        if pending:
            out.write(pending)
            out.flush()
    finally:
        os.close(descriptor)
