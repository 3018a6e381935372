"""sentiment-serve: its help and version, fast and without torch, and what it refuses before
any worker starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import uvicorn

from service.cli import main
from tests.precision import pretend_cpu


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("uvicorn was started")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_explicit_bf16_is_refused_before_a_worker_starts(
    tiny_artifact: Path,
    workers: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pretend_cpu(monkeypatch, native_bf16=False)
    monkeypatch.setattr(uvicorn, "run", _never)
    monkeypatch.setattr(uvicorn.Server, "run", _never)
    args = ["--model", str(tiny_artifact), "--dtype", "bf16", "--workers", workers]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "SENTIMENT_DTYPE / --dtype" in err and "no native bf16; use auto or fp32" in err


def test_fp16_and_a_missing_gpu_are_refused_too(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(uvicorn.Server, "run", _never)
    assert main(["--model", str(tiny_artifact), "--device", "cpu", "--dtype", "fp16"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--model", str(tiny_artifact), "--device", "cuda"]) == 2
    assert "SENTIMENT_DEVICE / --device" in capsys.readouterr().err


def test_help_shows_real_defaults_and_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "from service.cli import parser\n"
        "text = parser().format_help()\n"
        "print('torch' in sys.modules)\n"
        "print(text)"
    )
    wide = {**os.environ, "COLUMNS": "300"}  # one line per flag, so phrases are not wrapped
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=wide
    ).stdout
    loaded, text = out.split("\n", 1)
    assert loaded == "False"
    assert "(default: None" not in text
    assert "--port N" in text and "(default: 8000; env SENTIMENT_PORT)" in text
    assert "--dtype {auto,fp32,bf16,fp16}" in text and "default: the bundled model" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("sentiment-serve ")


def test_a_port_in_use_is_refused_before_the_model_loads(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(uvicorn.Server, "run", _never)
    monkeypatch.setattr("service.cli.check_artifact", _never)  # the port is checked first
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["--model", str(tiny_artifact), "--port", port]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} is in use" in err and "SENTIMENT_PORT / --port" in err
