"""Batches of texts grouped by length, the one implementation for every consumer.

A padded batch costs as much as its longest text times its size, so texts of similar length go
together. Two orders serve everyone:

  * `in_length_order` for scoring (SentimentModel, the service's grouping, validation logits,
    pretraining's held-out loss, export checks, calibration): the texts sorted by length
    (stable, so equal lengths keep their input order) and cut where `ends` says; results are
    put back in input order by the caller with the indices.
  * `shuffled_buckets` for training: a random order, each pool of `batch_size * pool` texts
    sorted by length and cut into batches, the batches then shuffled. Its draws from `rng` are
    fixed (one permutation of the texts, one of the batches), so a seed gives the same batches
    on every run.

`pad_batch` turns one group of id lists into the tensors the network takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch


def pad_batch(
    id_lists: Sequence[Sequence[int]], pad_index: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids [batch, longest] and lengths [batch], both int64."""
    lengths = torch.tensor([len(ids) for ids in id_lists], dtype=torch.int64)
    ids = torch.full((len(id_lists), int(lengths.max())), pad_index, dtype=torch.int64)
    for row, seq in enumerate(id_lists):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.int64)
    return ids, lengths


def every(size: int) -> Callable[[list[int]], list[int]]:
    """Cut sorted lengths into groups of `size` (the last may be smaller)."""
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")

    def ends(lengths: list[int]) -> list[int]:
        return list(range(size, len(lengths), size)) + [len(lengths)] if lengths else []

    return ends


def in_length_order(
    lengths: Sequence[int], ends: Callable[[list[int]], list[int]]
) -> list[np.ndarray]:
    """Indices of the texts, shortest first, in the groups that `ends` closes: given the sorted
    lengths, it returns the end index of each group, the last being their count."""
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    sorted_lengths = [int(lengths[i]) for i in order]
    groups, start = [], 0
    for end in ends(sorted_lengths):
        groups.append(order[start:end])
        start = end
    return groups


def shuffled_buckets(
    lengths: Sequence[int], batch_size: int, pool: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: little padding, still random order."""
    order = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths)
    batches: list[np.ndarray] = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths_arr[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def buckets_per_epoch(texts: int, batch_size: int, pool: int) -> int:
    """How many batches shuffled_buckets() makes of `texts` texts."""
    span = batch_size * pool
    full, rest = divmod(texts, span)
    return full * math.ceil(span / batch_size) + math.ceil(rest / batch_size)
