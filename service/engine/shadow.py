"""The shadow candidate: a model that answers no one, scoring a share of the live texts again
so that an operator sees how it would have answered before it serves.

After each batch that /predict's batcher runs, each of its texts is offered here with the share
the operator chose (`offer`); the texts wait in a bounded queue of their own, and when it is
full they are dropped and counted, never waited for. One task takes them in batches and scores
them with the candidate on one thread of its own, at the lowest CPU priority (niceness 19) and
one torch thread: the candidate takes only CPU that /predict leaves. Nothing here can delay or
fail a request: the request's answer is sent before its text is offered, and the candidate's
failures are counted and logged, not raised.

For each shadowed text it records whether the two labels agree, the difference of the scores
(candidate minus serving), and both models' score and unknown-token share by version, in
histograms of their own (sentiment_shadow_*), so the serving drift histograms stay the serving
model's.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service import metrics
from service.engine.isolation import where_raised

log = logging.getLogger("service.shadow")
BATCH = 32  # texts per candidate pass


class ShadowQueue:
    def __init__(self, models: Any, capacity: int, nice: int) -> None:
        self.models = models  # service.engine.models.Registry
        self.capacity = capacity
        self._queue: collections.deque[tuple[str, float, float, str]] = collections.deque()
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(
            1, thread_name_prefix="shadow", initializer=_init_thread, initargs=(nice,)
        )
        self._random = random.Random()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._work(), name="shadow")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._queue.clear()
        metrics.SHADOW_QUEUE_DEPTH.set(0)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def offer(self, entries: list[Any], results: list[Any]) -> None:
        """The batcher's after-batch hook: each scored text joins with the configured share."""
        share = self.models.shadow_share
        if self.models.shadow is None or share <= 0:
            return
        for entry, result in zip(entries, results, strict=True):
            if not hasattr(result, "score") or self._random.random() >= share:
                continue  # a text that failed, or not drawn
            if len(self._queue) >= self.capacity:
                metrics.SHADOW_TEXTS.labels("dropped").inc()
                continue
            self._queue.append((entry.text, result.score, 1.0 - result.known_share, entry.version))
        metrics.SHADOW_QUEUE_DEPTH.set(len(self._queue))
        self._arrived.set()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._queue:
                taken = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                metrics.SHADOW_QUEUE_DEPTH.set(len(self._queue))
                candidate = self.models.shadow
                if candidate is None:  # dropped or promoted meanwhile
                    self._queue.clear()
                    break
                try:
                    scored = await loop.run_in_executor(self._pool, _score, candidate, taken)
                except Exception as exc:  # noqa: BLE001 - the candidate's failure is its own
                    metrics.SHADOW_TEXTS.labels("failed").inc(len(taken))
                    log.warning("the shadow candidate failed: %s", where_raised(exc))
                    continue
                _record(candidate.version, taken, scored)


def _init_thread(nice: int) -> None:
    from service.engine.threads import init_inference_thread, lower_priority, name_thread

    name_thread("shadow")
    lower_priority(nice)
    init_inference_thread(1)


def _score(candidate: Any, taken: list[tuple[str, float, float, str]]) -> list[Any]:
    scorer = candidate.scorer
    return scorer.score(scorer.prepare([text for text, _, _, _ in taken]))


def _record(version: str, taken: list[tuple[str, float, float, str]], scored: list[Any]) -> None:
    for (_, serving, serving_unknown, serving_version), mine in zip(taken, scored, strict=True):
        agree = (mine.score >= 0.5) == (serving >= 0.5)
        metrics.SHADOW_TEXTS.labels("scored").inc()
        metrics.SHADOW_AGREEMENT.labels("true" if agree else "false").inc()
        metrics.SHADOW_SCORE_DIFFERENCE.observe(mine.score - serving)
        metrics.SHADOW_SCORE.labels(version).observe(mine.score)
        metrics.SHADOW_UNKNOWN_SHARE.labels(version).observe(1.0 - mine.known_share)
        metrics.SHADOW_SCORE.labels(serving_version).observe(serving)
        metrics.SHADOW_UNKNOWN_SHARE.labels(serving_version).observe(serving_unknown)
