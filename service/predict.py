"""POST /predict: the hot route, as a bare ASGI endpoint in the app's router.

FastAPI's request machinery (dependency solving, Request objects, response validation) cost
about 60 us of event-loop time per request here, a quarter of the loop's whole budget for a
short text (benchmarks/loopcost.py). This endpoint skips it and keeps everything else:
Starlette routing (so GET /predict is a 405), the exception handlers (ApiError -> JSON), and the
outer middleware (request id, metrics, access log). FastAPI documents it through `doc_route()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from service import metrics
from service.auth import authorize
from service.batcher import DeadlineExceeded
from service.errors import ERROR_RESPONSES, ApiError, from_batcher, not_ready
from service.schemas import BatchPrediction, PredictRequest, SinglePrediction, label, parse_predict

JSON = b"application/json"
_POSITIVE, _NEGATIVE = (
    metrics.PREDICTIONS.labels("positive"),
    metrics.PREDICTIONS.labels("negative"),
)


class PredictEndpoint:
    """An ASGI app (an object, so Starlette's Route passes it scope, receive and send)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state.service
        headers = dict(scope["headers"])
        authorize(headers.get(b"authorization", b"").decode("latin-1"), state.settings.api_keys)
        if not state.ready or state.draining:
            raise not_ready(state.status)
        settings = state.settings
        body = await read_body(receive, settings.read_timeout_s)
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        texts, single = parse_predict(body, content_type, settings)
        scope["state"]["texts"] = len(texts)
        try:
            entries = state.batcher.submit(
                texts, settings.request_timeout_s, scope["state"]["request_id"]
            )
        except Exception as exc:
            raise from_batcher(exc) from exc
        scores = await wait_for_all(
            [e.future for e in entries], receive, settings.request_timeout_s
        )
        labels = [label(s) for s in scores]
        positives = labels.count("positive")
        _POSITIVE.inc(positives)
        _NEGATIVE.inc(len(labels) - positives)
        scope["state"]["batch_size"] = max(e.batch_size for e in entries)
        version = state.predictor.version
        if single:
            payload: dict[str, Any] = {
                "label": labels[0],
                "score": scores[0],
                "model_version": version,
            }
        else:
            payload = {
                "predictions": [
                    {"label": n, "score": s} for n, s in zip(labels, scores, strict=True)
                ],
                "model_version": version,
            }
        await send_json(send, payload, timing_headers(entries))


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


def timing_headers(entries: Sequence[Any]) -> list[tuple[bytes, bytes]]:
    """Per request, as text-embeddings-inference reports them: milliseconds, worst text. Any
    entries with queue_seconds, tokenize_seconds, inference_seconds and batch_size serve."""
    return [
        (b"x-queue-time", f"{max(e.queue_seconds for e in entries) * 1000:.2f}".encode()),
        (b"x-tokenization-time", f"{max(e.tokenize_seconds for e in entries) * 1000:.2f}".encode()),
        (b"x-inference-time", f"{max(e.inference_seconds for e in entries) * 1000:.2f}".encode()),
        (b"x-batch-size", str(max(e.batch_size for e in entries)).encode()),
    ]


async def _documented(
    body: PredictRequest,
) -> SinglePrediction | BatchPrediction:  # pragma: no cover
    """Score one text (`text`) or several (`texts`, answered in input order).

    `score` is P(positive) in [0, 1]; `label` is positive at 0.5 and above. Texts of concurrent
    requests are batched together; a text's score does not depend on its batch-mates.
    """
    raise NotImplementedError("documentation only; PredictEndpoint serves POST /predict")


def doc_route() -> APIRoute:
    """POST /predict as FastAPI would declare it, for the OpenAPI schema and /docs only."""
    return APIRoute(
        "/predict",
        _documented,
        methods=["POST"],
        summary="Score one text or a list of texts",
        response_model=SinglePrediction | BatchPrediction,
        responses=ERROR_RESPONSES,
        openapi_extra={"requestBody": REQUEST_BODY},
    )


# The request body of /predict and /explain, for the OpenAPI schema (service.schemas has the
# schema itself, with this server's limits).
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/PredictRequest"},
            "examples": {
                "one text": {"value": {"text": "A wonderful film."}},
                "several texts": {
                    "value": {"texts": ["A wonderful film.", "Dull and far too long."]}
                },
            },
        }
    },
}
