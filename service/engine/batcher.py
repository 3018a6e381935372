"""Dynamic micro-batching: one bounded queue of texts, one consumer, futures resolved by index.

Every text of every request becomes one Entry in one queue. The consumer closes a batch
  * when it holds `max_batch_size` texts, or
  * `max_wait` after its first text was queued, or
  * at once when the queue is empty and the model is idle (nothing to wait for).
Up to `concurrency` batches run at once, each on one of the `run` executor's threads; "idle"
means one of those slots is free. A closed batch is tokenized on the `prepare` thread while
earlier batches are still running, so tokenizing and inference overlap. Entries whose caller
has gone (future cancelled) are skipped; entries past their deadline fail with
DeadlineExceeded.

The backend is anything with `prepare(texts) -> items` and `run(items) -> scores`, both called
on worker threads; the unit tests use a fake one. This module does not import torch. Entries and
the exceptions their futures end with are in service.engine.jobs.

A text that fails fails alone (service.engine.isolation): when the backend raises, the batch is
retried in smaller pieces, and only the texts that still fail get TextFailed (logged with their
request id, never their text); their batch-mates get their scores and the consumer goes on.
`health()` tells whether texts can still be served: not if the consumer has stopped (it logs
why and fails what is queued) or if a backend call has been running for longer than any call
should (a hung thread), so that the liveness probe restarts the process.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from service import metrics
from service.engine.isolation import Backend, Failure, prepare_each, run_each
from service.engine.jobs import (
    BatcherClosed,
    BatcherFailed,
    Entry,
    QueueFull,
    TextFailed,
    still_wanted,
)

log = logging.getLogger("service.batcher")
# A backend call running longer than this is stuck: a batch of 64 texts of 800 tokens takes a
# few seconds on a CPU, not a minute. health() then reports the process as unable to serve.
STALL_AFTER_S = 60.0


class Batcher:
    def __init__(
        self,
        backend: Backend,
        max_batch_size: int,
        max_wait_s: float,
        capacity: int,
        run_executor: Executor | None = None,
        concurrency: int = 1,
        after_batch: Callable[[list[Entry], list[Any]], None] | None = None,
    ) -> None:
        self.backend = backend
        # A backend with pin() (service.engine.models.Registry) names the backend that scores
        # a request queued now; a batch holds the texts of one backend only.
        self._pin: Callable[[], Backend] = getattr(backend, "pin", lambda: backend)
        self._after_batch = after_batch  # told of each batch's entries and results
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.capacity = capacity
        self._queue: collections.deque[Entry] = collections.deque()
        # The consumer sleeps on one future at a time; it is woken only when waking is useful:
        # when `_wanted` texts are queued, when a slot frees up, or when a timer fires.
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 1
        self._free_slots = concurrency  # batches that may start now
        self._slot_freed = asyncio.Event()
        self._slot_freed.set()
        self._prepare_pool = ThreadPoolExecutor(1, thread_name_prefix="tokenize")
        # The caller may pass the executor its model already lives on (with `concurrency`
        # threads, each set up for torch); otherwise one thread per slot.
        self._run_pool = run_executor or ThreadPoolExecutor(
            concurrency, thread_name_prefix="inference"
        )
        self._consumer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._closing = False
        self.failure: str | None = None  # why the consumer stopped, if it did
        self._in_hand: list[Entry] = []  # the batch between collecting and running
        self._calls: dict[int, tuple[str, float]] = {}  # backend calls in flight: stage, start
        self._call_ids = itertools.count()
        metrics.QUEUE_CAPACITY.set(capacity)

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._consumer = asyncio.get_running_loop().create_task(self._consume(), name="batcher")
        self._consumer.add_done_callback(self._consumer_stopped)

    def health(self) -> str | None:
        """None while texts can be served; otherwise why not."""
        if self.failure is not None:
            return f"the batcher stopped: {self.failure}"
        now = time.perf_counter()
        for stage, since in list(self._calls.values()):
            if now - since > STALL_AFTER_S:
                return f"a {stage} call has been running for {now - since:.0f}s"
        return None

    def submit(self, texts: Sequence[str], timeout_s: float, request_id: str = "-") -> list[Entry]:
        """Queue every text of one request, or none of them (QueueFull, BatcherClosed,
        BatcherFailed)."""
        if self.failure is not None:
            raise BatcherFailed(self.failure)
        if self._closing:
            raise BatcherClosed("the service is shutting down")
        if len(self._queue) + len(texts) > self.capacity:
            metrics.REJECTED.labels("queue_full").inc(len(texts))
            raise QueueFull(f"the queue holds {len(self._queue)} of {self.capacity} texts")
        loop = asyncio.get_running_loop()
        now = time.perf_counter()  # not loop.time(): uvloop's clock ticks in whole milliseconds
        deadline = now + timeout_s
        backend = self._pin()
        version = str(getattr(backend, "version", ""))
        entries = [
            Entry(t, loop.create_future(), now, deadline, request_id, backend, version)
            for t in texts
        ]
        self._queue.extend(entries)
        metrics.QUEUE_DEPTH.set(len(self._queue))
        if len(self._queue) >= self._wanted:
            self._wake()
        return entries

    async def stop(self, drain_timeout_s: float) -> None:
        """Finish what is queued and running (up to the timeout), then fail the rest."""
        self._closing = True
        self._wake()
        if self._consumer is not None and not self._consumer.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._consumer), drain_timeout_s)
            except asyncio.TimeoutError:
                log.warning("drain timeout: %d texts still queued", len(self._queue))
                self._consumer.cancel()
            except Exception:  # noqa: BLE001 - _consumer_stopped has logged it
                pass
        for entry in self._queue:
            if entry.live():
                entry.future.set_exception(
                    BatcherClosed("the service shut down before this text ran")
                )
        self._queue.clear()
        self._prepare_pool.shutdown(wait=False, cancel_futures=True)
        self._run_pool.shutdown(wait=False, cancel_futures=True)

    def _consumer_stopped(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        self.failure = f"{type(exc).__name__}: {exc}"
        log.critical("the batcher stopped; texts cannot be served", exc_info=exc)
        for entry in [*self._in_hand, *self._queue]:
            if entry.live():
                entry.future.set_exception(BatcherFailed(self.failure))
        self._queue.clear()
        metrics.QUEUE_DEPTH.set(0)

    async def _call(self, pool: Executor, stage: str, fn: Any, backend: Any, arg: Any) -> Any:
        """fn(backend, arg) on `pool`, recorded while it runs so that health() sees a hung
        call."""
        token = next(self._call_ids)
        self._calls[token] = (stage, time.perf_counter())
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, backend, arg)
        finally:
            del self._calls[token]

    def _fail(self, entry: Entry, failure: Failure) -> None:
        metrics.REJECTED.labels("failed").inc()
        log.error(
            "the backend failed on a text in %s (%s); its batch-mates were served",
            failure.stage,
            failure.error,
            extra={"fields": {"request_id": entry.request_id}},
        )
        if entry.live():
            entry.future.set_exception(TextFailed(entry.request_id))

    async def _consume(self) -> None:
        while True:
            batch = await self._collect()
            if batch is None:  # closing and nothing left
                break
            self._in_hand = batch
            closed = time.perf_counter()
            texts = [e.text for e in batch]
            prepared = await self._call(
                self._prepare_pool, "prepare", prepare_each, batch[0].backend, texts
            )
            for entry, item in zip(batch, prepared, strict=True):
                if isinstance(item, Failure):
                    self._fail(entry, item)
            tokenize_seconds = time.perf_counter() - closed
            while self._free_slots == 0:  # every slot runs an earlier batch
                self._slot_freed.clear()
                await self._slot_freed.wait()
            now = time.perf_counter()
            kept = [
                (e, item)
                for e, item in zip(batch, prepared, strict=True)
                if not isinstance(item, Failure) and still_wanted(e, now, metrics.REJECTED)
            ]
            self._in_hand = []
            if not kept:
                continue
            self._free_slots -= 1
            batch, items = [e for e, _ in kept], [i for _, i in kept]
            task = asyncio.get_running_loop().create_task(
                self._run(batch, items, closed, tokenize_seconds)
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        await asyncio.gather(*self._running)

    async def _collect(self) -> list[Entry] | None:
        """The next batch, closed by size, by wait, or by an idle model and an empty queue."""
        loop = asyncio.get_running_loop()
        first = await self._next_entry()
        if first is None:
            return None
        batch = [first]
        close_at = first.enqueued + self.max_wait_s
        while len(batch) < self.max_batch_size:
            entry = self._pop_wanted(time.perf_counter(), first.backend)
            if entry is not None:
                batch.append(entry)
                continue
            if self._queue:  # the next text is pinned to another model: the next batch's
                break
            remaining = close_at - time.perf_counter()
            if self._free_slots > 0 or remaining <= 0 or self._closing:
                break
            # The model is busy: sleep until the batch can fill, the model frees up, or the
            # wait limit passes, rather than waking for every text that arrives.
            timer = loop.call_later(remaining, self._wake)
            await self._sleep(wanted=self.max_batch_size - len(batch))
            timer.cancel()
        metrics.QUEUE_DEPTH.set(len(self._queue))
        return batch

    async def _next_entry(self) -> Entry | None:
        while True:
            entry = self._pop_wanted(time.perf_counter())
            if entry is not None:
                return entry
            if self._closing:
                return None
            await self._sleep(wanted=1)

    async def _sleep(self, wanted: int) -> None:
        self._wanted = wanted
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _pop_wanted(self, now: float, backend: Any = None) -> Entry | None:
        """The oldest entry still wanted; with `backend`, only one pinned to it (an entry
        pinned to another model stays queued: it starts the next batch)."""
        while self._queue:
            if backend is not None and self._queue[0].backend is not backend:
                return None
            entry = self._queue.popleft()
            if still_wanted(entry, now, metrics.REJECTED):
                return entry
        return None

    async def _run(
        self, batch: list[Entry], items: list[Any], closed: float, tokenize_seconds: float
    ) -> None:
        started = time.perf_counter()
        try:
            scores = await self._call(self._run_pool, "run", run_each, batch[0].backend, items)
        finally:
            self._free_slots += 1
            self._slot_freed.set()
            self._wake()  # a batch that is collecting can go now
        seconds = time.perf_counter() - started
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.TOKENIZE_DURATION.observe(tokenize_seconds)
        metrics.INFERENCE_DURATION.observe(seconds)
        for entry, score, item in zip(batch, scores, items, strict=True):
            if isinstance(score, Failure):
                self._fail(entry, score)
                continue
            entry.queue_seconds = closed - entry.enqueued
            entry.tokenize_seconds = tokenize_seconds
            entry.inference_seconds = seconds
            entry.batch_size = len(batch)
            entry.tokens = len(item)
            metrics.QUEUE_WAIT.observe(entry.queue_seconds)
            metrics.TOKENS_PER_TEXT.observe(entry.tokens)
            if entry.live():
                entry.future.set_result(score)
        if self._after_batch is not None:
            self._after_batch(batch, scores)
