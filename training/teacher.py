"""The span teacher (`--span-teacher`): an earlier artifact whose scores choose which spans of
the training reviews are worth training on (training/spans.py says why and how)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from model.api import SentimentModel
from model.artifact import ArtifactError
from model.vocab import Vocab
from training.errors import UserError
from training.spans import Judge

log = logging.getLogger("training")


def span_judge(teacher: Path, vocab: Vocab) -> tuple[Judge, str]:
    """The teacher artifact's P(positive) for spans in `vocab`'s ids, which become the
    teacher's through the words they stand for, and the teacher's version. In fp32, so every
    machine keeps the same spans."""
    try:
        scorer = SentimentModel.load(teacher)
    except ArtifactError as e:
        raise UserError(f"--span-teacher: {e}") from e
    log.info("spans: kept where %s is sure of the review's label", scorer.version)
    to_teacher = np.asarray(scorer.artifact.vocab.encode(vocab.tokens))

    def judge(spans: list[list[int]]) -> np.ndarray:
        return np.asarray(scorer.score_encoded([to_teacher[s].tolist() for s in spans], 256))

    return judge, scorer.version
