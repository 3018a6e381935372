"""What both command-line tools promise before any command runs: --version, a --help that shows
the defaults that apply, and both answered without importing torch. The import checks run in a
fresh interpreter, where nothing else has imported torch first."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from model.config import ModelConfig, TextConfig
from training.cli import evaluate_main, train_main
from training.config import DEVICES, PRECISIONS, PretrainConfig, SpanConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "spacy", "numpy"}


def loaded_after(code: str) -> set[str]:
    """The modules in sys.modules after running `code` in a fresh interpreter."""
    script = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(out.stdout.splitlines()[-1].split())


def answered(main: str, flag: str) -> str:
    """Code that runs `training.cli.<main>([flag])`, its output and its exit swallowed."""
    return (
        "import contextlib, io\n"
        f"from training.cli import {main}\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        {main}([{flag!r}])\n"
        "    except SystemExit:\n"
        "        pass\n"
    )


@pytest.fixture(scope="module")
def model_config_is_light() -> bool:
    tops = {name.split(".")[0] for name in loaded_after("import model.config")}
    return not tops & HEAVY


@pytest.mark.parametrize("main", ["train_main", "evaluate_main"])
@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_torch(
    main: str, flag: str, model_config_is_light: bool
) -> None:
    if not model_config_is_light:
        pytest.skip("model/__init__.py imports torch with model.config, whose defaults help shows")
    tops = {name.split(".")[0] for name in loaded_after(answered(main, flag))}
    assert "training" in tops and not tops & HEAVY


def test_evaluation_does_not_import_the_train_command() -> None:
    loaded = loaded_after("import training.evaluate")
    assert "training.evaluate" in loaded and "training.cli" not in loaded


@pytest.mark.parametrize(
    ("main", "prog"), [(train_main, "sentiment-train"), (evaluate_main, "sentiment-evaluate")]
)
def test_version(
    main: Callable[[list[str]], int], prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"{prog} {metadata.version('sentiment-service')}\n"


def help_of(text: str, flag: str) -> str:
    """The help of `flag` in --help's text (after the usage line's mention of it)."""
    return re.split(r" --[a-z][a-z-]* [A-Z{]", text.rsplit(flag, 1)[1], maxsplit=1)[0]


def help_text(main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main(["--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_the_defaults_that_apply(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(train_main, capsys)
    network = ModelConfig(vocab_size=2)
    for flag, default in [
        ("--epochs EPOCHS", TrainConfig().epochs),
        ("--precision {auto,fp32,bf16,fp16}", TrainConfig().precision),
        ("--span-max-tokens SPAN_MAX_TOKENS", SpanConfig().max_tokens),
        ("--pretrain-samples PRETRAIN_SAMPLES", PretrainConfig().samples),
        ("--hidden-size HIDDEN_SIZE", network.hidden_size),  # a flag left out: ModelConfig's
        ("--pooling {max,mean,maxmean,last}", network.pooling),
        ("--max-tokens MAX_TOKENS", TextConfig().max_tokens),
    ]:
        assert f"(default: {default})" in help_of(text, flag), flag
    for flag, says in [("--glove GLOVE", "glove.6B.50d"), ("--split-seed SPLIT_SEED", "--seed")]:
        assert says in help_of(text, flag), flag
    assert "(default: None)" not in text and "(default: )" not in text
    evaluate = help_text(evaluate_main, capsys)
    assert "(default: test)" in evaluate and "(default: None)" not in evaluate


def test_the_choices_are_model_runtimes() -> None:
    from model import runtime

    assert runtime.DEVICES == DEVICES and runtime.DTYPES == PRECISIONS
