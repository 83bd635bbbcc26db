"""A value made from a file and made again when the file changes: a rotated Kubernetes Secret or ConfigMap takes
effect without a restart. The one file watcher: the CA bundles (tls.RotatingTrust) and the inbound keys
(web/front/access.ApiKeys) are each a WatchedFile.

The file is looked at (one stat) no more than every `check_every_s`, on use: no task, no inotify, and nothing to
stop. A version that cannot be used keeps the value made before, and is said once; a file that cannot be read is
tried again at the next look (a Secret's files are swapped by a symlink, and a look may fall between)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Stamp = tuple[int, int, int]


class Unusable(Exception):
    """What `make` raises for a file that was read but cannot be used; its text says why."""


class WatchedFile(Generic[T]):
    def __init__(
        self,
        path: Path | None,
        make: Callable[[], T],
        what: str,
        *,
        check_every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`make` builds the value from the file (or from what it stands for when `path` is None, once); it raises
        OSError when the file cannot be read and Unusable when what it holds cannot be used."""
        self._path, self._make, self._what = path, make, what
        self._check_every_s, self._clock = check_every_s, clock
        self._stamp = self._stat()
        self._value = make()  # at start a problem is the operator's to fix now: it is raised, not kept quiet
        self._checked = clock()
        self._refused: Stamp | None = None

    @property
    def value(self) -> T:
        if self._path is None or self._clock() - self._checked < self._check_every_s:
            return self._value
        self._checked = self._clock()
        stamp = self._stat()
        if stamp is None or stamp in (self._stamp, self._refused):
            return self._value
        try:
            self._value = self._make()
        except OSError as exc:
            log.warning("%s changed but cannot be read (%s): trying again shortly", self._what, exc.strerror or exc)
            return self._value
        except Unusable as exc:
            log.warning("%s changed but cannot be used (%s): keeping the one loaded before", self._what, exc)
            self._refused = stamp
            return self._value
        self._stamp = stamp
        log.info("%s changed: loaded again", self._what)
        return self._value

    def _stat(self) -> Stamp | None:
        if self._path is None:
            return None
        try:
            info = self._path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)
