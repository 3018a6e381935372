"""Where a run's network starts: its vocabulary, its shape and its first weights.

  * new: a vocabulary of the training (and unlabeled) texts and GloVe vectors for it
  * `pretrained=FOLDER`: that folder's vocabulary and pretrained encoder, GloVe for the rest
  * `init=ARTIFACT`: an exported model's vocabulary, network and weights, its calibration undone

build_model() also encodes the training reviews and unlabeled texts with the vocabulary, and
notes where the weights came from (`init`) for the fingerprint and the metadata.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model.artifact import ArtifactError, load_artifact
from model.config import ModelConfig
from model.network import SentimentLSTM, init_embedding
from model.text import TextPipeline
from model.vocab import Vocab
from training.checkpoint import ENCODER, VOCAB
from training.config import RunOptions, TrainConfig
from training.corpus import Corpus
from training.errors import UserError
from training.glove import load_glove
from training.pretrain import load_encoder

log = logging.getLogger("training")


@dataclass
class Start:
    model: SentimentLSTM
    config: ModelConfig
    train_ids: list[list[int]]
    unlabeled_ids: list[list[int]]
    init: dict[str, Any]  # where the starting weights came from, for the metadata
    pretraining: dict[str, Any] | None = None  # the record of a --pretrained folder's encoder


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
    pretraining = init.pop("pretraining", None)
    return Start(model, model_config, train_ids, extra_ids, init, pretraining)


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
