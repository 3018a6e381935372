"""The local engine: chunks scored on one machine, tokenizing beside inference, as the service does.

    reader thread       reads the next chunk (bulk.chunks), admits and tokenizes its texts
                        (bulk.scoring.prepare), and queues its batches (bulk.scoring.batches:
                        `batch_size` texts of similar length); the queue holds two batches per
                        inference thread, so that memory stays bounded whatever the input
    inference threads   `plan.batches` of them, each with `plan.torch_threads` torch threads
                        (service.engine.threads: on 2 CPUs, two batches side by side on one
                        torch thread each beat one batch on two), take a batch at a time, from
                        whichever chunk; the one that scores a chunk's last batch builds its
                        columns (bulk.scoring.columns). Threads share batches, not chunks, so
                        that a file of one chunk, or a run's last chunk, keeps every thread busy
    the caller          gets each chunk as it is scored, in the order they finish (not input
                        order), and writes it

Chunks in `skip` (done by an interrupted run) are passed through unscored, so that the caller
can count them. An exception on any thread ends the run: the caller gets it from the iterator.
When the caller stops iterating (an error while writing, Ctrl-C), the threads stop within
POLL_S and the iterator's close() waits for them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bulk.chunks import Chunk
from bulk.scoring import Limits, Prepared, batches, columns, prepare

if TYPE_CHECKING:
    from model.api import SentimentModel
    from service.engine.threads import Parallelism

POLL_S = 0.1


@dataclass
class Scored:
    chunk: Chunk
    added: dict[str, list] | None  # bulk.scoring.ADDED columns; None for a skipped chunk


@dataclass
class _Work:
    """A chunk whose batches are being scored: the scores so far and the batches left."""

    chunk: Chunk
    prepared: Prepared
    scores: list[float]
    left: int
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, rows: list[int], scores: list[float]) -> bool:
        """Record one batch's scores; True for the batch that completes the chunk."""
        for i, p in zip(rows, scores, strict=True):
            self.scores[i] = p
        with self.lock:
            self.left -= 1
            return self.left == 0


@dataclass
class _Failed:
    error: BaseException


_END = object()


class LocalEngine:
    def __init__(
        self,
        model: SentimentModel,
        limits: Limits,
        plan: Parallelism,
        text_column: str,
        batch_size: int = 64,
    ) -> None:
        self.model, self.limits, self.plan = model, limits, plan
        self.text_column, self.batch_size = text_column, batch_size

    def run(self, chunks: Iterator[Chunk], skip: set[int]) -> Iterator[Scored]:
        """Each chunk, scored (or skipped), as it finishes."""
        inbox: queue.Queue[Any] = queue.Queue(maxsize=2 * self.plan.batches)
        outbox: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        threads = [threading.Thread(target=self._read, args=(chunks, skip, inbox, outbox, stop))]
        threads += [
            threading.Thread(target=self._infer, args=(inbox, outbox, stop))
            for _ in range(self.plan.batches)
        ]
        for thread in threads:
            thread.daemon = True
            thread.start()
        try:
            ended = 0
            while ended < self.plan.batches:
                item = outbox.get()
                if item is _END:
                    ended += 1
                elif isinstance(item, _Failed):
                    raise item.error
                else:
                    yield item
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def _read(
        self,
        chunks: Iterator[Chunk],
        skip: set[int],
        inbox: queue.Queue[Any],
        outbox: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        try:
            for chunk in chunks:
                if chunk.index in skip:
                    outbox.put(Scored(chunk, None))
                    continue
                values = [row.get(self.text_column) for row in chunk.rows]
                prepared = prepare(self.model, values, self.limits)
                groups = batches(prepared, self.batch_size)
                if not groups:  # every row refused
                    outbox.put(Scored(chunk, columns(self.model, prepared, [])))
                    continue
                work = _Work(chunk, prepared, [0.0] * len(prepared.ids), len(groups))
                for rows in groups:
                    if not _put(inbox, (work, rows), stop):
                        return
        except BaseException as exc:  # to the caller, who raises it
            outbox.put(_Failed(exc))
        finally:
            for _ in range(self.plan.batches):
                _put(inbox, _END, stop)

    def _infer(
        self, inbox: queue.Queue[Any], outbox: queue.Queue[Any], stop: threading.Event
    ) -> None:
        from service.engine.threads import init_inference_thread

        init_inference_thread(self.plan.torch_threads)
        try:
            while not stop.is_set():
                try:
                    item = inbox.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if item is _END:
                    break
                work, rows = item
                scores = self.model.score_ids([work.prepared.ids[i] for i in rows])
                if work.done(rows, scores):
                    added = columns(self.model, work.prepared, work.scores)
                    outbox.put(Scored(work.chunk, added))
        except BaseException as exc:
            outbox.put(_Failed(exc))
        finally:
            outbox.put(_END)


def _put(q: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    """Put `item`, waiting while the queue is full; False if the run stopped meanwhile."""
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False
