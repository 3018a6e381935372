"""The in-process Python API: SentimentModel.load(...).predict([...]) -> [P(positive), ...]."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import torch

from model.artifact import Artifact, load_artifact
from model.batching import every, in_length_order, pad_batch
from model.drift import known_share
from model.runtime import autocast, resolve_device, resolve_dtype
from model.text import TextPipeline

BUNDLED_NAME = "imdb-bilstm"


def bundled_model_path() -> Path:
    """The artifact shipped inside the package, found in a source tree and a wheel alike."""
    return Path(str(resources.files("model") / "bundled" / BUNDLED_NAME))


class Prediction(NamedTuple):
    """A text's score, and how much of the text the model could read as words it knows."""

    score: float  # P(positive), calibrated
    known_share: float  # share of the tokens read that are in the vocabulary, in [0, 1]

    @property
    def label(self) -> str:
        return "positive" if self.score >= 0.5 else "negative"


class SentimentModel:
    """A loaded artifact: the text pipeline, the vocabulary and the TorchScript network.

    Safe to call from any number of threads (a thread pool, a sync web route, a Ray actor with
    concurrency): every text gets the score it gets alone on one thread. Tokenizing takes
    turns under the pipeline's lock; forward passes run side by side.
    """

    def __init__(self, artifact: Artifact, device: str = "cpu", dtype: str = "fp32") -> None:
        self.artifact = artifact
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.pipeline = TextPipeline(artifact.text_config, artifact.vocab)
        self.network = artifact.program.to(self.device)
        self.network.eval()

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, device: str = "cpu", dtype: str = "fp32"
    ) -> SentimentModel:
        """Load an artifact directory; with no path, the bundled IMDB model.

        device: auto|cpu|cuda. dtype: auto|fp32|bf16|fp16 (auto: bf16 where the hardware has
        it natively). fp32 is the default because its scores are exactly reproducible.
        """
        path = bundled_model_path() if path is None else Path(path)
        artifact = load_artifact(path, map_location="cpu")
        return cls(artifact, device=device, dtype=dtype)

    @property
    def version(self) -> str:
        return self.artifact.version

    @property
    def metadata(self) -> dict[str, Any]:
        return self.artifact.metadata

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids for each text through the one text pipeline; never empty."""
        return self.pipeline.encode_many(texts)

    def score_ids(self, id_lists: Sequence[Sequence[int]]) -> list[float]:
        """P(positive) for already-encoded texts, as one forward pass, in input order."""
        if not id_lists:
            return []
        ids, lengths = pad_batch(id_lists)
        self.network.eval()
        with torch.inference_mode(), autocast(self.device, self.dtype):
            logits = self.network(ids.to(self.device), lengths.to(self.device))
        probs = torch.sigmoid(logits.float()).cpu()
        return [float(p) for p in probs]

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[float]:
        """P(positive) for each text, in input order.

        Texts are batched by length, so little time goes on padding; a text's score does not
        depend on its batch-mates.
        """
        return self.score_encoded(self.encode(self._texts(texts, batch_size)), batch_size)

    @staticmethod
    def _texts(texts: Sequence[str], batch_size: int) -> Sequence[str]:
        if isinstance(texts, str):
            raise TypeError("predict takes a list of texts; wrap a single text in a list")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return texts

    def predictions(self, texts: Sequence[str], batch_size: int = 64) -> list[Prediction]:
        """A Prediction for each text, in input order: its score, as predict() gives it, and
        its known share. A low known share (emoji only, another language, noise: below about
        0.5) means the score rests on little the model can read; treat it as 'cannot tell'."""
        id_lists = self.encode(self._texts(texts, batch_size))
        unk = self.artifact.vocab.unk_index
        scores = self.score_encoded(id_lists, batch_size)
        return [
            Prediction(p, known_share(ids, unk)) for p, ids in zip(scores, id_lists, strict=True)
        ]

    def score_encoded(self, id_lists: Sequence[Sequence[int]], batch_size: int = 64) -> list[float]:
        """P(positive) for encoded texts, in input order, in batches of `batch_size` by length."""
        return self.score_by_length(id_lists, every(batch_size))

    def score_by_length(
        self, id_lists: Sequence[Sequence[int]], cut: Callable[[list[int]], list[int]]
    ) -> list[float]:
        """P(positive) for encoded texts, in input order. The texts are sorted by length and
        scored in the groups that `cut` ends (model.batching.in_length_order)."""
        scores = [0.0] * len(id_lists)
        for rows in in_length_order([len(ids) for ids in id_lists], cut):
            for i, p in zip(rows, self.score_ids([id_lists[i] for i in rows]), strict=True):
                scores[i] = p
        return scores
