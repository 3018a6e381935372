import unicodedata

import pytest

from model.config import TextConfig
from model.text import TextPipeline, clean
from model.vocab import Vocab


@pytest.fixture
def pipeline() -> TextPipeline:
    return TextPipeline(TextConfig(max_tokens=10))


@pytest.mark.parametrize(
    "text", ["good<br />film", "good<br/>film", "good<BR>film", "good<p>film", "good</p>film"]
)
def test_html_line_breaks_become_spaces(pipeline: TextPipeline, text: str) -> None:
    assert pipeline.tokenize(text) == ["good", "film"]


def test_lower_cases_and_drops_whitespace_tokens(pipeline: TextPipeline) -> None:
    assert pipeline.tokenize("  A  GREAT\n\n\tFilm!  ") == ["a", "great", "film", "!"]


def test_keeps_case_when_configured() -> None:
    assert TextPipeline(TextConfig(lowercase=False)).tokenize("A Great") == ["A", "Great"]


def test_unicode_forms_give_the_same_tokens(pipeline: TextPipeline) -> None:
    composed = "café"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert pipeline.tokenize(composed) == pipeline.tokenize(decomposed) == ["café"]


def test_invisible_characters_are_removed() -> None:
    assert clean("gre\u200bat\ufeff film\u200e") == "great film"


def test_emoji_survive_as_tokens(pipeline: TextPipeline) -> None:
    tokens = pipeline.tokenize("loved it 😍🔥 10/10")
    assert "😍" in tokens and "🔥" in tokens and tokens[:2] == ["loved", "it"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "<br /><br />"])
def test_empty_and_whitespace_only_texts_have_no_tokens(pipeline: TextPipeline, text: str) -> None:
    assert pipeline.tokens(text) == []


def test_empty_text_encodes_to_one_unknown() -> None:
    vocab = Vocab(["<pad>", "<unk>", "good"])
    assert TextPipeline(TextConfig(), vocab).encode("   ") == [Vocab.unk_index]


def test_head_tail_truncation_keeps_both_ends() -> None:
    pipeline = TextPipeline(TextConfig(max_tokens=8, truncation="head_tail", head_fraction=0.25))
    words = [f"w{i}" for i in range(100)]
    assert pipeline.tokens(" ".join(words)) == [
        "w0",
        "w1",
        "w94",
        "w95",
        "w96",
        "w97",
        "w98",
        "w99",
    ]


def test_head_truncation_keeps_the_start() -> None:
    pipeline = TextPipeline(TextConfig(max_tokens=3, truncation="head"))
    assert pipeline.tokens("one two three four five") == ["one", "two", "three"]


def test_very_long_text_is_truncated_to_the_limit() -> None:
    pipeline = TextPipeline(TextConfig(max_tokens=800))
    text = "an utterly wonderful film . " * 20_000  # 560,000 characters
    assert len(pipeline.tokens(text)) == 800


def test_batch_and_single_tokenization_agree(pipeline: TextPipeline) -> None:
    texts = ["Good<br />film", "", "Ｆｕｌｌ width and 😍", "x " * 50]
    assert list(pipeline.tokens_many(texts, batch_size=2)) == [pipeline.tokens(t) for t in texts]


def test_encode_needs_a_vocabulary(pipeline: TextPipeline) -> None:
    with pytest.raises(RuntimeError, match="no vocabulary"):
        pipeline.encode("text")


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        TextConfig(max_tokens=0)
    with pytest.raises(ValueError, match="truncation"):
        TextConfig(truncation="middle")
