import functools
import random
import string
import tarfile
import unicodedata
from pathlib import Path

import pytest
import spacy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import model.text as text_module
from model.cleaning import clean
from model.config import TextConfig
from model.text import MAX_CHUNK_CHARS, MAX_RUN_CHARS, TextPipeline
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


# --- bounded work: the same tokens as reading the whole text, for a bounded cost ---------------

ROOT = Path(__file__).resolve().parents[2]
IMDB_TRAIN = ROOT.parent / "shared" / "data" / "imdb" / "aclImdb_train.tar.xz"


@functools.cache
def pipeline_for(config: TextConfig) -> TextPipeline:
    return TextPipeline(config)


WHOLE_TEXT_TOKENIZER = spacy.blank("en").tokenizer


def whole_text_tokens(config: TextConfig, text: str) -> list[str]:
    """The pipeline as it was before its work was bounded: spaCy over the whole cleaned text,
    then truncation."""
    doc = WHOLE_TEXT_TOKENIZER(clean(text))
    tokens = [t.lower_ if config.lowercase else t.text for t in doc if not t.is_space]
    return pipeline_for(config).truncate(tokens)


@functools.cache
def real_reviews(count: int) -> list[str]:
    if not IMDB_TRAIN.is_file():
        pytest.skip(f"{IMDB_TRAIN} is not here")
    texts = []
    with tarfile.open(IMDB_TRAIN, "r|*") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".txt") and "/train/" in member.name:
                texts.append(tar.extractfile(member).read().decode("utf-8"))  # type: ignore[union-attr]
                if len(texts) == count:
                    break
    return texts


@pytest.mark.parametrize(
    "config",
    [TextConfig(), TextConfig(max_tokens=60, head_fraction=0.5), TextConfig(truncation="head")],
)
def test_real_reviews_read_as_the_whole_text_does(config: TextConfig) -> None:
    texts = real_reviews(1500)
    pipeline = TextPipeline(config)
    assert list(pipeline.tokens_many(texts)) == [whole_text_tokens(config, t) for t in texts]


def test_the_run_cache_reads_real_reviews_as_the_whole_text_does() -> None:
    """With a vocabulary, runs of known words are read from the pipeline's own cache: the same
    tokens and spans, read cold and read again."""
    texts = real_reviews(1500)
    config = TextConfig()
    vocab = Vocab.build(pipeline_for(config).tokens_many(texts), max_size=20_000, min_freq=1)
    cached = TextPipeline(config, vocab)
    expected = [whole_text_tokens(config, t) for t in texts]
    assert list(cached.tokens_many(texts)) == expected
    assert len(cached._run_cache) > 10_000
    assert list(cached.tokens_many(texts)) == expected  # now mostly from the cache
    plain = TextPipeline(config)  # no vocabulary: spaCy alone, no run cache
    for text in texts[:300]:
        assert cached.read(text) == plain.read(text)


def test_the_run_cache_holds_known_words_only_and_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(text_module, "RUN_CACHE_SIZE", 50)
    pipeline = TextPipeline(TextConfig(), Vocab(["<pad>", "<unk>", "good", "film", ","]))
    assert pipeline.tokens("Good film, qzxv film,") == ["good", "film", ",", "qzxv", "film", ","]
    assert set(pipeline._run_cache) == {"Good", "film,"}
    words = [f"w{i}" for i in range(200)]
    pipeline = TextPipeline(TextConfig(), Vocab(["<pad>", "<unk>", *words]))
    for _ in range(2):
        assert pipeline.tokens(" ".join(words)) == words
        assert 0 < len(pipeline._run_cache) <= 50


RUN_PIECES = st.sampled_from(
    ["good", "Film", "n't", "don't", "!", "?!", "...", "(", ")", '"', "'s", "-", "U.S.", "10/10"]
    + ["😀", "👍🏽", "e\u0301", "<br />", "\u200b", "http://a.b/c", "$5", "!" * 40, "ab" * 30]
)
SPACES = st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", "\u3000", ""])
TEXTS = st.lists(st.tuples(RUN_PIECES, SPACES), max_size=60).map(
    lambda parts: "".join(a + b for a, b in parts)
)


@settings(max_examples=300, deadline=None)
@given(
    TEXTS,
    st.integers(1, 12),
    st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    st.sampled_from(["head", "head_tail"]),
)
def test_any_text_reads_as_the_whole_text_does(
    text: str, limit: int, head: float, truncation: str
) -> None:
    assume(all(len(run) <= MAX_RUN_CHARS for run in clean(text).split()))  # ordinary text
    config = TextConfig(max_tokens=limit, head_fraction=head, truncation=truncation)
    assert pipeline_for(config).tokens(text) == whole_text_tokens(config, text)


