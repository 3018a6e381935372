"""A run's texts: the labelled reviews encoded for the network.

`Encoded` is what the loop, calibration and export read: token ids per text, their labels (or
soft targets), and which ids end a sentence, so that spans of them can be whole sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Encoded:
    ids: list[list[int]]
    labels: np.ndarray  # [n]: 0/1, or soft targets in [0, 1] for training spans
    sentence_ends: frozenset[int] = frozenset()  # ids of ".", "!", ...: spans are sentences

    def __len__(self) -> int:
        return len(self.ids)
