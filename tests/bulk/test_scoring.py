"""bulk.scoring: a row is refused for the reason /predict refuses its text, and a scored row gets
the score, label and known share that SentimentModel gives it."""

from __future__ import annotations

import math

import pytest

from bulk.scoring import ADDED, Limits, admit_value, prepare, score
from model import SentimentModel
from model.limits import TextRefused
from service.http.errors import ApiError
from service.http.parsing import check_text
from service.settings import Settings, load_settings

# No Ray, no server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel

LIMIT = 60
TEXTS = [
    "a wonderful film",
    "",
    "   ",
    "<br /><br />",
    "\u200b\u200b",
    "a" * LIMIT,
    "a" * (LIMIT + 1),
    "dull \ud800 film",
    "x" * (LIMIT * 3),
]


def bulk_code(text: object, limits: Limits) -> str | None:
    try:
        admit_value(text, limits)
    except TextRefused as refusal:
        return refusal.code
    return None


def service_code(text: str, settings: Settings) -> str | None:
    try:
        check_text(text, "text", settings)
    except ApiError as exc:
        return exc.code
    return None


@pytest.mark.parametrize("long_texts", ["refuse", "truncate"])
def test_a_text_is_refused_for_the_reason_the_service_refuses_it(long_texts: str) -> None:
    settings = load_settings(max_text_chars=LIMIT, long_texts=long_texts)
    limits = Limits(LIMIT, long_texts)
    codes = [bulk_code(t, limits) for t in TEXTS]
    assert codes == [service_code(t, settings) for t in TEXTS]
    assert {"empty_text", "invalid_text"} <= set(codes)  # the table exercises the refusals
    assert ("text_too_long" in codes) == (long_texts == "refuse")


def test_the_defaults_are_the_services_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTIMENT_MAX_TEXT_CHARS", "7")
    assert Limits.service_defaults() == Limits(20_000, "refuse")
    fields = Settings.model_fields
    assert Limits.service_defaults() == Limits(
        fields["max_text_chars"].default, fields["long_texts"].default
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "missing_text"),
        (math.nan, "missing_text"),
        (5, "not_a_string"),
        (["a", "list"], "not_a_string"),
        (True, "not_a_string"),
    ],
)
def test_what_only_a_file_can_hold_is_refused_with_its_own_code(value: object, code: str) -> None:
    with pytest.raises(TextRefused) as refused:
        admit_value(value, Limits(LIMIT))
    assert refused.value.code == code


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="long_texts"):
        Limits(10, "cut")
    with pytest.raises(ValueError, match="max_text_chars"):
        Limits(0)


def test_scored_rows_get_what_the_model_gives_and_refused_rows_nulls(
    model: SentimentModel,
) -> None:
    values = ["a wonderful superb film", None, "dull awful boring", 7, "", "x" * 100, "great"]
    columns = score(model, prepare(model, values, Limits(LIMIT, "truncate")), batch_size=2)
    assert set(columns) == set(ADDED) and all(len(c) == len(values) for c in columns.values())
    admitted = [0, 2, 5, 6]
    texts = [values[i] for i in admitted]
    texts[2] = admit_value(values[5], Limits(LIMIT, "truncate")).text
    expected = model.predictions(texts)
    for i, prediction in zip(admitted, expected, strict=True):
        assert columns["score"][i] == pytest.approx(prediction.score, abs=1e-6)
        assert columns["label"][i] == prediction.label
        assert columns["known_share"][i] == prediction.known_share
        assert columns["error"][i] is None and columns["error_message"][i] is None
    assert [columns["truncated"][i] for i in admitted] == [False, False, True, False]
    for i, code in ((1, "missing_text"), (3, "not_a_string"), (4, "empty_text")):
        assert columns["error"][i] == code and columns["error_message"][i]
        assert columns["score"][i] is columns["label"][i] is columns["truncated"][i] is None
    assert set(columns["model_version"]) == {model.version}


def test_a_batch_of_refused_rows_only_runs_no_forward_pass(model: SentimentModel) -> None:
    columns = score(model, prepare(model, [None, ""], Limits(LIMIT)))
    assert columns["error"] == ["missing_text", "empty_text"]
