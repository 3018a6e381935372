"""The fine-tuning loop: the epoch and fit(), with early stopping and checkpoints that resume.

fit() reads top to bottom: for each epoch, train_epoch() then validate(); keep the best weights
(`best.pt`); stop when validation accuracy has not improved for `patience` epochs. After every
epoch the whole state goes to `last.pt`, so an interrupted run resumes where it stopped and
ends with the same weights as an uninterrupted one: every epoch draws its spans and batches
from a generator seeded by the epoch alone, and the checkpoint keeps torch's random state.

A step trains on one shuffled length bucket of reviews and spans (model.batching), with word
dropout, under mixed precision; the adversarial terms (training/adversarial.py) add their
losses to the same step. The optimiser and schedule are training/optim.py's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from model.batching import buckets_per_epoch, every, in_length_order, pad_batch, shuffled_buckets
from model.runtime import autocast, resolve_device
from model.vocab import Vocab
from training.adversarial import (
    adversarial_push,
    batch_loss,
    unlabeled_spans,
    virtual_adversarial_loss,
)
from training.checkpoint import BEST, LAST, load_checkpoint, save_checkpoint
from training.config import TrainConfig, training_precision
from training.corpus import Encoded
from training.errors import UserError
from training.metrics import classification_metrics, sigmoid
from training.optim import Optimiser, fine_tuning_optimiser
from training.spans import Judge, sample_spans

log = logging.getLogger("training")


@dataclass(frozen=True)
class Extras:
    """What a fit trains on besides the labelled reviews."""

    judge: Judge | None = None  # keeps the spans a teacher finds opinions (SpanConfig.teacher)
    unlabeled: Sequence[list[int]] = ()  # encoded unlabeled texts: their spans train `vat`
    phrases: Encoded | None = None  # encoded treebank phrases: `phrase_rate` of them per epoch
    phrase_dev: Encoded | None = None  # treebank sentences, scored and chosen on per epoch


@dataclass(frozen=True)
class Setup:
    """What every epoch of one fit shares."""

    cfg: TrainConfig
    device: torch.device
    precision: str  # model.runtime's: fp32, bf16 or fp16
    optim: Optimiser
    extras: Extras


@dataclass
class FitResult:
    best_epoch: int
    best_accuracy: float  # what it was chosen on (chosen_accuracy)
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def predict_logits(
    model: nn.Module,
    data: Encoded,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int = 128,
) -> np.ndarray:
    """Logits for every review, in input order; batches by length for speed."""
    model.eval()
    out = np.empty(len(data), dtype=np.float64)
    with torch.inference_mode(), autocast(device, precision):
        for rows in in_length_order([len(x) for x in data.ids], every(batch_size)):
            ids, lengths = pad_batch([data.ids[i] for i in rows])
            out[rows] = model(ids.to(device), lengths.to(device)).float().cpu().numpy()
    return out


def train_epoch(model: nn.Module, data: Encoded, epoch: int, setup: Setup) -> float:
    """One pass over the training reviews and this epoch's spans of them, with a batch of spans
    of the unlabeled texts per step under `cfg.vat`; returns the mean loss."""
    cfg = setup.cfg
    model.train()
    rng = np.random.default_rng([cfg.seed, epoch])  # per epoch: resuming replays the same order
    vat_rng = np.random.default_rng([cfg.seed, epoch, 1])  # its own: other runs keep their draws
    texts = with_spans(data, epoch, cfg, rng, setup.extras.judge)
    if cfg.phrase_rate > 0 and setup.extras.phrases is not None:
        texts = with_phrases(texts, setup.extras.phrases, round(cfg.phrase_rate * len(data)), rng)
    batches = shuffled_buckets([len(x) for x in texts.ids], cfg.batch_size, cfg.bucket_pool, rng)
    labels = torch.as_tensor(texts.labels, dtype=torch.float32)
    total, seen = 0.0, 0
    bar = tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False, disable=None)
    for rows in bar:
        ids, lengths = pad_batch([texts.ids[i] for i in rows])  # ids: [batch, steps]
        ids = drop_words(ids, cfg.word_dropout)
        unlabeled = None
        if cfg.vat > 0:
            unlabeled = unlabeled_spans(
                setup.extras.unlabeled, data.sentence_ends, cfg.spans.max_tokens, len(rows), vat_rng
            )
        total += train_step(model, ids, lengths, labels[rows], unlabeled, setup) * len(rows)
        seen += len(rows)
        bar.set_postfix(loss=f"{total / seen:.4f}")
    return total / max(1, seen)


def with_spans(
    data: Encoded, epoch: int, cfg: TrainConfig, rng: np.random.Generator, judge: Judge | None
) -> Encoded:
    """The reviews and this epoch's spans of them (those the judge keeps, with one), as one set
    without sentence ends."""
    spans, targets = sample_spans(data.ids, data.labels, cfg.spans, rng, data.sentence_ends, judge)
    if judge is not None:
        log.info("epoch %d: %d spans the teacher judges opinions", epoch, len(spans))
    return Encoded(data.ids + spans, np.concatenate([data.labels, targets]))


def with_phrases(texts: Encoded, phrases: Encoded, count: int, rng: np.random.Generator) -> Encoded:
    """`texts` and `count` phrases drawn without repeats (all of them, if fewer)."""
    chosen = rng.permutation(len(phrases))[:count]
    ids = texts.ids + [phrases.ids[i] for i in chosen]
    return Encoded(ids, np.concatenate([texts.labels, phrases.labels[chosen]]))


def drop_words(ids: Tensor, share: float) -> Tensor:
    """`share` of the real tokens replaced by <unk>, drawn afresh; ids: [batch, steps]."""
    if share <= 0:
        return ids
    dropped = (torch.rand(ids.shape) < share) & (ids != Vocab.pad_index)
    return ids.masked_fill(dropped, Vocab.unk_index)


def train_step(
    model: nn.Module,
    ids: Tensor,
    lengths: Tensor,
    target: Tensor,
    unlabeled: tuple[Tensor, Tensor] | None,
    setup: Setup,
) -> float:
    """One optimiser step on a batch (ids: [batch, steps], target: [batch]) and, under
    `cfg.adversarial`, on its pushed words; under `cfg.vat`, on the `unlabeled` spans (ids,
    lengths). Returns the batch's clean loss."""
    cfg, optim, device, precision = setup.cfg, setup.optim, setup.device, setup.precision
    ids, lengths, target = ids.to(device), lengths.to(device), target.to(device)
    embedded = model.embedding(ids)  # [batch, steps, emb]
    if cfg.adversarial > 0:
        embedded.retain_grad()
    loss = batch_loss(model, embedded, lengths, target, device, precision)
    optim.zero_grad()
    optim.backward(loss)
    if cfg.adversarial > 0:
        # The lookup again: the first backward freed its graph, and the embedding learns
        # from both losses. The logged loss stays the clean one.
        push = adversarial_push(embedded.detach(), embedded.grad, ids, cfg.adversarial)
        pushed = model.embedding(ids) + push
        optim.backward(batch_loss(model, pushed, lengths, target, device, precision))
    if unlabeled is not None:
        ids_u, lengths_u = unlabeled[0].to(device), unlabeled[1].to(device)
        optim.backward(
            virtual_adversarial_loss(model, ids_u, lengths_u, cfg.vat, device, precision)
        )
    optim.step(model.parameters(), cfg.grad_clip)
    return float(loss.detach())


