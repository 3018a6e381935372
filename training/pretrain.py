"""Stage: the encoder pretrained as two language models on unlabeled reviews (ELMo's layout).

The separate layout's forward stack reads tokens 0..t and predicts token t+1; its backward stack
reads t..n-1 and predicts t-1. Both predict through the input embedding, tied (Press & Wolf
2017): a projection from the hidden state to the embedding's width, then a dot product with
each word's vector. A full softmax over the vocabulary would cost more than the LSTM itself on
a CPU, so the loss is a sampled softmax (Jean et al. 2015): the true word against `samples`
words drawn for the whole batch from a log-uniform (Zipfian) distribution over the vocabulary,
which is sorted by frequency, with the usual log-expected-count correction.

pretrain() reads top to bottom like training.loop.fit(): epochs of length-bucketed batches,
the loss on held-out texts after each, a checkpoint every few minutes and after every epoch
(`--resume` continues mid-epoch with the same batches and random state, so an interrupted run
ends with the same weights), and the encoder saved as `encoder.pt` for fine-tuning.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from model.batching import every, in_length_order, pad_batch, shuffled_buckets
from model.network import LockedDropout, SentimentLSTM, reverse_within_lengths
from model.runtime import autocast, resolve_device
from training.checkpoint import ENCODER, PRETRAIN_LAST, load_checkpoint, save_checkpoint
from training.config import PretrainConfig, training_precision
from training.errors import UserError
from training.optim import pretraining_optimiser

log = logging.getLogger("training")
POOL = 50  # batches' worth of texts sorted together into length buckets, as fine-tuning's


class LanguageModelHead(nn.Module):
    """Hidden state -> the embedding's width -> scores of words, for each direction."""

    def __init__(self, model: SentimentLSTM, output_dropout: float) -> None:
        super().__init__()
        hidden = model.encoder.forward_stack.layers[-1].hidden_size
        width = model.embedding.embedding_dim
        self.project = nn.ModuleList([nn.Linear(hidden, width), nn.Linear(hidden, width)])
        self.bias = nn.Parameter(torch.zeros(model.embedding.num_embeddings))
        self.dropout = nn.Dropout(output_dropout)


def set_dropout(model: SentimentLSTM, p: float | None) -> dict[str, float]:
    """Set every locked dropout of the embedding and the stacks to `p` (None: leave them);
    returns what they were, by module name, for restore_dropout()."""
    before = {}
    for name, module in model.named_modules():
        if isinstance(module, LockedDropout):
            before[name] = module.p
            if p is not None:
                module.p = p
    return before


def restore_dropout(model: SentimentLSTM, before: dict[str, float]) -> None:
    for name, module in model.named_modules():
        if name in before:
            module.p = before[name]


class LogUniformSampler:
    """Word ids 1..V-1 with P(i) = log((i+1)/i) / log(V): frequent (low) ids drawn most."""

    def __init__(self, vocab_size: int) -> None:
        self.log_v = math.log(vocab_size)

    def draw(self, count: int, generator: torch.Generator) -> Tensor:
        u = torch.rand(count, generator=generator, dtype=torch.float64)
        return torch.exp(u * self.log_v).floor().long().clamp_(1)

    def log_expected(self, ids: Tensor, count: int) -> Tensor:
        """log(count * P(id)): the correction that makes sampled scores estimate full ones."""
        i = ids.double()
        return (torch.log(count * (torch.log1p(1 / i)) / self.log_v)).float()


def sampled_softmax_loss(
    hidden: Tensor,
    targets: Tensor,
    weight: Tensor,
    bias: Tensor,
    negatives: Tensor,
    sampler: LogUniformSampler,
) -> Tensor:
    """Mean cross-entropy of each target against the shared negatives.

    hidden: [n, width]; targets: [n]; weight: [vocab, width]; negatives: [k]
    """
    k = negatives.numel()
    true = (hidden * weight[targets]).sum(1) + bias[targets]  # [n]
    true = true - sampler.log_expected(targets, k).to(true.device)
    drawn = hidden @ weight[negatives].t() + bias[negatives]  # [n, k]
    drawn = drawn - sampler.log_expected(negatives, k).to(drawn.device)
    drawn = drawn.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
    logits = torch.cat([true.unsqueeze(1), drawn], dim=1).float()  # [n, 1 + k]
    return nn.functional.cross_entropy(logits, torch.zeros_like(targets))


