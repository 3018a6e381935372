"""One training run, top to bottom: data -> tokens -> vocabulary -> GloVe -> [pretrain] -> fit ->
[soup] -> calibrate -> evaluate -> export. train() is the table of contents; each stage is a
module of its own (corpus, start, pretrain, loop, soup, calibration, export), and the
command-line tools in training.cli are thin wrappers around train().

Stages and what they leave in the checkpoint folder (`<out>.checkpoints` by default):
  pretrain  pretrain-last.pt while it runs; encoder.pt and vocab.json when done. With
            `pretrained=FOLDER` a later run fine-tunes that encoder without pretraining again.
  fit       last.pt after every epoch, best.pt for the best validation epoch. With
            `init=ARTIFACT`, the fit starts from that exported model's vocabulary and weights.
With `resume`, each stage continues from what it left; a finished stage is not run again.

A run is seeded: the same command on the same machine gives the same weights. Its fingerprint
(the settings, the data's checksums, where the weights started) names its checkpoints, so that
they only ever resume their own run, and ends the model's version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import spacy
import torch

from model.config import TextConfig
from model.drift import reference, unknown_share
from model.network import SentimentLSTM
from model.text import TextPipeline
from training.calibration import calibration_spans, fit_by_length
from training.checkpoint import LAST
from training.config import RunOptions, TrainConfig, config_dict, fingerprint
from training.corpus import (
    Corpus,
    Encoded,
    encode,
    load_corpus,
    pretrains,
    training_sets,
    treebank_phrases,
    treebank_sentences,
)
from training.data import summarise
from training.errors import UserError
from training.export import export
from training.loop import Extras, FitResult, fit, predict_logits
from training.metrics import classification_metrics, sigmoid
from training.pretrain import pretrain_once
from training.soup import (
    average_into,
    check_folders,
    check_validation,
    check_weights,
    record_validation,
)
from training.spans import Judge
from training.start import Start, build_model, vocab_of
from training.teacher import span_judge

log = logging.getLogger("training")
UNCALIBRATED = {"temperatures": [1.0], "length_edges": []}  # what --no-calibrate records


@dataclass
class Outcome:
    """What the run found, for the artifact's metadata."""

    run_id: str
    pretraining: dict[str, Any] | None
    fit: FitResult
    calibration: dict[str, Any]
    metrics: dict[str, Any]
    reference: dict[str, Any]  # the validation scores the service compares traffic with


