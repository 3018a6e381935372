"""The parser that turns a raw /predict or /explain body into texts, or a 4xx error that names the
field and the limit.

Bodies are parsed by orjson: nesting deeper than 1,024 levels, numbers out of range and any
other parser error are a 400 invalid_json, never a RecursionError or an exception outside the
handler. A text is valid when it is a string of Unicode scalar values (no lone UTF-16
surrogates: orjson refuses their \\ud800 escapes, and the standard parser reads them again only
so that the 422 can name the field), not longer than the limit, and has something to read once
cleaned: a text of only whitespace, HTML line breaks and invisible characters gets 422
empty_text, as an empty one does, rather than a score of nothing.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic import ValidationError

from model.cleaning import has_visible_text
from service.http.errors import ApiError, field_name
from service.http.schemas import PredictRequest
from service.settings import Settings


def parse_predict(
    body: bytes, content_type: str | None, settings: Settings
) -> tuple[list[str], bool]:
    """(texts, single) from a raw request body, or ApiError (400, 415 or 422)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {content_type or 'none'}",
        )
    payload = parse_json(body)
    try:
        request = PredictRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_name(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ApiError(422, "invalid_request", f"{field or 'body'}: {message}", field) from exc
    if request.text is not None:
        check_text(request.text, "text", settings)
        return [request.text], True
    texts = request.texts or []
    if not texts:
        raise ApiError(422, "no_texts", "texts: send at least one text", "texts")
    if len(texts) > settings.max_texts:
        raise ApiError(
            422,
            "too_many_texts",
            f"texts: {len(texts)} texts; the limit is {settings.max_texts} "
            "per request (SENTIMENT_MAX_TEXTS)",
            "texts",
        )
    for i, text in enumerate(texts):
        check_text(text, f"texts[{i}]", settings)
    return texts, False


def parse_json(body: bytes) -> Any:
    """The JSON value of a body, or 400 invalid_utf8 / invalid_json saying what is wrong."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})"
        ) from None
    if "surrogate" in reason:
        try:
            return json.loads(body)  # so that check_text names the field with the surrogate
        except (ValueError, RecursionError):
            pass
    raise ApiError(400, "invalid_json", f"the body is not valid JSON: {reason}")


def check_text(text: str, field: str, settings: Settings) -> None:
    if len(text) > settings.max_text_chars:
        raise ApiError(
            422,
            "text_too_long",
            f"{field}: {len(text):,} characters; the limit is "
            f"{settings.max_text_chars:,} (SENTIMENT_MAX_TEXT_CHARS)",
            field,
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(
                422,
                "invalid_text",
                f"{field}: character {exc.start} is a lone UTF-16 surrogate "
                f"(U+{ord(text[exc.start]):04X}), which is not Unicode text; send the "
                "character itself or a complete surrogate pair",
                field,
            ) from None
    if not has_visible_text(text):
        raise ApiError(
            422,
            "empty_text",
            f"{field}: nothing to read: the text is empty, or only whitespace, HTML line "
            "breaks and invisible characters",
            field,
        )
