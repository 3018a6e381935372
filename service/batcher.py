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
on worker threads; the unit tests use a fake one. This module does not import torch.
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

log = logging.getLogger("service.batcher")


class QueueFull(Exception):
    """The queue cannot take the request's texts: answer 503 with Retry-After."""


class DeadlineExceeded(Exception):
    """The text waited past its request's deadline: answer 504."""


class BatcherClosed(Exception):
    """The service is shutting down and did not get to this text: answer 503."""


class Backend(Protocol):
    def prepare(self, texts: list[str]) -> list[Any]: ...  # one item per text; len(item) = tokens

    def run(self, items: list[Any]) -> list[float]: ...


@dataclass(eq=False)
class Entry:
    text: str
    future: asyncio.Future[float]
    enqueued: float
    deadline: float
    # Filled in when the entry's batch runs, for the timing headers.
    queue_seconds: float = 0.0
    tokenize_seconds: float = 0.0
    inference_seconds: float = 0.0
    batch_size: int = 0
    tokens: int = field(default=0)

    def live(self) -> bool:
        return not self.future.done()


class Batcher:
    def __init__(
        self,
        backend: Backend,
        max_batch_size: int,
        max_wait_s: float,
        capacity: int,
        run_executor: Executor | None = None,
        concurrency: int = 1,
    ) -> None:
        self.backend = backend
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
        metrics.QUEUE_CAPACITY.set(capacity)

    @property
    def depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._consumer = asyncio.get_running_loop().create_task(self._consume(), name="batcher")

    def submit(self, texts: Sequence[str], timeout_s: float) -> list[Entry]:
        """Queue every text of one request, or none of them (QueueFull, BatcherClosed)."""
        if self._closing:
            raise BatcherClosed("the service is shutting down")
        if len(self._queue) + len(texts) > self.capacity:
            metrics.REJECTED.labels("queue_full").inc(len(texts))
            raise QueueFull(f"the queue holds {len(self._queue)} of {self.capacity} texts")
        loop = asyncio.get_running_loop()
        now = time.perf_counter()  # not loop.time(): uvloop's clock ticks in whole milliseconds
        entries = [Entry(t, loop.create_future(), now, now + timeout_s) for t in texts]
        self._queue.extend(entries)
        metrics.QUEUE_DEPTH.set(len(self._queue))
        if len(self._queue) >= self._wanted:
            self._wake()
        return entries

    async def stop(self, drain_timeout_s: float) -> None:
        """Finish what is queued and running (up to the timeout), then fail the rest."""
        self._closing = True
        self._wake()
        if self._consumer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._consumer), drain_timeout_s)
            except asyncio.TimeoutError:
                log.warning("drain timeout: %d texts still queued", len(self._queue))
                self._consumer.cancel()
        for entry in self._queue:
            if entry.live():
                entry.future.set_exception(
                    BatcherClosed("the service shut down before this text ran")
                )
        self._queue.clear()
        self._prepare_pool.shutdown(wait=False, cancel_futures=True)
        self._run_pool.shutdown(wait=False, cancel_futures=True)

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if batch is None:  # closing and nothing left
                break
            closed = time.perf_counter()
            items = await loop.run_in_executor(
                self._prepare_pool, self.backend.prepare, [e.text for e in batch]
            )
            tokenize_seconds = time.perf_counter() - closed
            while self._free_slots == 0:  # every slot runs an earlier batch
                self._slot_freed.clear()
                await self._slot_freed.wait()
            kept = [
                (e, item)
                for e, item in zip(batch, items, strict=True)
                if self._still_wanted(e, time.perf_counter())
            ]
            if not kept:
                continue
            self._free_slots -= 1
            batch, items = [e for e, _ in kept], [i for _, i in kept]
            task = loop.create_task(self._run(batch, items, closed, tokenize_seconds))
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
            entry = self._pop_wanted(time.perf_counter())
            if entry is not None:
                batch.append(entry)
                continue
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

    def _pop_wanted(self, now: float) -> Entry | None:
        while self._queue:
            entry = self._queue.popleft()
            if self._still_wanted(entry, now):
                return entry
        return None

    def _still_wanted(self, entry: Entry, now: float) -> bool:
        if not entry.live():  # the caller has gone (cancelled) or already failed
            metrics.REJECTED.labels("client_gone").inc()
            return False
        if now > entry.deadline:
            metrics.REJECTED.labels("deadline").inc()
            entry.future.set_exception(DeadlineExceeded("the request waited past its deadline"))
            return False
        return True

    async def _run(
        self, batch: list[Entry], items: list[Any], closed: float, tokenize_seconds: float
    ) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            scores = await loop.run_in_executor(self._run_pool, self.backend.run, items)
            if len(scores) != len(batch):
                raise RuntimeError(
                    f"the backend returned {len(scores)} scores for {len(batch)} texts"
                )
        except Exception as exc:  # a failed forward pass fails its batch, not the service
            log.exception("inference failed for a batch of %d texts", len(batch))
            for entry in batch:
                if entry.live():
                    entry.future.set_exception(exc)
            return
        finally:
            self._free_slots += 1
            self._slot_freed.set()
            self._wake()  # a batch that is collecting can go now
        seconds = time.perf_counter() - started
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.TOKENIZE_DURATION.observe(tokenize_seconds)
        metrics.INFERENCE_DURATION.observe(seconds)
        for entry, score, item in zip(batch, scores, items, strict=True):
            entry.queue_seconds = closed - entry.enqueued
            entry.tokenize_seconds = tokenize_seconds
            entry.inference_seconds = seconds
            entry.batch_size = len(batch)
            entry.tokens = len(item)
            metrics.QUEUE_WAIT.observe(entry.queue_seconds)
            metrics.TOKENS_PER_TEXT.observe(entry.tokens)
            if entry.live():
                entry.future.set_result(score)