def validate(model: nn.Module, val: Encoded, device: torch.device) -> dict[str, Any]:
    """classification_metrics of the model on the validation reviews, in fp32."""
    return classification_metrics(val.labels, sigmoid(predict_logits(model, val, device)))


def fit(
    model: nn.Module,
    train: Encoded,
    val: Encoded,
    cfg: TrainConfig,
    checkpoint_dir: Path,
    run_id: str,
    resume: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    extras: Extras | None = None,
) -> FitResult:
    """Train with early stopping; leaves the best weights in `model`."""
    extras = extras or Extras()
    if cfg.vat > 0 and not extras.unlabeled:
        raise UserError("virtual adversarial training (vat) needs unlabeled texts")
    setup = set_up(model, len(train), cfg, extras)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last, best = checkpoint_dir / LAST, checkpoint_dir / BEST
    state = initial_state(last, run_id, model, setup.optim, resume)
    log.info(
        "training on %s in %s: %d train, %d validation reviews",
        setup.device,
        setup.precision,
        len(train),
        len(val),
    )
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        if state["bad_epochs"] >= cfg.patience:
            break
        started = time.perf_counter()
        train_loss = train_epoch(model, train, epoch, setup)
        metrics = validate(model, val, setup.device)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": metrics["log_loss"],
            "val_accuracy": metrics["accuracy"],
            "lr": cfg.lr * setup.optim.lr_share(),  # the head's
            "seconds": time.perf_counter() - started,
        }
        if setup.extras.phrase_dev is not None:  # chosen on beside validation
            dev = validate(model, setup.extras.phrase_dev, setup.device)
            row["phrase_dev_accuracy"] = dev["accuracy"]
        improved = record_epoch(state, row)
        if improved:
            torch.save(model.state_dict(), best)
        log_epoch(row, cfg.epochs, improved)
        save_checkpoint(last, run_id, state, model, setup.optim)
        if on_epoch is not None:
            on_epoch(row)
    model.load_state_dict(torch.load(best, map_location=setup.device, weights_only=True))
    return FitResult(
        state["best_epoch"],
        state["best_accuracy"],
        state["epoch"],
        state["history"],
        state["seconds"],
    )


