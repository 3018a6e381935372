"""Stage: the encoder pretrained as two language models on unlabeled reviews (ELMo's layout).

The network's embedding and both stacks learn to predict the next word forwards and the previous
word backwards (training/language_model.py), on the unlabeled texts and the training reviews;
the classifier head does not take part. Pretraining sets its own dropout on the network and
gives the classifier's back when done.

pretrain() reads top to bottom like training.loop.fit(): epochs of shuffled length buckets,
the loss on held-out texts after each, a checkpoint (`pretrain-last.pt`) every few minutes and
after every epoch (`--resume` continues mid-epoch with the same batches and random state, so an
interrupted run ends with the same weights), and the encoder saved as `encoder.pt` for
fine-tuning, with the stage's record for the artifact's metadata.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from model.batching import every, in_length_order, pad_batch, shuffled_buckets
from model.network import SentimentLSTM
from model.runtime import autocast, resolve_device
from training.checkpoint import ENCODER, PRETRAIN_LAST, load_checkpoint, save_checkpoint
from training.config import PretrainConfig, training_precision
from training.errors import UserError
from training.language_model import (
    LanguageModelHead,
    LogUniformSampler,
    check_layout,
    language_model_loss,
    restore_dropout,
    set_dropout,
)
from training.optim import Optimiser, pretraining_optimiser

log = logging.getLogger("training")
POOL = 50  # batches' worth of texts sorted together into length buckets, as fine-tuning's


@dataclass
class Pretraining:
    """What every epoch of the stage shares."""

    cfg: PretrainConfig
    model: SentimentLSTM
    head: LanguageModelHead
    modules: nn.ModuleDict  # the model and the head: what the optimiser and checkpoints hold
    sampler: LogUniformSampler
    optim: Optimiser
    device: torch.device
    precision: str
    classifier_dropout: dict[str, float]  # the network's own, given back when done


def pretrain_once(
    model: SentimentLSTM,
    texts: list[list[int]],
    held_out: list[list[int]],
    cfg: PretrainConfig,
    checkpoint_dir: Path,
    run_id: str,
    resume: bool,
) -> dict[str, Any]:
    """Pretrain the encoder, or with `resume`, take it from an earlier, finished pretraining of
    this run; returns the stage's record."""
    encoder = checkpoint_dir / ENCODER
    if resume and encoder.exists():
        record = load_encoder(encoder, model)
        if record["run_id"] == run_id:
            log.info("pretraining: done before, encoder from %s", encoder)
            return record
        raise UserError(f"{encoder} belongs to another run; remove it or match it")
    resume = resume and (checkpoint_dir / PRETRAIN_LAST).exists()
    return pretrain(model, texts, held_out, cfg, checkpoint_dir, run_id, resume=resume)


def pretrain(
    model: SentimentLSTM,
    texts: list[list[int]],
    held_out: list[list[int]],
    cfg: PretrainConfig,
    checkpoint_dir: Path,
    run_id: str,
    resume: bool = False,
) -> dict[str, Any]:
    """Train the embedding and both stacks as language models; save them to `checkpoint_dir`.
    Returns the stage's record for the artifact's metadata."""
    check_layout(model)
    stage = set_up(model, cfg, len(texts))
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last = checkpoint_dir / PRETRAIN_LAST
    state = initial_state(last, run_id, stage, resume)
    log.info(
        "pretraining on %s in %s: %d texts, %d held out",
        stage.device,
        stage.precision,
        len(texts),
        len(held_out),
    )
    saver = Saver(last, run_id, stage)
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        saver.begin_epoch()
        train_loss = pretrain_epoch(stage, texts, epoch, state, saver)
        held = held_out_loss(stage, held_out)
        saver.count(state)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "held_out_loss": held,
            "seconds": round(state["seconds"] - sum(r["seconds"] for r in state["history"]), 1),
        }
        state["history"].append(row)
        state.update(epoch=epoch, step=0, epoch_loss=0.0)
        log.info(
            "pretrain epoch %d/%d  train_loss %.4f  held_out_loss %.4f  %.0fs",
            epoch,
            cfg.epochs,
            row["train_loss"],
            held,
            row["seconds"],
        )
        saver.save(state)
    model.cpu()
    restore_dropout(model, stage.classifier_dropout)
    record = {
        "run_id": run_id,
        "config": asdict(cfg),
        "texts": len(texts),
        "history": state["history"],
        "seconds": round(state["seconds"], 1),
    }
    save_encoder(checkpoint_dir / ENCODER, model, record)
    return record


def set_up(model: SentimentLSTM, cfg: PretrainConfig, texts: int) -> Pretraining:
    """A language-model head on the network at pretraining's dropout, both on the device, and
    the optimiser with a schedule over all the stage's steps."""
    device = resolve_device(cfg.device)
    precision = training_precision(cfg.precision, device)
    head = LanguageModelHead(model, cfg.dropout)
    classifier_dropout = set_dropout(model, cfg.dropout)
    model.to(device)
    head.to(device)
    modules = nn.ModuleDict({"model": model, "head": head})
    steps_per_epoch = math.ceil(texts / cfg.batch_size)
    optim = pretraining_optimiser(modules, cfg, cfg.epochs * steps_per_epoch)
    sampler = LogUniformSampler(model.embedding.num_embeddings)
    return Pretraining(
        cfg, model, head, modules, sampler, optim, device, precision, classifier_dropout
    )


