"""The probes (/healthz, /readyz), /model and /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from service import metrics
from service.http.auth import authorize
from service.http.errors import ERROR_RESPONSES, RETRY_AFTER_S, json_response, not_ready

router = APIRouter()


def _state(request: Request) -> Any:
    return request.app.state.service


@router.get(
    "/healthz",
    summary="Liveness: the process can still serve requests",
    responses={503: {"description": "it cannot: restart it (the reason is in the body)"}},
)
async def healthz(request: Request) -> Response:
    """200 while the process can serve (or is still loading); 503 once it cannot: the batcher
    has stopped or a model call hangs. An orchestrator's liveness probe then restarts it."""
    state = _state(request)
    problem = state.failure
    if problem is None and state.batcher is not None:
        problem = state.batcher.health()
    if problem is not None:
        return json_response({"status": "unhealthy", "reason": problem}, status=503)
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: 200 once the model is loaded and warmed up",
    responses={503: {"description": "loading, warming up, draining or unable to serve"}},
)
async def readyz(request: Request) -> Response:
    state = _state(request)
    if state.failure is not None:
        return json_response({"status": "failed", "reason": state.failure}, status=503)
    if state.batcher is not None and state.batcher.health() is not None:
        return json_response(
            {"status": "unhealthy"}, status=503, headers={"Retry-After": RETRY_AFTER_S}
        )
    if state.ready and not state.draining:
        # With several workers, one answers for all: the instance is ready when every worker is.
        if not metrics.MULTIPROCESS or metrics.workers_ready() >= state.settings.workers:
            return json_response({"status": "ready", "versions": worker_versions(state)})
        return json_response(
            {"status": "warming_workers"}, status=503, headers={"Retry-After": RETRY_AFTER_S}
        )
    return json_response(
        {"status": state.status}, status=503, headers={"Retry-After": RETRY_AFTER_S}
    )


@router.get(
    "/model",
    summary="The artifact's metadata and the serving configuration",
    responses=ERROR_RESPONSES,
)
async def model_info(request: Request) -> Response:
    state = _state(request)
    authorize(request.headers.get("authorization", ""), state.settings.api_keys)
    if state.models is None:
        raise not_ready(state.status)
    s = state.settings
    scorer = state.models.serving.scorer
    serving = {
        **scorer.serving_info(),
        "max_batch_size": s.max_batch_size,
        "max_batch_wait_ms": s.max_batch_wait_ms,
        "queue_capacity": s.queue_capacity,
        "request_timeout_s": s.request_timeout_s,
        "max_text_chars": s.max_text_chars,
        "max_texts": s.max_texts,
        "max_body_bytes": s.max_body_bytes,
        "workers": s.workers,
        "status": state.status,
        "explain": state.explanations.info() if state.explanations else None,
        "models": models_info(state),
    }
    return json_response(
        {"model_version": scorer.version, "metadata": scorer.model.metadata, "serving": serving}
    )


def models_info(state: Any) -> dict[str, Any]:
    """This worker's models, and the version each worker serves (they differ during a swap)."""
    m = state.models
    return {
        "serving": {"version": m.serving.version, "path": m.serving.path},
        "previous": {"version": m.previous.version} if m.previous else None,
        "shadow": {"version": m.shadow.version, "share": m.shadow_share} if m.shadow else None,
        "workers": worker_versions(state),
    }


def worker_versions(state: Any) -> dict[str, str]:
    """pid -> the version that worker serves, from the workers' shared status files."""
    if state.swapper is None:
        return {}
    return {str(s.pid): s.serving for s in state.swapper.control.statuses()}


@router.get("/metrics", summary="Prometheus metrics")
async def prometheus_metrics(request: Request) -> Response:
    state = _state(request)
    if state.batcher is not None:
        metrics.QUEUE_DEPTH.set(state.batcher.depth)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
