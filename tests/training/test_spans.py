import numpy as np
import pytest

from training.config import SpanConfig
from training.errors import UserError
from training.spans import draw_span, sample_spans, sentence_starts, span_target

CFG = SpanConfig(rate=2.0, max_tokens=40, strength=0.5)


def test_short_spans_get_weaker_targets() -> None:
    assert span_target(1.0, 1, CFG) == 0.75 and span_target(0.0, 1, CFG) == 0.25
    assert span_target(1.0, 40, CFG) == 1.0 and span_target(1.0, 400, CFG) == 1.0
    targets = [span_target(1.0, n, CFG) for n in range(1, 41)]
    assert targets == sorted(targets)


def test_spans_are_pieces_of_their_reviews() -> None:
    reviews = [list(range(100 * i, 100 * i + 60)) for i in range(50)]
    labels = np.array([i % 2 for i in range(50)], dtype=np.float64)
    spans, targets = sample_spans(reviews, labels, CFG, np.random.default_rng(0))
    assert len(spans) == 100 and targets.shape == (100,)
    for span, target in zip(spans, targets, strict=True):
        review = span[0] // 100
        assert span == list(range(span[0], span[0] + len(span)))  # contiguous
        assert 1 <= len(span) <= 40 and span[-1] < 100 * review + 60
        assert target == span_target(labels[review], len(span), CFG)
    lengths = [len(s) for s in spans]
    assert sum(n <= 5 for n in lengths) > 20 and max(lengths) > 20  # log-uniform lengths


def test_spans_are_seeded_and_can_be_turned_off() -> None:
    reviews, labels = [[1, 2, 3, 4]] * 10, np.ones(10)
    a = sample_spans(reviews, labels, CFG, np.random.default_rng(3))
    b = sample_spans(reviews, labels, CFG, np.random.default_rng(3))
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert sample_spans(reviews, labels, SpanConfig(), np.random.default_rng(3))[0] == []


def test_bad_span_settings() -> None:
    with pytest.raises(UserError, match="strength"):
        SpanConfig(strength=1.5)
    with pytest.raises(UserError, match="rate"):
        SpanConfig(rate=-1)
    with pytest.raises(UserError, match="agreement"):
        SpanConfig(agreement=0.4)


def test_a_teacher_keeps_the_spans_that_carry_their_reviews_label() -> None:
    """Token 1000 * review + position; positions 3, 23, 43 say "good", 13, 33, 53 "bad". The
    teacher is sure of whichever there is more of, and unsure of a tie."""
    reviews = [list(range(1000 * i, 1000 * i + 60)) for i in range(40)]
    labels = np.array([i % 2 for i in range(40)], dtype=np.float64)

    def judge(spans: list[list[int]]) -> np.ndarray:
        said = [sum((t % 20 == 3) - (t % 20 == 13) for t in span) for span in spans]
        return np.array([0.5 if s == 0 else 0.9 if s > 0 else 0.1 for s in said])

    cfg = SpanConfig(rate=1.0, max_tokens=40, strength=1.0, agreement=0.8)
    spans, targets = sample_spans(reviews, labels, cfg, np.random.default_rng(0), judge=judge)
    assert 5 < len(spans) <= 40 and targets.shape == (len(spans),)
    for span, target in zip(spans, targets, strict=True):
        label = labels[span[0] // 1000]
        assert target == label and judge([span])[0] == (0.9 if label else 0.1)
    again = sample_spans(reviews, labels, cfg, np.random.default_rng(0), judge=judge)
    assert again[0] == spans  # seeded, teacher and all: a resumed run keeps the same spans
    unsure = sample_spans(
        reviews, labels, cfg, np.random.default_rng(0), judge=lambda s: np.full(len(s), 0.5)
    )
    assert unsure[0] == []


def test_with_sentence_ends_spans_are_whole_sentences() -> None:
    dot, bang = 90, 91
    review = [1, 2, dot, 3, 4, 5, bang, 6, dot, 7, 8]  # sentences: [1 2 .] [3 4 5 !] [6 .] [7 8]
    assert sentence_starts(review, frozenset({dot, bang})) == [0, 3, 7, 9]
    sentences = [review[0:3], review[3:7], review[7:9], review[9:11]]
    wholes = {
        tuple(x for s in sentences[i : i + k] for x in s) for i in range(4) for k in (1, 2, 3)
    }
    rng = np.random.default_rng(0)
    drawn = [tuple(draw_span(review, frozenset({dot, bang}), 40, rng)) for _ in range(300)]
    assert set(drawn) <= wholes and len(set(drawn)) >= 8
    assert 1 <= len(draw_span(review * 10, frozenset(), 5, rng)) <= 5  # a window
    assert len(draw_span(review, frozenset({dot}), 2, rng)) <= 2  # cut to max_tokens
