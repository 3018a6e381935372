"""Short spans of training reviews as extra training examples, so that the model sees short
texts before it is asked about them.

Every epoch, `rate` spans per training review are drawn afresh (seeded by the epoch, so a
resumed run draws the same ones): a review at random, then one whole sentence of it (60%), two
(30%) or three (10%) in a row, cut to `max_tokens`; sentences end at the vocabulary's ".", "!",
"?" and "...". (Without sentence ends, as in tests, a window of a log-uniform length between 1
and `max_tokens` at a random place.) A span carries its review's label, weakened towards 0.5 the
shorter it is: a sentence of a positive review is often neutral or even negative, and a
full-strength label would teach the model to be sure of it. `strength` is how much of the label
a one-token span keeps; it grows linearly to the whole label at `max_tokens`.

With a `teacher` (an earlier artifact), only spans that carry their review's opinion are kept:
those the teacher scores at least `agreement` sure of the review's label. A random sentence of a
review learns P(review's label | sentence), which is far less sure than a sentence written to
carry one opinion; the teacher's choice keeps the second kind, which is what people send. The
teacher judges `CANDIDATES` spans for each one wanted, and the first that pass are kept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.config import SpanConfig

# P(positive) for each of a list of encoded spans: the teacher of SpanConfig.
Judge = Callable[[list[list[int]]], np.ndarray]
CANDIDATES = 4  # spans the teacher judges for each one wanted


def span_target(label: float, length: int, cfg: SpanConfig) -> float:
    """The target of a span of `length` tokens cut from a review whose target is `label`."""
    grown = min(1.0, (length - 1) / max(1, cfg.max_tokens - 1))
    strength = cfg.strength + (1.0 - cfg.strength) * grown
    return 0.5 + (label - 0.5) * strength


SENTENCE_END_TOKENS = (".", "!", "?", "...", "!!", "!!!", "?!")
SENTENCES_IN_A_SPAN = (1, 2, 3)
SENTENCE_WEIGHTS = (0.6, 0.3, 0.1)


def sentence_starts(review: list[int], ends: frozenset[int]) -> list[int]:
    """Where each sentence of an encoded review starts: 0, and after every sentence end."""
    return [0] + [i + 1 for i, token in enumerate(review[:-1]) if token in ends]


def draw_span(
    review: list[int], ends: frozenset[int], max_tokens: int, rng: np.random.Generator
) -> list[int]:
    """One to three whole sentences of `review` in a row (or a window, without `ends`)."""
    if not ends:
        wanted = int(np.exp(rng.uniform(0.0, np.log(max_tokens + 1))))
        length = max(1, min(wanted, max_tokens, len(review)))
        start = int(rng.integers(0, len(review) - length + 1))
        return review[start : start + length]
    starts = sentence_starts(review, ends) + [len(review)]
    first = int(rng.integers(0, len(starts) - 1))
    count = int(rng.choice(SENTENCES_IN_A_SPAN, p=SENTENCE_WEIGHTS))
    stop = starts[min(first + count, len(starts) - 1)]
    return review[starts[first] : stop][:max_tokens]


def sample_spans(
    ids: list[list[int]],
    labels: np.ndarray,
    cfg: SpanConfig,
    rng: np.random.Generator,
    ends: frozenset[int] = frozenset(),
    judge: Judge | None = None,
) -> tuple[list[list[int]], np.ndarray]:
    """round(rate * len(ids)) spans with their weakened targets (float64); with a `judge`, those
    of the candidates that it scores at least `agreement` sure of their review's label (as
    many as pass, up to the count)."""
    count = int(round(cfg.rate * len(ids)))
    if count == 0 or not ids:
        return [], np.zeros(0)
    drawn = count if judge is None else CANDIDATES * count
    rows = rng.integers(0, len(ids), size=drawn)
    spans, targets = [], np.empty(drawn)
    for k, row in enumerate(rows):
        span = draw_span(ids[row], ends, cfg.max_tokens, rng)
        spans.append(span)
        targets[k] = span_target(float(labels[row]), len(span), cfg)
    if judge is None:
        return spans, targets
    scores = judge(spans)
    sure_of_label = np.where(labels[rows] >= 0.5, scores, 1.0 - scores)
    kept = np.flatnonzero(sure_of_label >= cfg.agreement)[:count]
    return [spans[k] for k in kept], targets[kept]
