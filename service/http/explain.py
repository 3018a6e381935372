"""POST /explain: the score of /predict, and why: every token the model read, where it stands in
the text as the client sent it, and its Integrated Gradients attribution to the logit.

The request is /predict's ({"text": ...} or {"texts": [...]}, the same checks) with its own
limit on texts (SENTIMENT_EXPLAIN_MAX_TEXTS) and on the tokens the model reads per text
(SENTIMENT_EXPLAIN_MAX_TOKENS, checked once the text is read: 422). Texts join the explanation
queue (service/engine/explain_queue.py), never /predict's: 503 with Retry-After when it is full,
504 past SENTIMENT_EXPLAIN_TIMEOUT_S. An artifact without the `classify` entry point, or a
server with explanations turned off, answers 501 with the reason. Auth, request ids, metrics,
the access log and the timing headers are /predict's.

Spans are [start, end) offsets in the submitted string, counted in Unicode code points (Python's
str indices; JavaScript's `Array.from(text)`, not its UTF-16 `text.slice`). `not_read` is the
part of a long text that the model's truncation cut out, or null.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from service import metrics
from service.engine.jobs import TooManyTokens
from service.http.asgi import (
    model_header,
    open_request,
    send_json,
    timing_headers,
    wait_for_all,
)
from service.http.errors import ERROR_RESPONSES, ApiError, ErrorBody, from_batcher
from service.http.parsing import Parsed, parse_predict
from service.http.schemas import (
    REQUEST_BODY,
    BatchExplanation,
    PredictRequest,
    SingleExplanation,
    label,
)


class ExplainEndpoint:
    """An ASGI app, as PredictEndpoint is."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state, body, content_type = await open_request(scope, receive, _served)
        settings, explanations = state.settings, state.explanations
        parsed = _parse(body, content_type, settings)
        single = parsed.single
        scope["state"]["texts"] = len(parsed.texts)
        try:
            jobs = explanations.queue.submit(parsed.texts, settings.explain_timeout_s)
        except Exception as exc:
            raise from_batcher(exc) from exc
        futures = [job.future for job in jobs]
        results = await wait_for_all(futures, receive, settings.explain_timeout_s, _failed(single))
        explained = [_explained(r) for r in results]
        for r in results:
            metrics.EXPLAIN_COMPLETENESS.observe(abs(r.delta))
        version = jobs[0].version  # every text of a request is explained by one model
        method = {"name": "integrated_gradients", "baseline": "pad", "steps": results[0].steps}
        if single:
            payload: dict[str, Any] = {**explained[0], "model_version": version, "method": method}
        else:
            payload = {"explanations": explained, "model_version": version, "method": method}
        await send_json(send, payload, [*timing_headers(jobs), model_header(version)])


def _served(state: Any) -> None:
    """501 where this server does not explain: turned off, or a serving model that cannot be."""
    explanations = state.explanations
    reason = explanations.why_unavailable() if explanations else "explanations are not loaded"
    if reason is not None:
        raise ApiError(501, "explanations_unavailable", reason)


def _parse(body: bytes, content_type: str | None, settings: Any) -> Parsed:
    """/predict's parsing and text checks, with /explain's own limit on texts. A text over
    SENTIMENT_MAX_TEXT_CHARS is refused whatever SENTIMENT_LONG_TEXTS says: the spans of an
    explanation are offsets in the text as sent, and a cut text is not that text."""
    limit = settings.explain_max_texts
    own = settings.model_copy(update={"max_texts": limit, "long_texts": "refuse"})
    try:
        return parse_predict(body, content_type, own)
    except ApiError as exc:
        if exc.code == "text_too_long":
            message = exc.message.split(" (", 1)[0]
            raise ApiError(
                422,
                "text_too_long",
                f"{message} (SENTIMENT_MAX_TEXT_CHARS); /explain explains whole texts only: "
                "explain a shorter one, or score it with /predict",
                exc.field,
            ) from exc
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


def known_share(unknown: Sequence[bool]) -> float:
    """The share of the tokens read that the vocabulary knows (model.drift.known_share)."""
    return 1.0 - sum(unknown) / len(unknown)


def _explained(e: Any) -> dict[str, Any]:
    """One model.attribution.Explanation as JSON."""
    return {
        "label": label(e.score),
        "score": e.score,
        "known_share": known_share(e.unknown),
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
        operation_id="explain",
        summary="Score one text or a list of texts, with token attributions",
        response_model=SingleExplanation | BatchExplanation,
        responses=responses,
        openapi_extra={"requestBody": REQUEST_BODY},
    )
