"""The /predict contract: request and response models (for validation and the OpenAPI schema),
and the parser that turns a raw body into texts or a 4xx error naming the field and limit."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from service import samples
from service.errors import ApiError, field_name
from service.settings import Settings


class PredictRequest(BaseModel):
    """One text as `text`, or several as `texts`; never both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": samples.SHORT[0]}, {"texts": samples.SHORT[:2]}]},
    )
    text: StrictStr | None = Field(None, description="one review; answered as one prediction")
    texts: list[StrictStr] | None = Field(
        None, description="several reviews; answered in input order"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("send exactly one of 'text' (a string) or 'texts' (a list of strings)")
        return self


class Prediction(BaseModel):
    label: Literal["positive", "negative"]
    score: float = Field(
        description="P(positive), in [0, 1]; the label is positive at 0.5 and above"
    )


class SinglePrediction(Prediction):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "positive",
                    "score": 0.97,
                    "model_version": "imdb-bilstm-20261122-1a2b3c4d",
                }
            ]
        }
    )
    model_version: str


class BatchPrediction(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "predictions": [
                        {"label": "positive", "score": 0.97},
                        {"label": "negative", "score": 0.03},
                    ],
                    "model_version": "imdb-bilstm-20261122-1a2b3c4d",
                }
            ]
        }
    )
    predictions: list[Prediction]
    model_version: str


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
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})"
        ) from exc
    try:
        payload = json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from exc
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


def check_text(text: str, field: str, settings: Settings) -> None:
    if not text.strip():
        raise ApiError(422, "empty_text", f"{field}: the text is empty or only whitespace", field)
    if len(text) > settings.max_text_chars:
        raise ApiError(
            422,
            "text_too_long",
            f"{field}: {len(text):,} characters; the limit is "
            f"{settings.max_text_chars:,} (SENTIMENT_MAX_TEXT_CHARS)",
            field,
        )


def label(score: float) -> str:
    return "positive" if score >= 0.5 else "negative"
