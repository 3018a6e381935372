"""A run's texts: its labelled reviews split into training and validation, the test split, and
the unlabeled texts, and each of them encoded for the network.

load_corpus() reads the labelled sources (training.data), draws the validation split with the
split seed (the whole training split, or `--limit`'s stratified sample of it), and reads the
unlabeled texts only when the run uses them, without any that are copies of a validation or
test text. Its `description` (counts and checksums) goes into the run's fingerprint and the
artifact's metadata.

`Encoded` is what the loop, calibration and export read: token ids per text, their labels (or
soft targets), and which ids end a sentence, so that spans of them can be whole sentences.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model.vocab import Vocab
from training.config import RunOptions, TrainConfig
from training.data import Review, has_split, load_split, stratified_split, summarise, targets
from training.spans import SENTENCE_END_TOKENS
from training.unlabeled import drop_copies, load_unlabeled

if TYPE_CHECKING:
    from model.text import TextPipeline

log = logging.getLogger("training")


@dataclass
class Encoded:
    ids: list[list[int]]
    labels: np.ndarray  # [n]: 0/1, or soft targets in [0, 1] for training spans
    sentence_ends: frozenset[int] = frozenset()  # ids of ".", "!", ...: spans are sentences

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Corpus:
    train: list[Review]
    validation: list[Review]
    test: list[Review] | None  # read once: to keep its texts out of the unlabeled, and to score
    unlabeled: list[str]
    description: dict[str, Any]


def pretrains(opts: RunOptions) -> bool:
    """Whether the run pretrains its encoder: unlabeled texts and no other start given."""
    return bool(opts.unlabeled) and opts.pretrained is None and opts.init is None


def load_corpus(opts: RunOptions, cfg: TrainConfig) -> Corpus:
    """Training and validation reviews; unlabeled texts without any validation or test text."""
    all_train = load_split(opts.sources, "train")
    split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    if opts.limit:
        all_train = subsample(all_train, opts.limit, split_seed)
    train, val = stratified_split(all_train, cfg.val_fraction, split_seed, cfg.val_grouping)
    if opts.train_limit:
        train = subsample(train, opts.train_limit, split_seed)
    description: dict[str, Any] = {"train": summarise(train), "validation": summarise(val)}
    unlabeled: list[str] = []
    reading = bool(opts.unlabeled) and (pretrains(opts) or cfg.vat > 0)
    test = None
    if (opts.evaluate_test or reading) and has_split(opts.sources, "test"):
        test = load_split(opts.sources, "test")
    if reading:
        unlabeled, description["unlabeled"] = read_unlabeled(opts.unlabeled, val, test)
    log.info("data: %d train, %d validation reviews", len(train), len(val))
    return Corpus(train, val, test, unlabeled, description)


def read_unlabeled(
    sources: Sequence[Path], val: list[Review], test: list[Review] | None
) -> tuple[list[str], dict[str, Any]]:
    """The distinct unlabeled texts that are no copy of a validation or test review, and their
    description."""
    held_out = {"validation": [r.text for r in val]}
    if test is not None:
        held_out["test"] = [r.text for r in test]
    else:
        log.warning("no test split in --data: unlabeled texts are checked against validation only")
    found = load_unlabeled(sources)
    filtered = drop_copies(found, held_out)
    unlabeled = filtered.texts
    description = {
        "sources": [Path(s).name for s in sources],
        "distinct": len(found),
        "dropped_as_copies_of": filtered.dropped,
        "texts": len(unlabeled),
        "sha256": texts_digest(unlabeled),
    }
    log.info(
        "unlabeled: %d distinct texts, %d kept (dropped as copies: %s)",
        len(found),
        len(unlabeled),
        filtered.dropped,
    )
    return unlabeled, description


def subsample(reviews: list[Review], limit: int, seed: int) -> list[Review]:
    if limit >= len(reviews):
        return reviews
    keep, _ = stratified_split(reviews, 1 - limit / len(reviews), seed)
    return keep


def texts_digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode() + b"\n")
    return h.hexdigest()


def labels(reviews: Sequence[Review]) -> np.ndarray:
    return np.array([r.label for r in reviews], dtype=np.int64)


def encode(pipeline: TextPipeline, reviews: Sequence[Review]) -> Encoded:
    """The reviews through the same text pipeline that serving uses."""
    return Encoded(pipeline.encode_many(r.text for r in reviews), labels(reviews))


def training_sets(
    pipeline: TextPipeline, train_ids: list[list[int]], corpus: Corpus, softness: float
) -> tuple[Encoded, Encoded]:
    """The training reviews (already encoded as `train_ids`) with their targets, and the
    validation reviews; both know which of the vocabulary's ids end a sentence."""
    assert pipeline.vocab is not None
    ends = frozenset(pipeline.vocab.encode(list(SENTENCE_END_TOKENS))) - {Vocab.unk_index}
    train_set = Encoded(train_ids, targets(corpus.train, softness), ends)
    val_set = encode(pipeline, corpus.validation)
    val_set.sentence_ends = ends
    return train_set, val_set


def treebank_phrases(
    pipeline: TextPipeline,
    path: Path,
    neutral: bool,
    compose: bool = False,
    contrasts: int = 0,
    turns: int = 1,
    negations: int = 1,
) -> tuple[Encoded, dict[str, Any]]:
    """The distinct phrases of a treebank file, encoded, with their targets (training/sst.py),
    with `compose` those composed from them after (training/compose.py; `contrasts` of them
    contrasts), the phrases where a label turns (sst.turns) `turns` times in all, those where a
    negation turns it `negations - 1` times more, and their description for the run's
    fingerprint and metadata."""
    from training import compose as composing
    from training import sst

    found = sst.phrases(path, neutral)
    composed = []
    if compose:
        known = {text for text, _ in found}
        composed = [(t, y) for t, y in composing.composed(path, contrasts) if t not in known]
        found += composed
    repeated = []
    if turns > 1:
        turning = sst.turns(path)
        repeated = [(t, y) for t, y in found if t in turning] * (turns - 1)
    if negations > 1:
        negating = sst.turns(path, negations=True)
        repeated += [(t, y) for t, y in found if t in negating] * (negations - 1)
    found += repeated
    texts = [text for text, _ in found]
    encoded = Encoded(pipeline.encode_many(texts), np.array([t for _, t in found]))
    description = {
        "source": Path(path).name,
        "phrases": len(found),
        "neutral_kept": neutral,
        **({"composed": len(composed)} if compose else {}),
        **({"turns_repeated": len(repeated)} if turns > 1 or negations > 1 else {}),
        "sha256": texts_digest([f"{text}\t{target}" for text, target in found]),
    }
    log.info(
        "phrases: %d from %s (%d composed, %d repeated turns)",
        len(found),
        Path(path).name,
        len(composed),
        len(repeated),
    )
    return encoded, description


def treebank_sentences(pipeline: TextPipeline, path: Path) -> Encoded:
    """SST-2: the sentences of a treebank file, neutral ones dropped, encoded."""
    from training import sst

    found = sst.sentences(path)
    return Encoded(pipeline.encode_many([t for t, _ in found]), np.array([y for _, y in found]))
