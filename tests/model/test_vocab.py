import json
from pathlib import Path

import pytest

from model.vocab import PAD, UNK, Vocab, VocabError


def test_build_orders_by_frequency_then_alphabet() -> None:
    vocab = Vocab.build([["b", "a", "c", "a"], ["b", "d", "a"]], max_size=10, min_freq=1)
    assert vocab.tokens == [PAD, UNK, "a", "b", "c", "d"]


def test_build_respects_min_freq_and_max_size() -> None:
    lists = [["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["once"]]
    assert Vocab.build(lists, max_size=10, min_freq=2).tokens == [PAD, UNK, "a", "b", "c"]
    assert Vocab.build(lists, max_size=4, min_freq=1).tokens == [PAD, UNK, "a", "b"]


def test_special_tokens_in_text_are_not_duplicated() -> None:
    vocab = Vocab.build([["<unk>", "<pad>", "x", "x"]], min_freq=1)
    assert vocab.tokens == [PAD, UNK, "x"]


def test_encode_maps_unknown_words_and_empty_lists() -> None:
    vocab = Vocab([PAD, UNK, "good"])
    assert vocab.encode(["good", "bad"]) == [2, 1]
    assert vocab.encode([]) == [1]


def test_round_trip(tmp_path: Path) -> None:
    vocab = Vocab([PAD, UNK, "film", "😍", "café"])
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocab.load(tmp_path / "vocab.json")
    assert loaded.tokens == vocab.tokens
    assert loaded.encode(["café", "film"]) == [4, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read"),
        ('["a"]', "'tokens' list"),
        ('{"tokens": ["a", "b"]}', "starts with"),
        ('{"tokens": ["<pad>", "<unk>", "a", "a"]}', "repeats"),
        ('{"tokens": ["<pad>", "<unk>", 3]}', "string"),
        ('{"format": 99, "tokens": ["<pad>", "<unk>"]}', "newer"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(content)
    with pytest.raises(VocabError, match=message) as info:
        Vocab.load(path)
    assert "vocab.json" in str(info.value)


def test_saved_file_is_plain_json(tmp_path: Path) -> None:
    Vocab([PAD, UNK, "a"]).save(tmp_path / "v.json")
    assert json.loads((tmp_path / "v.json").read_text()) == {"format": 1, "tokens": [PAD, UNK, "a"]}
