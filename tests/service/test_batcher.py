"""The batcher with a fake backend: batches form, close on time, skip the departed, never mix up
outputs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import service.engine.batcher as batcher_module
from service.engine.batcher import Batcher
from service.engine.jobs import (
    BatcherClosed,
    BatcherFailed,
    DeadlineExceeded,
    QueueFull,
    TextFailed,
)

# Batches close on timers of tens of milliseconds: beside another test, a late thread reorders them.
pytestmark = pytest.mark.serial


class FakeBackend:
    """Scores a text as its length / 1000, after `delay` seconds per batch; records what it saw."""

    def __init__(self, delay: float = 0.0, wrong_count: bool = False, fail: bool = False) -> None:
        self.delay = delay
        self.wrong_count = wrong_count
        self.fail = fail
        self.batches: list[list[str]] = []
        self.events: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def prepare(self, texts: list[str]) -> list[str]:
        self.events.append(("prepare", time.perf_counter()))
        return list(texts)

    def run(self, items: list[str]) -> list[float]:
        with self.lock:
            self.events.append(("run-start", time.perf_counter()))
            self.batches.append(items)
            time.sleep(self.delay)
            self.events.append(("run-end", time.perf_counter()))
        if self.fail:
            raise RuntimeError("the model broke")
        scores = [len(t) / 1000 for t in items]
        return scores[:-1] if self.wrong_count else scores


async def started(backend: FakeBackend, **kw: float) -> Batcher:
    options = {"max_batch_size": 8, "max_wait_s": 0.05, "capacity": 100, **kw}
    batcher = Batcher(
        backend, int(options["max_batch_size"]), options["max_wait_s"], int(options["capacity"])
    )
    batcher.start()
    return batcher


async def scores(batcher: Batcher, texts: list[str], timeout: float = 5.0) -> list[float]:
    return list(await asyncio.gather(*(e.future for e in batcher.submit(texts, timeout))))


async def test_each_text_gets_its_own_score_in_order() -> None:
    batcher = await started(FakeBackend(delay=0.01))
    texts = ["x" * n for n in range(1, 40)]
    results = await asyncio.gather(*(scores(batcher, [t]) for t in texts), scores(batcher, texts))
    assert [r[0] for r in results[:-1]] == [len(t) / 1000 for t in texts]
    assert results[-1] == [len(t) / 1000 for t in texts]
    await batcher.stop(1)


async def test_concurrent_requests_share_batches_up_to_the_limit() -> None:
    backend = FakeBackend(delay=0.02)
    batcher = await started(backend, max_batch_size=8)
    await asyncio.gather(*(scores(batcher, [f"text {i}"]) for i in range(40)))
    sizes = [len(b) for b in backend.batches]
    assert sum(sizes) == 40 and max(sizes) == 8 and len(sizes) < 40
    await batcher.stop(1)


async def test_a_lone_request_on_an_idle_model_does_not_wait() -> None:
    batcher = await started(FakeBackend(), max_wait_s=2.0)
    began = time.perf_counter()
    await scores(batcher, ["alone"])
    assert time.perf_counter() - began < 0.5  # not the 2 s wait limit
    await batcher.stop(1)


async def test_a_batch_closes_at_the_wait_limit_while_the_model_is_busy() -> None:
    backend = FakeBackend(delay=0.3)
    batcher = await started(backend, max_wait_s=0.05)
    first = asyncio.ensure_future(scores(batcher, ["a"]))  # occupies the model for 0.3 s
    await asyncio.sleep(0.02)
    second = asyncio.ensure_future(scores(batcher, ["b"]))  # its batch closes at about 0.07 s
    await asyncio.sleep(0.15)
    third = asyncio.ensure_future(scores(batcher, ["c"]))  # too late for the second's batch
    await asyncio.gather(first, second, third)
    assert backend.batches == [["a"], ["b"], ["c"]]
    await batcher.stop(1)


async def test_tokenizing_overlaps_the_previous_forward_pass() -> None:
    backend = FakeBackend(delay=0.2)
    batcher = await started(backend, max_wait_s=0.01)
    await asyncio.gather(scores(batcher, ["a"]), _later(0.05, scores(batcher, ["b"])))
    run_end = [t for name, t in backend.events if name == "run-end"][0]
    second_prepare = [t for name, t in backend.events if name == "prepare"][1]
    assert second_prepare < run_end
    await batcher.stop(1)


async def _later(delay: float, coro):  # noqa: ANN001, ANN202
    await asyncio.sleep(delay)
    return await coro


async def test_entries_of_departed_clients_are_skipped() -> None:
    backend = FakeBackend(delay=0.2)
    batcher = await started(backend)
    busy = asyncio.ensure_future(scores(batcher, ["busy"]))
    await asyncio.sleep(0.02)
    entries = batcher.submit(["gone 1", "gone 2"], 5)
    kept = batcher.submit(["kept"], 5)
    for entry in entries:
        entry.future.cancel()  # what the route does when the client disconnects
    assert await kept[0].future == pytest.approx(0.004)
    await busy
    assert all("gone" not in t for batch in backend.batches for t in batch)
    await batcher.stop(1)


async def test_entries_past_their_deadline_fail_without_running() -> None:
    backend = FakeBackend(delay=0.2)
    batcher = await started(backend)
    busy = asyncio.ensure_future(scores(batcher, ["busy"]))
    await asyncio.sleep(0.02)
    late = batcher.submit(["late"], timeout_s=0.05)
    with pytest.raises(DeadlineExceeded):
        await late[0].future
    await busy
    assert ["late"] not in backend.batches
    await batcher.stop(1)


async def test_queue_full_rejects_the_whole_request() -> None:
    batcher = await started(FakeBackend(delay=0.2), capacity=3, max_batch_size=1)
    first = batcher.submit(["a", "b"], 5)
    with pytest.raises(QueueFull):
        batcher.submit(["c", "d"], 5)  # 2 + 2 > 3: neither is queued
    assert batcher.depth <= 2
    await asyncio.gather(*(e.future for e in first))
    await batcher.stop(1)


async def test_a_wrong_number_of_outputs_fails_the_texts_not_the_batcher() -> None:
    backend = FakeBackend(wrong_count=True)
    batcher = await started(backend)
    with pytest.raises(TextFailed):
        await scores(batcher, ["a", "b"])
    backend.wrong_count = False
    assert await scores(batcher, ["ok"]) == [0.002]
    assert batcher.health() is None
    await batcher.stop(1)


async def test_a_failing_backend_fails_its_texts_not_the_batcher() -> None:
    backend = FakeBackend(fail=True)
    batcher = await started(backend)
    with pytest.raises(TextFailed):
        await scores(batcher, ["a"])
    backend.fail = False
    assert await scores(batcher, ["abc"]) == [0.003]
    await batcher.stop(1)


class Poisoned(FakeBackend):
    """Raises in `stage` for any batch that holds the text "poison", as a tokenizer or a forward
    pass would on an input it cannot handle."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage
        self.calls = 0

    def prepare(self, texts: list[str]) -> list[str]:
        if self.stage == "prepare" and "poison" in texts:
            raise UnicodeEncodeError("utf-8", "poison", 0, 1, "the text itself")
        return super().prepare(texts)

    def run(self, items: list[str]) -> list[float]:
        self.calls += 1
        if self.stage == "run" and "poison" in items:
            raise RuntimeError("a kernel failed on poison")
        return super().run(items)


