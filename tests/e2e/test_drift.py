"""Drift signals through HTTP: /model shows the artifact's reference distributions, /metrics
exports them as gauges beside the live histograms of what /predict scores."""

from __future__ import annotations

import httpx
import pytest

from model.drift import SCORE_BUCKETS, TOKEN_BUCKETS, UNKNOWN_SHARE_BUCKETS
from tests.e2e.server import ServerProcess
from tests.e2e.test_metrics import scrape, value

# Questions to a server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel


def test_model_shows_the_reference_distributions(server: ServerProcess) -> None:
    reference = httpx.get(f"{server.url}/model").json()["metadata"]["reference"]
    assert reference["split"] == "validation" and reference["texts"] > 0
    assert 0 <= reference["positive_share"] <= 1
    for key, buckets in (
        ("scores", SCORE_BUCKETS),
        ("unknown_share", UNKNOWN_SHARE_BUCKETS),
        ("tokens", TOKEN_BUCKETS),
    ):
        histogram = reference[key]
        assert histogram["le"] == list(buckets) and histogram["count"] == reference["texts"]
        assert histogram["cumulative_counts"] == sorted(histogram["cumulative_counts"])
        assert histogram["cumulative_counts"][-1] <= histogram["count"]


def test_live_histograms_and_reference_gauges(server: ServerProcess) -> None:
    reference = httpx.get(f"{server.url}/model").json()
    version, reference = reference["model_version"], reference["metadata"]["reference"]
    before = scrape(server.url)
    texts = ["a wonderful superb film", "qwzx vbnm plok film", "dull boring awful"]
    scores = [
        p["score"]
        for p in httpx.post(f"{server.url}/predict", json={"texts": texts}).json()["predictions"]
    ]
    after = scrape(server.url)

    def delta(sample: str, **labels: str) -> float:
        if sample.endswith("_bucket"):  # test_metrics.value() finds counters, sums and counts
            family = sample.removesuffix("_bucket")
            return sum(
                sign * s.value
                for sign, families in ((1, after), (-1, before))
                for s in families.get(family, [])
                if s.name == sample and s.labels == labels
            )
        return value(after, sample, **labels) - value(before, sample, **labels)

    # The live histograms are by the version that scored the texts.
    v = {"version": version}
    assert delta("sentiment_score_count", **v) == 3
    assert delta("sentiment_score_sum", **v) == pytest.approx(sum(scores), abs=1e-9)
    assert delta("sentiment_score_bucket", le="0.5", **v) == sum(s <= 0.5 for s in scores)
    assert delta("sentiment_unknown_token_share_count", **v) == 3
    assert delta("sentiment_unknown_token_share_sum", **v) == pytest.approx(0.75)  # 3 of 4
    assert delta("sentiment_unknown_token_share_bucket", le="0.0", **v) == 2
    assert delta("sentiment_tokens_per_text_sum") == 11
    for gauge, expected in (
        ("sentiment_reference_positive_share", reference["positive_share"]),
        ("sentiment_reference_score_mean", reference["scores"]["mean"]),
        ("sentiment_reference_unknown_share_mean", reference["unknown_share"]["mean"]),
        ("sentiment_reference_tokens_per_text_mean", reference["tokens"]["mean"]),
    ):
        assert value(after, gauge, version=version) == pytest.approx(expected), gauge
