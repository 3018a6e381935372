"""The model side of the service: the batcher's backend. It tokenizes, groups by length
(service.engine.grouping) and runs the network; it warms the model up and checks it on the
built-in samples before the service reports ready."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from model.api import Prediction, SentimentModel, bundled_model_path
from service import metrics, samples
from service.engine.grouping import groups
from service.engine.threads import Parallelism
from service.settings import Settings

log = logging.getLogger("service.scorer")


class ModelCheckFailed(Exception):
    """The model failed a check on the built-in samples; the message says which and how."""


class Scorer:
    """The batcher's backend: prepare() tokenizes, run() scores. Both run on worker threads;
    run() may run on several at once, one batch each (TorchScript modules are reentrant)."""

    def __init__(self, settings: Settings, parallel: Parallelism, path: Path | None = None) -> None:
        """The artifact at `path` (default: the settings' model) on the settings' device."""
        self.parallel = parallel
        self.path = Path(path or settings.model or bundled_model_path()).resolve()
        self.model = SentimentModel.load(self.path, device=settings.device, dtype=settings.dtype)
        self.max_batch_size = settings.max_batch_size
        self.precision_max_abs_diff: float | None = None
        self.warmup_seconds = 0.0

    @property
    def version(self) -> str:
        return self.model.version

    def prepare(self, texts: list[str]) -> list[list[int]]:
        return self.model.encode(texts)

    def run(self, id_lists: list[list[int]]) -> list[Prediction]:
        """score(), and each text's score and share of unknown tokens observed in the live
        drift histograms of this model's version."""
        predictions = self.score(id_lists)
        scores, unknown = (
            metrics.SCORE.labels(self.version),
            metrics.UNKNOWN_SHARE.labels(self.version),
        )
        for p in predictions:
            scores.observe(p.score)
            unknown.observe(1.0 - p.known_share)
        return predictions

    def score(self, id_lists: list[list[int]]) -> list[Prediction]:
        """Predictions in input order; texts of similar length share a forward pass."""
        scores = self.model.score_by_length(id_lists, groups)
        unk = self.model.artifact.vocab.unk_index
        # model.drift.known_share, at C speed: ids are never empty
        pairs = zip(id_lists, scores, strict=True)
        return [Prediction(score, 1.0 - ids.count(unk) / len(ids)) for ids, score in pairs]

    def warm_up(self, rounds: int) -> None:
        """Run each kind of batch the service will see, so the first requests are not slow:
        a short text alone and a full batch of them, a long text alone and a few together.
        (A full batch of 800-token reviews would cost seconds of start-up and teach nothing
        that the smaller long batch does not.)"""
        started = time.perf_counter()
        short, long = self.prepare(samples.SHORT[:1]), self.prepare(samples.LONG[:1])
        for _ in range(rounds):
            for batch in (
                short,
                short * self.max_batch_size,
                long,
                long * min(8, self.max_batch_size),
            ):
                self.model.score_ids(batch)
        self.warmup_seconds = time.perf_counter() - started

    def check(self) -> None:
        """The model's scores on the built-in samples are probabilities (ModelCheckFailed if
        not); in bf16/fp16, the largest |score difference| from fp32 on them is recorded."""
        reduced = self.model.predict(samples.ALL)
        bad = sum(1 for p in reduced if not (math.isfinite(p) and 0.0 <= p <= 1.0))
        if bad:
            raise ModelCheckFailed(
                f"{self.version} gives {bad} of {len(reduced)} built-in samples a score that is "
                "not a probability (NaN, infinite or outside [0, 1]); its weights or its program "
                "are broken: export the artifact again"
            )
        if self.model.dtype == "fp32":
            return
        exact = SentimentModel(self.model.artifact, device=str(self.model.device), dtype="fp32")
        reference = exact.predict(samples.ALL)
        self.precision_max_abs_diff = max(
            abs(a - b) for a, b in zip(reduced, reference, strict=True)
        )
        log.info(
            "%s vs fp32 on %d samples: max |dp| %.2e",
            self.model.dtype,
            len(samples.ALL),
            self.precision_max_abs_diff,
        )

    def serving_info(self) -> dict[str, Any]:
        """For GET /model: where and how the model runs, its warm-up and precision check."""
        return {
            "device": str(self.model.device),
            "dtype": self.model.dtype,
            "inference_threads": self.parallel.batches,
            "torch_threads": self.parallel.torch_threads,
            "torch_version": torch.__version__,
            "warmup_seconds": round(self.warmup_seconds, 3),
            "precision_check": None
            if self.precision_max_abs_diff is None
            else {
                "reference": "fp32",
                "samples": len(samples.ALL),
                "max_abs_diff": self.precision_max_abs_diff,
            },
        }