@pytest.mark.parametrize("stage", ["prepare", "run"])
async def test_a_poisonous_text_fails_alone(stage: str, caplog: pytest.LogCaptureFixture) -> None:
    backend = Poisoned(stage)
    batcher = await started(backend, max_batch_size=16, max_wait_s=0.05)
    texts = [f"text {i}" for i in range(15)]
    others = batcher.submit(texts, 5, request_id="others")
    poison = batcher.submit(["poison"], 5, request_id="req-42")
    assert await asyncio.gather(*(e.future for e in others)) == [len(t) / 1000 for t in texts]
    with pytest.raises(TextFailed, match="req-42"):
        await poison[0].future
    assert await scores(batcher, ["next batch"]) == [0.01]
    assert batcher.health() is None
    failed = [r for r in caplog.records if "failed on a text" in r.getMessage()]
    assert len(failed) == 1 and failed[0].fields == {"request_id": "req-42"}  # type: ignore[attr-defined]
    assert "poison" not in caplog.text  # the text is never logged, nor the error's message
    if stage == "run":
        assert backend.calls <= 1 + 2 * 5  # halving 16 texts down to the poisonous one
    await batcher.stop(1)


async def test_a_hung_backend_shows_in_health(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batcher_module, "STALL_AFTER_S", 0.2)
    release = threading.Event()

    class Hung(FakeBackend):
        def run(self, items: list[str]) -> list[float]:
            release.wait(5)
            return super().run(items)

    batcher = await started(Hung())
    entries = batcher.submit(["stuck"], timeout_s=5)
    await asyncio.sleep(0.1)
    assert batcher.health() is None  # slow is not hung
    await asyncio.sleep(0.2)
    assert "a run call has been running" in (batcher.health() or "")
    release.set()
    await entries[0].future
    assert batcher.health() is None
    await batcher.stop(1)


