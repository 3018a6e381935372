"""`--init ARTIFACT --pooling maxmeanlast`: a maxmean model's pooling widened by the states that
have read the whole text, the head's new weights at zero, so training starts from the same
scores; and the widened model exported, loaded and served like any other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model import SentimentModel
from model.artifact import load_artifact
from model.text import TextPipeline
from tests import synthetic
from training.cli import train_main
from training.errors import UserError
from training.start import start_from_artifact

TEXTS = ["not bad", "a dull and tedious film", "I loved every minute of it, truly."]


def logits(model: torch.nn.Module, pipeline: TextPipeline) -> torch.Tensor:
    assert pipeline.vocab is not None
    ids = [pipeline.vocab.encode(pipeline.tokenize(t)) for t in TEXTS]
    width = max(map(len, ids))
    padded = torch.tensor([i + [0] * (width - len(i)) for i in ids])
    model.eval()
    with torch.no_grad():
        return model(padded, torch.tensor([len(i) for i in ids]))


def test_widened_pooling_starts_from_the_same_scores(tiny_artifact: Path) -> None:
    text_config = load_artifact(tiny_artifact).text_config
    as_it_was, config, _ = start_from_artifact(tiny_artifact, TextPipeline(text_config))
    pipeline = TextPipeline(text_config)
    widened, wide_config, init = start_from_artifact(tiny_artifact, pipeline, "maxmeanlast")
    assert (config.pooling, wide_config.pooling) == ("maxmean", "maxmeanlast")
    assert wide_config.pooled_size == config.pooled_size * 3 // 2
    assert init["pooling_widened_from"] == "maxmean"
    torch.testing.assert_close(logits(widened, pipeline), logits(as_it_was, pipeline))
    assert widened.head.weight[:, config.pooled_size :].abs().sum() == 0


def test_only_maxmean_widens(tiny_artifact: Path) -> None:
    pipeline = TextPipeline(load_artifact(tiny_artifact).text_config)
    with pytest.raises(UserError, match="can only widen 'maxmean' to 'maxmeanlast'"):
        start_from_artifact(tiny_artifact, pipeline, "max")
    model, config, init = start_from_artifact(tiny_artifact, pipeline, "maxmean")  # as it is
    assert config.pooling == "maxmean" and "pooling_widened_from" not in init


def test_a_widened_model_trains_exports_and_serves(tmp_path: Path, tiny_artifact: Path) -> None:
    data = synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(60, seed=3))
    out = tmp_path / "wide"
    code = train_main(
        ["--data", str(data), "--init", str(tiny_artifact), "--pooling", "maxmeanlast"]
        + ["--out", str(out), "--epochs", "1", "--device", "cpu", "--max-tokens", "64"]
    )
    assert code == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["model_config"]["pooling"] == "maxmeanlast"
    assert meta["training"]["pooling_widened_from"] == "maxmean"
    scores = SentimentModel.load(out).predict(TEXTS)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    refused = ["--data", str(data), "--init", str(tiny_artifact), "--hidden-size", "8"]
    assert train_main([*refused, "--out", str(tmp_path / "x")]) == 2
