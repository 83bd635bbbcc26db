"""The system binaries some tests drive, from Debian's packages. `make test` installs the missing ones before pytest
starts (`python tests/debian.py install`, as root, as CI is, saying so first); a test only finds its binary, or is
skipped with the reason. No test installs anything while it runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# package: the binaries it provides (the first found is used)
PACKAGES = {
    "redis-server": ("redis-server",),
    "chromium": ("chromium", "chromium-browser"),
    "prometheus": ("promtool",),
}
# the bench harness's (`make bench-smoke`, `make bench`)
BENCH_PACKAGES = {"wrk": ("wrk",), "nginx": ("nginx",), "redis-server": ("redis-server",)}


def _found(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def debian_binary(names: tuple[str, ...], package: str, needed_for: str) -> str:
    import pytest  # noqa: PLC0415 - the install command below runs before pytest is there to import

    found = _found(names)
    if found is None:
        pytest.skip(
            f"{names[0]} is not installed (Debian's {package}; `make test` installs it when run as root): "
            f"{needed_for} skipped"
        )
    return found


def install(packages: dict[str, tuple[str, ...]]) -> int:
    missing = [package for package, names in packages.items() if _found(names) is None]
    if not missing:
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"== not root (or no apt-get): the tests that need {', '.join(missing)} will skip, saying why")
        return 0
    print(f"== installing Debian's {', '.join(missing)} (apt-get) for the tests that drive them", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=600)
    result = subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, check=False, timeout=1800)
    if result.returncode != 0:
        print("== apt-get failed: the tests that need them will skip, saying why")
    return 0


if __name__ == "__main__":
    which = BENCH_PACKAGES if sys.argv[1:] == ["install-bench"] else PACKAGES
    sys.exit(install(which))
