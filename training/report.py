"""The figures sentiment-evaluate reports of an artifact's scores on labelled texts.

Whole-review figures (accuracy, ROC-AUC, ECE, the confusion matrix) as training stores them;
then, for texts from a table with a `source` column (such as the UCI sentences), the same by
source; a reliability table (how often the model is right at each confidence); with
`--by-length`, every figure by band of token count; and the spread of scores on texts of one to
five tokens, which a model trained on whole reviews tends to push to the extremes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from training.calibration import LENGTH_EDGES, band_of
from training.metrics import classification_metrics, expected_calibration_error

BANDS = ("1-5", "6-20", "21-100", "101+")  # token counts, as training.calibration's bands
RELIABILITY_EDGES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def summary(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """The figures of one group of texts: count, accuracy, mean confidence, ECE."""
    if labels.size == 0:
        return {"texts": 0}
    confidence = np.maximum(probs, 1 - probs)
    return {
        "texts": int(labels.size),
        "accuracy": float(((probs >= 0.5) == labels).mean()),
        "mean_confidence": float(confidence.mean()),
        "ece": expected_calibration_error(labels, probs),
    }


def reliability(labels: np.ndarray, probs: np.ndarray) -> list[dict[str, Any]]:
    """Confidence bins (of the predicted class): texts, accuracy and mean confidence in each."""
    confidence = np.maximum(probs, 1 - probs)
    correct = (probs >= 0.5) == labels
    rows = []
    for lo, hi in zip(RELIABILITY_EDGES, RELIABILITY_EDGES[1:], strict=False):
        inside = (confidence >= lo) & ((confidence < hi) | (hi == 1.0))
        row: dict[str, Any] = {"confidence": f"{lo:.2f}-{hi:.2f}", "texts": int(inside.sum())}
        if inside.any():
            row["accuracy"] = float(correct[inside].mean())
            row["mean_confidence"] = float(confidence[inside].mean())
        rows.append(row)
    return rows


def score_spread(probs: np.ndarray) -> dict[str, float]:
    """Quantiles of the scores, and the shares beyond 0.9 and below 0.1."""
    if probs.size == 0:
        return {}
    q = np.quantile(probs, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "p05": float(q[0]),
        "p25": float(q[1]),
        "median": float(q[2]),
        "p75": float(q[3]),
        "p95": float(q[4]),
        "share_above_0.9_or_below_0.1": float(((probs > 0.9) | (probs < 0.1)).mean()),
    }


def report(
    labels: np.ndarray,
    probs: np.ndarray,
    lengths: np.ndarray,
    groups: Sequence[str | None],
    by_length: bool,
) -> dict[str, Any]:
    """Everything sentiment-evaluate prints and saves."""
    result: dict[str, Any] = {
        "metrics": classification_metrics(labels, probs),
        "reliability": reliability(labels, probs),
    }
    names = sorted({g for g in groups if g is not None})
    if names:
        chosen = np.asarray(groups, dtype=object)
        result["by_source"] = {n: summary(labels[chosen == n], probs[chosen == n]) for n in names}
        result["by_source_macro_accuracy"] = float(
            np.mean([result["by_source"][n]["accuracy"] for n in names])
        )
    bands = band_of(lengths, LENGTH_EDGES)
    if by_length:
        result["by_length"] = {
            name: summary(labels[bands == b], probs[bands == b]) for b, name in enumerate(BANDS)
        }
    result["scores_of_1_to_5_token_texts"] = score_spread(probs[bands == 0])
    return result


def format_report(result: dict[str, Any]) -> str:
    lines = []
    if "by_source" in result:
        lines.append(_groups_table("source", result["by_source"]))
        lines.append(f"macro accuracy over sources: {result['by_source_macro_accuracy']:.4f}")
    if "by_length" in result:
        lines.append(_groups_table("tokens", result["by_length"]))
    lines.append(f"\n{'confidence':<12}{'texts':>8}{'accuracy':>10}{'mean conf':>11}")
    for row in result["reliability"]:
        filled = "accuracy" in row
        accuracy = f"{row['accuracy']:>10.4f}{row['mean_confidence']:>11.4f}" if filled else ""
        lines.append(f"{row['confidence']:<12}{row['texts']:>8,}{accuracy}")
    spread = result["scores_of_1_to_5_token_texts"]
    if spread:
        lines.append(
            "\nscores of 1-5 token texts: " + ", ".join(f"{k} {v:.3f}" for k, v in spread.items())
        )
    return "\n".join(lines)


def _groups_table(title: str, groups: dict[str, dict[str, Any]]) -> str:
    lines = [f"\n{title:<10}{'texts':>8}{'accuracy':>10}{'mean conf':>11}{'ECE':>8}"]
    for name, row in groups.items():
        if row["texts"]:
            lines.append(
                f"{name:<10}{row['texts']:>8,}{row['accuracy']:>10.4f}"
                f"{row['mean_confidence']:>11.4f}{row['ece']:>8.4f}"
            )
        else:
            lines.append(f"{name:<10}{0:>8}")
    return "\n".join(lines)
