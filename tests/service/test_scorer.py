import itertools
from pathlib import Path

import pytest

from model import SentimentModel
from model.runtime import PrecisionError
from service.engine.grouping import groups
from service.engine.scorer import ModelCheckFailed, Scorer
from service.engine.threads import parallelism
from service.settings import load_settings
from tests.faulty import broken_artifact
from tests.precision import needs_native_bf16, pretend_cpu


def cost(lengths: list[int], ends: list[int], fixed: float, per_step: float) -> float:
    total, start = 0.0, 0
    for end in ends:
        total += fixed + lengths[end - 1] * (per_step + end - start)
        start = end
    return total


@pytest.mark.parametrize(
    "lengths",
    [
        [5],
        [3, 3, 3, 3],
        [1, 2, 3, 200, 210, 800],
        [10, 11, 12, 13, 500, 510],
        [1, 1, 1, 1, 1, 1, 1, 900],
    ],
)
def test_groups_find_the_cheapest_split(lengths: list[int]) -> None:
    n = len(lengths)
    best = min(
        cost(lengths, [*cuts, n], 150, 1.5)
        for k in range(n)
        for cuts in itertools.combinations(range(1, n), k)
    )
    ends = groups(lengths)
    assert ends[-1] == n and ends == sorted(set(ends))
    assert cost(lengths, ends, 150, 1.5) == pytest.approx(best)


def test_similar_lengths_share_one_pass_and_outliers_get_their_own() -> None:
    assert groups([20] * 64) == [64]
    assert groups([20] * 63 + [800]) == [63, 64]
    assert groups([]) == []


@pytest.fixture(scope="module")
def scorer(tiny_artifact: Path) -> Scorer:
    return make(tiny_artifact, "fp32")


def test_run_keeps_input_order_and_matches_the_model(scorer: Scorer, tiny_artifact: Path) -> None:
    texts = ["great " * n + "film" for n in (40, 1, 7, 60, 2, 30)] + ["dull"]
    predictions = scorer.run(scorer.prepare(texts))
    model = SentimentModel.load(tiny_artifact)
    assert [p.score for p in predictions] == pytest.approx(model.predict(texts), abs=1e-6)
    expected = model.predictions(texts)
    assert [p.known_share for p in predictions] == [p.known_share for p in expected]


def test_warm_up_and_checks_in_fp32(scorer: Scorer) -> None:
    scorer.warm_up(1)
    scorer.check()
    assert scorer.warmup_seconds > 0 and scorer.serving_info()["precision_check"] is None


@needs_native_bf16
def test_bf16_is_checked_against_fp32(tiny_artifact: Path) -> None:
    reduced = make(tiny_artifact, "bf16")
    reduced.check()
    check = reduced.serving_info()["precision_check"]
    assert check["reference"] == "fp32" and 0 <= check["max_abs_diff"] < 0.05


def test_explicit_bf16_is_refused_at_load_where_the_cpu_has_no_native_bf16(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pretend_cpu(monkeypatch, native_bf16=False)
    with pytest.raises(PrecisionError, match="no native bf16"):
        make(tiny_artifact, "bf16")


def test_a_model_that_scores_nan_fails_its_check(tiny_artifact: Path, tmp_path: Path) -> None:
    broken = make(broken_artifact(tiny_artifact, tmp_path / "nan", "nan"), "fp32")
    with pytest.raises(ModelCheckFailed, match="not a probability"):
        broken.check()


def make(artifact: Path, dtype: str) -> Scorer:
    settings = load_settings(model=artifact, dtype=dtype, torch_threads=1)
    return Scorer(settings, parallelism(settings))


@pytest.mark.parametrize(
    ("cpus", "settings", "expected"),
    [
        (2, {}, (2, 1)),  # this machine: two batches at once, one torch thread each
        (1, {}, (1, 1)),
        (8, {}, (4, 2)),  # at most four batches; the rest become intra-op threads
        (16, {}, (4, 4)),
        (8, {"workers": 2}, (4, 1)),  # workers share the CPUs
        (8, {"workers": 16}, (1, 1)),
        (8, {"inference_threads": 1}, (1, 8)),  # one batch at a time, all CPUs inside it
        (8, {"torch_threads": 1}, (4, 1)),
    ],
)
def test_parallelism_never_oversubscribes(
    monkeypatch: pytest.MonkeyPatch, cpus: int, settings: dict, expected: tuple[int, int]
) -> None:
    import service.engine.threads as threads_module

    monkeypatch.setattr(threads_module, "usable_cpus", lambda: cpus)
    chosen = parallelism(load_settings(device="cpu", **settings))
    assert (chosen.batches, chosen.torch_threads) == expected
