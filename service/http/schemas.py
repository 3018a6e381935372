"""The HTTP contract as pydantic models, for validation and the OpenAPI schema: the request of
/predict and /explain, and their responses. Parsing a raw body into texts is service.http.parsing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from service import samples
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


KNOWN_SHARE = (
    "the share of the tokens the model read that its vocabulary knows, in [0, 1]. Below about "
    "0.5 (emoji only, another language, noise) the score rests on little the model can read: "
    "treat it as 'cannot tell'"
)


class Prediction(BaseModel):
    label: Literal["positive", "negative"]
    score: float = Field(
        description="P(positive), in [0, 1]; the label is positive at 0.5 and above"
    )
    known_share: float = Field(description=KNOWN_SHARE)
    truncated: bool = Field(
        description="the text was longer than SENTIMENT_MAX_TEXT_CHARS and its middle was cut "
        "out before reading (only with SENTIMENT_LONG_TEXTS=truncate)"
    )


class SinglePrediction(Prediction):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "positive",
                    "score": 0.97,
                    "known_share": 1.0,
                    "truncated": False,
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
                        {
                            "label": "positive",
                            "score": 0.97,
                            "known_share": 1.0,
                            "truncated": False,
                        },
                        {
                            "label": "negative",
                            "score": 0.03,
                            "known_share": 0.9,
                            "truncated": False,
                        },
                    ],
                    "model_version": "imdb-bilstm-20261122-1a2b3c4d",
                }
            ]
        }
    )
    predictions: list[Prediction]
    model_version: str


# The response of /explain.
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
    known_share: float = Field(description=KNOWN_SHARE)
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


# The request body of /predict and /explain, for the OpenAPI schema (request_schema()
# below is the schema itself, with this server's limits).
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/PredictRequest"},
            "examples": {
                "one text": {"value": {"text": "A wonderful film."}},
                "several texts": {
                    "value": {"texts": ["A wonderful film.", "Dull and far too long."]}
                },
            },
        }
    },
}


def request_schema(settings: Settings) -> dict[str, Any]:
    """The JSON schema of a /predict body with this server's limits, for the OpenAPI document."""
    text = {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.max_text_chars,
        "pattern": "\\S",
        "description": "a review: at most SENTIMENT_MAX_TEXT_CHARS characters, valid Unicode "
        "(no lone surrogates), with something to read besides whitespace, HTML line breaks and "
        "invisible characters",
    }
    return {
        "title": "PredictRequest",
        "description": PredictRequest.__doc__,
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "text": {**text, "description": "one review; answered as one prediction"},
            "texts": {
                "type": "array",
                "minItems": 1,
                "maxItems": settings.max_texts,
                "items": text,
                "description": "several reviews (at most SENTIMENT_MAX_TEXTS); answered in "
                "input order",
            },
        },
        "oneOf": [{"required": ["text"]}, {"required": ["texts"]}],
        "examples": PredictRequest.model_config["json_schema_extra"]["examples"],  # type: ignore[index]
    }


def label(score: float) -> str:
    return "positive" if score >= 0.5 else "negative"
