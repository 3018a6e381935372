from pathlib import Path

import pytest

from model import SentimentModel
from model.runtime import PrecisionError, resolve_device, resolve_dtype
from tests.precision import needs_native_bf16, pretend_cpu


@pytest.fixture(scope="module")
def model(tiny_artifact: Path) -> SentimentModel:
    return SentimentModel.load(tiny_artifact)


def test_predict_returns_probabilities_in_input_order(model: SentimentModel) -> None:
    texts = ["a wonderful superb film", "dull boring awful", "x " * 70, "", "brilliant"]
    scores = model.predict(texts)
    assert len(scores) == 5 and all(0.0 <= p <= 1.0 for p in scores)
    assert scores[0] > 0.5 > scores[1]
    assert [model.predict([t])[0] for t in texts] == pytest.approx(scores, abs=1e-6)


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_batch_size_does_not_change_scores(model: SentimentModel, batch_size: int) -> None:
    texts = [f"{'great ' * n}film" for n in range(1, 12)]
    assert model.predict(texts, batch_size=batch_size) == pytest.approx(
        model.predict(texts), abs=1e-6
    )


@needs_native_bf16
def test_bf16_stays_close_to_fp32(tiny_artifact: Path, model: SentimentModel) -> None:
    texts = ["a wonderful superb film", "dull boring awful", "the plot was"]
    reduced = SentimentModel.load(tiny_artifact, dtype="bf16").predict(texts)
    assert reduced == pytest.approx(model.predict(texts), abs=2e-2)


def test_explicit_bf16_is_refused_where_the_cpu_has_no_native_bf16(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pretend_cpu(monkeypatch, native_bf16=False)
    with pytest.raises(PrecisionError, match="no native bf16.*use auto or fp32"):
        SentimentModel.load(tiny_artifact, dtype="bf16")
    assert SentimentModel.load(tiny_artifact, dtype="auto").dtype == "fp32"


def test_bf16_is_taken_where_the_cpu_has_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_cpu(monkeypatch, native_bf16=True)  # decided, not run: this CPU may lack it
    cpu = resolve_device("cpu")
    assert resolve_dtype("auto", cpu) == "bf16" and resolve_dtype("bf16", cpu) == "bf16"


def test_edge_inputs(model: SentimentModel) -> None:
    assert model.predict([]) == []
    with pytest.raises(TypeError, match="list of texts"):
        model.predict("a single string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(["x"], batch_size=0)


def test_device_and_dtype_choices() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("fp32", resolve_device("cpu")) == "fp32"
    assert resolve_dtype("auto", resolve_device("cpu")) in ("bf16", "fp32")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="fp16"):
        resolve_dtype("fp16", resolve_device("cpu"))


def test_predictions_give_the_scores_of_predict_and_the_known_share(
    model: SentimentModel,
) -> None:
    texts = ["a wonderful superb film", "zzqx blorp", "😀", "a superb zzqx film"]
    predictions = model.predictions(texts)
    assert [p.score for p in predictions] == model.predict(texts)
    assert [p.known_share for p in predictions] == [1.0, 0.0, 0.0, 0.75]
    assert predictions[0].label == "positive"