def train(opts: RunOptions, text_config: TextConfig, cfg: TrainConfig) -> Path:
    """Train a network as `cfg` says on the data `opts` names; export it to `opts.out`."""
    started = time.perf_counter()
    check_options(opts)
    torch.manual_seed(cfg.seed)
    folder = opts.checkpoint_dir or opts.out.with_name(opts.out.name + ".checkpoints")
    corpus = load_corpus(opts, cfg)
    claim_validation(opts, corpus, folder)
    pipeline = TextPipeline(text_config)
    start = build_model(opts, pipeline, corpus, cfg, folder)
    model = start.model
    train_set, val_set = training_sets(pipeline, start.train_ids, corpus, cfg.rating_softness)
    judge = load_teacher(cfg, pipeline, start)  # before pretraining: a bad path fails at once
    phrases = phrase_sets(opts, cfg, pipeline, corpus)
    # What the network is and what it learns from: in both stages' fingerprints.
    network = [
        start.config.to_dict(),
        text_config.to_dict(),
        corpus.description,
        start.init["glove"],
    ]
    pretraining = run_pretraining(opts, cfg, start, val_set, folder, network)
    # Fine-tuning starts from the same random state whether the encoder was pretrained in this
    # run or is taken from an earlier one (--pretrained): the two give the same weights.
    torch.manual_seed(cfg.seed)
    run_id = fingerprint(
        config_dict(cfg), *network, start.init, pretraining and pretraining["run_id"]
    )
    resume = opts.resume and (folder / LAST).exists()
    extras = Extras(judge, start.unlabeled_ids if cfg.vat > 0 else (), *phrases)
    result = fit(model, train_set, val_set, cfg, folder, run_id, resume, extras=extras)
    model.cpu()
    if opts.soup:
        run_id = make_soup(model, opts, start.init, run_id)
    calibration = calibrate(model, val_set, cfg) if cfg.calibrate else dict(UNCALIBRATED)
    metrics, drift = score(model, pipeline, val_set, corpus, opts)
    outcome = Outcome(run_id, pretraining, result, calibration, metrics, drift)
    checks = export(
        model,
        vocab_of(pipeline),
        metadata(opts, cfg, text_config, start, corpus, outcome),
        val_set.ids,
        [r.text for r in corpus.validation[:8]],
        opts.out,
    )
    log.info("export checks: %s", ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    log.info("wrote %s in %.0fs", opts.out, time.perf_counter() - started)
    return opts.out


def check_options(opts: RunOptions) -> None:
    """What can be refused before any data is read."""
    if opts.out.exists():
        raise UserError(f"{opts.out} already exists; choose another --out or remove it")
    check_folders(list(opts.soup))
    check_weights(list(opts.soup_weights or []), list(opts.soup))


def claim_validation(opts: RunOptions, corpus: Corpus, folder: Path) -> None:
    """Refuse a soup of runs validated on other reviews; note this run's in its folder."""
    digest = corpus.description["validation"]["sha256"]
    check_validation(list(opts.soup), digest)
    record_validation(folder, digest)


def phrase_sets(
    opts: RunOptions, cfg: TrainConfig, pipeline: TextPipeline, corpus: Corpus
) -> tuple[Encoded | None, Encoded | None]:
    """The treebank phrases to train on and the treebank sentences to score per epoch, encoded
    in the run's vocabulary; the phrases' description joins the corpus's (and the fingerprint)."""
    phrases = dev = None
    if opts.phrases is not None and cfg.phrase_rate > 0:
        phrases, corpus.description["phrases"] = treebank_phrases(
            pipeline,
            opts.phrases,
            cfg.phrase_neutral,
            cfg.phrase_compose,
            cfg.phrase_contrasts,
            cfg.phrase_turns,
            cfg.phrase_negations,
        )
    if opts.phrase_dev is not None:
        dev = treebank_sentences(pipeline, opts.phrase_dev)
    return phrases, dev


def load_teacher(cfg: TrainConfig, pipeline: TextPipeline, start: Start) -> Judge | None:
    """The judge of the training spans, with `spans.teacher`; notes the teacher's version."""
    if not cfg.spans.teacher:
        return None
    judge, start.init["span_teacher"] = span_judge(Path(cfg.spans.teacher), vocab_of(pipeline))
    return judge


def run_pretraining(
    opts: RunOptions,
    cfg: TrainConfig,
    start: Start,
    val_set: Encoded,
    folder: Path,
    network: list[Any],
) -> dict[str, Any] | None:
    """The encoder's pretraining record: this run's, when it pretrains (on the training and
    unlabeled texts, its loss held out on validation reviews), else the --pretrained folder's."""
    if not pretrains(opts):
        return start.pretraining
    pre_id = fingerprint(asdict(opts.pretrain), cfg.vocab_size, cfg.min_freq, *network)
    torch.manual_seed(opts.pretrain.seed)
    texts = start.train_ids + start.unlabeled_ids
    held_out = val_set.ids[: opts.pretrain.held_out]
    return pretrain_once(start.model, texts, held_out, opts.pretrain, folder, pre_id, opts.resume)


def make_soup(model: SentimentLSTM, opts: RunOptions, init: dict[str, Any], run_id: str) -> str:
    """Average the --soup runs' best weights into `model`, note them in `init`; returns the
    soup's fingerprint."""
    weights = list(opts.soup_weights or [])
    init["soup"] = average_into(model, list(opts.soup), weights)
    shares = [part["weight"] for part in init["soup"]]
    own_share = 1 - sum(shares)
    # The weights as scaled, so that `--soup-weights 55 45` and `0.55 0.45` are one model.
    scaled = [own_share, *shares] if weights else []
    log.info(
        "soup: this run's best weights at %.3f averaged with %d more at %s",
        own_share,
        len(shares),
        ", ".join(f"{w:.3f}" for w in shares),
    )
    return fingerprint(run_id, *(part["run_id"] for part in init["soup"]), *scaled)


def calibrate(model: SentimentLSTM, val: Encoded, cfg: TrainConfig) -> dict[str, Any]:
    """Temperatures per length band on validation reviews and spans of them (or one on whole
    reviews); sets them in the model and returns the record for the metadata."""
    texts = val
    if cfg.calibrate_by_length:
        rng = np.random.default_rng([cfg.seed, 7])
        spans, span_labels = calibration_spans(val.ids, val.labels, 2, rng, val.sentence_ends)
        texts = Encoded(val.ids + spans, np.concatenate([val.labels, span_labels]))
    logits = predict_logits(model, texts, torch.device("cpu"))
    lengths = np.array([len(x) for x in texts.ids])
    result = fit_by_length(texts.labels, logits, lengths, banded=cfg.calibrate_by_length)
    model.set_calibration(result.temperatures, result.length_edges)
    log.info(
        "calibration: temperatures %s for texts up to %s tokens and longer",
        [round(t, 3) for t in result.temperatures],
        result.length_edges,
    )
    return result.to_dict()


def score(
    model: SentimentLSTM,
    pipeline: TextPipeline,
    val_set: Encoded,
    corpus: Corpus,
    opts: RunOptions,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The calibrated model's metrics on validation, and once on test when asked and present;
    and the reference distribution of its validation scores, tokens and lengths for drift."""
    val_probs = sigmoid(predict_logits(model, val_set, torch.device("cpu")))
    metrics = {"validation": classification_metrics(val_set.labels, val_probs)}
    drift = reference(
        val_probs,
        [unknown_share(ids) for ids in val_set.ids],
        [len(ids) for ids in val_set.ids],
        split="validation",
    )
    if opts.evaluate_test and corpus.test is not None:
        test_set = encode(pipeline, corpus.test)
        metrics["test"] = classification_metrics(
            test_set.labels, sigmoid(predict_logits(model, test_set, torch.device("cpu")))
        )
        corpus.description["test"] = summarise(corpus.test)
        log.info(
            "test: accuracy %.4f over %d reviews", metrics["test"]["accuracy"], len(corpus.test)
        )
    return metrics, drift


def metadata(
    opts: RunOptions,
    cfg: TrainConfig,
    text_config: TextConfig,
    start: Start,
    corpus: Corpus,
    outcome: Outcome,
) -> dict[str, Any]:
    """What the artifact says of itself: its version, settings, training, data and figures."""
    created = dt.datetime.now(dt.timezone.utc)
    name = opts.name or opts.out.name
    result = outcome.fit
    return {
        "model_version": f"{name}-{created:%Y%m%d}-{outcome.run_id[:8]}",
        "created_at": created.isoformat(timespec="seconds"),
        "model_config": start.config.to_dict(),
        "text_config": text_config.to_dict(),
        "training_config": config_dict(cfg),
        "pretraining": outcome.pretraining,
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "history": result.history,
            "train_seconds": round(result.seconds, 1),
            "device": cfg.device,
            "limit": opts.limit,
            "train_limit": opts.train_limit,
            **start.init,
        },
        "calibration": outcome.calibration,
        "metrics": outcome.metrics,
        "reference": outcome.reference,
        "data": {"sources": [Path(s).name for s in opts.sources], "splits": corpus.description},
        "libraries": library_versions(),
    }


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
