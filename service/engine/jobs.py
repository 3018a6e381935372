"""What the engine's queues hold: one Entry per text, with its future and deadline, and the
exceptions a text's future can end with (each mapped to one status code by service.http.errors).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter


class QueueFull(Exception):
    """The queue cannot take the request's texts: answer 503 with Retry-After."""


class DeadlineExceeded(Exception):
    """The text waited past its request's deadline: answer 504."""


class BatcherClosed(Exception):
    """The service is shutting down and did not get to this text: answer 503."""


class BatcherFailed(Exception):
    """The consumer has stopped; nothing can be served until the process restarts: 503."""


class TextFailed(Exception):
    """The backend failed on this text alone (its batch-mates were served): answer 500."""


class ExplanationsUnavailable(Exception):
    """The serving model cannot be explained, or explanations are off: answer 501."""


class TooManyTokens(Exception):
    """The network reads more tokens of this text than explanations allow: answer 422."""

    def __init__(self, tokens: int, limit: int) -> None:
        super().__init__(
            f"the model reads {tokens:,} tokens of this text; explanations take at most {limit:,}"
        )
        self.tokens, self.limit = tokens, limit


@dataclass(eq=False)
class Entry:
    text: str
    future: asyncio.Future[Any]  # a score here; an explanation on the explanation queue
    enqueued: float
    deadline: float
    request_id: str = "-"
    backend: Any = None  # what scores it: the model serving when it was queued
    version: str = ""  # that model's version, which the response names
    # Filled in when the entry's batch runs, for the timing headers.
    queue_seconds: float = 0.0
    tokenize_seconds: float = 0.0
    inference_seconds: float = 0.0
    batch_size: int = 0
    tokens: int = 0

    def live(self) -> bool:
        return not self.future.done()


def still_wanted(entry: Entry, now: float, rejected: Counter) -> bool:
    """False for an entry whose caller has gone (counted as client_gone) or whose deadline has
    passed (failed with DeadlineExceeded, counted as deadline); `rejected` is the queue's
    counter of texts not served, by reason."""
    if not entry.live():  # the caller has gone (cancelled) or already failed
        rejected.labels("client_gone").inc()
        return False
    if now > entry.deadline:
        rejected.labels("deadline").inc()
        entry.future.set_exception(DeadlineExceeded("the request waited past its deadline"))
        return False
    return True
