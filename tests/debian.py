"""A system binary the tests need, from Debian's packages: found, or installed when missing and root (as CI is),
saying so first, or else the test is skipped with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest


def debian_binary(names: tuple[str, ...], package: str, needed_for: str) -> str:
    found = next((path for path in map(shutil.which, names) if path), None)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        # straight to the terminal: pytest captures the test's own output, and an install takes a while
        print(f"tests: installing Debian's {package} (apt-get) for {needed_for}", file=sys.__stderr__, flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True, timeout=900)
        found = next((path for path in map(shutil.which, names) if path), None)
    if found is None:
        pytest.skip(f"{names[0]} is not installed and cannot be (not root, or no apt-get): {needed_for} skipped")
    return found
