"""The training loop: length-bucketed batches, mixed precision, early stopping, checkpoints.

fit() reads top to bottom: for each epoch, train_epoch() then evaluate() on validation; keep
the best weights; stop when validation accuracy has not improved for `patience` epochs. After
every epoch the whole state goes to `checkpoint_dir/last.pt`, so an interrupted run resumes
where it stopped and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from model.batching import (
    buckets_per_epoch,
    every,
    in_length_order,
    pad_batch,
    shuffled_buckets,
)
from model.runtime import autocast, resolve_device
from model.vocab import Vocab
from training.checkpoint import BEST, LAST, load_checkpoint, save_checkpoint
from training.config import TrainConfig, training_precision
from training.errors import UserError
from training.metrics import classification_metrics, sigmoid
from training.optim import Optimiser, fine_tuning_optimiser
from training.spans import Judge, draw_span, sample_spans

log = logging.getLogger("training")


@dataclass
class Encoded:
    ids: list[list[int]]
    labels: np.ndarray  # [n]: 0/1, or soft targets in [0, 1] for training spans
    sentence_ends: frozenset[int] = frozenset()  # ids of ".", "!", ...: spans are sentences

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class FitResult:
    best_epoch: int
    best_accuracy: float
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


def train_epoch(
    model: nn.Module,
    data: Encoded,
    optim: Optimiser,
    cfg: TrainConfig,
    epoch: int,
    device: torch.device,
    precision: str,
    judge: Judge | None = None,
    unlabeled: Sequence[list[int]] = (),
) -> float:
    """One pass over the training reviews (and spans of them, chosen by `judge` if given), with
    a batch of spans of the `unlabeled` texts per step under `cfg.vat`; returns the mean loss."""
    model.train()
    rng = np.random.default_rng([cfg.seed, epoch])  # per epoch: resuming replays the same order
    vat_rng = np.random.default_rng([cfg.seed, epoch, 1])  # its own: other runs keep their draws
    ends = data.sentence_ends  # `data` is replaced below by reviews and spans, which has none
    spans, span_targets = sample_spans(data.ids, data.labels, cfg.spans, rng, ends, judge)
    if judge is not None:
        log.info("epoch %d: %d spans the teacher judges opinions", epoch, len(spans))
    data = Encoded(data.ids + spans, np.concatenate([data.labels, span_targets]))
    batches = shuffled_buckets([len(x) for x in data.ids], cfg.batch_size, cfg.bucket_pool, rng)
    labels = torch.as_tensor(data.labels, dtype=torch.float32)
    total, seen = 0.0, 0
    bar = tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False, disable=None)
    for rows in bar:
        ids, lengths = pad_batch([data.ids[i] for i in rows])  # ids: [batch, steps]
        if cfg.word_dropout > 0:
            dropped = (torch.rand(ids.shape) < cfg.word_dropout) & (ids != Vocab.pad_index)
            ids = ids.masked_fill(dropped, Vocab.unk_index)
        ids, lengths = ids.to(device), lengths.to(device)
        target = labels[rows].to(device)  # [batch]
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
        if cfg.vat > 0:
            rows_u = vat_rng.integers(0, len(unlabeled), size=len(rows))
            spans_u = [draw_span(unlabeled[r], ends, cfg.spans.max_tokens, vat_rng) for r in rows_u]
            ids_u, lengths_u = pad_batch(spans_u)
            vat = virtual_adversarial_loss(
                model, ids_u.to(device), lengths_u.to(device), cfg.vat, device, precision
            )
            optim.backward(vat)
        optim.step(model.parameters(), cfg.grad_clip)
        total += float(loss.detach()) * len(rows)
        seen += len(rows)
        bar.set_postfix(loss=f"{total / seen:.4f}")
    return total / max(1, seen)


def batch_loss(
    model: nn.Module,
    embedded: Tensor,
    lengths: Tensor,
    target: Tensor,
    device: torch.device,
    precision: str,
) -> Tensor:
    """Binary cross-entropy of the network on embedded words: [batch, steps, emb] -> []."""
    with autocast(device, precision):
        logits = model.classify(model.embedding_dropout(embedded), lengths)  # [batch]
    return nn.functional.binary_cross_entropy_with_logits(logits.float(), target)


def adversarial_push(embedded: Tensor, grad: Tensor, ids: Tensor, epsilon: float) -> Tensor:
    """The perturbation of adversarial training: each text's loss gradient with respect to its
    embedded words, scaled to a norm of `epsilon` mean word-vector norms (the norm taken over
    the whole text). Padding gets no gradient, so it is never pushed.

    embedded, grad: [batch, steps, emb]; ids: [batch, steps] -> [batch, steps, emb]
    """
    real = ids != Vocab.pad_index  # [batch, steps]
    word_norm = embedded.norm(dim=2)[real].mean()
    grad = grad.float() * real.unsqueeze(2)
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)  # [batch, 1, 1]
    return (epsilon * word_norm * grad / norms).to(embedded.dtype)


# The first step of the search for the direction that changes a score most: a random push this
# share of the real one (Miyato et al.'s 0.1 against their 5), in fp32, where it is not rounded
# away.
VAT_PROBE = 0.02


def virtual_adversarial_loss(
    model: nn.Module,
    ids: Tensor,
    lengths: Tensor,
    epsilon: float,
    device: torch.device,
    precision: str,
) -> Tensor:
    """Virtual adversarial training's loss for unlabeled texts: how far the network's score
    moves when the embedded words are pushed by `epsilon` mean word-vector norms (per text) in
    the direction that moves it most, found by one step of power iteration from a random one.

    The binary cross-entropy against the clean score, held fixed: the KL divergence of the two
    Bernoullis plus the clean score's entropy, so it has the same gradient. The clean score and
    the search run without dropout, in fp32; the pushed texts train as labelled ones do.

    ids: [batch, steps] -> []
    """
    model.eval()
    with torch.no_grad():
        embedded = model.embedding(ids)  # [batch, steps, emb]
        clean = torch.sigmoid(model.classify(embedded, lengths).float())  # [batch]
    probe = adversarial_push(embedded, torch.randn_like(embedded), ids, epsilon * VAT_PROBE)
    probe.requires_grad_()  # adversarial_push leaves padding unpushed
    moved = model.classify(embedded + probe, lengths).float()
    loss = nn.functional.binary_cross_entropy_with_logits(moved, clean)
    (direction,) = torch.autograd.grad(loss, probe)
    model.train()
    push = adversarial_push(embedded, direction, ids, epsilon)
    return batch_loss(model, model.embedding(ids) + push, lengths, clean, device, precision)


def fit(
    model: nn.Module,
    train: Encoded,
    val: Encoded,
    cfg: TrainConfig,
    checkpoint_dir: Path,
    run_id: str,
    resume: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    judge: Judge | None = None,
    unlabeled: Sequence[list[int]] = (),
) -> FitResult:
    """Train with early stopping; leaves the best weights in `model`. `unlabeled`: encoded texts
    for `cfg.vat`."""
    if cfg.vat > 0 and not unlabeled:
        raise UserError("virtual adversarial training (vat) needs unlabeled texts")
    device = resolve_device(cfg.device)
    precision = training_precision(cfg.precision, device)
    model.to(device)
    texts = len(train) + int(round(cfg.spans.rate * len(train)))  # spans are drawn per epoch
    steps = cfg.epochs * buckets_per_epoch(texts, cfg.batch_size, cfg.bucket_pool)
    optim = fine_tuning_optimiser(model, cfg, steps, device, precision)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last, best = checkpoint_dir / LAST, checkpoint_dir / BEST
    state = {
        "epoch": 0,
        "best_accuracy": -1.0,
        "best_loss": float("inf"),
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "seconds": 0.0,
    }
    if resume:
        state = load_checkpoint(last, run_id, model, optim)
        state.setdefault("best_loss", float("inf"))  # checkpoints of 0.1.0 runs did not record it
        log.info("resumed from %s after epoch %d", last, state["epoch"])
    elif last.exists():
        raise UserError(
            f"{last} exists from an earlier run: pass --resume to continue it, "
            f"or remove {checkpoint_dir}"
        )
    log.info(
        "training on %s in %s: %d train, %d validation reviews",
        device,
        precision,
        len(train),
        len(val),
    )
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        if state["bad_epochs"] >= cfg.patience:
            break
        started = time.perf_counter()
        train_loss = train_epoch(
            model,
            train,
            optim,
            cfg,
            epoch,
            device,
            precision,
            judge,
            unlabeled,
        )
        val_logits = predict_logits(model, val, device)
        metrics = classification_metrics(val.labels, sigmoid(val_logits))
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": metrics["log_loss"],
            "val_accuracy": metrics["accuracy"],
            "lr": cfg.lr * optim.lr_share(),  # the head's
            "seconds": time.perf_counter() - started,
        }
        # Better accuracy, or the same accuracy at a lower loss: a small validation set reaches
        # its best accuracy early, and the first epoch to do so is seldom the best trained.
        accuracy, loss = metrics["accuracy"], metrics["log_loss"]
        improved = accuracy > state["best_accuracy"] or (
            accuracy == state["best_accuracy"] and loss < state["best_loss"]
        )
        if improved:
            state.update(best_accuracy=accuracy, best_loss=loss, best_epoch=epoch, bad_epochs=0)
            torch.save(model.state_dict(), best)
        else:
            state["bad_epochs"] += 1
        state["history"].append(row)
        state["epoch"] = epoch
        state["seconds"] += row["seconds"]
        log.info(
            "epoch %d/%d  train_loss %.4f  val_loss %.4f  val_acc %.4f  lr %.2e  %.0fs%s",
            epoch,
            cfg.epochs,
            train_loss,
            row["val_loss"],
            row["val_accuracy"],
            row["lr"],
            row["seconds"],
            "  *best" if improved else "",
        )
        save_checkpoint(last, run_id, state, model, optim)
        if on_epoch is not None:
            on_epoch(row)
    model.load_state_dict(torch.load(best, map_location=device, weights_only=True))
    return FitResult(
        state["best_epoch"],
        state["best_accuracy"],
        state["epoch"],
        state["history"],
        state["seconds"],
    )
