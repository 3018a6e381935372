"""The network: GloVe-initialised embedding, 2-layer BiLSTM, pooling over time, linear head.

Two layouts of the same 2-layer bidirectional LSTM (ModelConfig.stacking):
  * "joint": each layer reads both directions of the layer below (the first bundled model).
  * "separate": a forward 2-layer stack and a backward 2-layer stack, concatenated at the top,
    as ELMo builds them. Neither direction ever sees the other, so each stack can be
    pretrained as a language model on unlabeled text (training.pretrain): the forward stack
    predicts the next word, the backward stack the previous one.

Padding never changes a review's score. A forward LSTM only looks back, so right-padding cannot
reach a real position; the backward direction runs as a forward LSTM over each sequence
reversed *within its own length*, so its padding also stays behind the real tokens. Pooling
masks padded positions. A review alone and inside a padded batch therefore gets the same score,
up to float rounding, without packed sequences, which train several times slower on CPU than
padded, length-bucketed batches.

forward(ids, lengths) = classify(embed(ids), lengths); `classify` is exported in the TorchScript
program so that explanations can take gradients with respect to the embeddings.
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


def _reorder(x: Tensor, reverse: Tensor) -> Tensor:
    # x: [batch, steps, features]; reverse: [batch, steps, 1]; its own inverse
    return x.gather(1, reverse.expand(-1, -1, x.size(2)))


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared by all its time steps (Gal & Ghahramani 2016):
    a feature dropped from a word is dropped from every word of that text."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        # x: [batch, steps, features]
        if not self.training or self.p == 0.0:
            return x
        mask = torch.empty(x.size(0), 1, x.size(2), device=x.device, dtype=x.dtype)
        return x * mask.bernoulli_(1 - self.p) / (1 - self.p)


def _lstm(input_size: int, hidden_size: int) -> nn.LSTM:
    """One unidirectional LSTM layer, its forget gates biased open (Jozefowicz et al. 2015)."""
    lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
    with torch.no_grad():
        lstm.bias_ih_l0[hidden_size : 2 * hidden_size].fill_(1.0)  # gates: input, forget, ...
        lstm.bias_hh_l0[hidden_size : 2 * hidden_size].zero_()
    return lstm


class BiLSTMLayer(nn.Module):
    """One bidirectional layer as two unidirectional LSTMs; see the module docstring."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.forward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x: Tensor, reverse: Tensor) -> Tensor:
        # x: [batch, steps, input]; reverse: [batch, steps, 1] -> [batch, steps, 2 * hidden]
        ahead, _ = self.forward_lstm(x)
        behind, _ = self.backward_lstm(_reorder(x, reverse))
        return torch.cat([ahead, _reorder(behind, reverse)], dim=2)


class JointEncoder(nn.Module):
    """Each layer reads both directions of the layer below."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        h = config.hidden_size
        sizes = [config.embedding_dim] + [2 * h] * (config.num_layers - 1)
        self.layers = nn.ModuleList(BiLSTMLayer(n, h) for n in sizes)
        self.between_layers = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, reverse: Tensor) -> Tensor:
        # x: [batch, steps, emb] -> [batch, steps, 2 * hidden]
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.between_layers(x)
            x = layer(x, reverse)
        return x


class Stack(nn.Module):
    """`num_layers` unidirectional LSTM layers with locked dropout between them."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        h = config.hidden_size
        sizes = [config.embedding_dim] + [h] * (config.num_layers - 1)
        self.layers = nn.ModuleList(_lstm(n, h) for n in sizes)
        self.between_layers = LockedDropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        # x: [batch, steps, emb] -> [batch, steps, hidden]
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.between_layers(x)
            x, _ = layer(x)
        return x


class SeparateEncoder(nn.Module):
    """A forward stack and a backward stack, concatenated at the top."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.forward_stack = Stack(config)
        self.backward_stack = Stack(config)

    def forward(self, x: Tensor, reverse: Tensor) -> Tensor:
        # x: [batch, steps, emb] -> [batch, steps, 2 * hidden]
        ahead, behind = self.directions(x, reverse)
        return torch.cat([ahead, behind], dim=2)

    def directions(self, x: Tensor, reverse: Tensor) -> tuple[Tensor, Tensor]:
        """Each stack's top layer, both in the text's order: [batch, steps, hidden] twice.
        At step t, the forward one has read tokens 0..t, the backward one t..length-1."""
        ahead = self.forward_stack(x)
        behind = _reorder(self.backward_stack(_reorder(x, reverse)), reverse)
        return ahead, behind


class SentimentLSTM(nn.Module):
    """forward(ids, lengths) -> logits of P(positive), calibrated by a temperature per length."""

    __constants__ = ["pooling"]  # TorchScript compiles only the chosen pooling branch

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.pooling = config.pooling
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, config.pad_index)
        self.embedding_dropout = LockedDropout(config.embedding_dropout)
        self.encoder = (
            JointEncoder(config) if config.stacking == "joint" else SeparateEncoder(config)
        )
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(config.pooled_size, 1)
        # Temperature scaling (Guo et al. 2017), fitted on validation after training; 1 = none.
        # temperatures[i] applies to texts whose token count n has length_edges[i-1] < n <=
        # length_edges[i]: one temperature for all lengths unless calibration sets edges.
        self.register_buffer("temperatures", torch.ones(1))
        self.register_buffer("length_edges", torch.zeros(0, dtype=torch.int64))

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        # ids: [batch, steps] int64, right-padded; lengths: [batch] int64 -> logits: [batch]
        return self.classify(self.embedding_dropout(self.embedding(ids)), lengths)

    @torch.jit.export
    def classify(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        """Calibrated logits from embedded tokens: [batch, steps, emb] -> [batch]."""
        steps = embedded.size(1)
        lengths = lengths.clamp(1, steps)
        reverse = reverse_within_lengths(lengths, steps).unsqueeze(2)  # [batch, steps, 1]
        h = self.encoder(embedded, reverse)  # [batch, steps, 2 * hidden]
        pooled = self.pool(h, lengths)  # [batch, pooled]
        logits = self.head(self.head_dropout(pooled)).squeeze(1)  # [batch]
        return logits.float() / self.temperature(lengths)

    @torch.jit.export
    def temperature(self, lengths: Tensor) -> Tensor:
        """The calibration temperature of each text, by its token count: [batch]."""
        return self.temperatures[torch.bucketize(lengths, self.length_edges)]

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

    def set_calibration(self, temperatures: list[float], length_edges: list[int]) -> None:
        """One temperature per length bucket; len(temperatures) == len(length_edges) + 1."""
        if len(temperatures) != len(length_edges) + 1:
            raise ValueError("calibration needs one temperature more than length edges")
        device = self.temperatures.device
        self.temperatures = torch.tensor(temperatures, dtype=torch.float32, device=device)
        self.length_edges = torch.tensor(length_edges, dtype=torch.int64, device=device)


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
