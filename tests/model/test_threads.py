"""SentimentModel and its text pipeline are safe to call from any number of threads: every score
from many threads at once is the score the same text gets alone, on one thread."""

from __future__ import annotations

import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import model.text as text_module
from model import SentimentModel
from tests import synthetic

THREADS = 8


def texts(count: int, seed: int) -> list[str]:
    """Reviews with never-seen words in them, so that every call adds strings to spaCy's
    vocabulary inside a memory zone, and some share a run the pipeline caches."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        review = synthetic.review(i % 2, rng, length=rng.randint(3, 40))
        novel = " ".join(f"zq{rng.randrange(10**9)}x" for _ in range(rng.randint(0, 30)))
        out.append(f"{review} {novel} {rng.choice(['!', '...', '(sic)', ':-)'])}")
    return out


def test_predict_from_many_threads_gives_every_text_its_single_threaded_score(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new tokenizer every few hundred new words, so that rebuilds happen mid-traffic too, and
    # threads that switch every few microseconds, so that their calls interleave closely.
    monkeypatch.setattr(text_module, "RECYCLE_AFTER_WORDS", 300)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    model = SentimentModel.load(tiny_artifact)
    work = texts(1000, seed=11)
    alone = {text: model.predict([text])[0] for text in work}
    start = threading.Barrier(THREADS)

    def score(chunk: list[str]) -> list[tuple[str, float]]:
        start.wait()
        return [(text, model.predict([text])[0]) for text in chunk]

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            chunks = [work[i::THREADS] for i in range(THREADS)]
            results = [pair for chunk in pool.map(score, chunks) for pair in chunk]
    finally:
        sys.setswitchinterval(previous)
    assert len(results) == len(work)
    wrong = [(t, p, alone[t]) for t, p in results if abs(p - alone[t]) > 1e-6]
    assert not wrong, wrong[:3]


def test_the_pipeline_reads_the_same_tokens_from_many_threads(tiny_artifact: Path) -> None:
    pipeline = SentimentModel.load(tiny_artifact).pipeline
    work = texts(600, seed=12)
    expected = [pipeline.tokens(t) for t in work]
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(pipeline.tokens, work))
    assert got == expected
