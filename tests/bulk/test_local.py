"""bulk.local: the inference threads share a chunk's batches, so that a file of one chunk keeps
every thread busy, and the columns they build are those bulk.scoring.score builds."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bulk.chunks import Chunk
from bulk.local import LocalEngine
from bulk.scoring import Limits, prepare, score
from model import SentimentModel
from service.engine.threads import Parallelism

# No Ray, no server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel

TEXTS = ["a wonderful film", "dull", "an awful, boring film", "great", "fine", "bad bad bad", "ok"]


class MeetingModel:
    """The model, whose first two forward passes wait for each other: if one thread took every
    batch, the second would never come and the barrier would break."""

    def __init__(self, model: SentimentModel) -> None:
        self.model = model
        self.meet = threading.Barrier(2, timeout=10)
        self.calls = 0
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def score_ids(self, id_lists: Any) -> list[float]:
        with self.lock:
            self.calls += 1
            first_two = self.calls <= 2
            self.threads.add(threading.get_ident())
        if first_two:
            self.meet.wait()
        return self.model.score_ids(id_lists)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def same(got: dict[str, list] | None, want: dict[str, list]) -> bool:
    """The same columns; scores to 1e-6 (another thread count may round differently)."""
    assert got is not None
    scores = [pytest.approx(p, abs=1e-6) if p is not None else None for p in want["score"]]
    return got["score"] == scores and {**got, "score": 0} == {**want, "score": 0}


def chunk(index: int, texts: list[Any]) -> Chunk:
    return Chunk(index, [{"text": t} for t in texts], None, f"in.csv rows {index}", 0)


def test_two_threads_score_the_batches_of_one_chunk(model: SentimentModel) -> None:
    meeting = MeetingModel(model)
    engine = LocalEngine(meeting, Limits(1000), Parallelism(2, 1), "text", batch_size=2)  # type: ignore[arg-type]
    (scored,) = list(engine.run(iter([chunk(0, TEXTS)]), set()))
    assert len(meeting.threads) == 2 and meeting.calls == 4  # 7 texts in batches of 2
    assert same(scored.added, score(model, prepare(model, TEXTS, Limits(1000)), batch_size=2))


def test_chunks_of_refused_rows_and_done_chunks_pass_through(model: SentimentModel) -> None:
    engine = LocalEngine(model, Limits(1000), Parallelism(2, 1), "text", batch_size=2)
    chunks = [chunk(0, [None, ""]), chunk(1, TEXTS), chunk(2, ["skipped"])]
    scored = {s.chunk.index: s.added for s in engine.run(iter(chunks), {2})}
    assert scored[0] is not None and scored[0]["error"] == ["missing_text", "empty_text"]
    assert same(scored[1], score(model, prepare(model, TEXTS, Limits(1000)), batch_size=2))
    assert scored[2] is None
