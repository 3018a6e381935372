"""Drift signals on the service side: live histograms in the reference's buckets, observed for
every text /predict scores, and the artifact's reference exported as gauges (or not at all)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from model import drift
from service import metrics
from service.engine.scorer import Scorer
from service.engine.threads import parallelism
from service.settings import load_settings


def test_live_histograms_use_the_reference_buckets() -> None:
    assert metrics.SCORE_BUCKETS == drift.SCORE_BUCKETS
    assert metrics.UNKNOWN_SHARE_BUCKETS == drift.UNKNOWN_SHARE_BUCKETS
    assert metrics.TOKEN_BUCKETS == drift.TOKEN_BUCKETS
    for histogram, buckets in (
        (metrics.SCORE, drift.SCORE_BUCKETS),
        (metrics.UNKNOWN_SHARE, drift.UNKNOWN_SHARE_BUCKETS),
        (metrics.TOKENS_PER_TEXT, drift.TOKEN_BUCKETS),
    ):
        assert [float(b) for b in histogram._upper_bounds[:-1]] == [float(b) for b in buckets]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_scored_text_feeds_the_live_histograms(tiny_artifact: Path) -> None:
    settings = load_settings(model=tiny_artifact, dtype="fp32", torch_threads=1)
    scorer = Scorer(settings, parallelism(settings))
    texts = ["a wonderful superb film", "zzqx blorp film", "dull"]
    ids = scorer.prepare(texts)
    v = scorer.version  # the live histograms are by the version that scored the text
    before = {
        "count": sample("sentiment_score_count", version=v),
        "sum": sample("sentiment_score_sum", version=v),
        "share": sample("sentiment_unknown_token_share_sum", version=v),
        "clean": sample("sentiment_unknown_token_share_bucket", le="0.0", version=v),
    }
    scores = [p.score for p in scorer.run(ids)]
    assert sample("sentiment_score_count", version=v) - before["count"] == 3
    assert sample("sentiment_score_sum", version=v) - before["sum"] == pytest.approx(sum(scores))
    shares = [drift.unknown_share(i) for i in ids]
    assert shares[1] == pytest.approx(2 / 3)  # "zzqx", "blorp" are not in the vocabulary
    assert sample("sentiment_unknown_token_share_sum", version=v) - before[
        "share"
    ] == pytest.approx(sum(shares))
    clean = sample("sentiment_unknown_token_share_bucket", le="0.0", version=v)
    assert clean - before["clean"] == 2


def test_the_reference_is_exported_when_the_artifact_has_one(tiny_artifact: Path) -> None:
    from model import load_artifact

    reference = load_artifact(tiny_artifact).metadata["reference"]
    metrics.set_reference("tiny-v1", reference)
    assert sample("sentiment_reference_positive_share", version="tiny-v1") == pytest.approx(
        reference["positive_share"]
    )
    assert sample("sentiment_reference_unknown_share_mean", version="tiny-v1") == pytest.approx(
        reference["unknown_share"]["mean"]
    )
    assert sample("sentiment_reference_tokens_per_text_mean", version="tiny-v1") == pytest.approx(
        reference["tokens"]["mean"]
    )
    assert sample("sentiment_reference_score_mean", version="tiny-v1") == pytest.approx(
        reference["scores"]["mean"]
    )


def test_no_reference_means_no_series() -> None:
    metrics.set_reference("old-v0", None)
    metrics.set_reference("old-v0", {})
    assert (
        REGISTRY.get_sample_value("sentiment_reference_positive_share", {"version": "old-v0"})
        is None
    )
