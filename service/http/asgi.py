"""What the two bare ASGI endpoints (/predict and /explain) share: the opening of a request
(API key, readiness, the body within its deadline), waiting for the engine's futures while
watching for the client to leave, and the JSON response with the timing headers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from service.engine.jobs import DeadlineExceeded
from service.http.auth import authorize
from service.http.errors import ApiError, from_batcher, not_ready

JSON = b"application/json"


async def open_request(
    scope: Scope, receive: Receive, admit: Callable[[Any], None] | None = None
) -> tuple[Any, bytes, str | None]:
    """(service state, body, content type) of a request that may be served: 401 without a
    valid API key, 503 unless ready, then `admit(state)` (which may raise its own ApiError),
    then the body (408 if it is late)."""
    state = scope["app"].state.service
    headers = dict(scope["headers"])
    authorize(headers.get(b"authorization", b"").decode("latin-1"), state.settings.api_keys)
    if not state.ready or state.draining:
        raise not_ready(state.status)
    if admit is not None:
        admit(state)
    body = await read_body(receive, state.settings.read_timeout_s)
    content_type = headers.get(b"content-type", b"").decode("latin-1") or None
    return state, body, content_type


async def read_body(receive: Receive, timeout_s: float) -> bytes:
    """The whole body within `timeout_s`, or 408; the middleware's receive() enforces the size
    limit as it arrives. A client that sends its body slowly, or stops, holds a connection and
    memory: the timeout ends that. (A timer that cancels this task costs the hot path about a
    microsecond; asyncio.wait_for would start a task per request.)"""
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(timeout_s, expire)
    chunks = []
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError(499, "client_closed_request", "the client closed the connection")
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)
    except asyncio.CancelledError:
        if not expired:
            raise
        if hasattr(task, "uncancel"):  # Python 3.11+: this cancellation is handled here
            task.uncancel()
        raise ApiError(
            408,
            "body_timeout",
            f"the body did not arrive within {timeout_s:g}s (SENTIMENT_READ_TIMEOUT_S)",
            headers={"Connection": "close"},
        ) from None
    finally:
        timer.cancel()


def _failed(futures: Sequence[asyncio.Future[Any]], exc: BaseException) -> ApiError:
    return from_batcher(exc)


async def wait_for_all(
    futures: Sequence[asyncio.Future[Any]],
    receive: Receive,
    timeout_s: float,
    failed: Callable[[Sequence[asyncio.Future[Any]], BaseException], ApiError] = _failed,
) -> list[Any]:
    """Every future's result, in order. If the client goes away or the deadline passes, all are
    cancelled (the queues skip cancelled work) and the answer is 499 or 504; if one fails, the
    rest are cancelled and `failed(futures, its exception)` is the error."""
    waiting = futures[0] if len(futures) == 1 else asyncio.gather(*futures)
    gone = asyncio.ensure_future(disconnected(receive))
    try:
        done, _ = await asyncio.wait(
            {waiting, gone}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        gone.cancel()
    if waiting in done:
        try:
            result = waiting.result()
        except Exception as exc:
            _cancel(futures)
            raise failed(futures, exc) from exc
        return [result] if len(futures) == 1 else list(result)
    _cancel(futures)
    waiting.cancel()
    if gone in done:
        raise ApiError(499, "client_closed_request", "the client closed the connection")
    raise from_batcher(DeadlineExceeded())


def _cancel(futures: Sequence[asyncio.Future[Any]]) -> None:
    for future in futures:
        future.cancel()


async def disconnected(receive: Receive) -> None:
    """Returns when the client disconnects (the body has been read, so only that can arrive)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def send_json(send: Send, payload: Any, headers: list[tuple[bytes, bytes]]) -> None:
    """A 200 with `payload` as JSON and the extra `headers`."""
    content = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", JSON),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def model_header(version: str) -> tuple[bytes, bytes]:
    """The version of the model that scored the request's texts, as a header too."""
    return (b"x-model-version", version.encode("latin-1", "replace"))


def timing_headers(entries: Sequence[Any]) -> list[tuple[bytes, bytes]]:
    """Per request, as text-embeddings-inference reports them: milliseconds, worst text. Any
    entries with queue_seconds, tokenize_seconds, inference_seconds and batch_size serve."""
    return [
        (b"x-queue-time", f"{max(e.queue_seconds for e in entries) * 1000:.2f}".encode()),
        (b"x-tokenization-time", f"{max(e.tokenize_seconds for e in entries) * 1000:.2f}".encode()),
        (b"x-inference-time", f"{max(e.inference_seconds for e in entries) * 1000:.2f}".encode()),
        (b"x-batch-size", str(max(e.batch_size for e in entries)).encode()),
    ]
