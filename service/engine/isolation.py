"""A text that fails fails alone: the backend's calls, retried in smaller pieces when they raise.

The batcher runs a batch's texts through the backend together. If `prepare` raises, each text
is prepared again on its own; if `run` raises, the batch is split in halves and each half is run
again, down to single texts. The texts that still fail get a Failure; their batch-mates get
their results. k poisonous texts in a batch of n cost about k * log2(n) extra calls.

A Failure describes the exception by its type and the innermost place it was raised, never by
its message: messages quote their input (a UnicodeEncodeError names the character and its
position), and texts are never logged.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Protocol


class Backend(Protocol):
    def prepare(self, texts: list[str]) -> list[Any]: ...  # one item per text; len(item) = tokens

    def run(self, items: list[Any]) -> list[float]: ...


@dataclass(frozen=True)
class Failure:
    stage: str  # "prepare" or "run"
    error: str  # e.g. "UnicodeEncodeError at tokenizer.pyx:173 in _tokenize_affixes"


def where_raised(exc: BaseException) -> str:
    """The exception's type and where it was raised, without its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    where = last.filename.rsplit("/", 1)[-1]
    return f"{type(exc).__name__} at {where}:{last.lineno} in {last.name}"


def prepare_each(backend: Backend, texts: list[str]) -> list[Any]:
    """backend.prepare(texts), or, if that raises, each text prepared on its own; a text that
    fails alone gets a Failure in its place."""
    try:
        return _checked(backend.prepare(texts), len(texts), "prepare")
    except Exception as exc:  # noqa: BLE001 - any failure of the backend is retried text by text
        if len(texts) == 1:
            return [Failure("prepare", where_raised(exc))]
    return [item for text in texts for item in prepare_each(backend, [text])]


def run_each(backend: Backend, items: list[Any]) -> list[float | Failure]:
    """backend.run(items), or, if that raises, the halves run again, down to single items."""
    try:
        return list(_checked(backend.run(items), len(items), "run"))
    except Exception as exc:  # noqa: BLE001 - any failure of the backend is narrowed down
        if len(items) == 1:
            return [Failure("run", where_raised(exc))]
    half = len(items) // 2
    return run_each(backend, items[:half]) + run_each(backend, items[half:])


def _checked(results: list[Any], expected: int, stage: str) -> list[Any]:
    if len(results) != expected:
        raise RuntimeError(f"the backend's {stage} returned {len(results)} results for {expected}")
    return results
