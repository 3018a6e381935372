"""The network: GloVe-initialised embedding, 2-layer BiLSTM, pooling over time, linear head.

Padding never changes a review's score. The forward direction of an LSTM only looks back, so
right-padding cannot reach a real position; the backward direction runs as a forward LSTM over
each sequence reversed *within its own length*, so its padding also stays behind the real
tokens. Pooling masks padded positions. A review alone and inside a padded batch therefore
gets the same score, up to float rounding, without packed sequences, which train several times
slower on CPU than padded, length-bucketed batches.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.config import ModelConfig


def reverse_within_lengths(lengths: Tensor, steps: int) -> Tensor:
    """Time indices that reverse each row's first `length` steps and keep its padding in place.

    lengths: [batch] -> index: [batch, steps]
    """
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)  # [1, steps]
    last = lengths.unsqueeze(1) - 1  # [batch, 1]
    return torch.where(t <= last, last - t, t)  # [batch, steps]


class BiLSTMLayer(nn.Module):
    """One bidirectional layer as two unidirectional LSTMs; see the module docstring."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.forward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: Tensor, reverse: Tensor) -> Tensor:
        # x: [batch, steps, input]; reverse: [batch, steps, 1] -> [batch, steps, 2 * hidden]
        ahead, _ = self.forward_lstm(x)
        x_reversed = x.gather(1, reverse.expand(-1, -1, x.size(2)))
        behind, _ = self.backward_lstm(x_reversed)
        behind = behind.gather(1, reverse.expand(-1, -1, behind.size(2)))
        return torch.cat([ahead, behind], dim=2)


class SentimentLSTM(nn.Module):
    """forward(ids, lengths) -> logits of P(positive), scaled by the calibration temperature."""

    __constants__ = ["pooling"]  # TorchScript compiles only the chosen pooling branch

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.pooling = config.pooling
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, config.pad_index)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        sizes = [config.embedding_dim] + [2 * config.hidden_size] * (config.num_layers - 1)
        self.layers = nn.ModuleList(BiLSTMLayer(n, config.hidden_size) for n in sizes)
        self.between_layers = nn.Dropout(config.dropout)
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(config.pooled_size, 1)
        # Temperature scaling (Guo et al. 2017), fitted on validation after training; 1 = none.
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        # ids: [batch, steps] int64, right-padded; lengths: [batch] int64 -> logits: [batch]
        steps = ids.size(1)
        lengths = lengths.clamp(1, steps)
        reverse = reverse_within_lengths(lengths, steps).unsqueeze(2)  # [batch, steps, 1]
        h = self.embedding_dropout(self.embedding(ids))  # [batch, steps, emb]
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.between_layers(h)
            h = layer(h, reverse)  # [batch, steps, 2 * hidden]
        pooled = self.pool(h, lengths)  # [batch, pooled]
        logits = self.head(self.head_dropout(pooled)).squeeze(1)  # [batch]
        return logits.float() / self.temperature

    def pool(self, h: Tensor, lengths: Tensor) -> Tensor:
        # h: [batch, steps, features] -> [batch, features] or [batch, 2 * features]
        steps = h.size(1)
        valid = torch.arange(steps, device=h.device).unsqueeze(0) < lengths.unsqueeze(1)
        valid = valid.unsqueeze(2)  # [batch, steps, 1]
        if self.pooling == "last":
            half = h.size(2) // 2
            last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, half)
            ahead = h[:, :, :half].gather(1, last).squeeze(1)  # forward state at the last token
            behind = h[:, 0, half:]  # backward state at the first token
            return torch.cat([ahead, behind], dim=1)
        maxed = h.masked_fill(~valid, float("-inf")).amax(dim=1)
        if self.pooling == "max":
            return maxed
        mean = h.masked_fill(~valid, 0.0).sum(dim=1) / lengths.unsqueeze(1).to(h.dtype)
        if self.pooling == "mean":
            return mean
        return torch.cat([maxed, mean], dim=1)

    @torch.jit.export
    def probabilities(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """P(positive): [batch] in [0, 1]."""
        return torch.sigmoid(self.forward(ids, lengths))


def init_embedding(model: SentimentLSTM, vectors: Tensor) -> None:
    """Copy pretrained vectors ([vocab, dim]) into the embedding; <pad> stays zero."""
    weight = model.embedding.weight
    if vectors.shape != weight.shape:
        raise ValueError(
            f"embedding vectors are {tuple(vectors.shape)}, expected {tuple(weight.shape)}"
        )
    with torch.no_grad():
        weight.copy_(vectors)
        weight[model.embedding.padding_idx or 0].zero_()
