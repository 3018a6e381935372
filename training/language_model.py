"""The encoder as two language models (ELMo's layout): the head and the loss pretraining trains.

The separate layout's forward stack reads tokens 0..t and predicts token t+1; its backward stack
reads t..n-1 and predicts t-1. Both predict through the input embedding, tied (Press & Wolf
2017): a projection from the hidden state to the embedding's width, then a dot product with
each word's vector. A full softmax over the vocabulary would cost more than the LSTM itself on
a CPU, so the loss is a sampled softmax (Jean et al. 2015): the true word against `samples`
words drawn for the whole batch from a log-uniform (Zipfian) distribution over the vocabulary,
which is sorted by frequency, with the usual log-expected-count correction.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from model.network import LockedDropout, SentimentLSTM, reverse_within_lengths
from training.errors import UserError


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
