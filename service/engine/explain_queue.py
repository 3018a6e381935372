"""The explanation queue: its own bounded queue, its own threads, one text at a time.

An explanation costs tens of forward and backward passes, so it never shares anything with
/predict's batcher: not the queue, not the tokenizer thread, not the inference threads.
  * Every text of a request becomes one job (a batcher Entry, its batch size 1), or none do:
    QueueFull (503) when the queue cannot take them all, BatcherClosed (503) once shutting
    down. `capacity` counts texts waiting.
  * `concurrency` worker tasks each take the oldest live job, read it on the one `prepare`
    thread (the backend's text pipeline is not thread-safe), check its token count against
    `max_tokens` (TooManyTokens, a 422), and explain it on one of the `run` executor's threads.
  * Jobs whose caller has gone (future cancelled) are skipped; jobs past their deadline fail
    with DeadlineExceeded (504). An explanation already running is not interrupted: its cost is
    bounded by the token limit and the number of steps.
  * The threads are the caller's: `start()` makes them, one torch thread each, at the niceness
    SENTIMENT_EXPLAIN_NICE, so that /predict keeps the CPUs it needs while explanations run.

The backend is anything with `prepare(text) -> item` (len(item) = tokens the network reads) and
`run(item) -> result`; the unit tests use a fake one. This module does not import torch.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from service import metrics
from service.engine.isolation import where_raised
from service.engine.jobs import BatcherClosed, Entry, QueueFull, TooManyTokens, still_wanted
from service.settings import Settings

log = logging.getLogger("service.explain_queue")


class ExplainBackend(Protocol):
    def prepare(self, text: str) -> Any: ...  # len(item) = tokens the network reads

    def run(self, item: Any) -> Any: ...


class ExplainQueue:
    def __init__(
        self,
        backend: ExplainBackend,
        capacity: int,
        concurrency: int,
        max_tokens: int,
        prepare_executor: Executor,
        run_executor: Executor,
    ) -> None:
        self.backend = backend
        # A backend with pin_explainer() (service.engine.models.Registry) names the explainer
        # of the model serving when a request is queued (or raises ExplanationsUnavailable).
        self._pin = getattr(backend, "pin_explainer", lambda: backend)
        self.capacity = capacity
        self.concurrency = concurrency
        self.max_tokens = max_tokens
        self._prepare_pool = prepare_executor
        self._run_pool = run_executor
        self._queue: collections.deque[Entry] = collections.deque()
        self._arrived = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._running: set[Entry] = set()
        self._closing = False
        metrics.EXPLAIN_QUEUE_CAPACITY.set(capacity)

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._work(), name=f"explainer-{i}") for i in range(self.concurrency)
        ]

    def submit(self, texts: Sequence[str], timeout_s: float) -> list[Entry]:
        """Queue every text of one request, or none of them (QueueFull, BatcherClosed)."""
        if self._closing:
            raise BatcherClosed("the service is shutting down")
        if len(self._queue) + len(texts) > self.capacity:
            # Jobs whose caller has gone (a 504, a closed connection) hold no place: with a
            # queue this small, they would otherwise refuse texts until a worker got to them.
            self._queue = collections.deque(j for j in self._queue if j.live())
        if len(self._queue) + len(texts) > self.capacity:
            metrics.EXPLAIN_REJECTED.labels("queue_full").inc(len(texts))
            raise QueueFull(
                f"the explanation queue holds {len(self._queue)} of {self.capacity} texts"
            )
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        explainer = self._pin()  # the serving model's, or ExplanationsUnavailable
        version, deadline = str(getattr(explainer, "version", "")), now + timeout_s
        jobs = [  # each explanation runs alone: its batch size, in the timing headers, is 1
            Entry(t, loop.create_future(), now, deadline, "-", explainer, version, batch_size=1)
            for t in texts
        ]
        self._queue.extend(jobs)
        metrics.EXPLAIN_QUEUE_DEPTH.set(len(self._queue))
        self._arrived.set()
        return jobs

    async def stop(self, drain_timeout_s: float) -> None:
        """Finish what is queued and running (up to the timeout), then fail the rest."""
        self._closing = True
        self._arrived.set()
        if self._workers:
            done, pending = await asyncio.wait(self._workers, timeout=drain_timeout_s)
            if pending:
                log.warning("drain timeout: %d explanations still queued", len(self._queue))
                for task in pending:
                    task.cancel()
        for job in [*self._queue, *self._running]:
            if job.live():
                job.future.set_exception(
                    BatcherClosed("the service shut down before this text was explained")
                )
        self._queue.clear()
        metrics.EXPLAIN_QUEUE_DEPTH.set(0)

    async def _next(self) -> Entry | None:
        while True:
            while self._queue:
                job = self._queue.popleft()
                metrics.EXPLAIN_QUEUE_DEPTH.set(len(self._queue))
                if still_wanted(job, time.perf_counter(), metrics.EXPLAIN_REJECTED):
                    return job
            if self._closing:
                return None
            self._arrived.clear()
            await self._arrived.wait()

    async def _work(self) -> None:
        while (job := await self._next()) is not None:
            self._running.add(job)
            try:
                await self._explain(job)
            except Exception as exc:  # one failed explanation fails its text, not the worker
                if not isinstance(exc, TooManyTokens):  # by type and place: never the text
                    log.error("an explanation failed: %s", where_raised(exc))
                if job.live():
                    job.future.set_exception(exc)
            finally:
                self._running.discard(job)

    async def _explain(self, job: Entry) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        job.queue_seconds = started - job.enqueued
        metrics.EXPLAIN_QUEUE_WAIT.observe(job.queue_seconds)
        item = await loop.run_in_executor(self._prepare_pool, job.backend.prepare, job.text)
        job.tokenize_seconds = time.perf_counter() - started
        job.tokens = len(item)
        if job.tokens > self.max_tokens:
            metrics.EXPLAIN_REJECTED.labels("too_many_tokens").inc()
            raise TooManyTokens(job.tokens, self.max_tokens)
        # The client may have left, or the deadline passed, while the text was read.
        if not still_wanted(job, time.perf_counter(), metrics.EXPLAIN_REJECTED):
            return
        ran = time.perf_counter()
        result = await loop.run_in_executor(self._run_pool, job.backend.run, item)
        job.inference_seconds = time.perf_counter() - ran
        metrics.EXPLAIN_DURATION.observe(job.inference_seconds)
        metrics.EXPLAIN_TOKENS.observe(job.tokens)
        if job.live():
            job.future.set_result(result)


@dataclass
class Explanations:
    """What POST /explain needs: the queue and the models it explains with, or the reason there
    is no queue (explanations turned off: answered with 501)."""

    queue: ExplainQueue | None
    unavailable: str | None = None
    models: Any = None  # service.engine.models.Registry: whether the serving model explains
    method: dict[str, Any] = field(default_factory=dict)
    pools: list[ThreadPoolExecutor] = field(default_factory=list)

    def why_unavailable(self) -> str | None:
        """None while the serving model can be explained; otherwise why not (a 501)."""
        if self.queue is None:
            return self.unavailable
        return self.models.explain_unavailable() if self.models is not None else None

    async def stop(self, drain_timeout_s: float) -> None:
        if self.queue is not None:
            await self.queue.stop(drain_timeout_s)
        for pool in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)

    def info(self) -> dict[str, Any]:
        """For GET /model: whether explanations are served, why not, and their settings."""
        why = self.why_unavailable()
        return {"available": why is None, "unavailable": why, **self.method}


async def start_explanations(settings: Settings, models: Any) -> Explanations:
    """The explanation queue, started, with the serving model's explainer made and warmed up on
    its threads; or, with explanations turned off, the reason. A model that cannot be explained
    (an artifact without `classify`) still gets the queue: /explain answers 501 while it serves,
    and explains again once a model that can serves."""
    if settings.explain_concurrency == 0:
        return Explanations(
            None, "explanations are turned off on this server (SENTIMENT_EXPLAIN_CONCURRENCY=0)"
        )
    # torch loads here, not at import
    from service.engine.models import make_explainer
    from service.engine.threads import init_inference_thread, lower_priority

    def init_thread(torch_threads: int) -> None:
        lower_priority(settings.explain_nice)
        if torch_threads:
            init_inference_thread(torch_threads)

    run_pool = ThreadPoolExecutor(
        settings.explain_concurrency,
        thread_name_prefix="explain",
        initializer=init_thread,
        initargs=(1,),
    )
    prepare_pool = ThreadPoolExecutor(
        1, thread_name_prefix="explain-tokenize", initializer=init_thread, initargs=(0,)
    )
    serving = models.serving
    loop = asyncio.get_running_loop()
    serving.explainer, serving.explain_unavailable = await loop.run_in_executor(
        run_pool, make_explainer, settings, serving.scorer
    )
    queue = ExplainQueue(
        models,
        settings.explain_queue_capacity,
        settings.explain_concurrency,
        settings.explain_max_tokens,
        prepare_pool,
        run_pool,
    )
    queue.start()
    method = {
        "method": "integrated_gradients",
        "baseline": "pad",
        "steps": settings.explain_steps,
        "max_texts": settings.explain_max_texts,
        "max_tokens": settings.explain_max_tokens,
        "queue_capacity": settings.explain_queue_capacity,
        "concurrency": settings.explain_concurrency,
        "timeout_s": settings.explain_timeout_s,
        "nice": settings.explain_nice,
    }
    return Explanations(queue, None, models, method, [run_pool, prepare_pool])
