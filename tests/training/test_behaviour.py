"""The behavioural suite: what it holds, how a case fails, that training never sees it, and the
bundled model's failure rates, held as a floor until a model that meets #22's targets lands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from training import behaviour

# Failing cases of 60 per test for the bundled model (imdb-bilstm-20261207-a7616f5d, fp32),
# measured with `sentiment-evaluate --behaviour`: the floor no bundled model may fall below.
BUNDLED_FAILURES = {
    "vocabulary: adjectives": 0,
    "vocabulary: verbs": 4,
    "short verdicts": 3,
    "negation of positives": 16,
    "negation of negatives": 60,
    "negation of verbs": 27,
    "contrast: but, although, yet": 12,
    "intensifiers": 0,
    "downtoners": 0,
    "names and places": 2,
    "numbers": 0,
    "typos": 8,
    "letter case": 0,
    "an added opinion": 0,
}


def test_the_suite_covers_each_capability_with_distinct_cases() -> None:
    tests = behaviour.suite()
    assert {t.capability for t in tests} == {
        "vocabulary", "negation", "contrast", "intensity", "robustness", "direction"
    }  # fmt: skip
    assert {t.kind for t in tests} == {"MFT", "INV", "DIR"}
    for test in tests:
        assert len(test.cases) == behaviour.CASES_PER_TEST, test.name
        assert len({c.texts for c in test.cases}) == len(test.cases), test.name
        if test.kind == "MFT":
            assert all(c.expected in ("positive", "negative") for c in test.cases)
        else:
            assert all(len(c.texts) == 2 for c in test.cases)
    labels = [c.expected for t in tests if t.kind == "MFT" for c in t.cases]
    assert 0.3 < labels.count("positive") / len(labels) < 0.7  # not one label throughout
    assert [c.texts for t in behaviour.suite() for c in t.cases] == [
        c.texts for t in tests for c in t.cases
    ]  # the same suite on every run


def test_how_cases_fail() -> None:
    tests = behaviour.suite()
    always_positive = behaviour.run(tests, lambda texts: [0.9] * len(texts))
    by_name = {r["test"]: r for r in always_positive}
    assert by_name["negation of positives"]["failure_rate"] == 1.0  # every one is negative
    assert by_name["negation of negatives"]["failure_rate"] == 0.0  # every one is positive
    assert by_name["typos"]["failures"] == 0 and by_name["intensifiers"]["failures"] == 0
    swayed = behaviour.run(tests, lambda texts: [0.2 if "Overall" in t else 0.8 for t in texts])
    added = next(r for r in swayed if r["test"] == "an added opinion")
    assert 0 < added["failure_rate"] < 1  # added praise that lowers the score fails
    assert all(len(e["texts"]) == 2 for e in added["examples"])


def test_training_never_imports_the_suite() -> None:
    code = (
        "import sys, training.run, training.cli, training.loop, training.corpus\n"
        "print('training.behaviour' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_bundled_model_is_no_worse_than_its_floor() -> None:
    from model import SentimentModel

    model = SentimentModel.load()
    results = behaviour.run(behaviour.suite(), model.predict)
    for r in results:
        # One case of slack: another CPU's rounding may tip a case that sits at 0.5.
        assert r["failures"] <= BUNDLED_FAILURES[r["test"]] + 1, (r["test"], r["examples"])
