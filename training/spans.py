"""Short spans of training reviews as extra training examples, so that the model sees short
texts before it is asked about them.

Every epoch, `rate` spans per training review are drawn afresh (seeded by the epoch, so a
resumed run draws the same ones): a review at random, a length between 1 and `max_tokens`
drawn log-uniformly (as many 1-3 token spans as 10-30 token ones), a start at random. A span
carries its review's label, weakened towards 0.5 the shorter it is: a few words of a positive
review are often neutral or even negative, and a full-strength label would teach the model to
be sure of them. `strength` is how much of the label a one-token span keeps; it grows linearly
to the whole label at `max_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.errors import UserError


@dataclass(frozen=True)
class SpanConfig:
    rate: float = 0.0  # spans per training review per epoch; 0 turns spans off
    max_tokens: int = 40
    strength: float = 0.5  # a one-token span's target: 0.5 +- strength / 2

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise UserError(f"span rate must be at least 0, got {self.rate}")
        if self.max_tokens < 1:
            raise UserError(f"span max_tokens must be at least 1, got {self.max_tokens}")
        if not 0.0 <= self.strength <= 1.0:
            raise UserError(f"span strength must be in [0, 1], got {self.strength}")


def span_target(label: float, length: int, cfg: SpanConfig) -> float:
    """The target of a span of `length` tokens cut from a review whose target is `label`."""
    grown = min(1.0, (length - 1) / max(1, cfg.max_tokens - 1))
    strength = cfg.strength + (1.0 - cfg.strength) * grown
    return 0.5 + (label - 0.5) * strength


def sample_spans(
    ids: list[list[int]], labels: np.ndarray, cfg: SpanConfig, rng: np.random.Generator
) -> tuple[list[list[int]], np.ndarray]:
    """round(rate * len(ids)) spans with their weakened targets (float64)."""
    count = int(round(cfg.rate * len(ids)))
    if count == 0 or not ids:
        return [], np.zeros(0)
    rows = rng.integers(0, len(ids), size=count)
    wanted = np.exp(rng.uniform(0.0, np.log(cfg.max_tokens + 1), size=count)).astype(np.int64)
    spans, targets = [], np.empty(count)
    for k, (row, length) in enumerate(zip(rows, np.clip(wanted, 1, cfg.max_tokens), strict=True)):
        review = ids[row]
        length = int(min(length, len(review)))
        start = int(rng.integers(0, len(review) - length + 1))
        spans.append(review[start : start + length])
        targets[k] = span_target(float(labels[row]), length, cfg)
    return spans, targets