def language_model_loss(
    model: SentimentLSTM,
    head: LanguageModelHead,
    ids: Tensor,
    lengths: Tensor,
    negatives: Tensor,
    sampler: LogUniformSampler,
) -> Tensor:
    """Both directions' next-word loss on a padded batch; ids: [batch, steps]."""
    steps = ids.size(1)
    reverse = reverse_within_lengths(lengths, steps).unsqueeze(2)
    embedded = model.embedding_dropout(model.embedding(ids))  # [batch, steps, emb]
    ahead, behind = model.encoder.directions(embedded, reverse)  # [batch, steps, hidden] x2
    t = torch.arange(steps - 1, device=ids.device).unsqueeze(0)  # [1, steps - 1]
    has_next = t < (lengths.unsqueeze(1) - 1)  # position t has a token t+1: [batch, steps - 1]
    weight, losses = model.embedding.weight, []
    # forward: the state at t predicts token t+1; backward: the state at t+1 predicts token t
    for direction, states, targets in (
        (0, ahead[:, :-1], ids[:, 1:]),
        (1, behind[:, 1:], ids[:, :-1]),
    ):
        hidden = head.project[direction](head.dropout(states[has_next]))  # [n, emb]
        losses.append(
            sampled_softmax_loss(hidden, targets[has_next], weight, head.bias, negatives, sampler)
        )
    return (losses[0] + losses[1]) / 2


def check_layout(model: SentimentLSTM) -> None:
    if not hasattr(model.encoder, "directions"):
        raise UserError(
            "pretraining needs the separate layout (--stacking separate): in the joint one, "
            "layer 2 reads both directions of layer 1 and a language model would see the future"
        )


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
    device = resolve_device(cfg.device)
    precision = training_precision(cfg.precision, device)
    head = LanguageModelHead(model, cfg.dropout)
    classifier_dropout = set_dropout(model, cfg.dropout)
    model.to(device)
    head.to(device)
    modules = nn.ModuleDict({"model": model, "head": head})
    steps_per_epoch = math.ceil(len(texts) / cfg.batch_size)
    optim = pretraining_optimiser(modules, cfg, cfg.epochs * steps_per_epoch)
    sampler = LogUniformSampler(model.embedding.num_embeddings)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last = checkpoint_dir / PRETRAIN_LAST
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "seconds": 0.0}
    if resume and last.exists():
        state = load_checkpoint(last, run_id, modules, optim)
        log.info("pretraining resumed after epoch %d, step %d", state["epoch"], state["step"])
    elif last.exists():
        raise UserError(f"{last} exists from an earlier run: pass --resume or remove it")
    log.info(
        "pretraining on %s in %s: %d texts, %d held out",
        device,
        precision,
        len(texts),
        len(held_out),
    )
    saved_at = time.perf_counter()
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        started = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch])
        batches = shuffled_buckets([len(x) for x in texts], cfg.batch_size, POOL, rng)
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        modules.train()
        total = state.get("epoch_loss", 0.0)
        bar = tqdm(batches, desc=f"pretrain {epoch}", unit="batch", leave=False, disable=None)
        for step, rows in enumerate(bar):
            negatives = sampler.draw(cfg.samples, generator).to(device)  # drawn even when skipped
            if step < state["step"]:
                continue  # done before the interruption
            ids, lengths = pad_batch([texts[i] for i in rows])
            with autocast(device, precision):
                loss = language_model_loss(
                    model, head, ids.to(device), lengths.to(device), negatives, sampler
                )
            optim.zero_grad()
            optim.backward(loss)
            optim.step(modules.parameters(), cfg.grad_clip)
            total += float(loss.detach())
            state["step"], state["epoch_loss"] = step + 1, total
            bar.set_postfix(loss=f"{total / (step + 1):.3f}")
            if time.perf_counter() - saved_at > cfg.checkpoint_minutes * 60:
                state["seconds"] += time.perf_counter() - started
                started = saved_at = time.perf_counter()
                save_checkpoint(last, run_id, state, modules, optim)
        held = held_out_loss(model, head, held_out, sampler, cfg, device, precision)
        state["seconds"] += time.perf_counter() - started
        row = {
            "epoch": epoch,
            "train_loss": total / max(1, len(batches)),
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
        save_checkpoint(last, run_id, state, modules, optim)
        saved_at = time.perf_counter()
    model.cpu()
    restore_dropout(model, classifier_dropout)
    record = {
        "run_id": run_id,
        "config": asdict(cfg),
        "texts": len(texts),
        "history": state["history"],
        "seconds": round(state["seconds"], 1),
    }
    save_encoder(checkpoint_dir / ENCODER, model, record)
    return record


@torch.no_grad()
def held_out_loss(
    model: SentimentLSTM,
    head: LanguageModelHead,
    texts: list[list[int]],
    sampler: LogUniformSampler,
    cfg: PretrainConfig,
    device: torch.device,
    precision: str,
) -> float:
    """The sampled loss on held-out texts, with fixed negatives: comparable across epochs."""
    if not texts:
        return float("nan")
    model.eval()
    head.eval()
    negatives = sampler.draw(cfg.samples, torch.Generator().manual_seed(cfg.seed)).to(device)
    total = 0.0
    for rows in in_length_order([len(x) for x in texts], every(cfg.batch_size)):
        ids, lengths = pad_batch([texts[i] for i in rows])
        with autocast(device, precision):
            loss = language_model_loss(
                model, head, ids.to(device), lengths.to(device), negatives, sampler
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