def initial_state(last: Path, run_id: str, stage: Pretraining, resume: bool) -> dict[str, Any]:
    """The stage's state: from its checkpoint with `resume`, else new (never over one)."""
    if resume and last.exists():
        state = load_checkpoint(last, run_id, stage.modules, stage.optim)
        log.info("pretraining resumed after epoch %d, step %d", state["epoch"], state["step"])
        return state
    if last.exists():
        raise UserError(f"{last} exists from an earlier run: pass --resume or remove it")
    return {"epoch": 0, "step": 0, "history": [], "seconds": 0.0}


class Saver:
    """The stage's checkpoints: after every epoch, and mid-epoch once `checkpoint_minutes` have
    passed since the last; the seconds worked go into the state as they are saved."""

    def __init__(self, path: Path, run_id: str, stage: Pretraining) -> None:
        self.path, self.run_id, self.stage = path, run_id, stage
        self.started = self.saved_at = time.perf_counter()

    def begin_epoch(self) -> None:
        self.started = time.perf_counter()

    def count(self, state: dict[str, Any]) -> None:
        """Add the seconds since the epoch started, or since the last save within it."""
        now = time.perf_counter()
        state["seconds"] += now - self.started
        self.started = now

    def save_if_due(self, state: dict[str, Any]) -> None:
        if time.perf_counter() - self.saved_at > self.stage.cfg.checkpoint_minutes * 60:
            self.count(state)
            self.saved_at = self.started
            self.save_now(state)

    def save(self, state: dict[str, Any]) -> None:
        self.save_now(state)
        self.saved_at = time.perf_counter()

    def save_now(self, state: dict[str, Any]) -> None:
        save_checkpoint(self.path, self.run_id, state, self.stage.modules, self.stage.optim)


def pretrain_epoch(
    stage: Pretraining, texts: list[list[int]], epoch: int, state: dict[str, Any], saver: Saver
) -> float:
    """One pass over the texts in shuffled length buckets, from `state["step"]` on (where an
    interrupted epoch stopped); returns the epoch's mean loss."""
    cfg = stage.cfg
    rng = np.random.default_rng([cfg.seed, epoch])
    batches = shuffled_buckets([len(x) for x in texts], cfg.batch_size, POOL, rng)
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    stage.modules.train()
    total = state.get("epoch_loss", 0.0)
    bar = tqdm(batches, desc=f"pretrain {epoch}", unit="batch", leave=False, disable=None)
    for step, rows in enumerate(bar):
        negatives = stage.sampler.draw(cfg.samples, generator).to(stage.device)  # even if skipped
        if step < state["step"]:
            continue  # done before the interruption
        ids, lengths = pad_batch([texts[i] for i in rows])  # ids: [batch, steps]
        total += pretrain_step(stage, ids, lengths, negatives)
        state["step"], state["epoch_loss"] = step + 1, total
        bar.set_postfix(loss=f"{total / (step + 1):.3f}")
        saver.save_if_due(state)
    return total / max(1, len(batches))


def pretrain_step(stage: Pretraining, ids: Tensor, lengths: Tensor, negatives: Tensor) -> float:
    """One optimiser step on both directions' loss of a batch; returns the loss."""
    device = stage.device
    with autocast(device, stage.precision):
        loss = language_model_loss(
            stage.model, stage.head, ids.to(device), lengths.to(device), negatives, stage.sampler
        )
    stage.optim.zero_grad()
    stage.optim.backward(loss)
    stage.optim.step(stage.modules.parameters(), stage.cfg.grad_clip)
    return float(loss.detach())


@torch.no_grad()
def held_out_loss(stage: Pretraining, texts: list[list[int]]) -> float:
    """The sampled loss on held-out texts, with fixed negatives: comparable across epochs."""
    if not texts:
        return float("nan")
    cfg, device = stage.cfg, stage.device
    stage.model.eval()
    stage.head.eval()
    negatives = stage.sampler.draw(cfg.samples, torch.Generator().manual_seed(cfg.seed)).to(device)
    total = 0.0
    for rows in in_length_order([len(x) for x in texts], every(cfg.batch_size)):
        ids, lengths = pad_batch([texts[i] for i in rows])
        with autocast(device, stage.precision):
            loss = language_model_loss(
                stage.model,
                stage.head,
                ids.to(device),
                lengths.to(device),
                negatives,
                stage.sampler,
            )
        total += float(loss) * len(lengths)
    return total / len(texts)


def save_encoder(path: Path, model: SentimentLSTM, record: dict[str, Any]) -> None:
    """The embedding and both stacks (not the classifier head), with the stage's record."""
    weights = {
        k: v for k, v in model.state_dict().items() if k.startswith(("embedding.", "encoder."))
    }
    tmp = path.with_suffix(".tmp")
    torch.save({"weights": weights, "record": record}, tmp)
    tmp.replace(path)


def load_encoder(path: Path, model: SentimentLSTM) -> dict[str, Any]:
    """Copy a saved encoder into `model`; returns the pretraining record."""
    if not path.is_file():
        raise UserError(f"{path}: no pretrained encoder; run the pretraining stage first")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    missing, unexpected = model.load_state_dict(saved["weights"], strict=False)
    if unexpected or any(k.startswith(("embedding.", "encoder.")) for k in missing):
        raise UserError(
            f"{path}: the encoder does not fit this network (vocabulary or sizes differ)"
        )
    return saved["record"]
