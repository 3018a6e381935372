import numpy as np
import pytest

from training.metrics import (
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    format_table,
    roc_auc,
    sigmoid,
)


def test_counts_and_rates() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    probs = np.array([0.9, 0.8, 0.3, 0.2, 0.6, 0.1, 0.4, 0.7])
    m = classification_metrics(labels, probs)
    assert m["confusion"] == {
        "true_negative": 3,
        "false_positive": 1,
        "false_negative": 1,
        "true_positive": 3,
    }
    assert (
        m["accuracy"] == 0.75 and m["precision"] == 0.75 and m["recall"] == 0.75 and m["f1"] == 0.75
    )
    assert m["roc_auc"] == pytest.approx(14 / 16)


def test_roc_auc_counts_ties_half() -> None:
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_log_loss_of_confident_mistakes_is_finite() -> None:
    m = classification_metrics(np.array([1, 0]), np.array([0.0, 1.0]))
    assert np.isfinite(m["log_loss"]) and m["log_loss"] > 10


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    labels = np.array([1] * 8 + [0] * 2)  # 80% right at confidence 0.8
    assert expected_calibration_error(labels, np.full(10, 0.8)) == pytest.approx(0.0)
    assert expected_calibration_error(labels, np.full(10, 0.99)) == pytest.approx(0.19)


def test_temperature_recovers_the_true_one() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20_000)
    labels = (rng.random(20_000) < sigmoid(true_logits)).astype(int)
    assert fit_temperature(labels, true_logits * 3) == pytest.approx(
        3, rel=0.05
    )  # overconfident x3


def test_table_lists_every_metric() -> None:
    m = classification_metrics(np.array([0, 1]), np.array([0.2, 0.9]))
    table = format_table({"test": m})
    for name in (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "ece",
        "confusion (test)",
    ):
        assert name in table
