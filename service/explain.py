"""POST /explain: the score of /predict, and why: every token the model read, where it stands in
the text as the client sent it, and its Integrated Gradients attribution to the logit.

The request is /predict's ({"text": ...} or {"texts": [...]}, the same checks) with its own
limit on texts (SENTIMENT_EXPLAIN_MAX_TEXTS) and on the tokens the model reads per text
(SENTIMENT_EXPLAIN_MAX_TOKENS, checked once the text is read: 422). Texts join the explanation
queue (service/explainer.py), never /predict's: 503 with Retry-After when it is full, 504 past
SENTIMENT_EXPLAIN_TIMEOUT_S. An artifact without the `classify` entry point, or a server with
explanations turned off, answers 501 with the reason. Auth, request ids, metrics, the access
log and the timing headers are /predict's.

Spans are [start, end) offsets in the submitted string, counted in Unicode code points (Python's
str indices; JavaScript's `Array.from(text)`, not its UTF-16 `text.slice`). `not_read` is the
part of a long text that the model's truncation cut out, or null.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from service import metrics
from service.auth import authorize
from service.errors import ERROR_RESPONSES, ApiError, ErrorBody, from_batcher, not_ready
from service.explainer import TooManyTokens
from service.predict import REQUEST_BODY, read_body, send_json, timing_headers, wait_for_all
from service.schemas import PredictRequest, label, parse_predict


class ExplainEndpoint:
    """An ASGI app, as PredictEndpoint is."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state.service
        headers = dict(scope["headers"])
        settings = state.settings
        authorize(headers.get(b"authorization", b"").decode("latin-1"), settings.api_keys)
        if not state.ready or state.draining:
            raise not_ready(state.status)
        explanations = state.explanations
        if explanations is None or explanations.queue is None:
            reason = explanations.unavailable if explanations else "explanations are not loaded"
            raise ApiError(501, "explanations_unavailable", reason)
        body = await read_body(receive, settings.read_timeout_s)
        content_type = headers.get(b"content-type", b"").decode("latin-1") or None
        texts, single = _parse(body, content_type, settings)
        scope["state"]["texts"] = len(texts)
        try:
            jobs = explanations.queue.submit(texts, settings.explain_timeout_s)
        except Exception as exc:
            raise from_batcher(exc) from exc
        futures = [job.future for job in jobs]
        results = await wait_for_all(futures, receive, settings.explain_timeout_s, _failed(single))
        explained = [_explained(r) for r in results]
        for r in results:
            metrics.EXPLAIN_COMPLETENESS.observe(abs(r.delta))
        version = state.predictor.version
        method = {"name": "integrated_gradients", "baseline": "pad", "steps": results[0].steps}
        if single:
            payload: dict[str, Any] = {**explained[0], "model_version": version, "method": method}
        else:
            payload = {"explanations": explained, "model_version": version, "method": method}
        await send_json(send, payload, timing_headers(jobs))


def _parse(body: bytes, content_type: str | None, settings: Any) -> tuple[list[str], bool]:
    """/predict's parsing and text checks, with /explain's own limit on texts."""
    limit = settings.explain_max_texts
    try:
        return parse_predict(body, content_type, settings.model_copy(update={"max_texts": limit}))
    except ApiError as exc:
        if exc.code != "too_many_texts":
            raise
        raise ApiError(
            422,
            "too_many_texts",
            f"texts: more than {limit} texts; the limit is {limit} per /explain request "
            "(SENTIMENT_EXPLAIN_MAX_TEXTS)",
            "texts",
        ) from exc


def _failed(single: bool) -> Callable[[Sequence[asyncio.Future[Any]], BaseException], ApiError]:
    """The error for a failed explanation: 422 naming the text that has too many tokens."""

    def failed(futures: Sequence[asyncio.Future[Any]], exc: BaseException) -> ApiError:
        for i, future in enumerate(futures):
            error = future.exception() if future.done() and not future.cancelled() else None
            if isinstance(error, TooManyTokens):
                where = "text" if single else f"texts[{i}]"
                return ApiError(
                    422,
                    "too_many_tokens",
                    f"{where}: {error} (SENTIMENT_EXPLAIN_MAX_TOKENS); /predict scores it, "
                    "or send a shorter text to explain",
                    where,
                )
        return from_batcher(exc)

    return failed


def _explained(e: Any) -> dict[str, Any]:
    """One model.explain.Explanation as JSON."""
    return {
        "label": label(e.score),
        "score": e.score,
        "logit": e.logit,
        "baseline_logit": e.baseline_logit,
        "completeness": {
            "delta": e.delta,
            "tolerance": e.tolerance,
            "within_tolerance": abs(e.delta) <= e.tolerance,
            "evaluations": e.evaluations,
        },
        "tokens": [
            {"token": t, "start": s, "end": end, "attribution": a, "unknown": u}
            for t, (s, end), a, u in zip(e.tokens, e.spans, e.attributions, e.unknown, strict=True)
        ],
        "not_read": None if e.skipped is None else {"start": e.skipped[0], "end": e.skipped[1]},
    }


# The response, for the OpenAPI schema and /docs.
class Span(BaseModel):
    start: int = Field(description="first code point, in the text as sent")
    end: int = Field(description="one past the last code point")


class TokenAttribution(Span):
    token: str = Field(description="as the model reads it: normalised, lower case")
    attribution: float = Field(description="contribution to the logit; > 0 pushes to positive")
    unknown: bool = Field(description="not in the vocabulary: the model reads <unk>")


class Completeness(BaseModel):
    delta: float = Field(description="sum of attributions - (logit - baseline_logit)")
    tolerance: float = Field(description="0.05 + 1% of |logit - baseline_logit|")
    within_tolerance: bool
    evaluations: int = Field(
        description="gradients taken: `method.steps`, and more where the path was refined"
    )


class Explained(BaseModel):
    label: str
    score: float = Field(description="P(positive), as /predict answers (computed in fp32)")
    logit: float = Field(description="the calibrated logit of the text")
    baseline_logit: float = Field(description="the logit of as many <pad> tokens")
    completeness: Completeness
    tokens: list[TokenAttribution]
    not_read: Span | None = Field(description="the part truncation cut out, or null")


class Method(BaseModel):
    name: str = Field(description="integrated_gradients")
    baseline: str = Field(description="pad: every token's embedding zero")
    steps: int = Field(description="Gauss-Legendre points along the path")


class SingleExplanation(Explained):
    model_version: str
    method: Method


class BatchExplanation(BaseModel):
    explanations: list[Explained]
    model_version: str
    method: Method


async def _documented(
    body: PredictRequest,
) -> SingleExplanation | BatchExplanation:  # pragma: no cover
    """Explain the score of one text (`text`) or several (`texts`, answered in input order).

    Each token the model read comes with its [start, end) span in the text as sent (code
    points) and its Integrated Gradients attribution to the calibrated logit; they sum to
    logit - baseline_logit up to `completeness.delta`.
    """
    raise NotImplementedError("documentation only; ExplainEndpoint serves POST /explain")


def doc_route() -> APIRoute:
    """POST /explain as FastAPI would declare it, for the OpenAPI schema and /docs only."""
    responses = {
        **ERROR_RESPONSES,
        501: {"model": ErrorBody, "description": "the model cannot be explained"},
    }
    return APIRoute(
        "/explain",
        _documented,
        methods=["POST"],
        summary="Score one text or a list of texts, with token attributions",
        response_model=SingleExplanation | BatchExplanation,
        responses=responses,
        openapi_extra={"requestBody": REQUEST_BODY},
    )
