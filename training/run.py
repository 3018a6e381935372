"""One training run, top to bottom: data -> tokens -> vocabulary -> GloVe -> [pretrain] -> fit ->
calibrate -> evaluate -> export. The command-line tools in training.cli are thin wrappers around
train().

Stages and what they leave in the checkpoint folder (`<out>.checkpoints` by default):
  pretrain  pretrain-last.pt while it runs; encoder.pt and vocab.json when done. With
            `pretrained=FOLDER` a later run fine-tunes that encoder without pretraining again.
  fit       last.pt after every epoch, best.pt for the best validation epoch. With
            `init=ARTIFACT`, the fit starts from that exported model's vocabulary and weights.
With `resume`, each stage continues from what it left; a finished stage is not run again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import spacy
import torch

from model.api import SentimentModel
from model.artifact import ArtifactError, load_artifact
from model.config import ModelConfig, TextConfig
from model.drift import reference, unknown_share
from model.network import SentimentLSTM, init_embedding
from model.text import TextPipeline
from model.vocab import Vocab
from training.calibration import calibration_spans, fit_by_length
from training.checkpoint import ENCODER, LAST, VOCAB
from training.config import RunOptions, TrainConfig, config_dict, fingerprint
from training.corpus import Encoded
from training.data import (
    Review,
    has_split,
    load_split,
    stratified_split,
    summarise,
    targets,
)
from training.errors import UserError
from training.export import export
from training.glove import load_glove
from training.loop import Extras, fit, predict_logits
from training.metrics import classification_metrics, sigmoid
from training.pretrain import load_encoder, pretrain_once
from training.soup import (
    average_into,
    check_folders,
    check_validation,
    check_weights,
    record_validation,
)
from training.spans import SENTENCE_END_TOKENS, Judge
from training.unlabeled import drop_copies, load_unlabeled

log = logging.getLogger("training")


@dataclass
class Corpus:
    train: list[Review]
    validation: list[Review]
    test: list[Review] | None  # read once: to keep its texts out of the unlabeled, and to score
    unlabeled: list[str]
    description: dict[str, Any]


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


def texts_digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode() + b"\n")
    return h.hexdigest()


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
    description: dict[str, Any] = {"train": summarise(train), "validation": summarise(val)}
    unlabeled: list[str] = []
    reading = bool(opts.unlabeled) and (pretrains(opts) or cfg.vat > 0)
    test = None
    if (opts.evaluate_test or reading) and has_split(opts.sources, "test"):
        test = load_split(opts.sources, "test")
    if reading:
        held_out = {"validation": [r.text for r in val]}
        if test is not None:
            held_out["test"] = [r.text for r in test]
        else:
            log.warning(
                "no test split in --data: unlabeled texts are checked against validation only"
            )
        found = load_unlabeled(opts.unlabeled)
        filtered = drop_copies(found, held_out)
        unlabeled = filtered.texts
        description["unlabeled"] = {
            "sources": [Path(s).name for s in opts.unlabeled],
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
    log.info("data: %d train, %d validation reviews", len(train), len(val))
    return Corpus(train, val, test, unlabeled, description)


@dataclass
class Start:
    model: SentimentLSTM
    config: ModelConfig
    train_ids: list[list[int]]
    unlabeled_ids: list[list[int]]
    init: dict[str, Any]  # where the starting weights came from, for the metadata


def build_model(
    opts: RunOptions, pipeline: TextPipeline, corpus: Corpus, cfg: TrainConfig, folder: Path
) -> Start:
    """The network with its vocabulary and starting weights, and the encoded training reviews
    and unlabeled texts. From an artifact (`init`), all of it; from a pretrained folder, its
    vocabulary and encoder; otherwise a vocabulary of the training (and unlabeled) texts, and
    GloVe."""
    train_tokens = list(pipeline.tokens_many(r.text for r in corpus.train))
    extra_tokens = list(pipeline.tokens_many(corpus.unlabeled))
    if opts.init is not None:
        model, model_config, init = start_from_artifact(opts.init, pipeline)
    else:
        model, model_config, init = new_model(opts, pipeline, cfg, train_tokens + extra_tokens)
        if opts.pretrained is None:
            folder.mkdir(parents=True, exist_ok=True)
            vocab_of(pipeline).save(folder / VOCAB)  # beside the encoder, to fine-tune it later
    vocab = vocab_of(pipeline)
    train_ids = [vocab.encode(t) for t in train_tokens]
    extra_ids = [vocab.encode(t) for t in extra_tokens if t]
    return Start(model, model_config, train_ids, extra_ids, init)


def vocab_of(pipeline: TextPipeline) -> Vocab:
    assert pipeline.vocab is not None
    return pipeline.vocab


def new_model(
    opts: RunOptions, pipeline: TextPipeline, cfg: TrainConfig, tokens: list[list[str]]
) -> tuple[SentimentLSTM, ModelConfig, dict[str, Any]]:
    """A network of GloVe vectors, with a pretrained folder's vocabulary and encoder or a new
    vocabulary of `tokens`; sets the vocabulary in `pipeline`."""
    init: dict[str, Any] = {}
    if opts.pretrained is not None:
        vocab = Vocab.load(opts.pretrained / VOCAB)
        init["pretrained_from"] = str(opts.pretrained)
    else:
        vocab = Vocab.build(tokens, cfg.vocab_size, cfg.min_freq)
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
    init.update(glove=glove.source, glove_coverage=glove.coverage)
    if opts.pretrained is not None:
        init["pretraining"] = load_encoder(opts.pretrained / ENCODER, model)
    return model, model_config, init


def start_from_artifact(
    path: Path, pipeline: TextPipeline
) -> tuple[SentimentLSTM, ModelConfig, dict[str, Any]]:
    """The network, weights and vocabulary of an exported model, to train further; its
    calibration is undone (the run fits its own)."""
    try:
        artifact = load_artifact(path)
    except ArtifactError as e:
        raise UserError(f"--init: {e}") from e
    if artifact.text_config != pipeline.config:
        raise UserError(
            f"--init: {artifact.version} reads text as {artifact.text_config.to_dict()}, "
            f"this run as {pipeline.config.to_dict()}: pass the same --max-tokens and --truncation"
        )
    model = SentimentLSTM(artifact.model_config)
    weights = artifact.program.state_dict()
    edges = weights["length_edges"].tolist()  # the buffers take the artifact's shapes first
    model.set_calibration([1.0] * (len(edges) + 1), edges)
    model.load_state_dict(weights)
    model.set_calibration([1.0], [])
    pipeline.vocab = artifact.vocab
    training = artifact.metadata.get("training", {})
    init = {"init_from": artifact.version, "glove": training.get("glove", "")}
    log.info("starting from %s (%d words)", artifact.version, len(artifact.vocab))
    return model, artifact.model_config, init


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


def train(opts: RunOptions, text_config: TextConfig, cfg: TrainConfig) -> Path:
    started = time.perf_counter()
    if opts.out.exists():
        raise UserError(f"{opts.out} already exists; choose another --out or remove it")
    check_folders(list(opts.soup))
    check_weights(list(opts.soup_weights or []), list(opts.soup))
    torch.manual_seed(cfg.seed)
    folder = opts.checkpoint_dir or opts.out.with_name(opts.out.name + ".checkpoints")
    corpus = load_corpus(opts, cfg)
    validation_digest = corpus.description["validation"]["sha256"]
    check_validation(list(opts.soup), validation_digest)
    record_validation(folder, validation_digest)
    pipeline = TextPipeline(text_config)
    start = build_model(opts, pipeline, corpus, cfg, folder)
    model, init = start.model, start.init
    assert pipeline.vocab is not None
    ends = frozenset(pipeline.vocab.encode(list(SENTENCE_END_TOKENS))) - {Vocab.unk_index}
    train_set = Encoded(start.train_ids, targets(corpus.train, cfg.rating_softness), ends)
    val_set = encode(pipeline, corpus.validation)
    val_set.sentence_ends = ends
    pretraining = init.pop("pretraining", None)
    judge = None  # loaded before pretraining, so that a bad path fails at once
    if cfg.spans.teacher:
        judge, init["span_teacher"] = span_judge(Path(cfg.spans.teacher), pipeline.vocab)
    network = [start.config.to_dict(), text_config.to_dict(), corpus.description, init["glove"]]
    if pretrains(opts):
        pre_id = fingerprint(asdict(opts.pretrain), cfg.vocab_size, cfg.min_freq, *network)
        torch.manual_seed(opts.pretrain.seed)
        lm_texts = start.train_ids + start.unlabeled_ids
        held_out = val_set.ids[: opts.pretrain.held_out]
        pretraining = pretrain_once(
            model, lm_texts, held_out, opts.pretrain, folder, pre_id, opts.resume
        )
    # Fine-tuning starts from the same random state whether the encoder was pretrained in this
    # run or is taken from an earlier one (--pretrained): the two give the same weights.
    torch.manual_seed(cfg.seed)
    run_id = fingerprint(config_dict(cfg), *network, init, pretraining and pretraining["run_id"])
    resume = opts.resume and (folder / LAST).exists()
    result = fit(
        model,
        train_set,
        val_set,
        cfg,
        folder,
        run_id,
        resume=resume,
        extras=Extras(judge, start.unlabeled_ids if cfg.vat > 0 else ()),
    )
    model.cpu()
    if opts.soup:
        weights = list(opts.soup_weights or [])
        init["soup"] = average_into(model, list(opts.soup), weights)
        shares = [part["weight"] for part in init["soup"]]
        own_share = 1 - sum(shares)
        # The weights as scaled, so that `--soup-weights 55 45` and `0.55 0.45` are one model.
        scaled = [own_share, *shares] if weights else []
        run_id = fingerprint(run_id, *(part["run_id"] for part in init["soup"]), *scaled)
        log.info(
            "soup: this run's best weights at %.3f averaged with %d more at %s",
            own_share,
            len(shares),
            ", ".join(f"{w:.3f}" for w in shares),
        )

    calibration: dict[str, Any] = {"temperatures": [1.0], "length_edges": []}
    if cfg.calibrate:
        calibration = calibrate(model, val_set, cfg)
    val_probs = sigmoid(predict_logits(model, val_set, torch.device("cpu")))
    metrics = {"validation": classification_metrics(val_set.labels, val_probs)}
    drift = reference(
        val_probs,
        [unknown_share(ids) for ids in val_set.ids],
        [len(ids) for ids in val_set.ids],
        split="validation",
    )
    data = corpus.description
    if opts.evaluate_test and corpus.test is not None:
        test_reviews = corpus.test
        test_set = encode(pipeline, test_reviews)
        metrics["test"] = classification_metrics(
            test_set.labels, sigmoid(predict_logits(model, test_set, torch.device("cpu")))
        )
        data["test"] = summarise(test_reviews)
        log.info(
            "test: accuracy %.4f over %d reviews", metrics["test"]["accuracy"], len(test_reviews)
        )

    created = dt.datetime.now(dt.timezone.utc)
    name = opts.name or opts.out.name
    metadata = {
        "model_version": f"{name}-{created:%Y%m%d}-{run_id[:8]}",
        "created_at": created.isoformat(timespec="seconds"),
        "model_config": start.config.to_dict(),
        "text_config": text_config.to_dict(),
        "training_config": config_dict(cfg),
        "pretraining": pretraining,
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "history": result.history,
            "train_seconds": round(result.seconds, 1),
            "device": cfg.device,
            "limit": opts.limit,
            **init,
        },
        "calibration": calibration,
        "metrics": metrics,
        "reference": drift,
        "data": {"sources": [Path(s).name for s in opts.sources], "splits": data},
        "libraries": library_versions(),
    }
    checks = export(
        model,
        pipeline.vocab,
        metadata,
        val_set.ids,
        [r.text for r in corpus.validation[:8]],
        opts.out,
    )
    log.info("export checks: %s", ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    log.info("wrote %s in %.0fs", opts.out, time.perf_counter() - started)
    return opts.out
