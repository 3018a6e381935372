"""Classification metrics, calibration error and temperature scaling, in NumPy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ECE_BINS = 15  # the usual choice since Guo et al. 2017


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def classification_metrics(
    labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (positive class), ROC-AUC, log-loss, ECE, confusion."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    pred = (probs >= threshold).astype(np.int64)
    tp = int(np.sum((pred == 1) & (labels == 1)))
    tn = int(np.sum((pred == 0) & (labels == 0)))
    fp = int(np.sum((pred == 1) & (labels == 0)))
    fn = int(np.sum((pred == 0) & (labels == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "reviews": int(labels.size),
        "accuracy": (tp + tn) / labels.size,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": roc_auc(labels, probs),
        "log_loss": log_loss(labels, probs),
        "ece": expected_calibration_error(labels, probs),
        "confusion": {
            "true_negative": tn,
            "false_positive": fp,
            "false_negative": fn,
            "true_positive": tp,
        },
    }


def roc_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum statistic; ties count half."""
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(probs, kind="mergesort")
    ranks = np.empty(labels.size, dtype=np.float64)
    sorted_probs = probs[order]
    i = 0
    while i < labels.size:  # average ranks over ties
        j = i
        while j + 1 < labels.size and sorted_probs[j + 1] == sorted_probs[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    p = np.clip(probs, eps, 1 - eps)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def expected_calibration_error(
    labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Weighted gap between confidence and accuracy of the predicted class (equal-width bins)."""
    confidence = np.maximum(probs, 1 - probs)
    correct = ((probs >= 0.5).astype(np.int64) == labels).astype(np.float64)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def fit_temperature(labels: np.ndarray, logits: np.ndarray) -> float:
    """The temperature T > 0 that minimises the log-loss of sigmoid(logits / T).

    The loss is unimodal in log T, so a golden-section search over T in [0.05, 20] finds it.
    """
    labels = np.asarray(labels, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)

    def loss(log_t: float) -> float:
        return log_loss(labels, sigmoid(logits / math.exp(log_t)))

    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return math.exp((lo + hi) / 2)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one column per split, one row per metric, then the confusion matrices."""
    names = list(results)
    rows = ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "ece"]
    lines = [f"{'metric':<10}" + "".join(f"{n:>12}" for n in names)]
    lines.append(f"{'reviews':<10}" + "".join(f"{results[n]['reviews']:>12,}" for n in names))
    for row in rows:
        lines.append(f"{row:<10}" + "".join(f"{results[n][row]:>12.4f}" for n in names))
    for n in names:
        c = results[n]["confusion"]
        lines.append(f"\nconfusion ({n}): rows true neg/pos, columns predicted neg/pos")
        lines.append(f"  {c['true_negative']:>8,} {c['false_positive']:>8,}")
        lines.append(f"  {c['false_negative']:>8,} {c['true_positive']:>8,}")
    return "\n".join(lines)
