"""The Dockerfile lints clean, and its install steps work: no Docker engine runs here, so the test performs
the same wheel build and offline install into a fresh virtual environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BIN = Path(sys.executable).parent


def test_dockerfile_lints_clean_and_keeps_its_promises() -> None:
    hadolint = str(BIN / "hadolint") if (BIN / "hadolint").exists() else "hadolint"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(bases) == 2 and all(re.match(r"python:3\.11\.\d+-slim", base) for base in bases)
    assert re.search(r"^USER \d+:\d+$", text, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["baw-gateway", "serve"]' in text and "EXPOSE 8080" in text


def test_the_image_install_steps_work_in_a_fresh_venv(tmp_path: Path) -> None:
    # The build context the Dockerfile copies (and .dockerignore admits): nothing else.
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    source = tmp_path / "src"
    source.mkdir()
    for item in " ".join(copied).split():
        path = ROOT / item
        if path.is_dir():
            shutil.copytree(path, source / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / item)
    wheels = tmp_path / "wheels"
    # Stage 1: `pip wheel --wheel-dir /wheels ".[<the image's extras>]"`
    extras = re.search(r'pip wheel --wheel-dir /wheels "\.\[([a-z,]+)\]"', DOCKERFILE.read_text())
    assert extras is not None and set(extras[1].split(",")) == {"tracing", "uvloop", "hiredis"}
    # Offline: what PyPI would give, `make test` fetched before pytest started (no test reaches a registry).
    fetched = ROOT / ".venv" / "image-wheels"
    if not (fetched / ".fetched").exists():
        pytest.skip("the image's wheels are fetched by `make test` before pytest starts: run it through make")
    assert f"'.[{extras[1]}]'" in (ROOT / "Makefile").read_text()  # fetched for the extras the image installs
    offline = ["--no-index", "--find-links", str(fetched)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            *offline,
            "--wheel-dir",
            str(wheels),
            f"{source}[{extras[1]}]",
        ],
        check=True,
        cwd=source,
    )
    # Stage 2: `pip install --no-index /wheels/*.whl` into a clean interpreter.
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", *map(str, wheels.glob("*.whl"))], check=True
    )
    env = {
        "PATH": f"{target / 'bin'}:{os.environ['PATH']}",
        "BAW_BASE_URL": "https://baw.example.com",
        "BAW_AUTH": "basic",
        "BAW_USERNAME": "u",
        "BAW_PASSWORD": "p",
    }
    checked = subprocess.run(
        [str(target / "bin" / "baw-gateway"), "check-config"], env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    shipped = subprocess.run(
        [
            str(python),
            "-c",
            "from gateway.web.documents import plugin; from redis.utils import HIREDIS_AVAILABLE; "
            "print((plugin.STATIC / 'logo.png').stat().st_size, "
            "(plugin.SWAGGER_UI / 'swagger-ui-bundle.js').exists(), HIREDIS_AVAILABLE)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert int(shipped[0]) > 0 and shipped[1] == "True"
    assert shipped[2] == "True"  # redis-py reads Redis's replies with hiredis in the image
    assert not any(wheel.name.startswith(("pytest", "trustme")) for wheel in wheels.glob("*.whl"))
