"""Secret: a value given inline or as a file, never shown. A leaf: it imports nothing of the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Secret:
    """A secret given inline or as a file. repr() never shows the value."""

    name: str
    value: str | None = field(default=None, repr=False)
    path: Path | None = None

    def read(self) -> str:
        """The current value; a file is read again on every call (rotation without restart)."""
        if self.path is not None:
            return self.path.read_text(encoding="utf-8").strip()
        return self.value or ""

    def describe(self) -> str:
        if self.path is not None:
            return f"*** (from file {self.path})"
        if "://" in (self.value or ""):  # a URL that may hold a password: show where it points, not the password
            scheme, _, rest = (self.value or "").partition("://")
            credentials, at, location = rest.rpartition("@")
            return f"{scheme}://{'***@' if at else ''}{location}"
        return "***"
