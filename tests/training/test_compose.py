"""Phrases composed from a treebank's own (training/compose.py): predicates and auxiliaries
negated with the label turned, alone, with their subject and under a negated belief; contrasts
that take their second sentence's target; text the pipeline reads as the typed text; and the
epoch chosen on validation and treebank sentences together."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from model.config import TextConfig
from model.text import TextPipeline
from tests import synthetic
from training import compose, sst
from training.cli import train_main
from training.loop import record_epoch

TREES = [
    # a positive predicate with its subject
    "(4 (2 (2 The) (2 acting)) (4 (2 is) (4 (2 truly) (4 terrific))))",
    # a negative one after a contraction, and a name as the subject
    "(1 (2 Keener) (1 (2 's) (1 (2 too) (1 long))))",
    # an auxiliary and a verb phrase
    "(3 (2 You) (3 (2 will) (3 (3 enjoy) (2 it))))",
    # not negated: the predicate already turns, or its label is not the verb phrase's
    "(1 (2 It) (1 (2 is) (1 (2 not) (3 good))))",
    "(3 (2 It) (3 (2 was) (2 (2 a) (2 film))))",
]


@pytest.fixture
def trees(tmp_path: Path) -> Path:
    return synthetic.write_trees(tmp_path / "trees.txt", TREES)


def test_negated_predicates_turn_their_label(trees: Path) -> None:
    made = dict(compose.negations(sst.read_roots(trees), random.Random(0)))
    low, high = compose.NEGATED_POSITIVE, compose.NEGATED_NEGATIVE
    for text in ["isn't truly terrific", "is not truly terrific", "is never truly terrific"]:
        assert made.pop(text) == low
    assert made.pop("The acting isn't truly terrific.") == low
    assert made.pop("Keener's not too long.") == high  # a name keeps its capital
    assert made.pop("'s never too long") == high
    assert made.pop("won't enjoy it") == low
    assert made.pop("You will never enjoy it.") == low
    beliefs = {t: y for t, y in made.items() if t.startswith("I ")}
    assert {y for y in beliefs.values()} <= {low, high}
    assert any(t.endswith(" the acting is truly terrific.") for t in beliefs)
    assert any(t.endswith(" Keener's too long.") for t in beliefs)
    # nothing from the predicate that already turns, nor from the neutral one
    assert not any("good" in t or "film" in t for t in made)


def test_contrasts_take_the_second_sentence_s_target(tmp_path: Path) -> None:
    lines = [
        "(4 (2 The) (4 (2 cast) (4 (2 is) (4 wonderful))))",
        "(0 (2 The) (0 (2 script) (0 (2 is) (0 dreadful))))",
        "(3 (2 A) (3 (3 warm) (2 story)))",  # too short to join
    ]
    path = synthetic.write_trees(tmp_path / "trees.txt", lines)
    made = list(compose.contrasts(sst.read_roots(path), 50, random.Random(1)))
    assert len(made) == 50
    for text, target in made:
        last = "wonderful" if text.index("wonderful") > text.index("dreadful") else "dreadful"
        assert target == (1.0 if last == "wonderful" else 0.0), text
        assert "story" not in text
    assert any(text.startswith("Although the ") for text, _ in made)


def test_composed_is_distinct_and_the_same_on_every_call(trees: Path) -> None:
    first = compose.composed(trees)
    assert first == compose.composed(trees)
    assert len({t for t, _ in first}) == len(first)
    assert not any(" but " in t for t, _ in first)  # contrasts only when asked for


def test_the_pipeline_reads_a_composed_negation_as_it_reads_the_typed_text(trees: Path) -> None:
    pipeline = TextPipeline(TextConfig())
    made = dict(compose.composed(trees))
    assert "Keener's not too long." in made
    assert pipeline.tokenize("Keener's not too long.") == [
        "keener", "'s", "not", "too", "long", ".",
    ]  # fmt: skip
    assert pipeline.tokenize("isn't truly terrific")[:2] == ["is", "n't"]


def test_the_epoch_is_chosen_on_validation_and_treebank_sentences_together() -> None:
    state = {"best_accuracy": -1.0, "best_loss": float("inf"), "bad_epochs": 0, "history": []}
    state |= {"epoch": 0, "seconds": 0.0, "best_epoch": 0}
    first = {"epoch": 1, "val_accuracy": 0.930, "val_loss": 0.19, "seconds": 1.0}
    second = {"epoch": 2, "val_accuracy": 0.928, "val_loss": 0.19, "seconds": 1.0}
    assert record_epoch(state, first | {"phrase_dev_accuracy": 0.870})
    assert record_epoch(state, second | {"phrase_dev_accuracy": 0.878})  # mean 0.903 > 0.900
    assert state["best_epoch"] == 2
    alone = {**state, "best_accuracy": -1.0, "best_epoch": 0, "history": []}
    assert record_epoch(alone, first) and not record_epoch(alone, second)


def test_training_with_composed_phrases(tmp_path: Path, glove_file: Path, trees: Path) -> None:
    data = synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(60, seed=3))
    args = ["--data", str(data), "--glove", str(glove_file), "--hidden-size", "8"]
    args += ["--epochs", "1", "--min-freq", "1", "--device", "cpu", "--max-tokens", "32"]
    phrases = ["--phrases", str(trees), "--phrase-rate", "0.5", "--phrase-compose"]
    assert train_main([*args, "--out", str(tmp_path / "a"), *phrases]) == 0
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    composed = meta["data"]["splits"]["phrases"]["composed"]
    assert composed == len(compose.composed(trees))
    assert meta["data"]["splits"]["phrases"]["phrases"] == len(sst.phrases(trees)) + composed
    assert meta["training_config"]["phrase_compose"] is True
    assert train_main([*args, "--out", str(tmp_path / "b"), "--phrase-compose"]) == 2
    contrasts = [*phrases[:4], "--phrase-contrasts", "5"]  # without --phrase-compose
    assert train_main([*args, "--out", str(tmp_path / "c"), *contrasts]) == 2
