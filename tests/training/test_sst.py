"""The Stanford Sentiment Treebank: trees read, phrases turned back into the text a person
types (so that the one text pipeline reads them as it reads the service's texts), binary and
soft targets, SST-2 sentences as a labelled source, and training that learns from phrases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.config import TextConfig
from model.text import TextPipeline
from tests import synthetic
from training import sst
from training.cli import train_main
from training.data import load_split

TREES = [
    "(3 (2 It) (4 (2 's) (4 (3 (2 a) (4 (3 lovely) (2 film))) (2 .))))",
    "(1 (2 The) (1 (1 (2 plot) (1 (2 does) (1 (2 n't) (3 work)))) (2 .)))",
    "(2 (2 -LRB-) (2 (2 ``) (2 (2 Meh) (2 ''))) (2 -RRB-))",
    "(4 (2 Not) (4 (2 bad) (2 !)))",
    "(0 (3 lovely) (0 disaster))",
]


@pytest.fixture
def trees(tmp_path: Path) -> Path:
    return synthetic.write_trees(tmp_path / "trees.txt", TREES)


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        ("It 's a lovely film .", "It's a lovely film."),
        ("The plot does n't work , and ca n't .", "The plot doesn't work, and can't."),
        ("-LRB- `` Meh '' -RRB-", '("Meh")'),
        ("a 3\\/4 cut ... of it", "a 3/4 cut... of it"),
        ("we 're here -- not there", "we're here -- not there"),
    ],
)
def test_tokens_become_the_text_a_person_types(tokens: str, text: str) -> None:
    assert sst.detokenize(tokens.split()) == text


def test_the_pipeline_reads_a_phrase_as_it_reads_the_typed_text() -> None:
    pipeline = TextPipeline(TextConfig())
    typed = sst.detokenize(
        [
            "The",
            "plot",
            "does",
            "n't",
            "work",
            ",",
            "and",
            "it",
            "'s",
            "-LRB-",
            "sadly",
            "-RRB-",
            "dull",
            ".",
        ]
    )
    assert pipeline.tokenize(typed) == pipeline.tokenize(
        "The plot doesn't work, and it's (sadly) dull."
    )
    assert "n't" in pipeline.tokenize(typed)  # spaCy splits the contraction itself


def test_trees_give_every_phrase_with_its_label_the_root_first(trees: Path) -> None:
    first = sst.read_trees(trees)[0]
    assert (first[0].text, first[0].label) == ("It's a lovely film.", 3)
    assert ("lovely", 3) in [(p.text, p.label) for p in first]
    assert len(first) == 2 * 6 - 1  # a binary tree of 6 words has 11 phrases
    assert sst.is_treebank(trees) and not sst.is_treebank(Path(__file__))


def test_phrases_hard_and_soft(trees: Path) -> None:
    hard = dict(sst.phrases(trees))
    assert hard["It's a lovely film."] == 1.0 and hard["The plot doesn't work."] == 0.0
    assert "Meh" not in hard and "It" not in hard  # neutral: dropped
    assert hard["Not bad!"] == 1.0 and hard["lovely"] == 1.0  # "lovely": 3 twice, its majority
    soft = dict(sst.phrases(trees, neutral=True))
    assert soft["Meh"] == 0.5 and soft["lovely disaster"] == 0.0 and soft["work"] == 0.75


def test_turns_are_the_phrases_whose_label_turns_one_right_below_them(trees: Path) -> None:
    # "n't work" (1) over "work" (3), "lovely disaster" (0) over "lovely" (3); "Not bad!" (4)
    # is no turn: "bad" is labelled neutral in this tree, and neutral phrases turn nothing.
    assert sst.turns(trees) == {"n't work", "lovely disaster"}


def test_negation_turns_are_the_turns_a_negating_word_makes(tmp_path: Path) -> None:
    found = synthetic.write_trees(
        tmp_path / "negations.txt",
        [
            "(3 (2 is) (3 (2 never) (1 boring)))",  # the turn is "never boring", below "is"
            "(1 (2 (2 nothing) (2 (2 he) (2 (2 ever) (2 said)))) (3 lovely))",  # "nothing" too far
            "(0 (3 lovely) (0 disaster))",  # a turn, no negation
        ],
    )
    assert sst.turns(found, negations=True) == {"never boring"}
    assert sst.turns(found) == {"never boring", "nothing he ever said lovely", "lovely disaster"}


def test_sst2_sentences_as_a_labelled_source(trees: Path) -> None:
    assert sst.sentences(trees) == [
        ("It's a lovely film.", 1),
        ("The plot doesn't work.", 0),
        ("Not bad!", 1),
        ("lovely disaster", 0),
    ]
    reviews = load_split([trees], "test")
    assert [r.group for r in reviews] == ["sst"] * 4 and reviews[0].label == 1


def test_a_broken_tree_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(TREES[0] + "\n(3 (2 unclosed)\n")
    from training.errors import UserError

    with pytest.raises(UserError, match="bad.txt:2: not a treebank tree"):
        sst.read_trees(bad)


def test_training_with_phrases(tmp_path: Path, glove_file: Path, trees: Path) -> None:
    data = synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(60, seed=3))
    args = ["--data", str(data), "--glove", str(glove_file), "--hidden-size", "8"]
    args += ["--epochs", "2", "--min-freq", "1", "--device", "cpu", "--max-tokens", "32"]
    phrases = ["--phrases", str(trees), "--phrase-rate", "0.5"]
    code = train_main(
        [*args, "--out", str(tmp_path / "a"), *phrases, "--phrase-dev", str(trees)]
        + ["--phrase-turns", "3", "--phrase-negations", "2"]
    )
    assert code == 0
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    described = meta["data"]["splits"]["phrases"]
    # the two turns twice more each, and the one a negation makes ("n't work") once more again
    assert described["turns_repeated"] == 2 * 2 + 1
    assert described["phrases"] == len(sst.phrases(trees)) + 5
    assert meta["training_config"]["phrase_rate"] == 0.5
    assert meta["training_config"]["phrase_turns"] == 3
    assert meta["training_config"]["phrase_negations"] == 2
    assert "phrase_dev_accuracy" in meta["training"]["history"][0]
    assert train_main([*args, "--out", str(tmp_path / "b"), "--phrases", str(trees)]) == 2
    assert train_main([*args, "--out", str(tmp_path / "c"), "--phrase-turns", "2"]) == 2
    assert train_main([*args, "--out", str(tmp_path / "d"), *phrases, "--phrase-turns", "0"]) == 2
    assert train_main([*args, "--out", str(tmp_path / "e"), "--phrase-negations", "2"]) == 2
