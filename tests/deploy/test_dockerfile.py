"""The Dockerfiles: hadolint accepts them, and the service image has the shape issue 4 asks for."""

from __future__ import annotations

import fnmatch
import re

import pytest

from tests.deploy.conftest import ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"


def instructions(path=DOCKERFILE) -> list[tuple[str, str]]:  # noqa: ANN001
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


@pytest.mark.parametrize(
    "path", ["Dockerfile", "loadtest/Dockerfile", "scripts/prometheus-standin/Dockerfile"]
)
def test_hadolint_accepts_the_dockerfile(path: str) -> None:
    result = run(tool("hadolint"), "--failure-threshold", "info", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_stages_on_the_official_slim_python_image() -> None:
    bases = [args.split()[0] for op, args in instructions() if op == "FROM"]
    assert bases == ["python:3.11-slim", "python:3.11-slim"]
    copies = [args for op, args in final_stage() if op == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"], "the runtime stage takes the venv only"


def test_the_runtime_runs_unprivileged_listens_everywhere_and_checks_readyz() -> None:
    stage = final_stage()
    (user,) = [args for op, args in stage if op == "USER"]
    assert user.split(":")[0] not in {"0", "root"}
    env = " ".join(args for op, args in stage if op == "ENV")
    assert "SENTIMENT_HOST=0.0.0.0" in env
    assert ("EXPOSE", "8000") in stage
    (check,) = [args for op, args in stage if op == "HEALTHCHECK"]
    assert "/readyz" in check
    assert [args for op, args in stage if op == "ENTRYPOINT"] == ['["sentiment-serve"]']


def test_cpu_torch_by_default_and_no_buildkit_features() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert "--mount" not in text and "<<" not in text, "the classic builder must build it"


def test_dockerignore_lets_in_everything_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the context is an allowlist"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    sources = [
        source
        for op, args in instructions()
        if op == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    sources = [source.rstrip("/") for source in sources]
    for source in sources:
        assert any(fnmatch.fnmatch(a, source) for a in allowed), f"{source} is kept out"
    for kept_out in [".git", ".venv", "data", "runs", "artifacts", "reports", "tests"]:
        assert kept_out not in allowed