def set_up(model: nn.Module, reviews: int, cfg: TrainConfig, extras: Extras) -> Setup:
    """The device and precision, the model on the device, and the optimiser with a schedule
    over all the run's steps."""
    device = resolve_device(cfg.device)
    precision = training_precision(cfg.precision, device)
    model.to(device)
    texts = reviews + int(round(cfg.spans.rate * reviews))  # spans are drawn per epoch
    if cfg.phrase_rate > 0 and extras.phrases is not None:  # so are phrases
        texts += min(len(extras.phrases), round(cfg.phrase_rate * reviews))
    steps = cfg.epochs * buckets_per_epoch(texts, cfg.batch_size, cfg.bucket_pool)
    optim = fine_tuning_optimiser(model, cfg, steps, device, precision)
    return Setup(cfg, device, precision, optim, extras)


def initial_state(
    last: Path, run_id: str, model: nn.Module, optim: Optimiser, resume: bool
) -> dict[str, Any]:
    """The fit's state: from its checkpoint with `resume`, else new (never over a checkpoint)."""
    if resume:
        state = load_checkpoint(last, run_id, model, optim)
        state.setdefault("best_loss", float("inf"))  # checkpoints of 0.1.0 runs did not record it
        log.info("resumed from %s after epoch %d", last, state["epoch"])
        return state
    if last.exists():
        raise UserError(
            f"{last} exists from an earlier run: pass --resume to continue it, "
            f"or remove {last.parent}"
        )
    return {
        "epoch": 0,
        "best_accuracy": -1.0,
        "best_loss": float("inf"),
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "seconds": 0.0,
    }


def record_epoch(state: dict[str, Any], row: dict[str, float]) -> bool:
    """Add the epoch's row to the state; returns whether it is the best yet: better accuracy,
    or the same accuracy at a lower loss (a small validation set reaches its best accuracy
    early, and the first epoch to do so is seldom the best trained)."""
    accuracy, loss = chosen_accuracy(row), row["val_loss"]
    improved = accuracy > state["best_accuracy"] or (
        accuracy == state["best_accuracy"] and loss < state["best_loss"]
    )
    if improved:
        state.update(best_accuracy=accuracy, best_loss=loss, best_epoch=row["epoch"], bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    state["history"].append(row)
    state["epoch"] = row["epoch"]
    state["seconds"] += row["seconds"]
    return improved


def chosen_accuracy(row: dict[str, float]) -> float:
    """What epochs are chosen on: the validation accuracy, or with treebank sentences to score
    (--phrase-dev) the mean of the two, so that a run is chosen for whole reviews and single
    sentences together."""
    if "phrase_dev_accuracy" in row:
        return (row["val_accuracy"] + row["phrase_dev_accuracy"]) / 2
    return row["val_accuracy"]


def log_epoch(row: dict[str, float], epochs: int, improved: bool) -> None:
    phrases = (
        f"  phrase_dev_acc {row['phrase_dev_accuracy']:.4f}" if "phrase_dev_accuracy" in row else ""
    )
    log.info(
        "epoch %d/%d  train_loss %.4f  val_loss %.4f  val_acc %.4f%s  lr %.2e  %.0fs%s",
        row["epoch"],
        epochs,
        row["train_loss"],
        row["val_loss"],
        row["val_accuracy"],
        phrases,
        row["lr"],
        row["seconds"],
        "  *best" if improved else "",
    )
