"""Checks on /predict responses: each returns None when the body has the contract's shape, or a
message saying what is wrong, which the locustfile reports as the request's failure."""

from __future__ import annotations

import math
from typing import Any

LABELS = ("positive", "negative")


def check_prediction(item: Any, where: str) -> str | None:
    if not isinstance(item, dict):
        return f"{where} is not an object"
    label, score = item.get("label"), item.get("score")
    if label not in LABELS:
        return f"{where}.label is {label!r}, not one of {LABELS}"
    if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score):
        return f"{where}.score is {score!r}, not a number"
    if not 0.0 <= score <= 1.0:
        return f"{where}.score {score} is outside [0, 1]"
    if (label == "positive") != (score >= 0.5):
        return f"{where}.label {label!r} disagrees with score {score}"
    return None


def check_single(body: Any) -> str | None:
    """{"label": ..., "score": p, "model_version": "..."}"""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("model_version"), str) or not body["model_version"]:
        return "model_version is missing"
    return check_prediction(body, "body")


def check_batch(body: Any, sent: int) -> str | None:
    """{"predictions": [{"label": ..., "score": p}, ...], "model_version": "..."}, one per text."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("model_version"), str) or not body["model_version"]:
        return "model_version is missing"
    predictions = body.get("predictions")
    if not isinstance(predictions, list):
        return "predictions is not a list"
    if len(predictions) != sent:
        return f"{len(predictions)} predictions for {sent} texts"
    for i, item in enumerate(predictions):
        if problem := check_prediction(item, f"predictions[{i}]"):
            return problem
    return None
