"""Calibration that knows length: one temperature per band of token counts, fitted on validation
reviews and on spans cut from them, so that a short text's score is as honest as a long one's.

A model trained on whole reviews is about as sure of three words as of three hundred; a single
temperature fitted on whole reviews leaves the short texts overconfident. The bands are those
that `sentiment-evaluate --by-length` reports. Spans carry their review's label: the
temperature of a band then makes its scores estimate P(the review is positive | these words).
A band with too few texts takes the next longer band's temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.metrics import fit_temperature
from training.spans import draw_span

LENGTH_EDGES = (5, 20, 100)  # bands: 1-5, 6-20, 21-100 and 101+ tokens
MIN_TEXTS = 200  # fewer in a band, and it borrows the next band's temperature


@dataclass(frozen=True)
class Calibration:
    temperatures: list[float]  # one per band, shortest first
    length_edges: list[int]
    texts: list[int]  # calibration texts per band

    def to_dict(self) -> dict[str, object]:
        return {
            "temperatures": self.temperatures,
            "length_edges": self.length_edges,
            "texts_per_band": self.texts,
        }


def band_of(lengths: np.ndarray, edges: tuple[int, ...] = LENGTH_EDGES) -> np.ndarray:
    """The band of each token count: the same rule as torch.bucketize(lengths, edges)."""
    return np.searchsorted(np.asarray(edges), np.asarray(lengths), side="left")


def calibration_spans(
    ids: list[list[int]],
    labels: np.ndarray,
    per_review: int,
    rng: np.random.Generator,
    ends: frozenset[int] = frozenset(),
) -> tuple[list[list[int]], np.ndarray]:
    """`per_review` spans of every review, as training draws them (training.spans: one to
    three whole sentences, or windows without sentence ends), up to 100 tokens."""
    spans, span_labels = [], []
    for review, label in zip(ids, labels, strict=True):
        for _ in range(per_review):
            spans.append(draw_span(review, ends, LENGTH_EDGES[-1], rng))
            span_labels.append(label)
    return spans, np.asarray(span_labels, dtype=np.int64)


def fit_by_length(
    labels: np.ndarray, logits: np.ndarray, lengths: np.ndarray, banded: bool = True
) -> Calibration:
    """Temperatures per band (or one for all when not `banded`), fitted by least log-loss."""
    if not banded:
        return Calibration([fit_temperature(labels, logits)], [], [int(len(labels))])
    bands = band_of(lengths)
    temperatures: list[float] = [1.0] * (len(LENGTH_EDGES) + 1)
    counts = [int((bands == b).sum()) for b in range(len(temperatures))]
    borrowed = fit_temperature(labels, logits)  # for a longest band too small to fit
    for b in reversed(range(len(temperatures))):
        if counts[b] >= MIN_TEXTS:
            borrowed = fit_temperature(labels[bands == b], logits[bands == b])
        temperatures[b] = borrowed
    return Calibration(temperatures, list(LENGTH_EDGES), counts)
