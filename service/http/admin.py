"""The admin routes: change the model of the running service, on every worker, without dropping a
request, and try a candidate on live traffic first.

    GET    /admin/model           what each worker serves, keeps and shadows
    POST   /admin/model           {"path": ...}: load, check and serve another artifact
    POST   /admin/model/rollback  serve the model from before again (while it is kept)
    POST   /admin/model/confirm   release the model from before now, not after the grace period
    POST   /admin/shadow          {"path": ..., "share": 0.1}: a candidate scores a share of texts
    POST   /admin/shadow/promote  the candidate serves
    DELETE /admin/shadow          drop the candidate

They are off (404) unless SENTIMENT_ADMIN_KEYS is set, and need `Authorization: Bearer <admin
key>` (API keys do not open them). A path is an artifact directory under SENTIMENT_MODEL_ROOT,
relative to it or absolute, with every symbolic link resolved (403 otherwise). One change runs
at a time (409 while another does); a change returns once every worker has applied it, or fails
on every worker with the reason (422), the model that served before serving on. Every call is
logged with the key's fingerprint, never the key.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from service.engine.control import ChangeInProgress, PathRefused, artifact_path
from service.engine.models import ModelRefused
from service.engine.swapper import NothingToChange, fingerprint
from service.http.errors import ApiError, ErrorBody, json_response, not_ready
from service.http.probes import models_info

_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "missing or wrong admin key",
        403: "the path is outside SENTIMENT_MODEL_ROOT",
        404: "admin routes are off (SENTIMENT_ADMIN_KEYS is not set)",
        409: "another change is in progress, or there is nothing to roll back or promote",
        422: "the artifact cannot be loaded or failed a check; the old model serves on",
        503: "the service is not ready",
    }.items()
}
router = APIRouter(prefix="/admin", tags=["admin"], responses=_RESPONSES)


class SwapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="an artifact directory under SENTIMENT_MODEL_ROOT")


class ShadowRequest(SwapRequest):
    share: float = Field(0.1, gt=0, le=1, description="the share of live texts it scores again")


def _admin(request: Request) -> tuple[Any, str]:
    """(service state, who) for a caller with an admin key; 404 when admin is off, 401 without
    a valid key, 503 before the service serves."""
    state = request.app.state.service
    keys = state.settings.admin_keys
    if not keys:
        raise ApiError(
            404, "admin_off", "the admin routes are off on this server (SENTIMENT_ADMIN_KEYS)"
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given_bytes = given.strip().encode()
    matched = None
    for key in keys:  # compare with every key, so the time taken says nothing about which
        if hmac.compare_digest(given_bytes, key.get_secret_value().encode()):
            matched = key.get_secret_value()
    if scheme.lower() != "bearer" or matched is None:
        raise ApiError(
            401,
            "unauthorized",
            "send a valid admin key as 'Authorization: Bearer <key>' (SENTIMENT_ADMIN_KEYS)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if state.swapper is None or not state.ready:
        raise not_ready(state.status)
    return state, fingerprint(matched)


async def _change(request: Request, action: str, **asked: Any) -> Response:
    state, who = _admin(request)
    try:
        outcome = await state.swapper.change(action, who, **asked)
    except PathRefused as exc:
        raise ApiError(403, "outside_model_root", str(exc), "path") from exc
    except ModelRefused as exc:
        raise ApiError(422, "model_refused", f"{exc}; the model that served serves on") from exc
    except (ChangeInProgress, NothingToChange) as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    return json_response({**outcome, "models": models_info(state)})


def _path(request: Request, raw: str) -> str:
    try:
        path = artifact_path(raw, request.app.state.service.settings.model_root)
    except PathRefused as exc:
        raise ApiError(403, "outside_model_root", str(exc), "path") from exc
    if not path.is_dir():
        raise ApiError(422, "model_refused", f"path: {raw!r} is not an artifact directory", "path")
    return str(path)


@router.get("/model", summary="What every worker serves, keeps for rollback and shadows")
async def admin_status(request: Request) -> Response:
    state, _ = _admin(request)
    desired = state.swapper.control.desired()
    return json_response({"desired": desired.__dict__ if desired else None, **models_info(state)})


@router.post("/model", summary="Serve another artifact, on every worker, without a pause")
async def swap(body: SwapRequest, request: Request) -> Response:
    _admin(request)
    return await _change(request, "swap", path=_path(request, body.path))


@router.post("/model/rollback", summary="Serve the model from before again, at once")
async def rollback(request: Request) -> Response:
    return await _change(request, "rollback")


@router.post("/model/confirm", summary="Release the model from before now")
async def confirm(request: Request) -> Response:
    return await _change(request, "confirm")


@router.post("/shadow", summary="Load a candidate that scores a share of live texts, unseen")
async def shadow(body: ShadowRequest, request: Request) -> Response:
    _admin(request)
    return await _change(request, "shadow", path=_path(request, body.path), share=body.share)


@router.post("/shadow/promote", summary="The shadow candidate serves")
async def promote(request: Request) -> Response:
    return await _change(request, "promote")


@router.delete("/shadow", summary="Drop the shadow candidate")
async def drop(request: Request) -> Response:
    return await _change(request, "drop")