async def test_a_dead_consumer_fails_the_queue_and_shows_in_health(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    batcher = await started(FakeBackend(delay=0.1), max_batch_size=1)
    await asyncio.sleep(0.01)  # the consumer waits inside its first collect

    async def broken() -> None:
        raise MemoryError("the consumer died")

    monkeypatch.setattr(batcher, "_collect", broken)  # from its next batch on
    busy, *queued = batcher.submit(["a", "b", "c"], 5)
    assert await busy.future == 0.001  # "a" was collected before, and runs
    for entry in queued:
        with pytest.raises(BatcherFailed):
            await entry.future
    assert "MemoryError" in (batcher.health() or "")
    with pytest.raises(BatcherFailed):
        batcher.submit(["d"], 5)
    assert "the batcher stopped" in caplog.text
    await batcher.stop(1)  # does not raise the consumer's exception again


async def test_stop_drains_what_is_queued_then_refuses() -> None:
    backend = FakeBackend(delay=0.05)
    batcher = await started(backend, max_batch_size=2)
    entries = batcher.submit([f"t{i}" for i in range(6)], 5)
    await batcher.stop(5)
    assert [e.future.result() for e in entries] == [0.002] * 6
    with pytest.raises(BatcherClosed):
        batcher.submit(["after"], 5)


async def test_stop_fails_what_the_drain_timeout_leaves() -> None:
    batcher = await started(FakeBackend(delay=0.3), max_batch_size=1)
    entries = batcher.submit(["a", "b", "c"], 5)
    await batcher.stop(0.1)
    assert isinstance(entries[-1].future.exception(), BatcherClosed)


async def test_timings_are_recorded_per_entry() -> None:
    batcher = await started(FakeBackend(delay=0.02))
    entries = batcher.submit(["abc", "de"], 5)
    await asyncio.gather(*(e.future for e in entries))
    assert all(
        e.batch_size == 2 and e.inference_seconds >= 0.02 and e.tokens in (2, 3) for e in entries
    )
    await batcher.stop(1)


async def test_several_slots_run_batches_side_by_side() -> None:
    started_at: list[float] = []

    class Slow(FakeBackend):
        def run(self, items: list[str]) -> list[float]:  # no lock: runs concurrently
            started_at.append(time.perf_counter())
            time.sleep(0.2)
            return [len(t) / 1000 for t in items]

    batcher = Batcher(Slow(), max_batch_size=1, max_wait_s=0.01, capacity=10, concurrency=2)
    batcher.start()
    began = time.perf_counter()
    assert await scores(batcher, ["a", "bb", "ccc", "dddd"]) == [0.001, 0.002, 0.003, 0.004]
    assert time.perf_counter() - began < 0.6  # four 0.2 s batches, two at a time
    assert started_at[1] - started_at[0] < 0.1
    await batcher.stop(1)


class Versioned(FakeBackend):
    def __init__(self, version: str, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.version = version


class Switch:
    """What the batcher sees of service.engine.models.Registry: pin() names the backend."""

    def __init__(self, backend: Versioned) -> None:
        self.serving = backend

    def pin(self) -> Versioned:
        return self.serving


async def test_a_request_is_scored_by_the_model_serving_when_it_was_queued() -> None:
    """A swap while texts wait: those queued before it are scored by the old model, those after
    by the new, no batch mixes the two, and each entry names its model's version."""
    old, new = Versioned("old", delay=0.05), Versioned("new")
    switch = Switch(old)
    batcher = Batcher(switch, max_batch_size=64, max_wait_s=0.05, capacity=1000)
    batcher.start()
    first = [e for _ in range(6) for e in batcher.submit(["a", "bb", "ccc"], 5.0)]
    switch.serving = new  # the swap
    second = [e for _ in range(6) for e in batcher.submit(["dd", "e"], 5.0)]
    await asyncio.gather(*(e.future for e in first + second))
    assert {e.version for e in first} == {"old"} and {e.version for e in second} == {"new"}
    assert sum(map(len, old.batches)) == 18 and sum(map(len, new.batches)) == 12
    assert all(set(b) <= {"a", "bb", "ccc"} for b in old.batches)
    assert all(set(b) <= {"dd", "e"} for b in new.batches)
    await batcher.stop(1)
