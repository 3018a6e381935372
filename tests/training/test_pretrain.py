"""The pretraining stage: sampler, loss, resume, and the whole recipe on tiny synthetic data."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from model import SentimentModel
from model.config import ModelConfig
from model.network import SentimentLSTM
from tests import synthetic
from training.checkpoint import ENCODER
from training.cli import train_main
from training.config import PretrainConfig
from training.errors import UserError
from training.language_model import LogUniformSampler, sampled_softmax_loss
from training.pretrain import load_encoder, pretrain

FAST = ["--hidden-size", "16", "--min-freq", "1", "--max-tokens", "64", "--device", "cpu"]
FAST += ["--epochs", "20", "--patience", "20", "--batch-size", "16", "--lr", "0.01"]
FAST += ["--embedding-dropout", "0.05", "--dropout", "0", "--head-dropout", "0.1"]
FAST += ["--pretrain-epochs", "2", "--pretrain-batch-size", "16", "--pretrain-samples", "16"]


def test_sampler_draws_frequent_words_most() -> None:
    sampler = LogUniformSampler(1000)
    drawn = sampler.draw(20_000, torch.Generator().manual_seed(0))
    assert int(drawn.min()) >= 1 and int(drawn.max()) <= 999
    counts = torch.bincount(drawn, minlength=1000).double() / 20_000
    expected = torch.exp(sampler.log_expected(torch.arange(1, 1000), 1)).double()
    assert abs(float(expected.sum()) - 1.0) < 1e-6
    assert abs(float(counts[1]) - float(expected[0])) < 0.01  # P(1) = log 2 / log 1000 = 0.10
    assert float(counts[1:11].sum()) > float(counts[500:].sum())


def test_sampled_softmax_prefers_the_true_word() -> None:
    torch.manual_seed(0)
    weight, bias = torch.randn(50, 4), torch.zeros(50)
    targets = torch.tensor([3, 7, 11])
    sampler = LogUniformSampler(50)
    negatives = sampler.draw(20, torch.Generator().manual_seed(1))
    right = sampled_softmax_loss(weight[targets] * 5, targets, weight, bias, negatives, sampler)
    wrong = sampled_softmax_loss(-weight[targets] * 5, targets, weight, bias, negatives, sampler)
    assert float(right) < float(wrong)
    # a negative that is the target itself does not count against it
    hit = torch.tensor([3, 3, 3])
    assert torch.isfinite(
        sampled_softmax_loss(weight[targets], targets, weight, bias, hit, sampler)
    )


def corpus(n: int, seed: int) -> list[list[int]]:
    """Texts with structure a language model can learn: runs of 2 3 4 5 6 with noise."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n):
        start = int(rng.integers(0, 5))
        texts.append([2 + (start + i) % 5 if rng.random() > 0.1 else 9 for i in range(20)])
    return texts


def tiny_model() -> SentimentLSTM:
    torch.manual_seed(0)
    return SentimentLSTM(ModelConfig(vocab_size=12, embedding_dim=6, hidden_size=12))


CFG = PretrainConfig(epochs=6, batch_size=8, lr=3e-2, samples=6, device="cpu", precision="fp32")


def test_pretraining_learns_and_saves_the_encoder(tmp_path: Path) -> None:
    model = tiny_model()
    record = pretrain(model, corpus(64, 0), corpus(16, 1), CFG, tmp_path, run_id="r")
    losses = [row["held_out_loss"] for row in record["history"]]
    assert len(losses) == 6 and losses[-1] < losses[0] * 0.7
    fresh = tiny_model()
    assert load_encoder(tmp_path / ENCODER, fresh)["run_id"] == "r"
    for name, value in model.state_dict().items():
        if name.startswith(("embedding.", "encoder.")):
            assert torch.equal(value, fresh.state_dict()[name]), name
    assert model.embedding_dropout.p == 0.25  # the classifier's dropout is back


