"""Errors as HTTP responses, in one place. Every error body is
{"error": <code>, "message": <how to fix it>, "field": <the field at fault, or null>}."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.engine.jobs import (
    BatcherClosed,
    BatcherFailed,
    DeadlineExceeded,
    ExplanationsUnavailable,
    QueueFull,
    TextFailed,
)

log = logging.getLogger("service")
RETRY_AFTER_S = "1"


class ErrorBody(BaseModel):
    error: str = Field(description="a stable code, e.g. text_too_long")
    message: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(description="the request field at fault, e.g. texts[3]")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "the body is not valid UTF-8 or JSON (also: nested too deep, a number out of range)",
        401: "missing or wrong API key",
        408: "the body did not arrive within the body timeout",
        413: "body over the size limit",
        415: "not application/json",
        422: "a field is missing, of the wrong type, empty, not valid Unicode or over a limit",
        500: "the model failed on this text (logged with the request id; other texts are served)",
        503: "not ready, overloaded, unable to serve or shutting down (see Retry-After)",
        504: "waited past the request timeout",
    }.items()
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(payload).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return json_response({"error": code, "message": message, "field": field}, status, headers)


def field_name(loc: Sequence[int | str]) -> str | None:
    """A validation error's location as the client wrote it: texts[3], not texts.3."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or None


def not_ready(state: str) -> ApiError:
    return ApiError(
        503,
        "not_ready",
        f"the model is {state}; retry shortly",
        headers={"Retry-After": RETRY_AFTER_S},
    )


def from_batcher(exc: Exception) -> ApiError:
    """The batcher's exceptions as API errors; anything else is the server's fault (500)."""
    if isinstance(exc, QueueFull):
        return ApiError(
            503,
            "overloaded",
            f"the server is at capacity ({exc}); retry shortly",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    if isinstance(exc, DeadlineExceeded):
        return ApiError(
            504,
            "timeout",
            "the request waited longer than the request timeout; retry or send fewer texts",
        )
    if isinstance(exc, BatcherClosed):
        return ApiError(
            503,
            "shutting_down",
            "the server is shutting down; retry on another instance",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    if isinstance(exc, BatcherFailed):
        return ApiError(
            503,
            "unavailable",
            "the server cannot serve requests and is failing its health check; retry on "
            "another instance",
            headers={"Retry-After": RETRY_AFTER_S},
        )
    if isinstance(exc, ExplanationsUnavailable):  # the serving model changed as it was queued
        return ApiError(501, "explanations_unavailable", str(exc))
    if isinstance(exc, TextFailed):
        return ApiError(
            500,
            "internal_error",
            f"the model failed on a text of this request; the error is logged with request id "
            f"{exc}",
        )
    log.error("unexpected error from the batcher: %s", type(exc).__name__)
    return ApiError(500, "internal_error", "unexpected server error; it is logged")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = field_name(first["loc"][1:])
        return error_response(
            422, "invalid_request", f"{field or 'request'}: {first['msg']}", field
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal_error", "unexpected server error; it is logged")