class CountingTokenizer:
    def __init__(self, tokenizer: object) -> None:
        self.tokenizer = tokenizer
        self.characters = 0

    def __call__(self, text: str) -> object:
        self.characters += len(text)
        return self.tokenizer(text)  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    ["!" * 20_000, "😀" * 20_000, "great film " * 2_000, "(!" * 10_000, "!" * 5_000 + " ok" * 5000],
)
def test_only_the_characters_the_truncation_keeps_are_tokenized(text: str) -> None:
    pipeline = TextPipeline(TextConfig(max_tokens=800))
    counter = CountingTokenizer(pipeline._tokenizer)
    pipeline._tokenizer = counter  # type: ignore[assignment]
    tokens = pipeline.tokens(text)
    assert len(tokens) == 800
    # 800 tokens of at most 11 characters each, and a chunk's worth of slack at each end.
    assert counter.characters < 800 * 11 + 2 * MAX_CHUNK_CHARS
    assert counter.characters < len(text)


def test_runs_longer_than_the_limit_are_cut() -> None:
    pipeline = TextPipeline(TextConfig(max_tokens=800))
    assert pipeline.tokens("a" * (3 * MAX_RUN_CHARS + 5)) == ["a" * MAX_RUN_CHARS] * 3 + ["aaaaa"]
    assert pipeline.tokens("!" * 50) == ["!"] * 50


# --- memory: new words do not stay -----------------------------------------------------------


def unseen_words(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(string.ascii_lowercase, k=10)) for _ in range(count)]


def test_new_words_do_not_stay_in_the_tokenizer() -> None:
    pipeline = TextPipeline(TextConfig(), Vocab(["<pad>", "<unk>", "good", "film"]))
    strings = len(pipeline._nlp.vocab.strings)
    texts = [" ".join(unseen_words(50, seed)) for seed in range(20)]
    assert all(len(tokens) == 50 for tokens in pipeline.tokens_many(texts, batch_size=4))
    assert len(pipeline._nlp.vocab.strings) == strings


def test_the_tokenizer_is_rebuilt_after_many_new_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "RECYCLE_AFTER_WORDS", 100)
    pipeline = TextPipeline(TextConfig(), Vocab(["<pad>", "<unk>", "good", "film"]))
    first = pipeline._nlp
    pipeline.tokens(" ".join(unseen_words(60, 0)))
    assert pipeline._nlp is first
    pipeline.tokens(" ".join(unseen_words(60, 1)))
    assert pipeline._nlp is not first
    assert pipeline.tokens("good film") == ["good", "film"]


def test_a_vocabulary_warms_the_tokenizer_cache() -> None:
    pipeline = TextPipeline(TextConfig(), Vocab(["<pad>", "<unk>", "good", "film"]))
    assert {"good", "Good", "film", "Film"} <= set(pipeline._nlp.vocab.strings)


# --- read(): where each token stands in the text as sent -------------------------------------


def test_spans_index_the_text_as_sent() -> None:
    pipeline = TextPipeline(TextConfig())
    text = "A <br />GREAT\u200b film, cafe\u0301 😍🔥!"
    reading = pipeline.read(text)
    assert reading.tokens == ["a", "great", "film", ",", "café", "😍", "🔥", "!"]
    assert [text[a:b] for a, b in reading.spans] == [
        "A",
        "GREAT",
        "film",
        ",",
        "cafe\u0301",
        "😍",
        "🔥",
        "!",
    ]
    assert reading.skipped is None


def test_the_cut_middle_of_a_long_text_is_reported() -> None:
    pipeline = TextPipeline(TextConfig(max_tokens=4, head_fraction=0.5))
    text = "one two three four five six"
    reading = pipeline.read(text)
    assert reading.tokens == ["one", "two", "five", "six"]
    assert reading.skipped == (7, 19)
    assert text[slice(*reading.skipped)] == " three four "


def test_the_cut_middle_of_a_very_long_text_is_reported() -> None:
    pipeline = TextPipeline(TextConfig(max_tokens=800))
    text = "start " + "word " * 10_000 + "end"
    reading = pipeline.read(text)
    assert len(reading.tokens) == 800 and reading.tokens[0] == "start"
    assert reading.tokens[-1] == "end" and text[slice(*reading.spans[-1])] == "end"
    assert reading.skipped is not None
    assert reading.skipped == (reading.spans[199][1], reading.spans[200][0])


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.integers(1, 12))
def test_read_gives_the_tokens_and_ordered_spans(text: str, limit: int) -> None:
    pipeline = pipeline_for(TextConfig(max_tokens=limit))
    reading = pipeline.read(text)
    assert reading.tokens == pipeline.tokens(text)
    ends = [0] + [b for _, b in reading.spans]
    for (a, b), end_before in zip(reading.spans, ends, strict=False):
        assert end_before <= a < b <= len(text)
