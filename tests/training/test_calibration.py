import numpy as np
import pytest
import torch

from training.calibration import (
    LENGTH_EDGES,
    MIN_TEXTS,
    band_of,
    calibration_spans,
    fit_by_length,
)


def test_bands_match_the_networks_bucketize() -> None:
    lengths = np.array([1, 5, 6, 20, 21, 100, 101, 800])
    assert band_of(lengths).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    expected = torch.bucketize(torch.tensor(lengths), torch.tensor(LENGTH_EDGES))
    assert band_of(lengths).tolist() == expected.tolist()


def synthetic_logits(rng: np.random.Generator, n: int, temperature: float) -> tuple:
    true = rng.normal(0, 2, size=n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-true))).astype(np.int64)
    return labels, true * temperature


def test_each_band_gets_its_own_temperature() -> None:
    rng = np.random.default_rng(0)
    parts = [synthetic_logits(rng, 4000, t) for t in (4.0, 2.0, 1.0, 0.5)]
    labels = np.concatenate([p[0] for p in parts])
    logits = np.concatenate([p[1] for p in parts])
    lengths = np.repeat([3, 10, 50, 300], 4000)
    fitted = fit_by_length(labels, logits, lengths)
    assert fitted.length_edges == list(LENGTH_EDGES) and fitted.texts == [4000] * 4
    assert fitted.temperatures == pytest.approx([4.0, 2.0, 1.0, 0.5], rel=0.15)
    single = fit_by_length(labels, logits, lengths, banded=False)
    assert len(single.temperatures) == 1 and single.length_edges == []


def test_a_small_band_borrows_the_next_longer_bands_temperature() -> None:
    rng = np.random.default_rng(1)
    labels, logits = synthetic_logits(rng, 3000, 2.0)
    lengths = np.where(np.arange(3000) < MIN_TEXTS - 1, 3, 300)  # too few short texts
    fitted = fit_by_length(labels, logits, lengths)
    assert fitted.temperatures[0] == fitted.temperatures[1] == fitted.temperatures[3]


def test_calibration_spans_cover_the_short_bands() -> None:
    reviews = [list(range(200))] * 300
    ones = np.ones(300, dtype=np.int64)
    spans, labels = calibration_spans(reviews, ones, 2, np.random.default_rng(0))
    assert len(spans) == 600 and labels.tolist() == [1] * 600
    counts = np.bincount(band_of(np.array([len(s) for s in spans])), minlength=4)
    assert all(c > 100 for c in counts[:3]) and counts[3] == 0
