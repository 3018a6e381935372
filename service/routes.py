"""The HTTP routes. Handlers validate, submit to the batcher and await; they never touch torch."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from service import metrics
from service.batcher import DeadlineExceeded, Entry
from service.errors import ApiError, from_batcher, not_ready
from service.schemas import (
    BatchPrediction,
    ErrorBody,
    PredictRequest,
    SinglePrediction,
    label,
    parse_predict,
)

router = APIRouter()
JSON = "application/json"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "invalid JSON or UTF-8",
        401: "missing or wrong API key",
        413: "body over the size limit",
        415: "not application/json",
        422: "a field is missing, of the wrong type, empty or over a limit",
        503: "not ready, overloaded or shutting down (see Retry-After)",
        504: "waited past the request timeout",
    }.items()
}


def _state(request: Request) -> Any:
    return request.app.state.service


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload).encode(), status_code=status, media_type=JSON, headers=headers
    )


def authorize(request: Request) -> None:
    """With API keys configured, require `Authorization: Bearer <key>` (constant-time compare)."""
    keys = _state(request).settings.api_keys
    if not keys:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given_bytes = given.strip().encode()
    matched = False
    for key in keys:  # compare with every key, so the time taken says nothing about which matched
        matched |= hmac.compare_digest(given_bytes, key.get_secret_value().encode())
    if scheme.lower() != "bearer" or not matched:
        raise ApiError(
            401,
            "unauthorized",
            "send a valid API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.post(
    "/predict",
    summary="Score one text or a list of texts",
    response_model=SinglePrediction | BatchPrediction,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": PredictRequest.model_json_schema(
                        ref_template="#/components/schemas/{model}"
                    ),
                    "examples": {
                        "one text": {"value": {"text": "A wonderful film."}},
                        "several texts": {
                            "value": {"texts": ["A wonderful film.", "Dull and far too long."]}
                        },
                    },
                }
            },
        }
    },
)
async def predict(request: Request) -> Response:
    authorize(request)
    state = _state(request)
    if not state.ready or state.draining:
        raise not_ready(state.status)
    settings = state.settings
    texts, single = parse_predict(
        await request.body(), request.headers.get("content-type"), settings
    )
    request.state.texts = len(texts)
    try:
        entries = state.batcher.submit(texts, settings.request_timeout_s)
    except Exception as exc:
        raise from_batcher(exc) from exc
    scores = await _wait(entries, request, settings.request_timeout_s)
    labels = [label(s) for s in scores]
    for name in labels:
        metrics.PREDICTIONS.labels(name).inc()
    request.state.batch_size = max(e.batch_size for e in entries)
    version = state.predictor.version
    if single:
        payload: dict[str, Any] = {"label": labels[0], "score": scores[0], "model_version": version}
    else:
        payload = {
            "predictions": [{"label": n, "score": s} for n, s in zip(labels, scores, strict=True)],
            "model_version": version,
        }
    return _json(payload, headers=_timing_headers(entries))


async def _wait(entries: list[Entry], request: Request, timeout_s: float) -> list[float]:
    """All the entries' scores; cancels them if the client goes away or the deadline passes."""
    gathered = asyncio.gather(*(e.future for e in entries))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait(
            {gathered, gone}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        gone.cancel()
    if gathered in done:
        try:
            return list(gathered.result())
        except Exception as exc:
            _cancel(entries)
            raise from_batcher(exc) from exc
    _cancel(entries)
    gathered.cancel()
    if gone in done:
        raise ApiError(499, "client_closed_request", "the client closed the connection")
    raise from_batcher(DeadlineExceeded())


def _cancel(entries: list[Entry]) -> None:
    for entry in entries:
        entry.future.cancel()  # the batcher skips cancelled entries


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has been read, so only that can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _timing_headers(entries: list[Entry]) -> dict[str, str]:
    """Per request, as text-embeddings-inference reports them: milliseconds, worst text."""
    return {
        "x-queue-time": f"{max(e.queue_seconds for e in entries) * 1000:.2f}",
        "x-tokenization-time": f"{max(e.tokenize_seconds for e in entries) * 1000:.2f}",
        "x-inference-time": f"{max(e.inference_seconds for e in entries) * 1000:.2f}",
        "x-batch-size": str(max(e.batch_size for e in entries)),
    }


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Response:
    return _json({"status": "ok"})


@router.get(
    "/readyz", summary="Readiness: 200 once the model is loaded and warmed up", responses={503: {}}
)
async def readyz(request: Request) -> Response:
    state = _state(request)
    if state.ready and not state.draining:
        return _json({"status": "ready"})
    return _json({"status": state.status}, status=503, headers={"Retry-After": "1"})


@router.get(
    "/model", summary="The artifact's metadata and the serving configuration", responses=_ERRORS
)
async def model_info(request: Request) -> Response:
    authorize(request)
    state = _state(request)
    if state.predictor is None:
        raise not_ready(state.status)
    s = state.settings
    serving = {
        **state.predictor.describe(),
        "max_batch_size": s.max_batch_size,
        "max_batch_wait_ms": s.max_batch_wait_ms,
        "queue_capacity": s.queue_capacity,
        "request_timeout_s": s.request_timeout_s,
        "max_text_chars": s.max_text_chars,
        "max_texts": s.max_texts,
        "max_body_bytes": s.max_body_bytes,
        "workers": s.workers,
        "status": state.status,
    }
    return _json(
        {
            "model_version": state.predictor.version,
            "metadata": state.predictor.model.metadata,
            "serving": serving,
        }
    )


@router.get("/metrics", summary="Prometheus metrics")
async def prometheus_metrics(request: Request) -> Response:
    state = _state(request)
    if state.batcher is not None:
        metrics.QUEUE_DEPTH.set(state.batcher.depth)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
