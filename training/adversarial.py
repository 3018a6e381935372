"""The adversarial terms of fine-tuning (Miyato et al. 2017), both pushes of the embedded words.

  * Adversarial training (`TrainConfig.adversarial`): a labelled batch is trained a second time
    on its embedded words pushed, as a whole text, along the gradient of its loss
    (`adversarial_push` of the gradient the clean loss left).
  * Virtual adversarial training (`TrainConfig.vat`): spans of unlabeled texts
    (`unlabeled_spans`) are trained to keep their score when pushed in the direction that moves
    it most (`virtual_adversarial_loss`).

A push is measured in mean word-vector norms of the batch and never moves padding. Both pushed
losses are `batch_loss`, the loss of the network on embedded words, as the clean one is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from model.batching import pad_batch
from model.runtime import autocast
from model.vocab import Vocab
from training.spans import draw_span


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


def unlabeled_spans(
    texts: Sequence[list[int]],
    ends: frozenset[int],
    max_tokens: int,
    count: int,
    rng: np.random.Generator,
) -> tuple[Tensor, Tensor]:
    """`count` spans of texts drawn at random, as training spans are: ids [count, steps] and
    lengths [count]."""
    rows = rng.integers(0, len(texts), size=count)
    return pad_batch([draw_span(texts[r], ends, max_tokens, rng) for r in rows])