def test_pretraining_resumes_mid_epoch_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tiny_model()
    pretrain(whole, corpus(64, 0), corpus(16, 1), CFG, tmp_path / "whole", run_id="r")

    cfg = PretrainConfig(**{**CFG.__dict__, "checkpoint_minutes": 0.0})  # save after every step
    steps = {"n": 0}
    real_step = torch.optim.AdamW.step

    def stop_after_ten(self: torch.optim.AdamW, *args: object, **kwargs: object) -> object:
        steps["n"] += 1
        if steps["n"] == 11:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", stop_after_ten)
    with pytest.raises(KeyboardInterrupt):
        pretrain(tiny_model(), corpus(64, 0), corpus(16, 1), cfg, tmp_path / "run", run_id="r")
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    with pytest.raises(UserError, match="--resume"):
        pretrain(tiny_model(), corpus(64, 0), corpus(16, 1), cfg, tmp_path / "run", run_id="r")
    resumed = tiny_model()  # a fresh process: nothing survives but the checkpoint
    pretrain(resumed, corpus(64, 0), corpus(16, 1), cfg, tmp_path / "run", "r", resume=True)
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_joint_layout_cannot_be_pretrained(tmp_path: Path) -> None:
    model = SentimentLSTM(
        ModelConfig(vocab_size=12, embedding_dim=6, hidden_size=8, stacking="joint")
    )
    with pytest.raises(UserError, match="separate"):
        pretrain(model, corpus(8, 0), [], CFG, tmp_path, run_id="r")


def write_unsup_tar(path: Path, texts: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for i, text in enumerate(texts):
            data = text.encode()
            info = tarfile.TarInfo(f"aclImdb/train/unsup/{i}_0.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_recipe_pretrain_finetune_export_load_predict(tmp_path: Path, glove_file: Path) -> None:
    """Pretrain on unlabeled reviews, fine-tune, export, load, predict; then fine-tune the saved
    encoder again alone. Seconds, on synthetic data."""
    test_rows = synthetic.reviews(40, seed=2)
    data = synthetic.write_aclimdb_tar(
        tmp_path / "imdb.tar.gz", {"train": synthetic.reviews(120, seed=1), "test": test_rows}
    )
    unlabeled = [t for t, _ in synthetic.reviews(200, seed=5)] + [test_rows[3][0]]
    unsup = write_unsup_tar(tmp_path / "unsup.tar.gz", unlabeled)
    out = tmp_path / "art"
    code = train_main(
        ["--data", str(data), "--unlabeled", str(unsup), "--out", str(out)]
        + ["--glove", str(glove_file), *FAST, "--span-rate", "0.5"]
    )
    assert code == 0
    model = SentimentModel.load(out)
    meta = model.metadata
    assert meta["model_config"]["stacking"] == "separate"
    assert (
        len(meta["pretraining"]["history"]) == 2 and meta["pretraining"]["config"]["samples"] == 16
    )
    unsup_info = meta["data"]["splits"]["unlabeled"]
    assert unsup_info["dropped_as_copies_of"]["test"] == 1 and unsup_info["texts"] == 200
    assert meta["training_config"]["spans"]["rate"] == 0.5
    assert len(meta["calibration"]["temperatures"]) == 4
    assert meta["metrics"]["test"]["accuracy"] >= 0.9
    held_out = synthetic.reviews(40, seed=9)
    scores = model.predict([t for t, _ in held_out])
    assert sum((p >= 0.5) == bool(y) for p, (_, y) in zip(scores, held_out, strict=True)) >= 36

    again = tmp_path / "again"
    folder = tmp_path / "art.checkpoints"
    code = train_main(
        ["--data", str(data), "--pretrained", str(folder), "--out", str(again)]
        + ["--glove", str(glove_file), *FAST]
    )
    assert code == 0
    meta = json.loads((again / "metadata.json").read_text())
    assert meta["training"]["pretrained_from"] == str(folder)
    assert (
        meta["pretraining"]["run_id"] == SentimentModel.load(out).metadata["pretraining"]["run_id"]
    )


def test_unlabeled_and_pretrained_together_are_refused(tmp_path: Path) -> None:
    code = train_main(
        ["--data", str(tmp_path), "--unlabeled", str(tmp_path), "--pretrained", str(tmp_path)]
        + ["--out", str(tmp_path / "x")]
    )
    assert code == 2
