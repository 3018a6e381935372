"""The explanation queue with a fake backend: bounded, its own threads, one text at a time, the
token limit, departed callers and deadlines, failures that stay with their text, draining."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.engine.explain_queue import ExplainQueue
from service.engine.jobs import BatcherClosed, DeadlineExceeded, QueueFull, TooManyTokens
from service.engine.threads import lower_priority

# Deadlines and delays of tens of milliseconds: beside another test, a late thread misses them.
pytestmark = pytest.mark.serial


class FakeExplainer:
    """Explains a text as its upper case after `delay` seconds; a token is a word."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.ran: list[str] = []
        self.prepare_threads: set[str] = set()
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def prepare(self, text: str) -> list[str]:
        self.prepare_threads.add(threading.current_thread().name)
        return text.split()

    def run(self, words: list[str]) -> str:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
            self.ran.append(" ".join(words))
        if "explode" in words:
            raise RuntimeError("the explainer broke")
        return " ".join(words).upper()


def started(
    backend: FakeExplainer, capacity: int = 8, concurrency: int = 1, max_tokens: int = 5
) -> ExplainQueue:
    queue = ExplainQueue(
        backend,
        capacity,
        concurrency,
        max_tokens,
        ThreadPoolExecutor(1, thread_name_prefix="explain-tokenize"),
        ThreadPoolExecutor(concurrency, thread_name_prefix="explain"),
    )
    queue.start()
    return queue


async def results(queue: ExplainQueue, texts: list[str], timeout: float = 5.0) -> list:
    jobs = queue.submit(texts, timeout)
    return list(await asyncio.gather(*(j.future for j in jobs), return_exceptions=True))


async def test_each_text_is_explained_in_order_with_its_timings() -> None:
    backend = FakeExplainer(delay=0.01)
    queue = started(backend)
    jobs = queue.submit(["a good film", "dull"], 5.0)
    assert await asyncio.gather(*(j.future for j in jobs)) == ["A GOOD FILM", "DULL"]
    assert [j.tokens for j in jobs] == [3, 1]
    assert all(j.inference_seconds >= 0.01 and j.queue_seconds >= 0 for j in jobs)
    assert backend.prepare_threads == {"explain-tokenize_0"}  # one thread reads every text
    await queue.stop(1.0)


async def test_a_full_queue_takes_none_of_a_request() -> None:
    queue = started(FakeExplainer(delay=0.2), capacity=3)
    first = queue.submit(["one", "two"], 5.0)
    await asyncio.sleep(0.05)  # "one" is running, "two" waits
    with pytest.raises(QueueFull, match="explanation queue holds 1 of 3"):
        queue.submit(["a", "b", "c"], 5.0)
    assert queue.depth == 1
    assert await asyncio.gather(*(j.future for j in first)) == ["ONE", "TWO"]
    await queue.stop(1.0)


async def test_texts_over_the_token_limit_fail_alone() -> None:
    backend = FakeExplainer()
    queue = started(backend, max_tokens=3)
    outcome = await results(queue, ["short text", "one two three four", "fine"])
    assert outcome[0] == "SHORT TEXT" and outcome[2] == "FINE"
    assert isinstance(outcome[1], TooManyTokens) and (outcome[1].tokens, outcome[1].limit) == (4, 3)
    assert "one two three four" not in backend.ran  # refused before the expensive part
    await queue.stop(1.0)


async def test_a_failed_explanation_fails_its_text_and_the_queue_goes_on() -> None:
    queue = started(FakeExplainer())
    outcome = await results(queue, ["explode now", "still here"])
    assert isinstance(outcome[0], RuntimeError) and outcome[1] == "STILL HERE"
    assert await results(queue, ["after"]) == ["AFTER"]
    await queue.stop(1.0)


async def test_departed_callers_and_expired_deadlines_are_skipped() -> None:
    backend = FakeExplainer(delay=0.15)
    queue = started(backend)
    running = queue.submit(["busy"], 5.0)
    await asyncio.sleep(0.02)
    gone = queue.submit(["gone"], 5.0)
    late = queue.submit(["late"], 0.05)
    gone[0].future.cancel()
    assert await running[0].future == "BUSY"
    with pytest.raises(DeadlineExceeded):
        await late[0].future
    await asyncio.sleep(0.05)
    assert backend.ran == ["busy"]
    await queue.stop(1.0)


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_no_more_run_at_once_than_the_concurrency(concurrency: int) -> None:
    backend = FakeExplainer(delay=0.05)
    queue = started(backend, concurrency=concurrency)
    await results(queue, [f"text {i}" for i in range(6)])
    assert backend.most_at_once == concurrency
    await queue.stop(1.0)


async def test_stop_drains_then_refuses() -> None:
    queue = started(FakeExplainer(delay=0.02))
    jobs = queue.submit(["a", "b", "c"], 5.0)
    await queue.stop(5.0)
    assert [j.future.result() for j in jobs] == ["A", "B", "C"]
    with pytest.raises(BatcherClosed):
        queue.submit(["d"], 5.0)


async def test_stop_fails_what_it_had_no_time_for() -> None:
    queue = started(FakeExplainer(delay=0.3))
    jobs = queue.submit(["a", "b"], 5.0)
    await asyncio.sleep(0.05)
    await queue.stop(0.05)
    for job in jobs:  # the running one as well as the waiting one: nobody waits forever
        with pytest.raises(BatcherClosed):
            await job.future


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_explanation_threads_yield_the_cpu() -> None:
    seen: dict[str, int] = {}

    def probe(nice: int) -> None:
        lower_priority(nice)
        seen[str(nice)] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, 0)
    for nice in (19, 0):
        thread = threading.Thread(target=probe, args=(nice,))
        thread.start()
        thread.join()
    assert seen["19"] == 19 and seen["0"] == before  # never raised above the process's own
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the process itself is untouched


async def test_callers_that_left_hold_no_place_in_the_queue() -> None:
    queue = started(FakeExplainer(delay=0.2), capacity=2)
    queue.submit(["running"], 5.0)
    await asyncio.sleep(0.05)
    for job in queue.submit(["gone", "gone too"], 5.0):
        job.future.cancel()  # their clients timed out while the first text runs
    assert await results(queue, ["next", "and next"]) == ["NEXT", "AND NEXT"]
    await queue.stop(1.0)


async def test_explanations_can_be_turned_off() -> None:
    from service.engine.explain_queue import start_explanations
    from service.settings import load_settings

    off = await start_explanations(load_settings(explain_concurrency=0), models=None)
    assert off.queue is None and "SENTIMENT_EXPLAIN_CONCURRENCY=0" in (off.unavailable or "")
    assert off.info()["available"] is False
    await off.stop(1.0)
