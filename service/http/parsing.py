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
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from model.limits import Admitted, TextRefused, admit
from service import metrics
from service.http.errors import ApiError, field_name
from service.http.schemas import PredictRequest
from service.settings import Settings

SHAPES = '{"text": "one review"} or {"texts": ["a review", "another"]}'
_JSON_KINDS = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


@dataclass(frozen=True)
class Parsed:
    texts: list[str]  # to score: as sent, or cut to their head and tail (SENTIMENT_LONG_TEXTS)
    truncated: list[bool]  # per text: its middle was cut out
    single: bool  # sent as {"text": ...}: answered as one prediction


def parse_predict(body: bytes, content_type: str | None, settings: Settings) -> Parsed:
    """The texts of a raw request body, or ApiError (400, 415 or 422)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {content_type or 'none'}",
        )
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise ApiError(
            422,
            "invalid_request",
            f"body: the body is a JSON {_JSON_KINDS.get(type(payload), 'value')}; send an object, "
            f"{SHAPES}",
        )
    unknown = sorted(set(payload) - set(PredictRequest.model_fields))
    if unknown:
        raise ApiError(
            422,
            "invalid_request",
            f"{unknown[0]}: not a field of this request; send {SHAPES}",
            unknown[0],
        )
    try:
        request = PredictRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_name(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ApiError(422, "invalid_request", f"{field or 'body'}: {message}", field) from exc
    if request.text is not None:
        return _parsed([check_text(request.text, "text", settings)], single=True)
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
    return _parsed(
        [check_text(text, f"texts[{i}]", settings) for i, text in enumerate(texts)], single=False
    )


def _parsed(admitted: list[Admitted], single: bool) -> Parsed:
    truncated = [a.truncated for a in admitted]
    if any(truncated):
        metrics.TRUNCATED.inc(sum(truncated))
    return Parsed([a.text for a in admitted], truncated, single)


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


def check_text(text: str, field: str, settings: Settings) -> Admitted:
    """The text to score (model.limits.admit, under SENTIMENT_LONG_TEXTS), or 422 naming the
    field, the problem and the setting to change."""
    try:
        return admit(text, settings.max_text_chars, settings.long_texts)
    except TextRefused as exc:
        hint = ""
        if exc.code == "text_too_long":
            hint = (
                " (SENTIMENT_MAX_TEXT_CHARS; or SENTIMENT_LONG_TEXTS=truncate to score its head "
                "and tail)"
            )
        raise ApiError(422, exc.code, f"{field}: {exc.reason}{hint}", field) from None
