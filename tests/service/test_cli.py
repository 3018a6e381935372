"""sentiment-serve refuses what it cannot run before any worker starts."""

from __future__ import annotations

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
