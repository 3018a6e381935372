"""Virtual adversarial training on spans of unlabeled texts, and training an exported model
further (--init): the loss itself, then both through the command line on synthetic data."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from model import SentimentModel
from model.config import ModelConfig
from model.network import SentimentLSTM
from tests import synthetic
from tests.training.test_pretrain import FAST, write_unsup_tar
from training.adversarial import virtual_adversarial_loss
from training.cli import train_main

CPU = torch.device("cpu")


def sure_model() -> SentimentLSTM:
    """A tiny network without dropout whose scores are far from 0.5, so pushes move them."""
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=20,
        embedding_dim=6,
        hidden_size=8,
        dropout=0.0,
        embedding_dropout=0.0,
        head_dropout=0.0,
    )
    model = SentimentLSTM(config)
    with torch.no_grad():
        model.head.weight.mul_(20)
    return model.train()


def entropy(model: SentimentLSTM, ids: torch.Tensor, lengths: torch.Tensor) -> float:
    with torch.no_grad():
        p = torch.sigmoid(model(ids, lengths))
    return float(nn.functional.binary_cross_entropy(p, p))


def test_vat_loss_is_the_scores_move_under_the_push() -> None:
    model = sure_model()
    ids = torch.tensor([[2, 3, 4, 5], [6, 7, 0, 0], [8, 9, 10, 0]])
    lengths = torch.tensor([4, 2, 3])
    base = entropy(model, ids, lengths)  # the loss's floor: cross-entropy of a score with itself
    torch.manual_seed(1)
    tiny = float(virtual_adversarial_loss(model, ids, lengths, 1e-4, CPU, "fp32").detach())
    torch.manual_seed(1)
    loss = virtual_adversarial_loss(model, ids, lengths, 1.0, CPU, "fp32")
    assert tiny == pytest.approx(base, abs=1e-4)
    assert float(loss.detach()) > base + 1e-3
    assert model.training  # the search ran without dropout; training mode is back
    loss.backward()
    assert model.embedding.weight.grad is not None
    assert model.head.weight.grad is not None and float(model.head.weight.grad.abs().sum()) > 0
    # padding is never pushed, so a padded batch's loss is its texts' own
    torch.manual_seed(1)
    alone = virtual_adversarial_loss(model, ids[1:2, :2], lengths[1:2], 1.0, CPU, "fp32")
    assert float(alone.detach()) > entropy(model, ids[1:2, :2], lengths[1:2])


def test_vat_pushes_in_a_direction_worse_than_a_random_one() -> None:
    """The search's one power-iteration step finds a push that moves scores more than a random
    push of the same size does."""
    model = sure_model()
    torch.manual_seed(2)
    ids = torch.randint(1, 20, (64, 6))
    lengths = torch.full((64,), 6)
    losses = []
    for seed in range(3):
        torch.manual_seed(seed)
        loss = virtual_adversarial_loss(model, ids, lengths, 0.5, CPU, "fp32")
        losses.append(float(loss.detach()))
    with torch.no_grad():
        embedded = model.embedding(ids)
        clean = torch.sigmoid(model.classify(embedded, lengths))
        noise = torch.randn_like(embedded)
        norms = noise.flatten(1).norm(dim=1).view(-1, 1, 1)
        push = 0.5 * embedded.norm(dim=2).mean() * noise / norms
        moved = model.classify(embedded + push, lengths)
        random_loss = float(nn.functional.binary_cross_entropy_with_logits(moved, clean))
    assert min(losses) > random_loss


def test_init_trains_an_exported_model_further_with_vat(tmp_path: Path, glove_file: Path) -> None:
    test_rows = synthetic.reviews(40, seed=2)
    data = synthetic.write_aclimdb_tar(
        tmp_path / "imdb.tar.gz", {"train": synthetic.reviews(120, seed=1), "test": test_rows}
    )
    first = tmp_path / "first"
    assert (
        train_main(["--data", str(data), "--out", str(first), "--glove", str(glove_file), *FAST])
        == 0
    )
    before = json.loads((first / "metadata.json").read_text())
    assert before["metrics"]["validation"]["accuracy"] >= 0.9

    unlabeled = [t for t, _ in synthetic.reviews(60, seed=5)] + [test_rows[3][0]]
    unsup = write_unsup_tar(tmp_path / "unsup.tar.gz", unlabeled)
    again = tmp_path / "again"
    flags = ["--max-tokens", "64", "--device", "cpu", "--batch-size", "16"]  # no network flags
    code = train_main(
        ["--data", str(data), "--init", str(first), "--unlabeled", str(unsup), "--vat", "0.3"]
        + ["--out", str(again), *flags, "--epochs", "1", "--lr", "1e-9"]
    )
    assert code == 0
    meta = json.loads((again / "metadata.json").read_text())
    assert meta["training"]["init_from"] == before["model_version"]
    assert meta["training_config"]["vat"] == 0.3
    assert meta["model_config"] == before["model_config"]
    assert meta["data"]["splits"]["unlabeled"]["dropped_as_copies_of"]["test"] == 1
    # at a learning rate of 1e-9 the weights are the first model's: so are its decisions
    assert meta["metrics"]["validation"]["accuracy"] == before["metrics"]["validation"]["accuracy"]
    texts = [t for t, _ in test_rows]
    old, new = SentimentModel.load(first), SentimentModel.load(again)
    assert [p >= 0.5 for p in old.predict(texts)] == [p >= 0.5 for p in new.predict(texts)]


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--vat", "0.3"], "--unlabeled"),
        (["--init", "A", "--pretrained", "B"], "pick one"),
        (["--init", "A", "--unlabeled", "U"], "pick one"),
        (["--init", "A", "--hidden-size", "8"], "network flags"),
        (["--vat", "-1", "--unlabeled", "U"], "vat must be at least 0"),
    ],
)
def test_bad_combinations_are_refused(
    tmp_path: Path, flags: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = train_main(["--data", str(tmp_path), "--out", str(tmp_path / "x"), *flags])
    assert code == 2
    assert says in capsys.readouterr().err


def test_init_refuses_another_text_pipeline(tmp_path: Path, glove_file: Path) -> None:
    data = synthetic.write_aclimdb_tar(
        tmp_path / "imdb.tar.gz", {"train": synthetic.reviews(60, seed=1)}
    )
    first = tmp_path / "first"
    assert (
        train_main(["--data", str(data), "--out", str(first), "--glove", str(glove_file), *FAST])
        == 0
    )
    code = train_main(
        ["--data", str(data), "--init", str(first), "--out", str(tmp_path / "x")]
        + ["--max-tokens", "32", "--epochs", "1", "--device", "cpu"]
    )
    assert code == 2
