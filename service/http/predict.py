"""POST /predict: the hot route, as a bare ASGI endpoint in the app's router.

FastAPI's request machinery (dependency solving, Request objects, response validation) cost
about 60 us of event-loop time per request here, a quarter of the loop's whole budget for a
short text (benchmarks/loopcost.py). This endpoint skips it and keeps everything else:
Starlette routing (so GET /predict is a 405), the exception handlers (ApiError -> JSON), and the
outer middleware (request id, metrics, access log). FastAPI documents it through `doc_route()`.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from service import metrics
from service.http.asgi import (
    model_header,
    open_request,
    send_json,
    timing_headers,
    wait_for_all,
)
from service.http.errors import ERROR_RESPONSES, from_batcher
from service.http.parsing import parse_predict
from service.http.schemas import (
    REQUEST_BODY,
    BatchPrediction,
    PredictRequest,
    SinglePrediction,
    label,
)

_POSITIVE, _NEGATIVE = (
    metrics.PREDICTIONS.labels("positive"),
    metrics.PREDICTIONS.labels("negative"),
)


class PredictEndpoint:
    """An ASGI app (an object, so Starlette's Route passes it scope, receive and send)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state, body, content_type = await open_request(scope, receive)
        settings = state.settings
        parsed = parse_predict(body, content_type, settings)
        scope["state"]["texts"] = len(parsed.texts)
        try:
            entries = state.batcher.submit(
                parsed.texts, settings.request_timeout_s, scope["state"]["request_id"]
            )
        except Exception as exc:
            raise from_batcher(exc) from exc
        results = await wait_for_all(
            [e.future for e in entries], receive, settings.request_timeout_s
        )
        predictions = [
            {
                "label": label(r.score),
                "score": r.score,
                "known_share": r.known_share,
                "truncated": cut,
            }
            for r, cut in zip(results, parsed.truncated, strict=True)
        ]
        positives = sum(1 for r in results if r.score >= 0.5)
        _POSITIVE.inc(positives)
        _NEGATIVE.inc(len(results) - positives)
        scope["state"]["batch_size"] = max(e.batch_size for e in entries)
        version = entries[0].version  # every text of a request is scored by one model
        if parsed.single:
            payload: dict[str, Any] = {**predictions[0], "model_version": version}
        else:
            payload = {"predictions": predictions, "model_version": version}
        await send_json(send, payload, [*timing_headers(entries), model_header(version)])


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
        operation_id="predict",
        summary="Score one text or a list of texts",
        response_model=SinglePrediction | BatchPrediction,
        responses=ERROR_RESPONSES,
        openapi_extra={"requestBody": REQUEST_BODY},
    )
