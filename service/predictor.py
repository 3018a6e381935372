"""The model side of the service: tokenize, group by length, run the network. Only this module
(and `model`) imports torch."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from model.api import SentimentModel
from model.runtime import resolve_device
from service import metrics, samples
from service.settings import Settings, usable_cpus

log = logging.getLogger("service.predictor")

# Cost of one forward pass over n texts padded to length L, in units of one token-step:
#   FIXED + L * (PER_STEP + n)
# A pass costs as much as a couple of hundred padded token-steps before it starts, and each time
# step about two token-steps more than its tokens. Splitting a batch pays these again; padding
# pays for every padded position. The split that minimises the sum is found exactly (groups()).
# `python -m benchmarks.grouping` fits the two on the bundled network (hidden 256, bf16, one
# torch thread, 2-core AMX CPU): FIXED 208-230 and PER_STEP 1.86-1.93 over two runs, the fit
# within 33% of every pass. The values below come from an earlier such fit; under the new one,
# the groups they choose for batches of 64 IMDB texts (long, short, half and half) cost at most
# 2% more than the groups the new values would choose.
FIXED_COST = 150.0
PER_STEP_COST = 1.5


def groups(
    lengths: Sequence[int], fixed: float = FIXED_COST, per_step: float = PER_STEP_COST
) -> list[int]:
    """Where to cut texts sorted by length into batches of least total cost.

    lengths must be sorted ascending; returns the end index of each group (the last is len).
    Dynamic programming over contiguous groups: best[j] = min_i best[i] + cost(i..j).
    """
    n = len(lengths)
    if n == 0:
        return []
    lens = np.asarray(lengths, dtype=np.float64)
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        starts = np.arange(j)  # group = texts[i:j], its longest is lens[j - 1]
        costs = best[:j] + fixed + lens[j - 1] * (per_step + (j - starts))
        cut[j] = int(np.argmin(costs))
        best[j] = costs[cut[j]]
    ends = []
    j = n
    while j > 0:
        ends.append(j)
        j = int(cut[j])
    return ends[::-1]


# On CPU, batches run side by side, each on one inference thread with few intra-op threads:
# on 2 CPUs, two batches on one torch thread each scored 25-56% more texts per second than one
# batch at a time on two torch threads, which spend much of their time synchronising (two runs
# of python -m benchmarks.threads --concurrency). Beyond four, batches would get small; larger
# machines give each of the four more intra-op threads instead.
MAX_CONCURRENT_BATCHES = 4


@dataclass(frozen=True)
class Parallelism:
    batches: int  # batches that run at once, each on its own inference thread
    torch_threads: int  # intra-op threads of each of those


def parallelism(settings: Settings) -> Parallelism:
    """The CPUs this process may use (shared among workers), split so that batches x threads
    never exceeds them. A GPU runs one batch at a time."""
    cpus = max(1, usable_cpus() // settings.workers)
    if resolve_device(settings.device).type == "cuda":
        return Parallelism(settings.inference_threads or 1, settings.torch_threads or cpus)
    batches = settings.inference_threads or min(cpus, MAX_CONCURRENT_BATCHES)
    return Parallelism(batches, settings.torch_threads or max(1, cpus // batches))


def init_inference_thread(torch_threads: int) -> None:
    """Each inference thread's own torch thread count (OpenMP keeps it per thread)."""
    torch.set_num_threads(torch_threads)


class ModelCheckFailed(Exception):
    """The model failed a check on the built-in samples; the message says which and how."""


class Predictor:
    """The batcher's backend: prepare() tokenizes, run() scores. Both run on worker threads;
    run() may run on several at once, one batch each (TorchScript modules are reentrant)."""

    def __init__(self, settings: Settings, parallel: Parallelism) -> None:
        self.parallel = parallel
        self.model = SentimentModel.load(
            settings.model, device=settings.device, dtype=settings.dtype
        )
        self.max_batch_size = settings.max_batch_size
        self.precision_max_abs_diff: float | None = None
        self.warmup_seconds = 0.0

    @property
    def version(self) -> str:
        return self.model.version

    def prepare(self, texts: list[str]) -> list[list[int]]:
        return self.model.encode(texts)

    def run(self, id_lists: list[list[int]]) -> list[float]:
        """Scores in input order; texts of similar length share a forward pass. Each text's
        score and share of unknown tokens feed the live drift histograms."""
        scores = self.model.score_by_length(id_lists, groups)
        unk = self.model.artifact.vocab.unk_index
        for ids, score in zip(id_lists, scores, strict=True):
            metrics.SCORE.observe(score)
            # model.drift.unknown_share, at C speed: ids are never empty
            metrics.UNKNOWN_SHARE.observe(ids.count(unk) / len(ids))
        return scores

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

    def describe(self) -> dict[str, Any]:
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
