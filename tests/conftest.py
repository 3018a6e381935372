"""Shared fixtures: a tiny GloVe file and tiny real artifacts, trained by the project's own code.

Tests marked `serial` must not run beside another test: they start servers and load them, time
what they do, or share the one local Ray. In tests/e2e and tests/bulk every test is one unless it
or its module is marked `parallel` (it only asks a server questions, or scores files in its own
process, and times nothing); elsewhere the mark is written on the test, and a `serial` written on
a test holds whatever its module says. The README's command runs the tests not marked `serial`
two at a time (pytest-xdist), then these one by one; plain `pytest` runs everything one by one.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
import torch

from model.config import TextConfig
from tests import synthetic
from training.config import RunOptions, TrainConfig
from training.run import train

TESTS = Path(__file__).parent

# Folders of tests/ whose tests are `serial` unless marked `parallel` (see above).
SERIAL_FOLDERS = {"e2e", "bulk"}

# Two processes each running two OpenMP threads on a 2-core machine thrash (40x slower seen here):
# the tests run torch on one thread, and the servers they start get SENTIMENT_TORCH_THREADS=1.
torch.set_num_threads(1)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0]
        if folder in SERIAL_FOLDERS and not item.get_closest_marker("parallel"):
            item.add_marker(pytest.mark.serial)


TINY_NETWORK = {"hidden_size": 16, "embedding_dropout": 0.0, "dropout": 0.0, "head_dropout": 0.1}
TINY_TRAINING = TrainConfig(
    epochs=12,
    batch_size=16,
    lr=1e-2,
    patience=12,
    vocab_size=500,
    min_freq=1,
    val_fraction=0.2,
    seed=3,
    device="cpu",
)


def write_glove(path: Path, words: list[str], dim: int = 8, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = [" ".join([w] + [f"{rng.uniform(-1, 1):.4f}" for _ in range(dim)]) for w in words]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def glove_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    words = synthetic.POSITIVE + synthetic.NEGATIVE + synthetic.FILLER + [".", "the", "end"]
    return write_glove(tmp_path_factory.mktemp("glove") / "glove.tiny.8d.txt", words)


def train_tiny(data: Path, out: Path, glove: Path, max_tokens: int = 64, **network: object) -> Path:
    """Train a tiny model on synthetic reviews with the real training code; a few seconds."""
    logging.getLogger("training").setLevel(logging.WARNING)
    opts = RunOptions(sources=[data], out=out, glove=glove, network={**TINY_NETWORK, **network})
    return train(opts, TextConfig(max_tokens=max_tokens), TINY_TRAINING)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    synthetic.write_csv(folder / "train.csv", synthetic.reviews(160, seed=1))
    synthetic.write_csv(folder / "test.csv", synthetic.reviews(60, seed=2))
    return folder


@pytest.fixture(scope="session")
def tiny_artifact(
    tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, glove_file: Path
) -> Path:
    """A real artifact (model.pt, vocab.json, metadata.json) of a tiny trained BiLSTM."""
    return train_tiny(tiny_data, tmp_path_factory.mktemp("artifacts") / "tiny", glove_file)


@pytest.fixture(scope="session")
def serving_artifact(
    tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, glove_file: Path
) -> Path:
    """A tiny artifact that reads up to 1,000 tokens, so long texts cost the server real time."""
    return train_tiny(
        tiny_data,
        tmp_path_factory.mktemp("artifacts") / "serving",
        glove_file,
        max_tokens=1000,
        hidden_size=32,
    )
