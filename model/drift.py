"""Reference distributions for drift signals: what the model's inputs and scores looked like on
its validation split, in the same buckets that the service's live histograms use.

Training measures them once (`reference()`) and stores them in the artifact's metadata under
"reference"; the service exports them next to its live histograms so that Prometheus rules can
compare the two (deploy/prometheus/rules.yml). Three signals:
  * scores: P(positive) per text, and the share of texts scored positive;
  * unknown_share: the share of a text's tokens that the vocabulary does not know (inputs that
    drift from the training domain, or another language, raise it first);
  * tokens: tokens the network reads per text (after truncation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SCORE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
UNKNOWN_SHARE_BUCKETS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
TOKEN_BUCKETS = (8, 16, 32, 64, 128, 256, 512, 800, 1024, 2048)


def unknown_share(ids: Sequence[int], unk_index: int = 1) -> float:
    """The share of a text's token ids that are <unk>."""
    return sum(1 for i in ids if i == unk_index) / max(1, len(ids))


def known_share(ids: Sequence[int], unk_index: int = 1) -> float:
    """The share of a text's token ids that the vocabulary knows: 1 - unknown_share. A text
    with no token at all reads as one <unk> (Vocab.encode), so its share is 0."""
    return 1.0 - unknown_share(ids, unk_index)


def _histogram(values: np.ndarray, buckets: Sequence[float]) -> dict[str, Any]:
    """Cumulative counts per upper bound, as Prometheus histograms keep them (`le`)."""
    cumulative = [int((values <= bound).sum()) for bound in buckets]
    return {
        "le": list(buckets),
        "cumulative_counts": cumulative,
        "count": int(values.size),
        "mean": float(values.mean()) if values.size else 0.0,
    }


def reference(
    scores: Sequence[float], unknown_shares: Sequence[float], tokens: Sequence[int], split: str
) -> dict[str, Any]:
    """The metadata record of the three distributions on `split`."""
    s = np.asarray(scores, dtype=np.float64)
    return {
        "split": split,
        "texts": int(s.size),
        "positive_share": float((s >= 0.5).mean()) if s.size else 0.0,
        "scores": _histogram(s, SCORE_BUCKETS),
        "unknown_share": _histogram(
            np.asarray(unknown_shares, dtype=np.float64), UNKNOWN_SHARE_BUCKETS
        ),
        "tokens": _histogram(np.asarray(tokens, dtype=np.float64), TOKEN_BUCKETS),
    }
